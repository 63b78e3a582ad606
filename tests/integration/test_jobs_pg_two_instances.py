"""Two instances on one real PostgreSQL run the same scheduled jobs: every (job, period)
runs once, every outbox message is sent once and in order, and a crashed instance's
expired lease is taken over.

Each "instance" has its own engine and session factory and its own instance name, as
two processes would; they call ``run_due`` concurrently (asyncio.gather), several
rounds at several instants across a quarter.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from bot.domain.results import Conclusion, Draft
from bot.services import draws, results
from bot.services import outbox as outbox_svc
from scheduler import claims
from scheduler.jobs import TZ, Due, Job
from scheduler.runner import run_due
from storage.models import AuditRow, DrawRow
from storage.models_chat import OutboxMessage
from storage.models_jobs import JobClaim
from tests.service.harness import Clock, Harness


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture
async def two(pg_url, tmp_path):
    with time_machine.travel(sh(2026, 10, 1, 8, 0), tick=False) as travel:
        a = Harness(pg_url, Clock(datetime(2026, 10, 1, 8, 0)))
        await a.setup_library(tmp_path)
        b = Harness(pg_url, a.clock)
        a.travel = travel
        yield a, b
        await a.close()
        await b.close()


INSTANTS = [
    sh(2026, 10, 8, 9, 0),
    sh(2026, 10, 8, 9, 0, 30),
    sh(2026, 11, 1, 9, 0),
    sh(2026, 12, 1, 9, 0),
    sh(2026, 12, 17, 9, 0),
    sh(2026, 12, 24, 9, 0),
    sh(2026, 12, 28, 9, 0),
    sh(2026, 12, 30, 9, 0),
    sh(2027, 1, 1, 9, 0),
    sh(2027, 1, 1, 9, 2),
    sh(2027, 1, 1, 17, 0),
]


class Recorder:
    pace_seconds = 0.0

    def __init__(self, log: list):
        self.log = log

    async def send(self, msg, outbox_id: int) -> str:
        self.log.append((msg.to, outbox_id))
        await asyncio.sleep(0)
        return f"ext-{outbox_id}"


async def test_each_job_period_runs_once_and_each_message_is_sent_once_in_order(two):
    a, b = two
    settings = replace(a.settings, auto_draw=True)
    reports = []
    for when in INSTANTS:
        a.travel.move_to(when)
        if when == sh(2026, 12, 17, 9, 0):  # some results are in: fewer reminders
            async with a.sf() as s:
                _, row = await draws.valid_draw(s, "2026Q4")
                sels = await draws.current_selections(s, row)
            for ref, sel in sels[:5]:
                async with a.sf() as s, s.begin():
                    await results.submit(
                        s,
                        ref,
                        sel.teams[0].members[0],
                        Draft(Conclusion.NONE_FOUND, when.date()),
                        when.replace(tzinfo=None),
                        "test",
                    )
        for _ in range(3):  # several rounds at each instant, both instances at once
            reports += await asyncio.gather(
                run_due(a.sf, settings, when, "inst-a"), run_due(b.sf, settings, when, "inst-b")
            )
    runs = Counter((r["job"], r["period"]) for rep in reports for r in rep["ran"])
    assert runs and set(runs.values()) == {1}
    assert not [s for rep in reports for s in rep["skipped"] if s["why"] in ("failed", "lost")]
    assert {
        ("quarter_open", "2026Q4"),
        ("quarter_open", "2027Q1"),
        ("plan_draft", "2027"),
        ("calendar_warning", "2027"),
        ("reminders", "2026Q4:d-14"),
        ("digest", "2027-01-01"),
    } <= set(runs)

    async with a.sf() as s:
        rows = (await s.execute(select(JobClaim))).scalars().all()
        assert {(r.job, r.period) for r in rows if not r.detail.get("expired")} == set(runs)
        assert all(r.status == "done" and r.attempts == 1 for r in rows)
        assert {r.claimed_by for r in rows} <= {"inst-a", "inst-b"}
        drawn = (await s.execute(select(DrawRow.task_id, DrawRow.status))).all()
        assert sorted(drawn) == [("2026Q4", "valid"), ("2027Q1", "valid")]
        assert await s.scalar(
            select(func.count()).select_from(AuditRow).where(AuditRow.action == "job.run")
        ) == len(runs)
        keys = (await s.execute(select(OutboxMessage.dedupe_key))).scalars().all()
    assert len(keys) == len(set(keys))
    for key in (k for k in keys if k and k.startswith("job:")):  # sent by a run that counted
        assert any(key.startswith(f"job:{job}:{period}:") for job, period in runs), key

    # both instances relay the outbox at once: each message once, per-recipient order kept
    log: list = []
    relays = [outbox_svc.Relay(h.sf, Recorder(log)) for h in (a, b)]
    for _ in range(400):
        stats = await asyncio.gather(*(r.run_once(limit=20) for r in relays))
        if not any(st.sent or st.failed for st in stats):
            async with a.sf() as s:
                left = await s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status != "sent")
                )
            if not left:
                break
            a.travel.shift(timedelta(seconds=61))  # leases of rows being sent expire
    ids = [i for _, i in log]
    assert len(ids) == len(set(ids)) == len(keys)
    per_recipient: dict[str, list[int]] = {}
    for to, i in log:
        per_recipient.setdefault(to, []).append(i)
    assert all(seq == sorted(seq) for seq in per_recipient.values())


async def test_a_crashed_instances_lease_is_taken_over_by_exactly_one(two, tmp_path):
    a, b = two
    c = Harness(a.url, a.clock)
    t0 = sh(2026, 10, 8, 9, 0)
    a.travel.move_to(t0)
    dead = Harness(a.url, a.clock)
    async with dead.sf() as s, s.begin():
        assert await claims.claim(s, "quarter_open", "2026Q4", "dead", t0, timedelta(minutes=10))
    await dead.close()  # the process is gone
    try:
        early = await asyncio.gather(
            run_due(b.sf, b.settings, t0 + timedelta(minutes=5), "b"),
            run_due(c.sf, c.settings, t0 + timedelta(minutes=5), "c"),
        )
        assert all(r["ran"] == [] for r in early)
        assert all(
            {"job": "quarter_open", "period": "2026Q4", "why": "running"} in r["skipped"]
            for r in early
        )
        later = t0 + timedelta(minutes=11)
        a.travel.move_to(later)
        both = await asyncio.gather(
            run_due(b.sf, b.settings, later, "b"), run_due(c.sf, c.settings, later, "c")
        )
    finally:
        await c.close()
    ran = [(r["job"], r["period"]) for rep in both for r in rep["ran"]]
    assert ran == [("quarter_open", "2026Q4")]
    async with a.sf() as s:
        row = await s.get(JobClaim, ("quarter_open", "2026Q4"))
        assert row.status == "done" and row.attempts == 2 and row.claimed_by in ("b", "c")
        told = (
            (
                await s.execute(
                    select(OutboxMessage.recipient).where(
                        OutboxMessage.dedupe_key.like("job:quarter_open:2026Q4:%")
                    )
                )
            )
            .scalars()
            .all()
        )
    assert sorted(told) == ["NiuGang", "ZhouZhen"]


async def test_a_slow_run_past_its_lease_is_not_run_again(two):
    """The run's transaction holds the claim row: a takeover waits, then finds it done."""
    a, b = two
    calls: list[str] = []

    async def due(session, settings, now, cal):
        return [Due("P", sh(2026, 10, 8, 9, 0))]

    async def slow(ctx):
        calls.append(ctx.instance)
        await ctx.to_admins("慢任务")
        if ctx.instance == "slow":
            await asyncio.sleep(1.5)
        return {}

    job = Job("slow_job", due, slow)
    t0 = sh(2026, 10, 8, 9, 0)

    async def second():
        await asyncio.sleep(0.5)  # the slow run is under way, its lease long expired
        return await run_due(b.sf, b.settings, t0 + timedelta(minutes=30), "fast", jobs=[job])

    first, other = await asyncio.gather(
        run_due(a.sf, a.settings, t0, "slow", jobs=[job], lease=timedelta(seconds=1)), second()
    )
    assert [r["period"] for r in first["ran"]] == ["P"]
    assert other == {"ran": [], "skipped": [{"job": "slow_job", "period": "P", "why": "claimed"}]}
    assert calls == ["slow"]
    async with a.sf() as s:
        row = await s.get(JobClaim, ("slow_job", "P"))
        assert (row.status, row.claimed_by, row.attempts) == ("done", "slow", 1)
