"""``ssj publish`` and ``ssj export publication`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import consistent_sampler
import openpyxl
import pytest

from .helpers import query, ssj, ssj_json

TASK = "2027Q1"


@pytest.fixture
def drawn(library, capsys):
    db_url = library
    doc = ssj_json(capsys, db_url, "draw", "run", "--task", TASK)
    admins = [
        c
        for (c,) in query(db_url, "SELECT cert FROM inspectors WHERE role = '管理员' ORDER BY cert")
    ]
    return db_url, doc, admins


def reviewer(admins, sel) -> str:
    """A 管理员 off the object's team (the four-eyes rule), else one who did not enter it."""
    outside = [a for a in admins if a not in sel["inspectors"]]
    return outside[0] if outside else next(a for a in admins if a != sel["inspectors"][0])


def _result(capsys, url, sel, admin, approve=True, conclusion="1", *extra):
    base = ["--task", TASK, "--uscc", sel["uscc"]]
    assert (
        ssj(
            capsys,
            url,
            "result",
            "record",
            *base,
            "--by",
            sel["inspectors"][0],
            "--conclusion",
            conclusion,
            *extra,
        )[0]
        == 0
    )
    if approve:
        assert ssj(capsys, url, "result", "approve", *base, "--by", reviewer(admin, sel))[0] == 0


def test_publish_refused_until_complete_then_published_once(drawn, capsys, tmp_path):
    url, doc, admin = drawn
    sels = doc["selections"]
    _result(
        capsys,
        url,
        sels[0],
        admin,
        True,
        "3",
        "--findings",
        "超标排放废水",
        "--case-no",
        "获环立字〔2027〕1号",
    )
    _result(capsys, url, sels[1], admin, False)
    code, out, err = ssj(capsys, url, "publish", "--task", TASK)
    assert code == 1 and "还不能公示" in err
    assert sels[1]["name"] in err and sels[2]["name"] in err and sels[0]["name"] not in err
    assert "待审核" in err and "未录入" in err
    code, out, _ = ssj(capsys, url, "publish", "--task", TASK, "--json")
    refusal = json.loads(out)
    assert code == 1 and refusal["error"] == "publish_incomplete"
    assert [m["ref"] for m in refusal["missing"]] == [s["ref"] for s in sels[1:]]
    assert query(url, "SELECT COUNT(*) FROM publications")[0][0] == 0
    code, _, err = ssj(
        capsys, url, "export", "publication", "--task", TASK, str(tmp_path / "p.xlsx")
    )
    assert code == 1 and "尚未公示" in err

    assert (
        ssj(
            capsys,
            url,
            "result",
            "approve",
            "--task",
            TASK,
            "--uscc",
            sels[1]["uscc"],
            "--by",
            reviewer(admin, sels[1]),
        )[0]
        == 0
    )
    for sel in sels[2:]:
        _result(capsys, url, sel, admin)
    code, _, err = ssj(capsys, url, "publish", "--task", TASK, "--withhold", "无等号")
    assert code == 1 and "格式应为" in err
    code, _, err = ssj(
        capsys, url, "publish", "--task", TASK, "--withhold", "91410724MA00000000=理由"
    )
    assert code == 1 and "不是任务" in err
    hidden = sels[-1]
    pub = ssj_json(
        capsys, url, "publish", "--task", TASK, "--withhold", f"{hidden['uscc']}=涉及国家秘密"
    )
    assert pub["task"]["id"] == TASK and pub["summary"]["withheld"] == 1
    assert pub["objects"][0]["outcome"] == "已立案调查，案件编号：获环立字〔2027〕1号"
    assert hidden["uscc"] not in json.dumps(pub, ensure_ascii=False)
    seed = pub["verification"]["seed"]
    for p in pub["verification"]["pool"][:20]:
        assert consistent_sampler.first_ticket(p["uscc"], seed).ticket_number == p["ticket"]
    assert {s for (s,) in query(url, "SELECT status FROM results")} == {"已公示"}
    assert query(url, "SELECT COUNT(*) FROM draws WHERE revealed_at IS NOT NULL")[0][0] == 1
    assert query(url, "SELECT status FROM tasks")[0][0] == "published"
    told = query(url, "SELECT recipient, room, payload FROM outbox WHERE room = 'group'")
    assert len(told) == 1 and told[0][:2] == ("", "group")
    assert f"/public/tasks/{TASK}" in str(told[0][2]) and hidden["name"] not in str(told[0][2])
    code, _, err = ssj(capsys, url, "publish", "--task", TASK)
    assert code == 1 and "已公示" in err
    assert ssj(capsys, url, "audit", "verify")[0] == 0
    actions = [a for (a,) in query(url, "SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["draw.reveal", "task.publish"]

    out = tmp_path / "publication.xlsx"
    code, _, err = ssj(capsys, url, "export", "publication", "--task", TASK, str(out))
    assert code == 0, err
    wb = openpyxl.load_workbook(out)
    rows = list(wb["检查结果"].iter_rows(values_only=True))
    assert len(rows) == len(sels) + 1
    assert [r[2] for r in rows[1:-1]] == [s["uscc"] for s in sels[:-1]]
    assert rows[-1][1] == "依法不予公开" and not rows[-1][2]
    facts = dict(list(wb["复核数据"].iter_rows(values_only=True))[1:])
    assert facts["种子 S:E"] == seed


def test_publish_text_output(drawn, capsys):
    url, doc, admin = drawn
    for sel in doc["selections"]:
        _result(capsys, url, sel, admin)
    code, out, err = ssj(capsys, url, "publish", "--task", TASK.lower())
    assert code == 0, err
    assert f"任务 {TASK} 已公示" in out and f"/public/tasks/{TASK}" in out
    secret = query(url, "SELECT secret FROM draws")[0][0]
    assert secret in out
