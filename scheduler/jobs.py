"""The scheduled jobs: each a name, the periods whose time has come, and a thin ``run``
that calls the same services a chat command calls.

A job's ``due(session, settings, now, calendar)`` lists ``Due(period, due_at, until)``:
every period whose due time is at or before ``now`` within the job's look-back.
``until`` is when a period stops making sense (a "14 days before" reminder once the
"7 days before" one is due; a quarter's opening once the quarter is over): the runner
records such a period as expired instead of running it. ``run(ctx)`` returns a small
JSON-able detail stored on the claim. Messages go through the durable outbox with
dedupe keys ``job:{job}:{period}:{account}``, in the run's transaction.

Times are Asia/Shanghai. Job messages say when a run is late (service down at the due
time). Deadline reminders (``reminders``, ``publication_reminders``) are in
``scheduler.deadlines``; the 管理员's daily digest (``digest``) in ``scheduler.digest``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.model import Category, DomainError, Status
from bot.domain.periods import quarter_end, quarter_of, quarter_start
from bot.domain.workdays import Calendar
from bot.messages import Outbound
from bot.services import calendar as calendar_svc, draw_flow, draws, notify, outbox
from bot.text import domain_message, render, t
from storage.repos import draws as draws_repo
from storage.models import EnterpriseRow

from .claims import local

TZ = ZoneInfo("Asia/Shanghai")
NINE = time(9, 0)
MIDNIGHT = time(0, 0)
ONE_DAY = timedelta(days=1)


def at(d: date, when: time = NINE) -> datetime:
    return datetime.combine(d, when, tzinfo=TZ)


def shanghai(now: datetime) -> datetime:
    """An aware Asia/Shanghai time (a naive one is taken as Asia/Shanghai)."""
    return now.replace(tzinfo=TZ) if now.tzinfo is None else now.astimezone(TZ)


@dataclass(frozen=True)
class Due:
    period: str
    due_at: datetime
    until: datetime | None = None
    fallback: bool = False      # the calendar did not know the date: a documented default


@dataclass
class JobCtx:
    session: AsyncSession
    settings: Settings
    now: datetime
    calendar: Calendar
    job: str
    due: Due
    late: bool
    instance: str

    @property
    def period(self) -> str:
        return self.due.period

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def actor(self) -> str:
        return f"scheduler:{self.instance}"

    def text(self, body: str) -> str:
        if not self.late:
            return body.strip()
        return body.strip() + "\n" + t("jobs.late_note",
                                       due=self.due.due_at.strftime("%Y-%m-%d %H:%M"))

    def key(self, account: str) -> str:
        return f"job:{self.job}:{self.period}:{account}"

    async def to_admins(self, body: str) -> int:
        msgs = await notify.to_admins(self.session, self.text(body),
                                      dedupe=f"job:{self.job}:{self.period}")
        await outbox.enqueue(self.session, msgs)
        return len(msgs)

    async def to_person(self, account: str, body: str) -> None:
        await outbox.enqueue(self.session, [Outbound(account, text=self.text(body),
                                                     dedupe_key=self.key(account))])


DueFn = Callable[[AsyncSession, Settings, datetime, Calendar], Awaitable[list[Due]]]


@dataclass(frozen=True)
class Job:
    name: str
    due: DueFn
    run: Callable[[JobCtx], Awaitable[dict]]


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
    return [Due(f"{year}Q{quarter}", due, at(quarter_end(year, quarter) + ONE_DAY, MIDNIGHT),
                fallback)]


async def _quarter_open_due(session, settings, now, cal) -> list[Due]:
    return quarter_open_periods(now, cal)


async def quarter_open(ctx: JobCtx) -> dict:
    """Auto draw (SSJ_AUTO_DRAW=1) or remind every 管理员 to run 抽查; once drawn, nothing."""
    s, task_id = ctx.session, ctx.period
    valid = await draws_repo.draw_with_status(s, task_id, "valid")
    if valid is not None:
        return {"already_drawn": valid.id}
    prepared = await draws_repo.draw_with_status(s, task_id, "prepared")
    year, quarter = int(task_id[:4]), int(task_id[-1])
    name = t("task.quarterly_name", org=ctx.settings.bureau_name, year=year, quarter=quarter)
    info = dict(task=task_id, task_name=name, day=ctx.due.due_at.date().isoformat(),
                fallback=ctx.due.fallback, year=year)
    if ctx.settings.auto_draw and prepared is None:
        try:
            async with s.begin_nested():   # a refused draw writes nothing
                row = await draw_flow.run_and_notify(s, ctx.settings, task_id, ctx.actor,
                                                     ctx.now)
        except DomainError as exc:
            told = await ctx.to_admins(t("jobs.auto_draw_failed",
                                         error=domain_message(exc, channel="chat"),
                                         bot=ctx.settings.bot_name, **info))
            return {"draw_error": exc.code, "told": told}
        sels = [sel for _, sel in await draws.current_selections(s, row)]
        counts = draw_flow.counts(sels)
        told = await ctx.to_admins(render("chat/jobs_drawn.j2", counts=counts, total=len(sels),
                                          commitment=row.commitment,
                                          drawn_on=ctx.today.isoformat(), **info))
        return {"draw_id": row.id, "selected": len(sels), "counts": counts, "told": told,
                "fallback": ctx.due.fallback}
    told = await ctx.to_admins(t("jobs.quarter_open", bot=ctx.settings.bot_name,
                                 prepared=prepared is not None, **info))
    return {"reminded": told, "fallback": ctx.due.fallback}


# --- plan_draft and calendar_warning ---------------------------------------------------

def yearly_period(now: datetime, month: int) -> list[Due]:
    """Next year's period, due at 09:00 on the 1st of ``month`` until the year ends."""
    now = shanghai(now)
    due = at(date(now.year, month, 1))
    if now < due:
        return []
    return [Due(str(now.year + 1), due, at(date(now.year + 1, 1, 1), MIDNIGHT))]


