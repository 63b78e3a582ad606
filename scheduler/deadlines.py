"""Deadline jobs: inspection reminders and the 20-working-day publication deadline.

``reminders`` (period ``{task}:d-14|d-7|d-3|d-1|overdue``):

* a task's deadline is the quarter's last working day when the task keeps the default
  deadline (the quarter's last day) and the calendar knows the quarter; otherwise the
  task's own ``deadline`` (``bot.services.reminders.task_deadline``);
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

from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.domain.model import DomainError
from bot.domain.status import TaskStatus
from bot.domain.workdays import Calendar
from bot.services import reminders as reminders_svc
from bot.services.reminders import PUBLICATION_WORKDAYS, task_deadline, workdays_before
from bot.text import domain_message, t
from storage.uow import Session

from .base import MIDNIGHT, ONE_DAY, Due, JobCtx, at, shanghai

REMINDER_DAYS = (14, 7, 3, 1)
PUBLICATION_REMINDERS = (5, 2, 1)


async def reminder_periods(
    session: Session, settings: Settings, now: datetime, cal: Calendar
) -> list[Due]:
    now = shanghai(now)
    out = []
    for task, draw in await reminders_svc.valid_tasks(session):
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


def _task_of(ctx: JobCtx) -> str:
    return ctx.period.rsplit(":", 1)[0]


async def reminders(ctx: JobCtx) -> dict[str, Any]:
    found = await reminders_svc.valid_draw(ctx.session, _task_of(ctx))
    if found is None:
        return {"no_draw": True}
    task, draw = found
    sent, objects = await reminders_svc.inspector_reminders(
        ctx.session, task, draw, ctx.calendar, ctx.today
    )
    for r in sent:
        await ctx.to_person(r.account, r.text)
    return {"reminded": [r.cert for r in sent], "objects": objects}


async def publication_periods(
    session: Session, settings: Settings, now: datetime, cal: Calendar
) -> list[Due]:
    now = shanghai(now)
    out = []
    for task, draw in await reminders_svc.valid_tasks(session):
        if task.status == TaskStatus.PUBLISHED:
            continue
        completed = await reminders_svc.completed_at(session, draw)
        if completed is None:
            continue
        try:
            deadline = await reminders_svc.publication_deadline(session, completed.date())
        except DomainError:
            if shanghai(completed) <= now:
                out.append(Due(f"{task.id}:pub-calendar", shanghai(completed)))
            continue
        marks = [(f"pub-{n}", at(workdays_before(cal, deadline, n))) for n in PUBLICATION_REMINDERS]
        for i, (mark, due) in enumerate(marks):
            until = marks[i + 1][1] if i + 1 < len(marks) else at(deadline + ONE_DAY, MIDNIGHT)
            if due <= now:
                out.append(Due(f"{task.id}:{mark}", due, until))
    return out


async def publication_reminders(ctx: JobCtx) -> dict[str, Any]:
    found = await reminders_svc.valid_draw(ctx.session, _task_of(ctx))
    if found is None or found[0].status == TaskStatus.PUBLISHED:
        return {"nothing": True}
    task, draw = found
    completed = await reminders_svc.completed_at(ctx.session, draw)
    if completed is None:
        return {"nothing": True}
    done = completed.date()
    try:
        deadline = await reminders_svc.publication_deadline(ctx.session, done)
    except DomainError as exc:
        told = await ctx.to_admins(
            t(
                "jobs.publication_calendar",
                task=task.id,
                name=task.name,
                done=done.isoformat(),
                error=domain_message(exc, channel="chat"),
            )
        )
        return {"calendar": exc.code, "told": told}
    left = ctx.calendar.workdays_between(ctx.today, deadline)
    told = await ctx.to_admins(
        t(
            "jobs.publication_due",
            task=task.id,
            name=task.name,
            done=done.isoformat(),
            deadline=deadline.isoformat(),
            left=left,
            workdays=PUBLICATION_WORKDAYS,
        )
    )
    return {"deadline": deadline.isoformat(), "left": left, "told": told}
