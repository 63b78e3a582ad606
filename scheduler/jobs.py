"""The scheduled jobs: each a name, the periods whose time has come, and a thin ``run``
that calls the same services a chat command calls.

What a job is (``Due``, ``JobCtx``, ``Job``) is in ``scheduler.base``. Times are
Asia/Shanghai. Deadline reminders (``reminders``, ``publication_reminders``) are in
``scheduler.deadlines``; the 管理员's daily digest (``digest``) in ``scheduler.digest``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.config import Settings
from bot.domain.model import DomainError
from bot.domain.periods import quarter_end, quarter_of, quarter_start
from bot.domain.workdays import Calendar
from bot.services import calendar as calendar_svc
from bot.services import plan as plan_svc
from bot.services import quarter as quarter_svc
from bot.text import render, t
from storage.uow import Session

from . import deadlines, digest
from .base import MIDNIGHT, NINE, ONE_DAY, TZ, Due, Job, JobCtx, at, shanghai
from .claims import local

__all__ = [
    "MIDNIGHT",
    "NINE",
    "ONE_DAY",
    "TZ",
    "Due",
    "Job",
    "JobCtx",
    "all_jobs",
    "at",
    "calendar_warning",
    "first_workday",
    "plan_draft",
    "quarter_open",
    "quarter_open_periods",
    "shanghai",
    "yearly_period",
]


# --- quarter_open ------------------------------------------------------------------------


def first_workday(cal: Calendar, year: int, quarter: int) -> tuple[date, bool]:
    """The quarter's first working day; (its first day, True) if the calendar does not know."""
    try:
        return cal.first_workday_of(year, quarter), False
    except DomainError:
        return quarter_start(year, quarter), True


def quarter_open_periods(now: datetime, cal: Calendar) -> list[Due]:
    """The current quarter, from 09:00 on its first working day until the quarter ends.
    (An earlier quarter is never opened late: its draw would come after its end.)"""
    now = shanghai(now)
    year, quarter = now.year, quarter_of(now.date())
    first, fallback = first_workday(cal, year, quarter)
    due = at(first)
    if due > now:
        return []
    return [
        Due(f"{year}Q{quarter}", due, at(quarter_end(year, quarter) + ONE_DAY, MIDNIGHT), fallback)
    ]


async def _quarter_open_due(
    session: Session, settings: Settings, now: datetime, cal: Calendar
) -> list[Due]:
    return quarter_open_periods(now, cal)


async def quarter_open(ctx: JobCtx) -> dict[str, Any]:
    """Auto draw (SSJ_AUTO_DRAW=1) or remind every 管理员 to run 抽查; once drawn, nothing."""
    opening = await quarter_svc.open_quarter(
        ctx.session,
        ctx.settings,
        ctx.period,
        ctx.actor,
        ctx.now,
        ctx.due.due_at.date(),
        ctx.due.fallback,
    )
    if opening.text is None:
        return opening.detail
    return {**opening.detail, opening.told_as: await ctx.to_admins(opening.text)}


# --- plan_draft and calendar_warning ---------------------------------------------------


def yearly_period(now: datetime, month: int) -> list[Due]:
    """Next year's period, due at 09:00 on the 1st of ``month`` until the year ends."""
    now = shanghai(now)
    due = at(date(now.year, month, 1))
    if now < due:
        return []
    return [Due(str(now.year + 1), due, at(date(now.year + 1, 1, 1), MIDNIGHT))]


async def _december(
    session: Session, settings: Settings, now: datetime, cal: Calendar
) -> list[Due]:
    return yearly_period(now, 12)


async def _november(
    session: Session, settings: Settings, now: datetime, cal: Calendar
) -> list[Due]:
    return yearly_period(now, 11)


def _plan_quarters(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "quarter": q["quarter"],
            "visits": q["visits"],
            "objects": q["objects"],
            "categories": [(c["category"], c["visits"], c["objects"]) for c in q["categories"]],
        }
        for q in doc["tasks"]
    ]


async def plan_draft(ctx: JobCtx) -> dict[str, Any]:
    """December: next year's plan draft (bot.services.plan.make) for every 管理员."""
    year = int(ctx.period)
    try:
        doc = await plan_svc.make(
            ctx.session, ctx.settings, year, actor=ctx.actor, now=local(ctx.now)
        )
    except DomainError as exc:
        if exc.code == "plan_published":
            return {"published": True}
        raise
    body = render(
        "chat/jobs_plan.j2",
        year=year,
        library=doc["library"],
        quarters=_plan_quarters(doc),
        joint=doc.get("joint"),
        visits=doc["totals"]["visits"],
        objects=doc["totals"]["objects"],
    )
    told = await ctx.to_admins(body)
    return {"told": told, "visits": doc["totals"]["visits"]}


async def calendar_warning(ctx: JobCtx) -> dict[str, Any]:
    """November: warn every 管理员 if next year's holidays are still unknown."""
    year = int(ctx.period)
    if await calendar_svc.year_known(ctx.session, year):
        return {"known": True}
    entered = len(await calendar_svc.overrides(ctx.session, year))
    told = await ctx.to_admins(t("jobs.calendar_unknown", year=year, entered=entered))
    return {"known": False, "told": told}


def all_jobs() -> tuple[Job, ...]:
    return (
        Job("quarter_open", _quarter_open_due, quarter_open),
        Job("reminders", deadlines.reminder_periods, deadlines.reminders),
        Job(
            "publication_reminders", deadlines.publication_periods, deadlines.publication_reminders
        ),
        Job("plan_draft", _december, plan_draft),
        Job("calendar_warning", _november, calendar_warning),
        Job(digest.JOB, digest.due, digest.run),
    )
