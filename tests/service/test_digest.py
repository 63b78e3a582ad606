"""The 管理员's daily digest (scheduler.digest) by time travel, on SQLite and PostgreSQL.

As in test_jobs: ``run_due`` gets each instant explicitly, time-machine keeps the process
clock there; the assertions are on the outbox rows (who gets which text, how many).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from fractions import Fraction

import pytest
import time_machine
from sqlalchemy import select

from bot.config import Settings, parse_digest_at
from bot.domain.results import Conclusion, Draft
from bot.services import calendar as calendar_svc
from bot.services import digest as digest_svc
from bot.services import draws, results
from scheduler import digest
from scheduler.jobs import TZ
from scheduler.runner import SchedulerService, run_due
from storage.models_chat import OutboxMessage
from storage.models_jobs import JobClaim

from .harness import Clock, Harness, reviewer_for

ADMINS = ["NiuGang", "ZhouZhen"]  # the demo library's 管理员


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture
def travel():
    with time_machine.travel(sh(2026, 10, 8, 9, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
async def h(db_url, tmp_path, travel):
    harness = Harness(db_url, Clock(datetime(2026, 10, 8, 9, 0)))
    await harness.setup_library(tmp_path)
    harness.travel = travel
    # a big quarter: half of the general objects (134 objects in all)
    async with harness.sf() as s, s.begin():
        await draws.run(
            s,
            replace(harness.settings, ratio_general=Fraction(1, 2)),
            "2026Q4",
            "test",
            datetime(2026, 10, 8, 9, 0),
        )
    yield harness
    await harness.close()


async def run(h, when: datetime, instance: str = "a", **settings) -> dict:
    h.travel.move_to(when)
    return await run_due(h.sf, replace(h.settings, **settings), when, instance)


def ran(report: dict, job: str = "digest") -> list[tuple[str, str, bool]]:
    return [(r["job"], r["period"], r["late"]) for r in report["ran"] if r["job"] == job]


async def digests(h, day: str = "") -> list[tuple[str, str]]:
    async with h.sf() as s:
        rows = (
            await s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.dedupe_key.like(f"job:digest:{day}%"))
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        return [(r.recipient, r.payload["text"]) for r in rows]


async def objects(h) -> list[tuple[int, str]]:
    """(编号, the first officer) of every drawn object, in draw order."""
    async with h.sf() as s:
        _, row = await draws.valid_draw(s, "2026Q4")
        return [
            (ref, sel.teams[0].members[0]) for ref, sel in await draws.current_selections(s, row)
        ]


async def submit(h, ref: int, cert: str, when: datetime) -> None:
    h.travel.move_to(when)
    async with h.sf() as s, s.begin():
        await results.submit(
            s,
            ref,
            cert,
            Draft(Conclusion.NONE_FOUND, when.date()),
            when.replace(tzinfo=None),
            "test",
        )


async def review(h, ref: int, approve: bool, when: datetime, reason: str = "") -> None:
    h.travel.move_to(when)
    async with h.sf() as s, s.begin():
        await results.review(
            s, ref, approve, await reviewer_for(s, ref), when.replace(tzinfo=None), "test", reason
        )


async def claim(h, period: str) -> JobClaim | None:
    async with h.sf() as s:
        return await s.get(JobClaim, ("digest", period))


def listed(text: str, label: str) -> list[int]:
    return [int(n) for n in re.findall(r"编号 (\d+)", text.split(label, 1)[1])]


async def test_a_busy_day_gives_each_supervisor_one_digest_and_a_quiet_day_none(h):
    objs = await objects(h)
    assert len(objs) >= 100
    names = {acc: p.name for acc, p in (await h.people()).items()}
    by_cert = {p.cert: p.name for p in (await h.people()).values()}
    # Tuesday 1 December 2026: 100 results come in during the day
    t0 = sh(2026, 12, 1, 8, 30)
    for i, (ref, cert) in enumerate(objs[:100]):
        await submit(h, ref, cert, t0 + timedelta(minutes=4 * i))
    assert ran(await run(h, sh(2026, 12, 1, 16, 59))) == []
    assert await digests(h) == []
    report = await run(h, sh(2026, 12, 1, 17, 0))
    assert ran(report) == [("digest", "2026-12-01", False)]
    sent = await digests(h)
    assert sorted(to for to, _ in sent) == ADMINS  # one message each, no more
    for to, text in sent:
        assert to in names
        assert "【每日汇总】2026年12月1日 17:00" in text
        assert "任务 2026Q4" in text and "完成期限 2026-12-31" in text
        assert "待审核 100 条，其中新提交 100 条；最早的 3 条" in text
        oldest = listed(text, "最早的")
        assert oldest == [ref for ref, _ in objs[:3]]
        assert f"{by_cert[objs[0][1]]} 12月1日 08:30 提交" in text
        assert "退回" not in text and "逾期" not in text
        assert "发送“审核”" in text
        assert "有限公司" not in text  # short names
    # the same evening again, another instance: nothing more
    assert ran(await run(h, sh(2026, 12, 1, 17, 0))) == []
    assert ran(await run(h, sh(2026, 12, 1, 21, 0), "b")) == []
    assert len(await digests(h)) == 2

    # Wednesday: two results returned, three approved, one new submission
    await review(h, objs[0][0], False, sh(2026, 12, 2, 9, 0), "检查日期有误")
    await review(h, objs[1][0], False, sh(2026, 12, 2, 9, 5), "照片不清晰")
    for ref, _ in objs[2:5]:
        await review(h, ref, True, sh(2026, 12, 2, 9, 10))
    await submit(h, objs[100][0], objs[100][1], sh(2026, 12, 2, 11, 0))
    assert ran(await run(h, sh(2026, 12, 2, 17, 0))) == [("digest", "2026-12-02", False)]
    sent = await digests(h, "2026-12-02")
    assert sorted(to for to, _ in sent) == ADMINS
    for _, text in sent:
        assert "上次汇总：12月1日 17:00" in text
        assert "待审核 96 条，其中新提交 1 条" in text
        assert listed(text, "最早的")[:3] == [ref for ref, _ in objs[5:8]]
        assert "上次汇总以来退回 2 条" in text
        assert "检查日期有误" in text and "照片不清晰" in text
        assert listed(text, "退回 2 条")[:2] == [objs[0][0], objs[1][0]]

    # Thursday: nothing changed, nothing sent (the day is recorded, not skipped)
    assert ran(await run(h, sh(2026, 12, 3, 17, 0))) == [("digest", "2026-12-03", False)]
    assert await digests(h, "2026-12-03") == []
    row = await claim(h, "2026-12-03")
    assert row.detail["changed"] is False and row.detail["told"] == 0
    assert row.detail["since"] == "2026-12-02T17:00:00"
    # Friday: a submission; the digest tells only what is new since Thursday's
    await submit(h, objs[101][0], objs[101][1], sh(2026, 12, 4, 10, 0))
    await run(h, sh(2026, 12, 4, 17, 0))
    (_, text), _ = await digests(h, "2026-12-04")
    assert "上次汇总：12月3日 17:00" in text and "其中新提交 1 条" in text
    assert "退回" not in text


async def test_no_digest_on_a_non_working_day(h):
    objs = await objects(h)
    # Saturday 5 and Sunday 6 December 2026, with news each day
    for i, day in enumerate((sh(2026, 12, 5, 10, 0), sh(2026, 12, 6, 10, 0))):
        await submit(h, objs[i][0], objs[i][1], day)
        for hour in (17, 23):
            report = await run(h, day.replace(hour=hour))
            assert ran(report) == [] and not [s for s in report["skipped"] if s["job"] == "digest"]
    assert await digests(h) == []
    # a weekend day entered as an adjusted working day (调休) gets one
    async with h.sf() as s, s.begin():
        await calendar_svc.set_day(s, date(2026, 12, 6), True, "调休", "test")
    assert ran(await run(h, sh(2026, 12, 6, 17, 0))) == [("digest", "2026-12-06", False)]
    assert sorted(to for to, _ in await digests(h)) == ADMINS


async def test_overdue_objects_are_in_the_digest_not_in_a_message_of_their_own(h):
    objs = await objects(h)
    for ref, cert in objs[:4]:
        await submit(h, ref, cert, sh(2026, 12, 30, 10, 0))
    for ref, _ in objs[:2]:
        await review(h, ref, True, sh(2026, 12, 30, 11, 0))
    await run(h, sh(2026, 12, 30, 17, 0))
    (_, before), _ = await digests(h, "2026-12-30")
    assert "逾期" not in before  # the deadline is 31 December
    await run(h, sh(2026, 12, 31, 17, 0))  # nothing new that day
    assert await digests(h, "2026-12-31") == []
    # the 管理员 no longer get the reminders job's overdue notice the morning after
    report = await run(h, sh(2027, 1, 1, 9, 0))
    assert [r for r in report["ran"] if r["period"].endswith(":overdue")] == []
    async with h.sf() as s:
        overdue_rows = (
            (
                await s.execute(
                    select(OutboxMessage).where(
                        OutboxMessage.dedupe_key.like("job:reminders:%overdue%")
                    )
                )
            )
            .scalars()
            .all()
        )
    assert overdue_rows == []
    # 2027's holidays are unknown: Friday 1 January counts as a working day (fallback)
    assert ran(await run(h, sh(2027, 1, 1, 17, 0))) == [("digest", "2027-01-01", False)]
    assert (await claim(h, "2027-01-01")).detail["fallback"] is True
    sent = await digests(h, "2027-01-01")
    assert sorted(to for to, _ in sent) == ADMINS
    left = len(objs) - 2
    for _, text in sent:
        assert f"已过完成期限、尚未审核通过 {left} 家（新逾期）" in text
        assert f"未录入 {len(objs) - 4} 家，已退回 0 家，待审核 2 家" in text
        assert "编号：" + "、".join(str(r) for r, _ in objs[2:22]) + " 等" in text
    # still overdue on Monday, but not newly: nothing to say
    await run(h, sh(2027, 1, 4, 17, 0))
    assert await digests(h, "2027-01-04") == []
    # an entered day off on a weekday is no working day for the digest
    async with h.sf() as s, s.begin():
        await calendar_svc.set_day(s, date(2028, 1, 3), False, "元旦", "test")
    assert digest.workday(await _calendar(h), date(2028, 1, 3)) == (False, False)


async def _calendar(h):
    async with h.sf() as s:
        return await calendar_svc.calendar(s)


async def test_the_time_is_configurable_and_can_be_switched_off(h, monkeypatch):
    objs = await objects(h)
    await submit(h, objs[0][0], objs[0][1], sh(2026, 12, 1, 7, 0))
    assert ran(await run(h, sh(2026, 12, 1, 8, 29), digest_at="08:30")) == []
    assert ran(await run(h, sh(2026, 12, 1, 8, 30), digest_at="08:30")) == [
        ("digest", "2026-12-01", False)
    ]
    assert (await claim(h, "2026-12-01")).due_at == datetime(2026, 12, 1, 8, 30)
    await submit(h, objs[1][0], objs[1][1], sh(2026, 12, 2, 7, 0))
    report = await run(h, sh(2026, 12, 2, 23, 0), digest_at="")
    assert ran(report) == [] and await digests(h, "2026-12-02") == []
    # a late run says so
    await run(h, sh(2026, 12, 3, 19, 30))
    (_, text), _ = await digests(h, "2026-12-03")
    assert "原定于 2026-12-03 17:00 发送" in text
    # SSJ_DIGEST_AT
    for raw, value in (
        (None, "17:00"),
        ("", ""),
        ("off", ""),
        (" OFF ", ""),
        ("9:05", "09:05"),
        ("18:30", "18:30"),
    ):
        if raw is None:
            monkeypatch.delenv("SSJ_DIGEST_AT", raising=False)
        else:
            monkeypatch.setenv("SSJ_DIGEST_AT", raw)
        assert Settings.from_env(h.url).digest_at == value
    for bad in ("25:00", "17点", "17:5", "tomorrow"):
        with pytest.raises(ValueError, match="无法识别每日汇总时间"):
            parse_digest_at(bad)


async def test_the_scheduler_service_sends_it_once(h):
    objs = await objects(h)
    await submit(h, objs[0][0], objs[0][1], sh(2026, 12, 1, 10, 0))
    svc = SchedulerService(h.sf, h.settings, instance="svc", interval=timedelta(seconds=0.3))
    with time_machine.travel(sh(2026, 12, 1, 17, 0, 5), tick=True):
        svc.start()
        try:
            for _ in range(400):
                if svc.rounds >= 3:
                    break
                await asyncio.sleep(0.05)
        finally:
            await svc.stop()
    assert svc.rounds >= 3
    assert sorted(to for to, _ in await digests(h)) == ADMINS
    row = await claim(h, "2026-12-01")
    assert (row.status, row.claimed_by, row.attempts) == ("done", "svc", 1)


async def test_two_instances_at_the_same_instant_send_one_digest(h):
    objs = await objects(h)
    await submit(h, objs[0][0], objs[0][1], sh(2026, 12, 1, 10, 0))
    other = Harness(h.url, h.clock)
    when = sh(2026, 12, 1, 17, 0)
    h.travel.move_to(when)
    try:
        a, b = await asyncio.gather(
            run_due(h.sf, h.settings, when, "a"), run_due(other.sf, other.settings, when, "b")
        )
    finally:
        await other.close()
    assert sorted(ran(a) + ran(b)) == [("digest", "2026-12-01", False)]
    assert sorted(to for to, _ in await digests(h)) == ADMINS


async def test_the_digest_can_be_built_and_added_to(h, monkeypatch):
    objs = await objects(h)
    await submit(h, objs[0][0], objs[0][1], sh(2026, 12, 1, 10, 0))
    calls = []

    async def anchor(session, d):
        calls.append(d.upto)
        return "审计日志链头：abc123"

    monkeypatch.setattr(digest_svc, "CONTRIBUTORS", [])  # the registry lives in the service
    digest.contributor(anchor)
    async with h.sf() as s:
        cal = await calendar_svc.calendar(s)
        d = await digest.build(s, h.settings, sh(2026, 12, 1, 17, 0), cal, None)
        quiet = await digest.build(
            s, h.settings, sh(2026, 12, 1, 17, 0), cal, datetime(2026, 12, 1, 12, 0)
        )
    assert calls == [datetime(2026, 12, 1, 17, 0)] * 2
    assert d.changed and [td.task_id for td in d.tasks] == ["2026Q4"]
    assert d.tasks[0].pending[0].ref == objs[0][0]
    d.add_line("另加一行")
    text = d.render()
    assert "审计日志链头：abc123" in text and "另加一行" in text
    assert not quiet.changed  # an added line alone changes nothing
    assert quiet.lines == ["审计日志链头：abc123"]


def test_short_names():
    assert digest.short_name("获嘉县宏达化工有限公司", "获嘉县") == "宏达化工"
    assert digest.short_name("新乡市恒通无损检测有限公司", "获嘉县") == "恒通无损检测"
    assert digest.short_name("获嘉县城区污水处理厂", "获嘉县") == "城区污水处理厂"
    assert digest.short_name("有限公司", "获嘉县") == "有限公司"
    assert (
        digest.short_name("河南省某某某某某某某某精细化工股份有限公司", "")
        == "河南省某某某某某某某某…"
    )
