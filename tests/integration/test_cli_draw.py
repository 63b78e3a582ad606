"""The command contract of the engine, end to end on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction

import openpyxl
import pytest
from sqlalchemy.exc import DBAPIError

from .helpers import counts, execute, query, ssj, ssj_json


def test_draw_run_json_shape_and_rules(library, capsys):
    url = library
    prep = ssj_json(capsys, url, "draw", "prepare", "--task", "2027Q1")
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1", "--entropy", "3-5-2-6")
    assert set(doc) >= {"task", "draw_id", "commitment", "pool_digest", "algorithm", "selections"}
    assert doc["task"] == "2027Q1" and doc["commitment"] == prep["commitment"]
    assert doc["draw_id"] == prep["draw_id"]
    by_cat = {}
    for s in doc["selections"]:
        assert set(s) >= {"uscc", "name", "category", "ticket", "inspectors"}
        assert s["category"] in ("重点监管", "一般监管", "特殊监管")
        assert s["ticket"].startswith("0.") and len(s["ticket"]) > 60
        assert len(s["inspectors"]) >= 2 and len(set(s["inspectors"])) == len(s["inspectors"])
        assert s["teams"] == {"生态环境": s["inspectors"]}  # one team: the bureau's own
        by_cat[s["category"]] = by_cat.get(s["category"], 0) + 1
    pool = dict(
        query(
            url,
            "SELECT category, COUNT(*) FROM enterprises WHERE status <> '关闭' GROUP BY category",
        )
    )
    # at least ⌈25 %⌉, ⌈10 %⌉, ⌈50 %⌉ of the eligible pool, in exact arithmetic, and of each
    # risk class k at least ⌈r·m_k·N_k⌉ (m = A ½, B 1, C 1½, D 2), the class recorded in
    # the snapshot for every pool object
    ratios = {
        "重点监管": Fraction(25, 100),
        "一般监管": Fraction(10, 100),
        "特殊监管": Fraction(50, 100),
    }
    factors = {"A": Fraction(1, 2), "B": Fraction(1), "C": Fraction(3, 2), "D": Fraction(2)}
    raw = query(url, "SELECT snapshot FROM draws WHERE id = :i", i=doc["draw_id"])[0][0]
    snapshot = raw if isinstance(raw, dict) else json.loads(raw)
    classes = {o["uscc"]: o["risk_class"] for o in snapshot["pool"]}
    live = [o for o in snapshot["pool"] if o["status"] != "关闭"]
    for cat, r in ratios.items():
        assert by_cat[cat] >= -(-pool[cat] * r.numerator // r.denominator)
        for k, m in factors.items():
            n_k = sum(1 for o in live if o["category"] == cat and o["risk_class"] == k)
            got = sum(1 for s in doc["selections"] if s["category"] == cat and s["risk_class"] == k)
            x = r * m * n_k
            assert got >= min(n_k, -(-x.numerator // x.denominator)), (cat, k)
    for s in doc["selections"]:
        assert s["risk_class"] == classes[s["uscc"]]
        assert s["reason"] in ("coverage", "stratum", "floor")
    conflicts = set(query(url, "SELECT cert, uscc FROM conflicts"))
    for s in doc["selections"]:
        assert not any((c, s["uscc"]) in conflicts for c in s["inspectors"])
    # show gives the same draw
    assert ssj_json(capsys, url, "draw", "show", "--task", "2027Q1") == doc
    code, out, _ = ssj(capsys, url, "draw", "verify", "--task", "2027Q1")
    assert code == 0 and "复核通过" in out


def test_second_run_refused_and_redraw_keeps_void(library, capsys):
    url = library
    first = ssj_json(capsys, url, "draw", "run", "--task", "2027Q2")
    before = counts(url)
    code, out, err = ssj(capsys, url, "draw", "run", "--task", "2027Q2")
    assert code != 0 and "已有有效抽取结果" in err and out == ""
    assert counts(url) == before
    code, _, err = ssj(capsys, url, "draw", "run", "--task", "2027Q2", "--redraw")
    assert code != 0 and "理由" in err
    assert counts(url) == before
    second = ssj_json(
        capsys,
        url,
        "draw",
        "run",
        "--task",
        "2027Q2",
        "--redraw",
        "--reason",
        "名录库导入有误，经批准重新抽取",
    )
    assert second["draw_id"] != first["draw_id"]
    assert second["commitment"] != first["commitment"]
    rows = dict(query(url, "SELECT id, status FROM draws WHERE task_id = '2027Q2'"))
    assert rows == {first["draw_id"]: "void", second["draw_id"]: "valid"}
    actions = [a for (a,) in query(url, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("draw.void") == 1 and actions.count("draw.run") == 2
    assert ssj_json(capsys, url, "draw", "show", "--task", "2027Q2")["draw_id"] == second["draw_id"]


def test_reveal_lets_anyone_check_commitment(library, capsys):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1", "--entropy", "开奖号 07 12 25")
    rev = ssj_json(capsys, url, "draw", "reveal", "--task", "2027Q1")
    assert rev["commitment"] == doc["commitment"]
    assert hashlib.sha256(rev["secret"].encode()).hexdigest() == rev["commitment"]
    assert rev["entropy"] == "开奖号 07 12 25"
    assert rev["seed"] == rev["secret"] + ":" + rev["entropy"]
    # the published tickets are recomputable from the seed alone
    import consistent_sampler

    for s in doc["selections"][:5]:
        assert consistent_sampler.first_ticket(s["uscc"], rev["seed"]).ticket_number == s["ticket"]


def test_verify_detects_tampering_and_survives_library_changes(library, capsys, tmp_path):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    # the library changes after the draw: verify uses the snapshot, so it still passes
    execute(url, "UPDATE enterprises SET status = '关闭'", "DELETE FROM conflicts")
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q1")[0] == 0
    # a team changed behind the system's back is caught
    first = doc["selections"][0]
    execute(
        url,
        f"UPDATE team_members SET cert = 'FORGED' WHERE cert = '{first['inspectors'][0]}' "
        f"AND selection_id = {first['ref']}",
    )
    code, _, err = ssj(capsys, url, "draw", "verify", "--task", "2027Q1")
    assert code == 1 and "检查组" in err


def test_recuse_withdraw_and_swap(library, capsys):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    a, b = doc["selections"][0], doc["selections"][-1]
    leaving = a["inspectors"][0]
    changed = ssj_json(
        capsys,
        url,
        "recuse",
        "--task",
        "2027Q1",
        "--uscc",
        a["uscc"],
        "--inspector",
        leaving,
        "--reason",
        "其配偶在该企业任职",
    )
    assert [s["uscc"] for s in changed["selections"]] == [a["uscc"]]
    team = changed["selections"][0]["inspectors"]
    assert leaving not in team and len(team) == len(a["inspectors"])
    assert (leaving, a["uscc"]) in set(query(url, "SELECT cert, uscc FROM conflicts"))
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q1")[0] == 0
    # swap: b's first member and someone on another object exchange objects
    shown = ssj_json(capsys, url, "draw", "show", "--task", "2027Q1")
    b_now = next(s for s in shown["selections"] if s["uscc"] == b["uscc"])
    partner = next(
        m
        for s in shown["selections"]
        for m in s["inspectors"]
        if s["uscc"] != b["uscc"] and m not in b_now["inspectors"]
    )
    swapped = ssj_json(
        capsys,
        url,
        "recuse",
        "--task",
        "2027Q1",
        "--uscc",
        b["uscc"],
        "--inspector",
        b_now["inspectors"][0],
        "--reason",
        "曾在该企业工作",
        "--swap-with",
        partner,
    )
    assert len(swapped["selections"]) == 2
    mine = next(s for s in swapped["selections"] if s["uscc"] == b["uscc"])
    other = next(s for s in swapped["selections"] if s["uscc"] != b["uscc"])
    assert partner in mine["inspectors"] and b_now["inspectors"][0] in other["inspectors"]
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q1")[0] == 0
    assert ssj(capsys, url, "audit", "verify")[0] == 0
    recs = query(url, "SELECT status, seq FROM recusals ORDER BY id")
    assert recs == [("approved", 1), ("approved", 2)]


def test_recuse_refusals_change_nothing(library, capsys):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    s = doc["selections"][0]
    before = counts(url)
    code, _, err = ssj(
        capsys,
        url,
        "recuse",
        "--task",
        "2027Q1",
        "--uscc",
        s["uscc"],
        "--inspector",
        "NOBODY",
        "--reason",
        "x",
    )
    assert code == 1 and "不在" in err
    code, _, err = ssj(
        capsys,
        url,
        "recuse",
        "--task",
        "2027Q3",
        "--uscc",
        s["uscc"],
        "--inspector",
        s["inspectors"][0],
        "--reason",
        "x",
    )
    assert code == 1 and "2027Q3" in err
    assert counts(url) == before


def test_audit_chain_detects_changed_entry(library, capsys):
    url = library
    ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    assert ssj(capsys, url, "audit", "verify")[0] == 0
    # the database itself refuses to change the log
    with pytest.raises(DBAPIError):
        execute(url, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    # someone with full access drops the guard and edits entry 2
    if "sqlite" in url:
        execute(url, "DROP TRIGGER audit_log_no_update")
    else:
        execute(url, "DROP TRIGGER audit_log_append_only ON audit_log")
    execute(url, "UPDATE audit_log SET actor = 'mallory' WHERE id = 2")
    code, _, err = ssj(capsys, url, "audit", "verify")
    assert code == 1 and "第 2 条" in err


def test_export_draw_xlsx(library, capsys, tmp_path):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    out = tmp_path / "draw.xlsx"
    code, _, err = ssj(capsys, url, "export", "draw", "--task", "2027Q1", str(out))
    assert code == 0, err
    wb = openpyxl.load_workbook(out)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "编号" and len(rows) == len(doc["selections"]) + 1
    assert {r[2] for r in rows[1:]} == {s["uscc"] for s in doc["selections"]}
    assert rows[0][4:6] == ("信用风险分类", "抽取依据")
    assert {r[4] for r in rows[1:]} <= set("ABCD")
    facts = dict(list(wb.worksheets[1].iter_rows(values_only=True))[1:])
    assert doc["commitment"] in facts.values()
    assert not any("秘密" in str(k) for k in facts)  # the secret stays secret before reveal


def test_a_task_outside_the_previous_current_and_next_year_is_refused(library, capsys):
    code, _, err = ssj(capsys, library, "draw", "run", "--task", "2099Q1")
    assert code == 1 and "2099" in err and "上一年度、本年度或下一年度" in err
    assert query(library, "SELECT COUNT(*) FROM tasks WHERE id = '2099Q1'")[0][0] == 0
    code, _, err = ssj(
        capsys,
        library,
        "task",
        "create",
        "--task",
        "ZX2099",
        "--kind",
        "special",
        "--name",
        "专项检查",
        "--year",
        "2099",
        "--quarter",
        "1",
        "--count",
        "1",
    )
    assert code == 1 and "上一年度、本年度或下一年度" in err
