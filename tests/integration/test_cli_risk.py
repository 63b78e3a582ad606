"""Risk classes end to end on SQLite and PostgreSQL: a draw made before risk classes
still verifies with its own rules; a class that no longer follows from the snapshot's
inputs fails verification; campaigns filter on any library column."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from bot.domain import snapshot as snap

from .helpers import execute, query, ssj, ssj_json

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_draw_2027Q2.json"


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def insert_draw(url: str, old: dict, snapshot: dict | None = None, digest: str | None = None):
    """The draw rows as the service before risk classes wrote them."""
    snapshot = snapshot or old["snapshot"]
    execute(
        url,
        "INSERT INTO tasks (id, bureau, kind, name, year, quarter, plan_no, scope, items, "
        "departments, spec, status) VALUES ('2027Q2', '410724', 'quarterly', "
        "'新乡市生态环境局获嘉分局2027年第2季度随机抽查', 2027, 2, '202702', '', '[]', "
        "'[\"\"]', '{}', 'open')",
        "INSERT INTO draws (id, task_id, status, commitment, secret, entropy, seed, "
        "pool_digest, algorithm, snapshot, result, prepared_by, drawn_by, drawn_at, "
        f"void_reason) VALUES (1, '2027Q2', 'valid', {_q(old['commitment'])}, "
        f"{_q(old['secret'])}, {_q(old['entropy'])}, {_q(old['seed'])}, "
        f"{_q(digest or old['pool_digest'])}, {_q(old['algorithm'])}, "
        f"{_q(json.dumps(snapshot, ensure_ascii=False))}, "
        f"{_q(json.dumps(old['result'], ensure_ascii=False))}, 'old', 'old', "
        f"'{datetime(2027, 4, 1, 9):%Y-%m-%d %H:%M:%S}', '')",
    )
    for pos, s in enumerate(old["result"]):
        execute(
            url,
            "INSERT INTO selections (id, draw_id, task_id, position, uscc, name, category, "
            f"ticket) VALUES ({pos + 1}, 1, '2027Q2', {pos}, {_q(s['uscc'])}, "
            f"{_q(s['name'])}, {_q(s['category'])}, {_q(s['ticket'])})",
        )
        for team in s["teams"]:
            for k, cert in enumerate(team["members"]):
                execute(
                    url,
                    "INSERT INTO team_members (selection_id, department, cert, seq, "
                    f"active, ended_reason) VALUES ({pos + 1}, "
                    f"{_q(team['department'])}, {_q(cert)}, {k}, TRUE, '')",
                )


def test_a_draw_made_before_risk_classes_still_verifies(db_url, capsys):
    assert ssj(capsys, db_url, "init")[0] == 0
    old = json.loads(FIXTURE.read_text(encoding="utf-8"))
    insert_draw(db_url, old)
    code, out, err = ssj(capsys, db_url, "draw", "verify", "--task", "2027Q2")
    assert code == 0, err
    assert "复核通过" in out and f"{len(old['result'])} 个抽取对象" in out
    doc = ssj_json(capsys, db_url, "draw", "show", "--task", "2027Q2")
    assert doc["algorithm"].startswith("ssj-draw/2")
    assert {s["risk_class"] for s in doc["selections"]} == {None}
    assert {s["reason"] for s in doc["selections"]} == {None}


def test_a_class_the_inputs_do_not_give_fails_verification(library, capsys):
    url = library
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q1")[0] == 0
    raw = query(url, "SELECT snapshot FROM draws WHERE id = :i", i=doc["draw_id"])[0][0]
    snapshot = raw if isinstance(raw, dict) else json.loads(raw)
    # an object not drawn, recorded as class A although its inputs say otherwise; the
    # digest recomputed too, so only the classes can tell
    drawn = {s["uscc"] for s in doc["selections"]}
    victim = next(
        o
        for o in snapshot["pool"]
        if o["uscc"] not in drawn and o["risk_class"] != "A" and not o.get("risk")
    )
    victim["risk_class"] = "A"
    execute(
        url,
        f"UPDATE draws SET snapshot = {_q(json.dumps(snapshot, ensure_ascii=False))},"
        f" pool_digest = {_q(snap.digest(snapshot))} WHERE id = {doc['draw_id']}",
    )
    code, _, err = ssj(capsys, url, "draw", "verify", "--task", "2027Q1")
    assert code == 1 and "信用风险分类" in err


def test_campaign_filters_on_any_column(library, capsys):
    url = library
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
        "获嘉县2027年黄河流域较新企业专项检查",
        "--year",
        "2027",
        "--quarter",
        "2",
        "--filter",
        "所属流域=黄河流域|海河流域",
        "--filter",
        "投产时间>=2015-01-01",
        "--filter",
        "信用风险分类=C|D",
        "--filter",
        "排污许可管理类别=简化管理|重点管理",
        "--ratio",
        "1",
    )
    assert code == 0, err
    listed = next(t for t in ssj_json(capsys, url, "task", "list") if t["task"] == "2027ZX05")
    assert listed["filters"] == [
        ["所属流域", "黄河流域|海河流域"],
        ["投产时间", ">=2015-01-01"],
        ["信用风险分类", "C|D"],
        ["排污许可管理类别", "简化管理|重点管理"],
    ]
    doc = ssj_json(capsys, url, "draw", "run", "--task", "2027ZX05")
    rows = {
        u: (started, permit)
        for u, started, permit in query(
            url, "SELECT uscc, started_on, permit_class FROM enterprises WHERE status <> '关闭'"
        )
    }
    raw = query(url, "SELECT snapshot FROM draws WHERE id = :i", i=doc["draw_id"])[0][0]
    snapshot = raw if isinstance(raw, dict) else json.loads(raw)
    classes = {o["uscc"]: o["risk_class"] for o in snapshot["pool"]}
    expected = {
        u
        for u, (started, permit) in rows.items()
        if started >= "2015-01-01" and permit in ("简化管理", "重点管理") and classes[u] in "CD"
    }
    assert expected and {s["uscc"] for s in doc["selections"]} == expected
    assert {s["reason"] for s in doc["selections"]} == {"count"}
    # the snapshot carries the filtered columns, and no others
    assert {k for o in snapshot["pool"] for k in o.get("attrs", {})} == {
        "basin",
        "started_on",
        "permit_class",
    }
    assert ssj(capsys, url, "draw", "verify", "--task", "2027ZX05")[0] == 0


def test_quarters_drawn_out_of_order_on_one_day_order_by_period(library, capsys):
    """2027Q2 drawn first, then Q1, then Q3, all today: an object drawn by both Q1 and Q2
    was last drawn in Q2 (not by the later-drawn Q1), and Q3 orders by that period."""
    url = library
    q2 = {s["uscc"] for s in ssj_json(capsys, url, "draw", "run", "--task", "2027Q2")["selections"]}
    q1 = {s["uscc"] for s in ssj_json(capsys, url, "draw", "run", "--task", "2027Q1")["selections"]}
    ssj_json(capsys, url, "draw", "run", "--task", "2027Q3")
    raw = query(url, "SELECT snapshot FROM draws WHERE task_id = '2027Q3'")[0][0]
    history = (raw if isinstance(raw, dict) else json.loads(raw))["history"]
    both, only_q1 = q1 & q2, q1 - q2
    assert both and only_q1
    assert all(history[u]["last_period"] == [2027, 2] for u in both)
    assert all(history[u]["last_period"] == [2027, 1] for u in only_q1)
    assert all(history[u]["last_drawn"] is None for u in q1 | q2)
    assert all(history[u]["draws_this_year"] == (2 if u in both else 1) for u in q1 | q2)
    assert ssj(capsys, url, "draw", "verify", "--task", "2027Q3")[0] == 0