async def _december(session, settings, now, cal) -> list[Due]:
    return yearly_period(now, 12)


async def _november(session, settings, now, cal) -> list[Due]:
    return yearly_period(now, 11)


async def library_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(EnterpriseRow.category, func.count())
        .where(EnterpriseRow.status != Status.CLOSED.value).group_by(EnterpriseRow.category))
    out = {c.value: 0 for c in Category}
    for raw, n in rows:
        if (cat := Category.parse(raw)) is not None:
            out[cat.value] += n
    return out


def estimate(settings: Settings, counts: dict[str, int]) -> dict[str, int]:
    """Visits per quarter by the configured ratios, in exact arithmetic (⌈ratio·N⌉)."""
    ratio = {Category.KEY.value: settings.ratio_key, Category.GENERAL.value: settings.ratio_general,
             Category.SPECIAL.value: settings.ratio_special}
    return {c: -(-n * ratio[c].numerator // ratio[c].denominator) for c, n in counts.items()}


def _plan_quarters(doc: dict) -> list[dict]:
    return [{"quarter": q["quarter"], "visits": q["visits"], "objects": q["objects"],
             "categories": [(c["category"], c["visits"], c["objects"]) for c in q["categories"]]}
            for q in doc["tasks"]]


async def plan_draft(ctx: JobCtx) -> dict:
    """December: next year's plan draft (bot.services.plan.make) for every 管理员."""
    year = int(ctx.period)
    try:
        from bot.services import plan as plan_svc
    except ImportError:
        plan_svc = None
    if plan_svc is not None:
        try:
            doc = await plan_svc.make(ctx.session, ctx.settings, year, actor=ctx.actor,
                                      now=local(ctx.now))
        except DomainError as exc:
            if exc.code == "plan_published":
                return {"published": True}
            raise
        quarters = _plan_quarters(doc)
        body = render("chat/jobs_plan.j2", year=year, library=doc["library"], quarters=quarters,
                      joint=doc.get("joint"),
                      visits=doc["totals"]["visits"], objects=doc["totals"]["objects"],
                      estimate=None)
        told = await ctx.to_admins(body)
        return {"told": told, "visits": doc["totals"]["visits"]}
    counts = await library_counts(ctx.session)
    per_quarter = estimate(ctx.settings, counts)
    body = render("chat/jobs_plan.j2", year=year, library=counts, quarters=[], joint=None,
                  visits=4 * sum(per_quarter.values()), objects=None, estimate=per_quarter)
    return {"told": await ctx.to_admins(body), "estimate": per_quarter}


async def calendar_warning(ctx: JobCtx) -> dict:
    """November: warn every 管理员 if next year's holidays are still unknown."""
    year = int(ctx.period)
    if await calendar_svc.year_known(ctx.session, year):
        return {"known": True}
    entered = len(await calendar_svc.overrides(ctx.session, year))
    told = await ctx.to_admins(t("jobs.calendar_unknown", year=year, entered=entered))
    return {"known": False, "told": told}


def all_jobs() -> tuple[Job, ...]:
    from . import deadlines, digest
    return (Job("quarter_open", _quarter_open_due, quarter_open),
            Job("reminders", deadlines.reminder_periods, deadlines.reminders),
            Job("publication_reminders", deadlines.publication_periods,
                deadlines.publication_reminders),
            Job("plan_draft", _december, plan_draft),
            Job("calendar_warning", _november, calendar_warning),
            Job(digest.JOB, digest.due, digest.run))
