"""Scheduled jobs by time travel, on SQLite and PostgreSQL, with the demo library.

``run_due`` gets each instant explicitly; time-machine keeps the process clock on the
same instant, so draws and results carry consistent dates. Assertions are on outbox
rows: who gets which text, exactly.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from bot.domain.results import Conclusion, Draft
from bot.services import calendar as calendar_svc
from bot.services import draws, results
from scheduler import claims
from scheduler.jobs import TZ, Due, Job
from scheduler.runner import SCHEDULER, SchedulerService, run_due
from storage.models import DrawRow, InspectorRow, TaskRow
from storage.models_chat import OutboxMessage
from storage.models_jobs import JobClaim

from .harness import Clock, Harness, reviewer_for

ADMINS = ["NiuGang", "ZhouZhen"]  # the demo library's 管理员


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture
def travel():
    with time_machine.travel(sh(2026, 9, 1, 8, 0), tick=False) as traveller:
        yield traveller


@pytest.fixture
async def h(db_url, tmp_path, travel):
    harness = Harness(db_url, Clock(datetime(2026, 9, 1, 8, 0)))
    await harness.setup_library(tmp_path)
    harness.travel = travel
    yield harness
    await harness.close()


async def run(h, when: datetime, instance: str = "a", jobs=None, **settings) -> dict:
    h.travel.move_to(when)
    return await run_due(h.sf, replace(h.settings, **settings), when, instance, jobs=jobs)


def ran(report: dict, job: str | None = None) -> list[tuple[str, str, bool]]:
    return [
        (r["job"], r["period"], r["late"]) for r in report["ran"] if job is None or r["job"] == job
    ]


async def outbox(h, prefix: str = "job:") -> list[tuple[str, str]]:
    """(recipient, text) of outbox rows whose dedupe key starts with ``prefix``."""
    async with h.sf() as s:
        rows = (
            await s.execute(
                select(OutboxMessage)
                .where(OutboxMessage.dedupe_key.like(prefix + "%"))
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        return [(r.recipient, r.payload["text"]) for r in rows]


async def claim_row(h, job: str, period: str) -> JobClaim | None:
    async with h.sf() as s:
        return await s.get(JobClaim, (job, period))


async def teams(h, task_id: str) -> dict[int, list[str]]:
    async with h.sf() as s:
        _, row = await draws.valid_draw(s, task_id)
        return {
            ref: [c for team in sel.teams for c in team.members]
            for ref, sel in await draws.current_selections(s, row)
        }


async def accounts(h) -> dict[str, str]:
    return {row.cert: acc for acc, row in (await h.people()).items()}


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


async def auto_draw_2026q4(h) -> dict:
    report = await run(h, sh(2026, 10, 8, 9, 0), auto_draw=True)
    assert ran(report, "quarter_open") == [("quarter_open", "2026Q4", False)]
    return report


# --- quarter_open ------------------------------------------------------------------------


async def test_quarter_opens_at_nine_on_its_first_working_day_once(h):
    # 2026: 1-7 October is the National Day holiday, Thursday 8 October the first working day
    assert (await run(h, sh(2026, 10, 1, 9, 0)))["ran"] == []
    assert (await run(h, sh(2026, 10, 7, 23, 59)))["ran"] == []
    assert (await run(h, sh(2026, 10, 8, 8, 59, 59)))["ran"] == []
    assert await outbox(h) == []
    report = await run(h, sh(2026, 10, 8, 9, 0))
    assert ran(report) == [("quarter_open", "2026Q4", False)]
    sent = await outbox(h)
    assert sorted(to for to, _ in sent) == ADMINS
    for _, text in sent:
        assert "2026年第4季度随机抽查" in text and "抽查 2026Q4" in text
        assert "延后" not in text and "尚未知晓" not in text
    # the same instant again, and another instance a minute later: nothing runs twice
    again = await run(h, sh(2026, 10, 8, 9, 0))
    assert again == {
        "ran": [],
        "skipped": [{"job": "quarter_open", "period": "2026Q4", "why": "done"}],
    }
    assert (await run(h, sh(2026, 10, 8, 9, 1), instance="b"))["ran"] == []
    assert len(await outbox(h)) == 2
    row = await claim_row(h, "quarter_open", "2026Q4")
    assert (row.status, row.attempts, row.late, row.claimed_by) == ("done", 1, False, "a")
    assert row.due_at == datetime(2026, 10, 8, 9, 0)


async def test_unknown_2027_falls_back_to_the_quarters_first_day(h):
    await run(h, sh(2026, 12, 31, 23, 0))
    assert ran(await run(h, sh(2027, 1, 1, 8, 59)), "quarter_open") == []
    report = await run(h, sh(2027, 1, 1, 9, 0))
    assert ran(report, "quarter_open") == [("quarter_open", "2027Q1", False)]
    sent = await outbox(h, "job:quarter_open:2027Q1:")
    assert sorted(to for to, _ in sent) == ADMINS
    assert all(
        "2027 年的法定节假日安排尚未知晓，按季度第一天 2027-01-01 计" in text for _, text in sent
    )
    row = await claim_row(h, "quarter_open", "2027Q1")
    assert row.detail["fallback"] is True


async def test_entered_holidays_move_the_opening_to_the_first_working_day(h):
    async with h.sf() as s, s.begin():
        for day, work in ((1, False), (2, False), (3, False), (4, True)):
            await calendar_svc.set_day(s, date(2027, 1, day), work, "元旦", "test")
    assert ran(await run(h, sh(2027, 1, 1, 9, 0)), "quarter_open") == []
    assert ran(await run(h, sh(2027, 1, 3, 12, 0)), "quarter_open") == []
    report = await run(h, sh(2027, 1, 4, 9, 0))
    assert ran(report, "quarter_open") == [("quarter_open", "2027Q1", False)]
    assert all("尚未知晓" not in text for _, text in await outbox(h, "job:quarter_open:"))


async def test_down_across_the_quarter_start_draws_once_marked_late(h):
    # the service was down from September; its first run is four days after the opening
    report = await run(h, sh(2026, 10, 12, 10, 0), auto_draw=True)
    assert ran(report, "quarter_open") == [("quarter_open", "2026Q4", True)]
    async with h.sf() as s:
        drawn = (
            (await s.execute(select(DrawRow).where(DrawRow.task_id == "2026Q4"))).scalars().all()
        )
    assert [d.status for d in drawn] == ["valid"]
    draw_id = drawn[0].id
    cards = await outbox(h, f"draw{draw_id}:")
    members = await teams(h, "2026Q4")
    acc = await accounts(h)
    assert len(cards) == sum(1 for certs in members.values() for c in certs if c in acc)
    told = await outbox(h, "job:quarter_open:2026Q4:")
    assert sorted(to for to, _ in told) == ADMINS
    for _, text in told:
        assert f"已于 2026-10-12 自动完成随机抽取，共抽取检查对象 {len(members)} 家" in text
        assert "原定于 2026-10-08 09:00 发送，因服务当时未运行而延后" in text
    # later rounds, restarts and a second instance find it done
    for when, who in (
        (sh(2026, 10, 12, 10, 2), "a"),
        (sh(2026, 10, 12, 10, 2), "b"),
        (sh(2026, 11, 2, 9, 0), "c"),
    ):
        assert ran(await run(h, when, who, auto_draw=True), "quarter_open") == []
    async with h.sf() as s:
        assert len((await s.execute(select(DrawRow))).scalars().all()) == 1
    assert len(await outbox(h, f"draw{draw_id}:")) == len(cards)
    assert (await claim_row(h, "quarter_open", "2026Q4")).late is True


async def test_a_refused_auto_draw_writes_nothing_and_tells_the_supervisors(h):
    async with h.sf() as s, s.begin():
        await s.execute(update(InspectorRow).values(duty="离岗"))
    report = await run(h, sh(2026, 10, 8, 9, 0), auto_draw=True)
    assert ran(report, "quarter_open") == [("quarter_open", "2026Q4", False)]
    async with h.sf() as s:
        assert await s.get(TaskRow, "2026Q4") is None  # the savepoint rolled back
        assert (await s.execute(select(DrawRow))).scalars().all() == []
    told = await outbox(h, "job:quarter_open:2026Q4:")
    assert sorted(to for to, _ in told) == ADMINS
    assert all("自动抽取未能完成，数据未更改" in text and "抽查 2026Q4" in text for _, text in told)
    assert "draw_error" in (await claim_row(h, "quarter_open", "2026Q4")).detail


async def test_an_already_drawn_quarter_needs_nothing(h):
    async with h.sf() as s, s.begin():
        await draws.run(s, h.settings, "2026Q4", "test", datetime(2026, 10, 8, 8, 0))
    report = await run(h, sh(2026, 10, 8, 9, 0), auto_draw=True)
    assert ran(report, "quarter_open") == [("quarter_open", "2026Q4", False)]
    assert await outbox(h, "job:") == []
    assert "already_drawn" in (await claim_row(h, "quarter_open", "2026Q4")).detail


# --- reminders -----------------------------------------------------------------------------


def refs_in(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"编号 (\d+)", text)}


async def test_reminders_go_to_inspectors_with_unfinished_objects_only(h):
    await auto_draw_2026q4(h)
    members = await teams(h, "2026Q4")
    acc = await accounts(h)
    per_cert: dict[str, set[int]] = {}
    for ref, certs in members.items():
        for c in certs:
            per_cert.setdefault(c, set()).add(ref)
    # X finishes every object of theirs; Y's result of one object is returned
    x = min((c for c in per_cert if c in acc), key=lambda c: (len(per_cert[c]), c))
    for ref in sorted(per_cert[x]):
        await submit(h, ref, x, sh(2026, 12, 10, 10, 0))
    y = next(c for c in sorted(per_cert) if c in acc and c != x and per_cert[c] - per_cert[x])
    returned = min(per_cert[y] - per_cert[x])
    await submit(h, returned, y, sh(2026, 12, 11, 10, 0))
    await review(h, returned, False, sh(2026, 12, 11, 11, 0), "照片不清晰")
    finished = per_cert[x]

    # deadline: the last working day of 2026Q4 is Thursday 31 December
    assert ran(await run(h, sh(2026, 12, 17, 8, 59)), "reminders") == []
    report = await run(h, sh(2026, 12, 17, 9, 0))
    assert ran(report, "reminders") == [("reminders", "2026Q4:d-14", False)]
    sent = await outbox(h, "job:reminders:2026Q4:d-14:")
    expected = {
        acc[c]: refs - finished for c, refs in per_cert.items() if c in acc and refs - finished
    }
    assert acc[x] not in expected
    assert {to: refs_in(text) for to, text in sent} == expected
    assert len(sent) == len(expected)  # one message per person
    for to, text in sent:
        assert "完成期限是 2026-12-31，还有 14 天" in text
        assert ("已退回" in text) == (returned in expected[to])

    # down from the 17th to the 29th: "7 days" is superseded, "3 days" runs late
    report = await run(h, sh(2026, 12, 29, 10, 0))
    assert ran(report, "reminders") == [("reminders", "2026Q4:d-3", True)]
    assert {"job": "reminders", "period": "2026Q4:d-7", "why": "expired"} in report["skipped"]
    assert await outbox(h, "job:reminders:2026Q4:d-7:") == []
    late = await outbox(h, "job:reminders:2026Q4:d-3:")
    assert {to for to, _ in late} == set(expected)
    assert all("延后" in text for _, text in late)

    # after the deadline: nothing from the reminders job; the 管理员, and only they, read
    # of the unfinished objects in their daily digest (2027 is unknown: Friday 1 January
    # counts as a working day)
    assert ran(await run(h, sh(2026, 12, 31, 20, 0)), "reminders") == [
        ("reminders", "2026Q4:d-1", True)
    ]
    report = await run(h, sh(2027, 1, 1, 9, 0))
    assert ran(report, "reminders") == []
    assert await outbox(h, "job:reminders:2026Q4:overdue") == []
    report = await run(h, sh(2027, 1, 1, 17, 0))
    assert ran(report, "digest") == [("digest", "2027-01-01", False)]
    overdue = await outbox(h, "job:digest:2027-01-01:")
    assert sorted(to for to, _ in overdue) == ADMINS
    unsubmitted = set(members) - finished
    for _, text in overdue:
        assert f"已过完成期限、尚未审核通过 {len(unsubmitted) + len(finished)} 家（新逾期）" in text
        assert f"未录入 {len(unsubmitted) - 1} 家，已退回 1 家，待审核 {len(finished)} 家" in text
        listed = re.search(r"编号：(.*)", text).group(1).removesuffix(" 等")
        assert {int(n) for n in listed.split("、")} <= unsubmitted | finished


async def test_reminders_due_before_a_late_draw_never_apply(h):
    h.travel.move_to(sh(2026, 12, 20, 10, 0))
    async with h.sf() as s, s.begin():
        await draws.run(s, h.settings, "2026Q4", "test", datetime(2026, 12, 20, 10, 0))
    report = await run(h, sh(2026, 12, 20, 10, 0))
    assert not [x for x in report["ran"] + report["skipped"] if x["job"] == "reminders"]
    report = await run(h, sh(2026, 12, 24, 9, 0))
    assert ran(report, "reminders") == [("reminders", "2026Q4:d-7", False)]


# --- publication_reminders -------------------------------------------------------------------


async def approve_all(h, task_id: str, submitted: datetime, approved: datetime) -> None:
    members = await teams(h, task_id)
    for ref, certs in members.items():
        await submit(h, ref, certs[0], submitted)
    for i, ref in enumerate(sorted(members)):
        await review(h, ref, True, approved + timedelta(minutes=i))


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_publication_reminders_count_twenty_working_days_from_completion(h):
    await auto_draw_2026q4(h)
    await approve_all(h, "2026Q4", sh(2026, 11, 19, 10, 0), sh(2026, 11, 20, 9, 0))
    # completed on Friday 20 November: 20 working days later is Friday 18 December
    assert ran(await run(h, sh(2026, 12, 11, 8, 59)), "publication_reminders") == []
    report = await run(h, sh(2026, 12, 11, 9, 0))
    assert ran(report, "publication_reminders") == [
        ("publication_reminders", "2026Q4:pub-5", False)
    ]
    sent = await outbox(h, "job:publication_reminders:")
    assert sorted(to for to, _ in sent) == ADMINS
    for _, text in sent:
        assert "已于 2026-11-20 全部审核通过" in text and "2026-12-18 前公示" in text
        assert "还剩 5 个工作日" in text and "公示 2026Q4" in text
    report = await run(h, sh(2026, 12, 16, 9, 0))
    assert ran(report, "publication_reminders") == [
        ("publication_reminders", "2026Q4:pub-2", False)
    ]
    assert all(
        "还剩 2 个工作日" in text
        for _, text in await outbox(h, "job:publication_reminders:2026Q4:pub-2:")
    )
    # published meanwhile: no more reminders
    async with h.sf() as s, s.begin():
        await s.execute(update(TaskRow).where(TaskRow.id == "2026Q4").values(status="published"))
    assert ran(await run(h, sh(2026, 12, 17, 9, 0)), "publication_reminders") == []
    assert len(await outbox(h, "job:publication_reminders:")) == 4
    # nobody but the 管理员 heard of publication, and inspectors got no deadline reminder
    assert await outbox(h, "job:reminders:") == []


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_a_publication_deadline_in_an_unknown_year_is_reported_not_guessed(h):
    await auto_draw_2026q4(h)
    await approve_all(h, "2026Q4", sh(2026, 12, 9, 10, 0), sh(2026, 12, 10, 15, 0))
    # 20 working days after 10 December 2026 fall in January 2027, which nobody has entered
    report = await run(h, sh(2026, 12, 10, 17, 0))  # the last approval: 16:41
    assert ran(report, "publication_reminders") == [
        ("publication_reminders", "2026Q4:pub-calendar", False)
    ]
    sent = await outbox(h, "job:publication_reminders:")
    assert sorted(to for to, _ in sent) == ADMINS
    assert all(
        "公示期限无法计算" in text and "2027 年的法定节假日和调休安排尚未知晓" in text
        for _, text in sent
    )
    assert ran(await run(h, sh(2026, 12, 11, 9, 0)), "publication_reminders") == []


# --- plan_draft and calendar_warning ----------------------------------------------------------


async def test_plan_draft_in_december_goes_to_the_supervisors(h):
    assert ran(await run(h, sh(2026, 11, 30, 23, 59)), "plan_draft") == []
    report = await run(h, sh(2026, 12, 1, 9, 0))
    assert ran(report, "plan_draft") == [("plan_draft", "2027", False)]
    sent = await outbox(h, "job:plan_draft:")
    assert sorted(to for to, _ in sent) == ADMINS
    for _, text in sent:
        assert "2027 年“双随机、一公开”抽查计划草案" in text
        assert "第1季度" in text and "第4季度" in text and "全年合计" in text
        # no joint task planned yet: 0 of 4 own tasks, below the 35 % goal (通知 二)
        assert "本部门发起 0 项" in text and "低于 35% 的目标" in text
        # published by chat, not on the command line
        assert "发送“发布计划 2027”" in text and "ssj" not in text and "--" not in text
    assert ran(await run(h, sh(2026, 12, 20, 9, 0)), "plan_draft") == []


async def test_calendar_warning_in_november_for_an_unknown_next_year(h):
    # 2025: next year (2026) is known, nothing to say
    report = await run(h, sh(2025, 11, 1, 9, 0))
    assert ran(report, "calendar_warning") == [("calendar_warning", "2026", False)]
    assert await outbox(h, "job:calendar_warning:") == []
    assert ran(await run(h, sh(2026, 10, 31, 9, 0)), "calendar_warning") == []
    report = await run(h, sh(2026, 11, 1, 9, 0))
    assert ran(report, "calendar_warning") == [("calendar_warning", "2027", False)]
    sent = await outbox(h, "job:calendar_warning:")
    assert sorted(to for to, _ in sent) == ADMINS
    assert all("2027 年的法定节假日和调休安排尚未知晓" in text for _, text in sent)
    assert ran(await run(h, sh(2026, 11, 15, 9, 0)), "calendar_warning") == []


# --- claims: failures, leases, concurrency ------------------------------------------------------


def flaky_job(fail_times: int) -> tuple[Job, list]:
    calls: list[str] = []

    async def due(session, settings, now, cal):
        return [Due("P1", sh(2026, 10, 8, 9, 0))]

    async def body(ctx):
        calls.append(ctx.instance)
        await ctx.to_admins("测试消息")
        if len(calls) <= fail_times:
            raise RuntimeError("boom")
        return {"calls": len(calls)}

    return Job("flaky", due, body), calls


async def test_a_failed_run_writes_nothing_and_is_retried(h):
    job, calls = flaky_job(1)
    t0 = sh(2026, 10, 8, 9, 0)
    report = await run(h, t0, jobs=[job])
    assert report["ran"] == [] and report["skipped"][0]["why"] == "failed"
    assert "boom" in report["skipped"][0]["error"]
    assert await outbox(h, "job:flaky:") == []  # rolled back with the run
    row = await claim_row(h, "flaky", "P1")
    assert (row.status, row.attempts) == ("failed", 1)
    assert (await run(h, t0 + timedelta(seconds=30), jobs=[job]))["skipped"] == [
        {"job": "flaky", "period": "P1", "why": "retry_later"}
    ]
    report = await run(h, t0 + timedelta(minutes=2), "b", jobs=[job])
    assert ran(report) == [("flaky", "P1", False)]
    assert sorted(to for to, _ in await outbox(h, "job:flaky:")) == ADMINS
    row = await claim_row(h, "flaky", "P1")
    assert (row.status, row.attempts, row.claimed_by) == ("done", 2, "b")
    assert calls == ["a", "b"]


async def test_a_job_whose_periods_cannot_be_listed_does_not_stop_the_others(h):
    async def broken(session, settings, now, cal):
        raise RuntimeError("no periods")

    good, _ = flaky_job(0)
    report = await run(h, sh(2026, 10, 8, 9, 0), jobs=[Job("broken", broken, good.run), good])
    assert ran(report) == [("flaky", "P1", False)]
    assert report["skipped"] == [
        {"job": "broken", "period": "", "why": "failed", "error": "RuntimeError: no periods"}
    ]


async def test_the_supervisors_hear_of_a_job_that_keeps_failing(h):
    job, calls = flaky_job(100)
    when = sh(2026, 10, 8, 9, 0)
    for _ in range(4):
        await run(h, when, jobs=[job])
        when += timedelta(hours=1)
    assert len(calls) == 4
    told = await outbox(h, "job-failed:flaky:P1")
    assert sorted(to for to, _ in told) == ADMINS
    assert all("已连续 3 次执行失败" in text for _, text in told)


async def test_an_expired_lease_of_a_crashed_instance_is_taken_over(h):
    t0 = sh(2026, 10, 8, 9, 0)
    async with h.sf() as s, s.begin():  # "dead" claimed, then crashed before finishing
        assert await claims.claim(s, "quarter_open", "2026Q4", "dead", t0, timedelta(minutes=10))
    report = await run(h, t0 + timedelta(minutes=5), "b")
    assert {"job": "quarter_open", "period": "2026Q4", "why": "running"} in report["skipped"]
    assert await outbox(h) == []
    report = await run(h, t0 + timedelta(minutes=11), "b")
    assert ran(report) == [("quarter_open", "2026Q4", False)]
    row = await claim_row(h, "quarter_open", "2026Q4")
    assert (row.status, row.claimed_by, row.attempts) == ("done", "b", 2)
    # the crashed instance comes back: its claim is gone, its finish is refused
    async with h.sf() as s, s.begin():
        with pytest.raises(claims.LostClaim):
            await claims.finish(s, "quarter_open", "2026Q4", "dead", t0 + timedelta(minutes=12))


async def test_two_instances_at_the_same_instant_run_each_period_once(h):
    other = Harness(h.url, h.clock)  # a second engine on the same database
    when = sh(2026, 10, 12, 10, 0)
    h.travel.move_to(when)
    settings = replace(h.settings, auto_draw=True)
    try:
        a, b = await asyncio.gather(
            run_due(h.sf, settings, when, "a"), run_due(other.sf, settings, when, "b")
        )
    finally:
        await other.close()
    assert sorted(ran(a) + ran(b)) == [("quarter_open", "2026Q4", True)]
    async with h.sf() as s:
        assert len((await s.execute(select(DrawRow))).scalars().all()) == 1
    assert sorted(to for to, _ in await outbox(h, "job:")) == ADMINS


# --- the APScheduler wiring ------------------------------------------------------------------


async def _until(pred, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


async def test_the_service_catches_up_at_start_up_and_then_runs_every_interval(h):
    svc = SchedulerService(
        h.sf, replace(h.settings, auto_draw=True), instance="svc", interval=timedelta(seconds=0.3)
    )
    with time_machine.travel(sh(2026, 10, 12, 10, 0), tick=True):  # APScheduler needs a clock
        svc.start()
        try:

            async def two_rounds():
                return svc.rounds >= 2

            await _until(two_rounds)
        finally:
            await svc.stop()
    assert not svc.scheduler.running
    row = await claim_row(h, "quarter_open", "2026Q4")
    assert (row.status, row.late, row.claimed_by, row.attempts) == ("done", True, "svc", 1)
    assert svc.last["ran"] == []  # later rounds find it done
    async with h.sf() as s:
        assert len((await s.execute(select(DrawRow))).scalars().all()) == 1


async def test_the_app_runs_the_scheduler_unless_settings_turn_it_off(h, aiohttp_client):
    from bot.app import create_app

    with time_machine.travel(sh(2026, 10, 8, 9, 30), tick=True):
        off = await aiohttp_client(create_app(replace(h.settings, scheduler=False)))
        assert SCHEDULER not in off.app
        await off.close()
        client = await aiohttp_client(create_app(replace(h.settings, scheduler=True)))
        svc = client.app[SCHEDULER]

        async def ran_once():
            return svc.rounds >= 1

        await _until(ran_once)
        await client.close()
    assert ran(svc.last) == [("quarter_open", "2026Q4", False)]
    assert sorted(to for to, _ in await outbox(h, "job:")) == ADMINS
