"""The 管理员's daily digest through ``ssj jobs run-due --now`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine

from .helpers import query, ssj, ssj_json

TZ = ZoneInfo("Asia/Shanghai")


def digests(url: str, day: str) -> list[tuple[str, str]]:
    """(recipient, text) of the digest messages of ``day``."""
    rows = query(
        url,
        "SELECT recipient, payload FROM outbox WHERE dedupe_key LIKE :k ORDER BY id",
        k=f"job:digest:{day}:%",
    )
    return [(r, (json.loads(p) if isinstance(p, str) else p)["text"]) for r, p in rows]


def ran(doc: dict) -> list[str]:
    return [r["period"] for r in doc["ran"] if r["job"] == "digest"]


def test_run_due_sends_the_digest_once_a_working_day(library, capsys, monkeypatch):
    url = library
    monkeypatch.delenv("SSJ_DIGEST_AT", raising=False)
    with time_machine.travel(datetime(2026, 12, 7, 9, 0, tzinfo=TZ), tick=False) as travel:
        drawn = ssj_json(capsys, url, "draw", "run", "--task", "2026Q4")
        travel.move_to(datetime(2026, 12, 7, 10, 0, tzinfo=TZ))
        for sel in drawn["selections"][:3]:
            code, _, err = ssj(
                capsys,
                url,
                "result",
                "record",
                "--task",
                "2026Q4",
                "--uscc",
                sel["uscc"],
                "--by",
                sel["inspectors"][0],
                "--conclusion",
                "未发现问题",
            )
            assert code == 0, err
    # Monday 7 December 2026
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-07T16:59")) == []
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-07T17:00")) == [
        "2026-12-07"
    ]
    sent = digests(url, "2026-12-07")
    assert sorted(r for r, _ in sent) == ["NiuGang", "ZhouZhen"]
    assert all("待审核 3 条，其中新提交 3 条" in text for _, text in sent)
    again = ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-07T18:00")
    assert {"job": "digest", "period": "2026-12-07", "why": "done"} in again["skipped"]
    # Tuesday: no change, nothing sent; Saturday: no digest at all
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-08T17:00")) == [
        "2026-12-08"
    ]
    assert digests(url, "2026-12-08") == []
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-12T17:00")) == []
    # another time, or none
    monkeypatch.setenv("SSJ_DIGEST_AT", "off")
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-09T23:00")) == []
    monkeypatch.setenv("SSJ_DIGEST_AT", "9:30")
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-10T09:29")) == []
    assert ran(ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-12-10T09:30")) == [
        "2026-12-10"
    ]
    code, out, _ = ssj(capsys, url, "jobs", "list")
    assert code == 0 and "每日汇总" in out and "2026-12-10" in out
    monkeypatch.setenv("SSJ_DIGEST_AT", "下午五点")
    code, out, err = ssj(capsys, url, "jobs", "run-due", "--now", "2026-12-11T17:00")
    assert code == 1 and out == "" and "无法识别每日汇总时间" in err
