"""Deadlines of drawn tasks: who still owes a result, and the publication deadline.

* A task's deadline is the quarter's last working day when the task keeps the default
  deadline (the quarter's last day) and the calendar knows the quarter; otherwise the
  task's own ``deadline``.
* Before it, every inspector on the team of an object whose result is not submitted
  (未录入 or 已退回) is reminded of those 编号 (``inspector_reminders``).
* Once every result of a task is approved (and none published), completion is the day
  the last result was approved and the task must be published within 20 working days
  (第二十条, ``completed_at`` and ``publication_deadline``).

Used by the scheduled jobs (``scheduler.deadlines``) and the 管理员's digest
(``bot.services.digest``). Nothing here reads the clock: ``today`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.domain.model import DomainError
from bot.domain.periods import quarter_end
from bot.domain.results import State
from bot.domain.workdays import Calendar
from bot.services import calendar as calendar_svc
from bot.services import draws, people
from bot.services import results as results_svc
from bot.text import render
from storage.models import DrawRow, TaskRow
from storage.repos import deadlines as deadlines_repo
from storage.uow import Session

PUBLICATION_WORKDAYS = 20
UNSUBMITTED = (State.NOT_ENTERED.value, State.RETURNED.value)
FINISHED = (State.APPROVED.value, State.PUBLISHED.value)
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Obj:
    """One object's result for one department's team (a joint task has one per department)."""

    ref: int
    name: str
    status: str
    certs: tuple[str, ...]
    department: str = ""


@dataclass(frozen=True)
class Reminder:
    """One inspector's private reminder."""

    cert: str
    account: str
    text: str


async def valid_tasks(session: Session) -> list[tuple[TaskRow, DrawRow]]:
    """Tasks with their valid draw (without the draw's large snapshot and result)."""
    return await deadlines_repo.valid_tasks(session)


async def objects(session: Session, draw: DrawRow) -> list[Obj]:
    """The draw's objects with each department team's result state and members."""
    sels = await draws.current_selections(session, draw)
    found = await results_svc.units(session, [ref for ref, _ in sels])
    out = []
    for ref, sel in sels:
        for team in sel.teams:
            row = found.get(ref, {}).get(team.department)
            out.append(
                Obj(
                    ref,
                    sel.name,
                    row.status if row else State.NOT_ENTERED.value,
                    tuple(team.members),
                    team.department,
                )
            )
    return out


def task_deadline(task: TaskRow, cal: Calendar) -> date | None:
    default = quarter_end(task.year, task.quarter) if task.quarter else None
    if task.quarter and task.deadline in (None, default):
        try:
            return cal.last_workday_of(task.year, task.quarter)
        except DomainError:
            pass
    return task.deadline or default


async def valid_draw(session: Session, task_id: str) -> tuple[TaskRow, DrawRow] | None:
    """The task and its valid draw; None once voided (a redraw has its own reminders)."""
    try:
        return await draws.valid_draw(session, task_id)
    except DomainError:
        return None


async def inspector_reminders(
    session: Session, task: TaskRow, draw: DrawRow, cal: Calendar, today: date
) -> tuple[list[Reminder], int]:
    """The reminders of every inspector who still owes a result of ``draw`` (those without
    a messenger account are left out), and how many objects are not submitted."""
    deadline = task_deadline(task, cal)
    objs = await objects(session, draw)
    mine: dict[str, list[Obj]] = {}
    for o in objs:
        if o.status in UNSUBMITTED:
            for cert in o.certs:
                mine.setdefault(cert, []).append(o)
    rows = await people.by_certs(session, mine)
    out = []
    for cert, items in sorted(mine.items()):
        account = rows[cert].msg_account if cert in rows else None
        if not account or deadline is None:
            continue
        out.append(
            Reminder(
                cert,
                account,
                render(
                    "chat/jobs_reminder.j2",
                    task=task.id,
                    task_name=task.name,
                    deadline=deadline,
                    days=(deadline - today).days,
                    items=items,
                    name_of=rows[cert].name,
                ),
            )
        )
    return out, sum(o.status in UNSUBMITTED for o in objs)


async def completed_at(session: Session, draw: DrawRow) -> datetime | None:
    """When the last result was approved, if every object's result (every department's,
    for a joint task) is approved and none is published yet; None otherwise."""
    objs = await objects(session, draw)
    if not objs or any(o.status != State.APPROVED.value for o in objs):
        return None
    return await deadlines_repo.last_reviewed_at(session, {o.ref for o in objs})


async def publication_deadline(session: Session, completed: date) -> date:
    """The last day to publish a task completed on ``completed`` (DomainError if the
    calendar cannot tell)."""
    return await calendar_svc.deadline(session, completed, PUBLICATION_WORKDAYS)


def workdays_before(cal: Calendar, day: date, n: int) -> date:
    """The working day that is ``n`` working days before ``day``."""
    found = 0
    while found < n:
        day -= ONE_DAY
        found += cal.is_workday(day)
    return day
