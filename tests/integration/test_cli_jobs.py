"""``ssj jobs run-due`` and ``ssj jobs list`` on SQLite and PostgreSQL."""

from __future__ import annotations

from .helpers import query, ssj, ssj_json

QUARTER_OPEN = {"job": "quarter_open", "period": "2026Q4"}


def outbox_count(url: str) -> int:
    return query(url, "SELECT COUNT(*) FROM outbox")[0][0]


def test_run_due_json_shape_and_idempotence(library, capsys):
    url = library
    assert ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-10-08T08:59:59+08:00") == {
        "ran": [],
        "skipped": [],
    }
    doc = ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-10-08T09:30:00+08:00")
    assert set(doc) == {"ran", "skipped"}
    assert doc["ran"] == [{**QUARTER_OPEN, "late": False, "due_at": "2026-10-08T09:00:00+08:00"}]
    assert doc["skipped"] == []
    sent = query(url, "SELECT recipient FROM outbox ORDER BY recipient")
    assert [r for (r,) in sent] == ["NiuGang", "ZhouZhen"]
    for now in ("2026-10-08T09:30:00+08:00", "2026-10-08T09:32", "2026-10-08T01:40:00Z"):
        again = ssj_json(capsys, url, "jobs", "run-due", "--now", now)
        assert again == {"ran": [], "skipped": [{**QUARTER_OPEN, "why": "done"}]}
    assert outbox_count(url) == 2
    claims = ssj_json(capsys, url, "jobs", "list")
    assert [(c["job"], c["period"], c["status"], c["attempts"], c["late"]) for c in claims] == [
        ("quarter_open", "2026Q4", "done", 1, False)
    ]
    assert claims[0]["due_at"] == "2026-10-08T09:00:00+08:00"
    assert claims[0]["detail"] == {"reminded": 2, "fallback": False, "late": False}


def test_now_without_offset_is_beijing_time(library, capsys):
    url = library
    # 00:59 UTC is 08:59 in Beijing: not yet; a naive 09:00 is Beijing time: due
    assert (
        ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-10-08T00:59:00+00:00")["ran"] == []
    )
    doc = ssj_json(capsys, url, "jobs", "run-due", "--now", "2026-10-08T09:00")
    assert [(r["job"], r["period"]) for r in doc["ran"]] == [("quarter_open", "2026Q4")]


def test_auto_draw_late_after_downtime_and_chinese_table(library, capsys, monkeypatch):
    url = library
    monkeypatch.setenv("SSJ_AUTO_DRAW", "1")
    code, out, err = ssj(capsys, url, "jobs", "run-due", "--now", "2026-10-12T10:00:00+08:00")
    assert code == 0, err
    assert "执行 1 项" in out and "季度任务开始" in out and "2026Q4" in out
    assert "2026-10-08 09:00" in out and "是" in out  # late
    assert query(url, "SELECT task_id, status FROM draws") == [("2026Q4", "valid")]
    cards = outbox_count(url)
    assert cards > 2
    code, out, _ = ssj(capsys, url, "jobs", "run-due", "--now", "2026-10-12T10:05:00+08:00")
    assert code == 0 and "已执行过" in out
    assert query(url, "SELECT COUNT(*) FROM draws")[0][0] == 1 and outbox_count(url) == cards
    code, out, _ = ssj(capsys, url, "jobs", "list")
    assert code == 0 and "已完成" in out and "draw_id" in out


def test_nothing_due_and_bad_input(library, capsys):
    url = library
    code, out, _ = ssj(capsys, url, "jobs", "run-due", "--now", "2026-10-07T12:00:00+08:00")
    assert code == 0 and "没有到期的定时任务" in out
    code, out, _ = ssj(capsys, url, "jobs", "list")
    assert code == 0 and "还没有任何定时任务的执行记录" in out
    code, out, err = ssj(capsys, url, "jobs", "run-due", "--now", "明天上午")
    assert code == 1 and out == "" and "无法识别时刻“明天上午”" in err
