"""Special campaigns and joint tasks: ``ssj task`` and their draws, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json

import pytest

from bot.demo import write_library

from .helpers import counts, execute, query, ssj, ssj_json

PARTNER = "市场监管"


def _listish(value):
    return json.loads(value) if isinstance(value, str) else list(value or ())


@pytest.fixture
def library(db_url, tmp_path, capsys):
    """The demo library, with a third 市场监管 officer so one may be excluded by a conflict."""
    paths = write_library(tmp_path / "lib", fmt="csv")
    with open(paths["inspectors"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    dept, cert = header.index("部门"), header.index("执法证号")
    name, mobile = header.index("姓名"), header.index("手机号")
    account = header.index("消息账号")
    extra = list(next(r for r in rows[1:] if r[dept] == PARTNER))
    extra[cert], extra[name], extra[mobile], extra[account] = (
        "41072420229999",
        "郝志强",
        "13903730999",
        "HaoZhiQiang",
    )
    rows.append(extra)
    with open(paths["inspectors"], "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    assert ssj(capsys, db_url, "init")[0] == 0
    for kind in ("enterprises", "inspectors", "conflicts"):
        code, out, err = ssj(capsys, db_url, "import", kind, str(paths[kind]))
        assert code == 0, err
    return db_url


def _people(url):
    return {
        c: (d or "生态环境", _listish(e))
        for c, d, e in query(url, "SELECT cert, department, expertise FROM inspectors")
    }


def _create(capsys, url, *args):
    code, out, err = ssj(capsys, url, "task", "create", *args)
    assert code == 0, err
    return out


def test_joint_task_staffs_every_department_from_its_own_people(library, capsys):
    url = library
    conflicted = query(
        url, "SELECT cert FROM inspectors WHERE department = :d ORDER BY cert", d=PARTNER
    )[0][0]
    execute(
        url,
        "INSERT INTO conflicts (cert, uscc, note, source) "
        f"SELECT '{conflicted}', uscc, '配偶在该企业任职', 'import' FROM enterprises e "
        f"WHERE NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.cert = '{conflicted}' "
        "AND c.uscc = e.uscc)",
    )
    out = _create(
        capsys,
        url,
        "--task",
        "2027LH01",
        "--kind",
        "joint",
        "--name",
        "获嘉县2027年第二季度生态环境与市场监管联合抽查",
        "--year",
        "2027",
        "--quarter",
        "2",
        "--departments",
        f"{PARTNER},应急管理",
        "--count",
        "3",
    )
    assert "2027LH01" in out and "ssj draw run" in out
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027LH01")
    assert len(doc["selections"]) == 3
    people = _people(url)
    conflicts = set(query(url, "SELECT cert, uscc FROM conflicts"))
    for s in doc["selections"]:
        assert set(s["teams"]) == {"生态环境", PARTNER, "应急管理"}
        for dept, members in s["teams"].items():
            assert len(members) >= 2 and len(set(members)) == len(members)
            assert all(people[m][0] == dept for m in members)
        assert not any((c, s["uscc"]) in conflicts for c in s["inspectors"])
        assert conflicted not in s["teams"][PARTNER]
    # one dispatch: every member of every department's team has their private card queued
    keys = {k for (k,) in query(url, "SELECT dedupe_key FROM outbox")}
    for s in doc["selections"]:
        for members in s["teams"].values():
            for cert in members:
                assert f"draw{doc['draw_id']}:{s['ref']}:{cert}" in keys
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027LH01")
    assert code == 0 and "复核通过" in out


def test_joint_task_with_an_unstaffed_department_is_refused(library, capsys):
    url = library
    _create(
        capsys,
        url,
        "--task",
        "2027LH02",
        "--kind",
        "joint",
        "--name",
        "获嘉县2027年生态环境与公安联合抽查",
        "--year",
        "2027",
        "--quarter",
        "3",
        "--departments",
        "市场监管,公安",
        "--ratio",
        "10%",
    )
    before = counts(url)
    code, out, err = ssj(capsys, url, "draw", "run", "--task", "2027LH02")
    assert code == 1 and out == ""
    assert "公安" in err and "在岗执法人员" in err
    assert counts(url) == before


def test_special_campaign_filters_objects_and_inspectors(library, capsys):
    url = library
    # The demo's one 废气 enterprise that also has 辐射 needs a 辐射 expert on its team
    # (the expertise rule), and no 大气 inspector is one: drawn (about 1 run in 50) it
    # makes the draw refuse, rightly. It is closed here so the draw is always possible.
    rows = query(url, "SELECT uscc, pollutants FROM enterprises")
    radiating = [u for u, p in rows if "辐射" in _listish(p) and "废气" in _listish(p)]
    assert radiating  # the guard is real: the demo has such an enterprise
    for uscc in radiating:
        execute(url, f"UPDATE enterprises SET status = '关闭' WHERE uscc = '{uscc}'")
    _create(
        capsys,
        url,
        "--task",
        "2027ZX-air",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年大气污染防治专项检查",
        "--year",
        "2027",
        "--quarter",
        "2",
        "--filter",
        "污染类型=废气",
        "--count",
        "5",
        "--inspector-filter",
        "业务专长=大气",
    )
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027zx-air")
    assert doc["task"] == "2027ZX-AIR" and len(doc["selections"]) == 5
    pollutants = {u: _listish(p) for u, p in query(url, "SELECT uscc, pollutants FROM enterprises")}
    people = _people(url)
    for s in doc["selections"]:
        assert "废气" in pollutants[s["uscc"]]
        assert list(s["teams"]) == ["生态环境"]
        assert all("大气" in people[m][1] for m in s["inspectors"])
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027ZX-AIR")
    assert code == 0 and "复核通过" in out


def test_ratio_is_resolved_against_the_filtered_pool(library, capsys):
    url = library
    _create(
        capsys,
        url,
        "--task",
        "2027ZX02",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年重点排污单位专项检查",
        "--year",
        "2027",
        "--quarter",
        "1",
        "--filter",
        "监管类别=重点",
        "--ratio",
        "0.2",
    )
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX02")
    eligible = query(
        url, "SELECT COUNT(*) FROM enterprises WHERE status <> '关闭' AND category = '重点监管'"
    )[0][0]
    assert len(doc["selections"]) == -(-eligible // 5)  # ⌈0.2 · eligible⌉, exact
    assert {s["category"] for s in doc["selections"]} == {"重点监管"}


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--filter", "电子邮箱=a@b.cn"],
            [
                "电子邮箱",
                "所属流域",
                "行政区划",
                "污染类型",
                "环境信用评级",
                "绩效分级",
                "正面清单",
                "信用风险分类",
                "所属机关",
                "投产时间",
            ],
        ),
        (["--filter", "所属流域>=海河"], ["所属流域", "投产时间", "经度", "纬度"]),
        (["--filter", "投产时间>=去年"], ["投产时间", "日期"]),
        (["--filter", "信用风险分类=E"], ["信用风险分类", "A、B、C 或 D"]),
        (["--filter", "行业类别=化工|"], ["列名=值"]),
        (["--filter", "污染类型"], ["列名=值"]),
        (["--inspector-filter", "职务岗位=股长"], ["职务岗位", "业务专长", "所在区域"]),
        (["--name", "一、获嘉县大气专项检查"], ["命名规则", "内部编号"]),
        (["--name", "获嘉县（三）大气专项检查"], ["命名规则", "内部编号"]),
        (["--name", "获" * 51], ["50"]),
        (["--ratio", "1.5"], ["抽查比例"]),
        (["--task", "2027Q3"], ["季度任务编号"]),
        (["--task", "任务一"], ["任务编号"]),
    ],
)
def test_bad_input_is_refused_in_chinese(library, capsys, args, words):
    url = library
    base = {
        "--task": "2027ZX09",
        "--kind": "special",
        "--name": "获嘉县2027年专项检查",
        "--year": "2027",
        "--quarter": "2",
        "--count": "3",
    }
    given = dict(zip(args[::2], args[1::2], strict=True))
    drop = set(given) | ({"--count"} if "--ratio" in given else set())
    argv = [a for k, v in base.items() if k not in drop for a in (k, v)]
    before = counts(url)
    code, out, err = ssj(capsys, url, "task", "create", *argv, *args)
    assert code == 1 and out == ""
    assert all(w in err for w in words), err
    assert counts(url) == before


def test_uncreated_task_id_and_list(library, capsys):
    url = library
    code, _, err = ssj(capsys, url, "draw", "run", "--task", "2027ZX77")
    assert code == 1 and "2027ZX77" in err and "ssj task create" in err
    assert query(url, "SELECT COUNT(*) FROM tasks")[0][0] == 0
    _create(
        capsys,
        url,
        "--task",
        "2027LH05",
        "--kind",
        "joint",
        "--initiator",
        "其他部门",
        "--name",
        "获嘉县2027年安全生产与生态环境联合抽查",
        "--year",
        "2027",
        "--quarter",
        "4",
        "--departments",
        "应急管理",
        "--filter",
        "行政区划=4107",
        "--count",
        "2",
    )
    _create(
        capsys,
        url,
        "--task",
        "2027ZX05",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年涉辐射单位专项检查",
        "--year",
        "2027",
        "--quarter",
        "4",
        "--filter",
        "污染类型=辐射",
        "--ratio",
        "50%",
    )
    docs = {d["task"]: d for d in ssj_json(capsys, url, "task", "list")}
    assert set(docs) == {"2027LH05", "2027ZX05"}
    lh = docs["2027LH05"]
    assert lh["kind"] == "joint" and lh["departments"] == ["生态环境", "应急管理"]
    assert lh["initiator"] == "其他部门" and lh["filters"] == [["行政区划", "4107"]]
    assert lh["count"] == 2 and lh["ratio"] is None
    zx = docs["2027ZX05"]
    assert zx["kind"] == "special" and zx["ratio"] == "1/2" and zx["count"] is None
    code, out, _ = ssj(capsys, url, "task", "list")
    assert code == 0 and "2027LH05" in out and "联合抽查" in out
    code, _, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        "2027ZX05",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年专项检查",
        "--year",
        "2027",
        "--quarter",
        "4",
        "--count",
        "1",
    )
    assert code == 1 and "已存在" in err
