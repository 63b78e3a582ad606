"""``ssj plan`` on SQLite and PostgreSQL with the 获嘉县 demo library: make (a draft that
can be remade), show, publish (audited, final)."""

from __future__ import annotations

import json

import pytest

from bot.domain.model import Category, Rules
from bot.domain.plan import make_plan

from .helpers import execute, query, ssj, ssj_json

ORG = "新乡市生态环境局获嘉分局"


@pytest.fixture
def url(db_url, capsys, tmp_path):
    assert ssj(capsys, db_url, "init")[0] == 0
    assert ssj(capsys, db_url, "demo-data", "--dir", str(tmp_path / "demo"))[0] == 0
    return db_url


def live_counts(url) -> dict:
    rows = query(
        url, "SELECT category, COUNT(*) FROM enterprises WHERE status <> '关闭' GROUP BY category"
    )
    return {c: n for c, n in rows}


def test_make_computes_the_plan_from_the_library(url, capsys):
    doc = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    lib = live_counts(url)
    assert doc["library"] == {k: lib.get(k, 0) for k in ("重点监管", "一般监管", "特殊监管")}
    assert doc["status"] == "draft" and doc["year"] == 2027 and doc["bureau"] == ORG
    assert doc["title"] == f"{ORG}2027年“双随机、一公开”监管随机抽查工作计划"
    assert [t["no"] for t in doc["tasks"]] == ["202701", "202702", "202703", "202704"]
    for q, task in enumerate(doc["tasks"], 1):
        assert task["name"] == f"{ORG}2027年第{q}季度随机抽查"
        assert task["task_id"] == f"2027Q{q}" and task["period"] == f"第{q}季度"
        assert task["item_kind"] == "一般检查事项"
        assert task["scope"] == "获嘉县行政区域内排放污染物的企业事业单位和其他生产经营者"
        assert [i["seq"] for i in task["items"]] == list(range(1, 15))
        assert task["items"][0]["name"] == "放射性污染防治监督检查"
        assert task["ratio_text"].startswith(
            "每季度至少对辖区内纳入检查对象名录库25%的重点监管对象、"
            "10%的一般监管对象、50%的特殊监管对象"
        )
        cats = {c["category"]: c for c in task["categories"]}
        # at least the ratio; more where the risk classes ask for it (the demo has them)
        assert cats["重点监管"]["visits"] >= 15
        assert cats["一般监管"]["visits"] >= -(-lib["一般监管"] // 10)
        assert cats["特殊监管"]["visits"] >= -(-lib["特殊监管"] // 2)
        assert task["visits"] == sum(c["visits"] for c in task["categories"])
        for c in task["categories"]:
            assert [k["class"] for k in c["classes"]] == ["D", "C", "B", "A"]
            assert sum(k["visits"] for k in c["classes"]) == c["visits"]
            assert sum(k["objects"] for k in c["classes"]) == c["objects"]
            assert [k["eligible"] for k in c["classes"]] == [
                doc["library_classes"][c["category"]][k] for k in "DCBA"
            ]
    assert {c: sum(n.values()) for c, n in doc["library_classes"].items()} == doc["library"]
    # what the plan rules give for the library's numbers per category and class
    expected = make_plan(
        2027,
        {c: lib.get(c.value, 0) for c in Category},
        Rules(),
        {c: doc["library_classes"][c.value] for c in Category},
    )
    assert [c.to_json() for c in expected.totals] == doc["totals"]["categories"]
    totals = {c["category"]: c for c in doc["totals"]["categories"]}
    assert totals["重点监管"]["objects"] == lib["重点监管"]
    assert totals["特殊监管"]["objects"] == lib["特殊监管"]
    assert totals["特殊监管"]["least_visits_per_object"] == 2
    assert doc["totals"]["visits"] == sum(t["visits"] for t in doc["tasks"])
    assert doc["totals"]["objects"] == sum(t["objects"] for t in doc["tasks"])
    stored = query(url, "SELECT status, document FROM plans WHERE year = 2027")
    assert len(stored) == 1 and stored[0].status == "draft"
    saved = stored[0].document
    assert (json.loads(saved) if isinstance(saved, str) else saved) == doc


def test_the_table_reads_in_chinese(url, capsys):
    code, out, err = ssj(capsys, url, "plan", "make", "--year", "2027")
    assert code == 0 and err == ""
    assert f"{ORG}2027年“双随机、一公开”监管随机抽查工作计划（草案）" in out
    header = next(line for line in out.splitlines() if line.startswith("抽查时间"))
    assert header.split() == ["抽查时间", "序号", "监管类别", "名录库对象", "按比例", "家", "家次"]
    lines = [line.split() for line in out.splitlines()]
    assert ["第1季度", "202701", "重点监管", "60", "15"] in [ln[:5] for ln in lines]
    assert ["全年", "重点监管", "60", "60", "60"] in [ln[:5] for ln in lines]
    assert "“家次”为计划抽查次数" in out and "ssj plan publish --year 2027" in out
    assert "按信用风险分类" in out and "A 1/2、B 1、C 3/2、D 2" in out
    assert ["全年", "重点监管", "D", "类"] in [ln[:4] for ln in lines]


def test_remake_replaces_the_draft_and_follows_the_library(url, capsys):
    first = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    execute(
        url,
        "UPDATE enterprises SET status = '关闭' WHERE uscc IN (SELECT uscc FROM "
        "enterprises WHERE category = '重点监管' ORDER BY uscc LIMIT 4)",
    )
    second = ssj_json(capsys, url, "plan", "make", "--year", "2027")
    assert first["library"]["重点监管"] - 4 == second["library"]["重点监管"] == 56
    assert sum(second["library_classes"]["重点监管"].values()) == 56
    expected = make_plan(
        2027,
        {c: second["library"][c.value] for c in Category},
        Rules(),
        {c: second["library_classes"][c.value] for c in Category},
    )
    assert [
        c["visits"] for c in second["tasks"][0]["categories"] if c["category"] == "重点监管"
    ] == [expected.cell(1, Category.KEY).visits]
    assert expected.cell(1, Category.KEY).visits >= 14
    assert query(url, "SELECT COUNT(*) FROM plans")[0][0] == 1
    assert (
        query(
            url, "SELECT COUNT(*) FROM audit_log WHERE action = 'plan.make' AND subject = '2027'"
        )[0][0]
        == 2
    )


def test_publish_is_final_and_audited(url, capsys):
    code, _, err = ssj(capsys, url, "plan", "publish", "--year", "2027")
    assert code == 1 and "还没有 2027 年的计划" in err
    ssj_json(capsys, url, "plan", "make", "--year", "2027")
    code, out, err = ssj(capsys, url, "plan", "publish", "--year", "2027")
    assert code == 0 and "2027 年计划已发布" in out and "（已发布）" in out
    row = query(url, "SELECT status, published_at, published_by FROM plans WHERE year = 2027")[0]
    assert row.status == "published" and row.published_at is not None and row.published_by
    shown = ssj_json(capsys, url, "plan", "show", "--year", "2027")
    assert shown["status"] == "published" and shown["published_at"]
    for args in (["make"], ["publish"]):
        code, out, err = ssj(capsys, url, "plan", *args, "--year", "2027")
        assert code == 1 and out == "" and "2027 年计划已经发布" in err
    audit = query(url, "SELECT action, data FROM audit_log WHERE action LIKE 'plan.%' ORDER BY id")
    assert [a.action for a in audit] == ["plan.make", "plan.publish"]
    assert json.loads(audit[1].data)["visits"] == shown["totals"]["visits"]
    assert ssj(capsys, url, "audit", "verify")[0] == 0


def test_another_year_and_bad_input(url, capsys):
    assert ssj_json(capsys, url, "plan", "make", "--year", "2028")["tasks"][0]["no"] == "202801"
    code, _, err = ssj(capsys, url, "plan", "show", "--year", "2029")
    assert code == 1 and "还没有 2029 年的计划" in err
    for bad in ("27", "二〇二七", "2027年"):
        code, out, err = ssj(capsys, url, "plan", "make", "--year", bad)
        assert code == 1 and out == "" and f"无法识别年份“{bad}”" in err
    assert query(url, "SELECT year FROM plans")[0][0] == 2028


def test_an_empty_library_says_so(db_url, capsys):
    assert ssj(capsys, db_url, "init")[0] == 0
    code, out, _ = ssj(capsys, db_url, "plan", "make", "--year", "2027")
    assert code == 0 and "没有未关闭的检查对象" in out
