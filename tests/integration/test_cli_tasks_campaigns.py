"""Special campaigns filtered on 环境信用评级 / 绩效分级 / 正面清单, and campaigns whose teams
add 辅助人员: ``ssj task create`` then ``ssj draw run``, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from .helpers import counts, execute, query, ssj, ssj_json

NAME = "获嘉县2027年环境信用专项检查"


def _create(capsys, url, task, *args):
    code, out, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        task,
        "--kind",
        "special",
        "--name",
        NAME,
        "--year",
        "2027",
        "--quarter",
        "2",
        *args,
    )
    assert code == 0, err
    return out


def _library(url):
    return {
        u: (c, g, bool(p))
        for u, c, g, p in query(
            url, "SELECT uscc, credit_rating, performance_grade, positive_list FROM enterprises"
        )
    }


def _tag(url, where: str, credit: str, positive: bool):
    execute(
        url,
        f"UPDATE enterprises SET credit_rating = '{credit}', "
        f"positive_list = {'TRUE' if positive else 'FALSE'} WHERE {where}",
    )


def test_campaign_filtered_on_credit_rating_and_positive_list(library, capsys):
    url = library
    # tag part of the demo library: A on the positive list (one typed in lower case),
    # A off the list, and B on the list
    live = [
        u
        for (u,) in query(url, "SELECT uscc FROM enterprises WHERE status <> '关闭' ORDER BY uscc")
    ]
    groups = {"a_pos": live[0:6], "a_low": live[6:8], "a_neg": live[8:14], "b_pos": live[14:20]}
    for key, credit, positive in (
        ("a_pos", "A", True),
        ("a_low", "a", True),
        ("a_neg", "A", False),
        ("b_pos", "B", True),
    ):
        usccs = ",".join(f"'{u}'" for u in groups[key])
        _tag(url, f"uscc IN ({usccs})", credit, positive)
    out = _create(
        capsys,
        url,
        "2027ZX-XY",
        "--filter",
        "环境信用评级=A",
        "--filter",
        "正面清单=是",
        "--count",
        "5",
    )
    assert "2027ZX-XY" in out
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX-XY")
    assert len(doc["selections"]) == 5
    lib = _library(url)
    for s in doc["selections"]:
        credit, _grade, positive = lib[s["uscc"]]
        assert credit.upper() == "A" and positive, (s["uscc"], credit, positive)
        assert s["uscc"] in groups["a_pos"] + groups["a_low"]
        assert len(s["inspectors"]) >= 2 and "auxiliary" not in s
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027ZX-XY")
    assert code == 0 and "复核通过" in out
    listed = {d["task"]: d for d in ssj_json(capsys, url, "task", "list")}["2027ZX-XY"]
    assert listed["filters"] == [["环境信用评级", "A"], ["正面清单", "是"]]
    assert listed["auxiliary"] == 0


def test_campaign_filtered_on_performance_grade_takes_every_match(library, capsys):
    url = library
    graded = [u for u, (_c, g, _p) in _library(url).items() if g == "A"]
    live = {u for (u,) in query(url, "SELECT uscc FROM enterprises WHERE status <> '关闭'")}
    expected = sorted(set(graded) & live)
    assert expected, "the demo library has A-graded objects"
    _create(
        capsys,
        url,
        "2027ZX-JX",
        "--filter",
        "绩效分级=a",
        "--filter",
        "正面清单=否",
        "--ratio",
        "100%",
    )
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX-JX")
    lib = _library(url)
    drawn = sorted(s["uscc"] for s in doc["selections"])
    assert drawn == sorted(u for u in expected if not lib[u][2])
    assert ssj(capsys, url, "draw", "verify", "--task", "2027ZX-JX")[0] == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (["--filter", "正面清单=1"], ["正面清单", "1", "是", "否"]),
        (["--filter", "正面清单=Y"], ["正面清单", "是", "否"]),
        (["--auxiliary", "-1"], ["辅助人员数量"]),
    ],
)
def test_bad_campaign_input_is_refused_and_nothing_created(library, capsys, args, words):
    url = library
    before = counts(url)
    code, out, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        "2027ZX-BAD",
        "--kind",
        "special",
        "--name",
        NAME,
        "--year",
        "2027",
        "--quarter",
        "2",
        "--count",
        "3",
        *args,
    )
    assert code == 1 and out == ""
    assert all(w in err for w in words), err
    assert counts(url) == before


def test_auxiliary_is_refused_for_a_joint_task(library, capsys):
    url = library
    before = counts(url)
    code, out, err = ssj(
        capsys,
        url,
        "task",
        "create",
        "--task",
        "2027LH-FZ",
        "--kind",
        "joint",
        "--name",
        "获嘉县2027年生态环境与市场监管联合抽查",
        "--year",
        "2027",
        "--quarter",
        "2",
        "--departments",
        "市场监管",
        "--count",
        "3",
        "--auxiliary",
        "1",
    )
    assert code == 1 and out == ""
    assert "专项抽查" in err and "辅助人员" in err and "联合抽查" in err
    assert counts(url) == before


# ---------------------------------------------------------------- 辅助人员


def _people(url):
    return {c: (k, a) for c, k, a in query(url, "SELECT cert, kind, msg_account FROM inspectors")}


def test_campaign_with_auxiliary_staff(library, capsys):
    url = library
    _create(capsys, url, "2027ZX-FZ", "--count", "4", "--auxiliary", "1")
    listed = {d["task"]: d for d in ssj_json(capsys, url, "task", "list")}["2027ZX-FZ"]
    assert listed["auxiliary"] == 1
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX-FZ")
    assert len(doc["selections"]) == 4
    people = _people(url)
    conflicts = set(query(url, "SELECT cert, uscc FROM conflicts"))
    for s in doc["selections"]:
        officers = s["teams"]["生态环境"]
        assert officers == s["inspectors"] and len(officers) >= 2
        assert all(people[m][0] == "执法人员" for m in officers)
        assert len(s["auxiliary"]) == 1 and people[s["auxiliary"][0]][0] == "辅助人员"
        assert not any((c, s["uscc"]) in conflicts for c in officers + s["auxiliary"])
    # every member, the 辅助人员 too, is told of the assignment in private
    keys = {k for (k,) in query(url, "SELECT dedupe_key FROM outbox")}
    recipients = {r for (r,) in query(url, "SELECT recipient FROM outbox")}
    for s in doc["selections"]:
        for cert in s["inspectors"] + s["auxiliary"]:
            assert f"draw{doc['draw_id']}:{s['ref']}:{cert}" in keys
        assert people[s["auxiliary"][0]][1] in recipients
    assert (
        ssj_json(capsys, url, "draw", "show", "--task", "2027ZX-FZ")["selections"]
        == doc["selections"]
    )
    code, out, _ = ssj(capsys, url, "draw", "show", "--task", "2027ZX-FZ")
    assert code == 0 and "（辅助人员）" in out
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027ZX-FZ")
    assert code == 0 and "复核通过" in out

    # a 辅助人员 who recuses is replaced by another 辅助人员; the draw still verifies
    s = doc["selections"][0]
    leaving = s["auxiliary"][0]
    changed = ssj_json(
        capsys,
        url,
        "recuse",
        "--task",
        "2027ZX-FZ",
        "--uscc",
        s["uscc"],
        "--inspector",
        leaving,
        "--reason",
        "曾为该企业出具监测报告",
    )
    (now,) = changed["selections"]
    assert now["inspectors"] == s["inspectors"]
    assert len(now["auxiliary"]) == 1 and now["auxiliary"][0] != leaving
    assert people[now["auxiliary"][0]][0] == "辅助人员"
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027ZX-FZ")
    assert code == 0 and "复核通过" in out
    # the draw reads back as drawn when a 辅助人员's 人员类型 changes in the library later
    execute(url, f"UPDATE inspectors SET kind = '执法人员' WHERE cert = '{now['auxiliary'][0]}'")
    assert ssj_json(capsys, url, "draw", "show", "--task", "2027ZX-FZ")["selections"][0] == now
    execute(url, f"UPDATE inspectors SET kind = '辅助人员' WHERE cert = '{now['auxiliary'][0]}'")

    # verify compares the 辅助人员 too: one changed by hand is caught
    other = next(
        c for c, (k, _a) in people.items() if k == "辅助人员" and c not in now["auxiliary"]
    )
    execute(
        url,
        f"UPDATE team_members SET cert = '{other}' WHERE cert = '{now['auxiliary'][0]}' "
        f"AND active = TRUE AND selection_id = {now['ref']}",
    )
    code, _, err = ssj(capsys, url, "draw", "verify", "--task", "2027ZX-FZ")
    assert code == 1 and "检查组" in err


def test_too_few_auxiliary_staff_refuses_the_draw(library, capsys):
    url = library
    have = query(url, "SELECT COUNT(*) FROM inspectors WHERE kind = '辅助人员' AND duty = '在岗'")[
        0
    ][0]
    _create(capsys, url, "2027ZX-FZ2", "--count", "2", "--auxiliary", str(have + 1))
    before = counts(url)
    code, out, err = ssj(capsys, url, "draw", "run", "--task", "2027ZX-FZ2")
    assert code == 1 and out == ""
    assert f"辅助人员不足：需要每组 {have + 1} 名，可用 {have} 名" in err
    assert counts(url) == before
