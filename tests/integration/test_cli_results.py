"""Back-office result entry and review from the command line; CLI draws queue cards."""

from __future__ import annotations

import pytest

from .helpers import counts, query, ssj, ssj_json


@pytest.fixture
def drawn(library, capsys):
    doc = ssj_json(capsys, library, "draw", "run", "--task", "2027Q1")
    return library, doc


def test_cli_draw_queues_private_cards_for_the_running_service(drawn):
    url, doc = drawn
    members = {c for s in doc["selections"] for c in s["inspectors"]}
    rows = query(url, "SELECT recipient, room FROM outbox WHERE status = 'pending'")
    accounts = dict(query(url, "SELECT cert, msg_account FROM inspectors"))
    assert {r for r, _ in rows} == {accounts[c] for c in members if accounts.get(c)}
    assert all(room == "private" for _, room in rows)


def test_record_review_cycle(drawn, capsys):
    url, doc = drawn
    admins = {c for (c,) in query(url, "SELECT cert FROM inspectors WHERE role = '管理员'")}
    # a team member who is not a 管理员 (supervisors are drawn too)
    sel, member = next(
        (s, c)
        for s in doc["selections"]
        for c in s["inspectors"]
        if c not in admins and admins - set(s["inspectors"])
    )
    outsider = next(
        c
        for (c,) in query(url, "SELECT cert FROM inspectors WHERE kind = '执法人员'")
        if c not in sel["inspectors"]
    )
    admin = next(
        c
        for (c,) in query(url, "SELECT cert FROM inspectors WHERE role = '管理员'")
        if c not in sel["inspectors"]
    )  # four eyes: off the object's team
    base = ["--task", "2027Q1", "--uscc", sel["uscc"]]
    before = counts(url)
    code, _, err = ssj(
        capsys, url, "result", "record", *base, "--by", outsider, "--conclusion", "1"
    )
    assert code == 1 and "不是您的检查任务" in err
    code, _, err = ssj(
        capsys,
        url,
        "result",
        "record",
        *base,
        "--by",
        member,
        "--conclusion",
        "2",
        "--findings",
        "危废贮存间未设标识",
    )
    assert code == 1 and "整改" in err
    assert counts(url) == before
    doc1 = ssj_json(
        capsys,
        url,
        "result",
        "record",
        *base,
        "--by",
        member,
        "--conclusion",
        "2",
        "--findings",
        "危废贮存间未设标识",
        "--rectification",
        "设置标识",
        "--rectify-by",
        "2099-12-31",
    )
    assert doc1["status"] == "待审核" and doc1["conclusion"] == "发现问题已责令整改"
    code, _, err = ssj(capsys, url, "result", "approve", *base, "--by", member)
    assert code == 1 and "不是管理员" in err
    code, _, err = ssj(capsys, url, "result", "return", *base, "--by", admin)
    assert code == 1 and "理由" in err
    assert (
        ssj_json(capsys, url, "result", "return", *base, "--by", admin, "--reason", "整改期限过长")[
            "status"
        ]
        == "已退回"
    )
    assert (
        ssj_json(
            capsys, url, "result", "record", *base, "--by", member, "--conclusion", "未发现问题"
        )["status"]
        == "待审核"
    )
    assert ssj_json(capsys, url, "result", "approve", *base, "--by", admin)["status"] == "已审核"
    code, _, err = ssj(capsys, url, "result", "approve", *base, "--by", admin)
    assert code == 1 and "已审核" in err
    actions = [
        a
        for (a,) in query(
            url, "SELECT action FROM audit_log WHERE action LIKE 'result.%' ORDER BY id"
        )
    ]
    assert actions == ["result.submit", "result.return", "result.submit", "result.approve"]
    assert ssj(capsys, url, "audit", "verify")[0] == 0
