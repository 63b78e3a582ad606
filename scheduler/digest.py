"""The 管理员's daily digest (job ``digest``, period = the day, e.g. ``2027-01-04``).

Instead of a message per submitted result, every 管理员 gets at most one private message
a day, on working days at ``SSJ_DIGEST_AT`` (Beijing time, default 17:00; empty or
``off``: no digest). Per task (a valid draw, not yet published) it tells:

* the results awaiting review (待审核): how many, how many came in since the last
  digest, and the oldest few (编号, the enterprise's short name, who entered it, since
  when; a joint task names the department);
* the results returned (已退回) since the last digest, with the reason;
* the objects past the task's deadline and not yet approved (逾期): how many per state
  and their 编号. This replaces the separate overdue notice the ``reminders`` job used
  to send the 管理员 the day after a deadline.

"Since the last digest" is the instant of the last digest run (the ``upto`` recorded on
its claim), whether or not it sent anything; the first digest ever counts everything.
Nothing is sent when nothing changed since then: no new submission still awaiting
review, no return, no task newly past its deadline. A day the statutory calendar does
not know is taken as a working day from Monday to Friday (``fallback`` on the claim).

The digest itself (``build``, ``Digest``, ``@contributor``) is ``bot.services.digest``;
this module decides when it is due and sends it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.config import Settings
from bot.domain.workdays import Calendar
from bot.services.digest import JOB, Digest, build, contributor, last_upto, short_name
from storage.uow import Session

from .base import MIDNIGHT, ONE_DAY, Due, JobCtx, at, shanghai

__all__ = [
    "JOB",
    "Digest",
    "build",
    "contributor",
    "due",
    "last_upto",
    "run",
    "short_name",
    "workday",
]


def workday(cal: Calendar, day: date) -> tuple[bool, bool]:
    """(a working day?, decided by the Monday-to-Friday fallback?)"""
    decided = cal.decided(day)
    if decided is None:
        return day.weekday() < 5, True
    return decided, False


async def due(session: Session, settings: Settings, now: datetime, cal: Calendar) -> list[Due]:
    """Today's digest from its time on a working day until midnight (a day missed whole
    is not sent late: the next digest covers everything since the last one)."""
    when = settings.digest_time()
    if when is None:
        return []
    now = shanghai(now)
    day = now.date()
    works, fallback = workday(cal, day)
    due_at = at(day, when)
    if not works or due_at > now:
        return []
    return [Due(day.isoformat(), due_at, at(day + ONE_DAY, MIDNIGHT), fallback)]


async def run(ctx: JobCtx) -> dict[str, Any]:
    since = await last_upto(ctx.session, ctx.period)
    digest = await build(ctx.session, ctx.settings, ctx.now, ctx.calendar, since)
    detail = {
        "upto": digest.upto.isoformat(),
        "since": since.isoformat() if since else None,
        "tasks": [td.task_id for td in digest.tasks],
        "changed": digest.changed,
        "fallback": ctx.due.fallback,
    }
    if not digest.changed:
        return {**detail, "told": 0}
    return {**detail, "told": await ctx.to_admins(digest.render())}
