"""Deadline jobs: inspection reminders and the 20-working-day publication deadline.

``reminders`` (period ``{task}:d-14|d-7|d-3|d-1|overdue``):

* a task's deadline is the quarter's last working day when the task keeps the default
  deadline (the quarter's last day) and the calendar knows the quarter; otherwise the
  task's own ``deadline``;
* 14, 7, 3 and 1 calendar days before it at 09:00 every inspector on the team of an
  object whose result is not submitted (未录入 or 已退回) gets one private message listing
  those 编号; nobody else hears anything;
* a reminder is superseded once the next one is due, and one due before the draw never
  applies;
* objects past the deadline and not yet approved are the 管理员's business: they are in
  the daily digest (``scheduler.digest``), not in a message of their own.

``publication_reminders`` (period ``{task}:pub-5|pub-2|pub-1``): once every result of a
task is approved and the task is not published, completion is the day the last result
was approved and the deadline is 20 working days later (第二十条); 5, 2 and 1 working
days before it at 09:00 every 管理员 is reminded. If the calendar cannot tell the
deadline (an unknown year), the 管理员 are told so once (``{task}:pub-calendar``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from bot.domain.model import DomainError
from bot.domain.periods import quarter_end
from bot.domain.results import State
from bot.domain.workdays import Calendar
from bot.services import calendar as calendar_svc, draws, people, results as results_svc
from bot.text import domain_message, render, t
from storage.models import DrawRow, TaskRow
from storage.models_chat import ResultRow

from .jobs import MIDNIGHT, ONE_DAY, Due, JobCtx, at, shanghai

REMINDER_DAYS = (14, 7, 3, 1)
PUBLICATION_WORKDAYS = 20
PUBLICATION_REMINDERS = (5, 2, 1)
UNSUBMITTED = (State.NOT_ENTERED.value, State.RETURNED.value)
FINISHED = (State.APPROVED.value, State.PUBLISHED.value)


@dataclass(frozen=True)
class Obj:
    """One object's result for one department's team (a joint task has one per department)."""
    ref: int
    name: str
    status: str
    certs: tuple[str, ...]
    department: str = ""


async def valid_tasks(session: AsyncSession) -> list[tuple[TaskRow, DrawRow]]:
    """Tasks with their valid draw (without the draw's large snapshot and result)."""
    q = (select(TaskRow, DrawRow).join(DrawRow, DrawRow.task_id == TaskRow.id)
         .options(load_only(DrawRow.id, DrawRow.task_id, DrawRow.status, DrawRow.drawn_at))
         .where(DrawRow.status == "valid").order_by(TaskRow.id))
    return [(task, draw) for task, draw in (await session.execute(q)).all()]


async def objects(session: AsyncSession, draw: DrawRow) -> list[Obj]:
    """The draw's objects with each department team's result state and members."""
    sels = await draws.current_selections(session, draw)
    found = await results_svc.units(session, [ref for ref, _ in sels])
    out = []
    for ref, sel in sels:
        for team in sel.teams:
            row = found.get(ref, {}).get(team.department)
            out.append(Obj(ref, sel.name, row.status if row else State.NOT_ENTERED.value,
                           tuple(team.members), team.department))
    return out


def task_deadline(task: TaskRow, cal: Calendar) -> date | None:
    default = quarter_end(task.year, task.quarter) if task.quarter else None
    if task.quarter and task.deadline in (None, default):
        try:
            return cal.last_workday_of(task.year, task.quarter)
        except DomainError:
            pass
    return task.deadline or default


async def reminder_periods(session, settings, now, cal: Calendar) -> list[Due]:
    now = shanghai(now)
    out = []
    for task, draw in await valid_tasks(session):
        deadline = task_deadline(task, cal)
        if deadline is None or now.date() > deadline + ONE_DAY:
            continue
        marks = [(f"d-{n}", at(deadline - timedelta(days=n))) for n in REMINDER_DAYS]
        for i, (mark, due) in enumerate(marks):
            # the last one ("1 day before") means nothing once the deadline has passed
            until = marks[i + 1][1] if i + 1 < len(marks) else at(deadline + ONE_DAY)
            before_draw = draw.drawn_at is not None and due.replace(tzinfo=None) < draw.drawn_at
            if due <= now and not before_draw:
                out.append(Due(f"{task.id}:{mark}", due, until))
    return out


async def _task_and_draw(ctx: JobCtx):
    task_id, mark = ctx.period.rsplit(":", 1)
    try:
        task, draw = await draws.valid_draw(ctx.session, task_id)
    except DomainError:   # voided since: a redraw has its own reminders
        return None, None, mark
    return task, draw, mark


async def reminders(ctx: JobCtx) -> dict:
    task, draw, _mark = await _task_and_draw(ctx)
    if task is None:
        return {"no_draw": True}
    deadline = task_deadline(task, ctx.calendar)
    objs = await objects(ctx.session, draw)
    mine: dict[str, list[Obj]] = {}
    for o in objs:
        if o.status in UNSUBMITTED:
            for cert in o.certs:
                mine.setdefault(cert, []).append(o)
    rows = await people.by_certs(ctx.session, mine)
    sent = []
    for cert, items in sorted(mine.items()):
        account = rows[cert].msg_account if cert in rows else None
        if not account:
            continue
        await ctx.to_person(account, render(
            "chat/jobs_reminder.j2", task=task.id, task_name=task.name, deadline=deadline,
            days=(deadline - ctx.today).days, items=items, name_of=rows[cert].name))
        sent.append(cert)
    return {"reminded": sent, "objects": sum(o.status in UNSUBMITTED for o in objs)}


async def completed_at(session: AsyncSession, draw: DrawRow) -> datetime | None:
    """When the last result was approved, if every object's result (every department's,
    for a joint task) is approved and none is published yet; None otherwise."""
    objs = await objects(session, draw)
    if not objs or any(o.status != State.APPROVED.value for o in objs):
        return None
    return await session.scalar(select(func.max(ResultRow.reviewed_at)).where(
        ResultRow.selection_id.in_(sorted({o.ref for o in objs}))))


def workdays_before(cal: Calendar, day: date, n: int) -> date:
    """The working day that is ``n`` working days before ``day``."""
    found = 0
    while found < n:
        day -= ONE_DAY
        found += cal.is_workday(day)
    return day


async def publication_periods(session, settings, now, cal: Calendar) -> list[Due]:
    now = shanghai(now)
    out = []
    for task, draw in await valid_tasks(session):
        if task.status == "published":
            continue
        completed = await completed_at(session, draw)
        if completed is None:
            continue
        try:
            deadline = await calendar_svc.deadline(session, completed.date(),
                                                   PUBLICATION_WORKDAYS)
        except DomainError:
            if shanghai(completed) <= now:
                out.append(Due(f"{task.id}:pub-calendar", shanghai(completed)))
            continue
        marks = [(f"pub-{n}", at(workdays_before(cal, deadline, n)))
                 for n in PUBLICATION_REMINDERS]
        for i, (mark, due) in enumerate(marks):
            until = marks[i + 1][1] if i + 1 < len(marks) else at(deadline + ONE_DAY, MIDNIGHT)
            if due <= now:
                out.append(Due(f"{task.id}:{mark}", due, until))
    return out


async def publication_reminders(ctx: JobCtx) -> dict:
    task, draw, mark = await _task_and_draw(ctx)
    if task is None or task.status == "published":
        return {"nothing": True}
    completed = await completed_at(ctx.session, draw)
    if completed is None:
        return {"nothing": True}
    done = completed.date()
    try:
        deadline = await calendar_svc.deadline(ctx.session, done, PUBLICATION_WORKDAYS)
    except DomainError as exc:
        told = await ctx.to_admins(t("jobs.publication_calendar", task=task.id, name=task.name,
                                     done=done.isoformat(),
                                     error=domain_message(exc, channel="chat")))
        return {"calendar": exc.code, "told": told}
    left = ctx.calendar.workdays_between(ctx.today, deadline)
    told = await ctx.to_admins(t("jobs.publication_due", task=task.id, name=task.name,
                                 done=done.isoformat(), deadline=deadline.isoformat(),
                                 left=left, workdays=PUBLICATION_WORKDAYS))
    return {"deadline": deadline.isoformat(), "left": left, "told": told}
