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

``build`` returns a ``Digest`` anyone may add to: ``Digest.add_line`` appends a line
under the task sections, and an ``@contributor`` coroutine ``(session, digest) -> str |
None`` registered here is asked for a line every time a digest is built (for example an
audit-chain anchor). Added lines never make a digest "changed" by themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.results import State
from bot.domain.workdays import Calendar
from bot.services import draws, people, results as results_svc
from bot.services.notify import short_name
from bot.text import render, t
from storage import audit
from storage.models_jobs import JobClaim

from . import claims
from .deadlines import FINISHED, task_deadline, valid_tasks
from .jobs import MIDNIGHT, ONE_DAY, Due, JobCtx, at, shanghai

JOB = "digest"
OLDEST = 3            # awaiting review: the oldest shown per task
RETURNED_SHOWN = 5    # returned since the last digest: shown per task
OVERDUE_SHOWN = 20    # overdue 编号 listed per task


@dataclass(frozen=True)
class Item:
    """One department's result of one object."""
    ref: int
    name: str              # short name
    department: str        # "" unless the object has several departments' results
    who: str               # who entered it
    at: datetime | None    # entered (awaiting review) or returned (returned)
    reason: str = ""       # why it was returned


@dataclass(frozen=True)
class Overdue:
    ref: int
    name: str
    state: str             # the least advanced state across its departments


@dataclass
class TaskDigest:
    task_id: str
    task_name: str
    deadline: date | None
    pending: list[Item] = field(default_factory=list)     # oldest first
    new_pending: int = 0
    returned: list[Item] = field(default_factory=list)
    overdue: list[Overdue] = field(default_factory=list)
    newly_overdue: bool = False

    @property
    def oldest(self) -> list[Item]:
        return self.pending[:OLDEST]

    @property
    def overdue_counts(self) -> dict[str, int]:
        states = [o.state for o in self.overdue]
        return {s: states.count(s) for s in
                (State.NOT_ENTERED.value, State.RETURNED.value, State.PENDING.value)}

    @property
    def changed(self) -> bool:
        return bool(self.new_pending or self.returned or (self.overdue and self.newly_overdue))

    @property
    def empty(self) -> bool:
        return not (self.pending or self.returned or self.overdue)


@dataclass
class Digest:
    day: date
    since: datetime | None          # naive Beijing time of the last digest; None: first
    upto: datetime                  # naive Beijing time this digest covers up to
    tasks: list[TaskDigest] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(td.changed for td in self.tasks)

    def add_line(self, text: str) -> None:
        """A line of one's own below the tasks (it does not make the digest "changed")."""
        if text and text.strip():
            self.lines.append(text.strip())

    def render(self) -> str:
        return render("chat/digest.j2", d=self, shown_returned=RETURNED_SHOWN,
                      shown_overdue=OVERDUE_SHOWN).strip()


Contributor = Callable[[AsyncSession, Digest], Awaitable["str | None"]]
CONTRIBUTORS: list[Contributor] = []


def contributor(fn: Contributor) -> Contributor:
    """Register ``fn`` to add a line to every digest built from now on."""
    CONTRIBUTORS.append(fn)
    return fn


@contributor
async def audit_anchor(session: AsyncSession, d: Digest) -> str | None:
    """The audit chain's head, kept by every 管理员 outside the database: anyone can later
    check that no entry up to it was rewritten or deleted."""
    head = await audit.head(session)
    return t("admin.digest_anchor", seq=head[0], hash=head[1]) if head else None


def _later(when: datetime | None, since: datetime | None) -> bool:
    return since is None or (when is not None and when > since)


async def build(session: AsyncSession, settings: Settings, now: datetime, cal: Calendar,
                since: datetime | None) -> Digest:
    """The digest as of ``now`` for the changes after ``since`` (None: the first ever)."""
    upto = claims.local(shanghai(now))
    since = claims.local(since)
    digest = Digest(upto.date(), since, upto)
    for task, draw in await valid_tasks(session):
        if task.status == "published":
            continue
        sels = dict(await draws.current_selections(session, draw))
        found = await results_svc.units(session, list(sels))
        deadline = task_deadline(task, cal)
        td = TaskDigest(task.id, task.name, deadline)
        rows = [(ref, row, len(by_dept) > 1) for ref, by_dept in found.items()
                for row in by_dept.values() if row is not None]
        names = await people.by_certs(session, {row.entered_by for _, row, _ in rows})

        def short(ref: int) -> str:
            return short_name(sels[ref].name, settings.region) if ref in sels else ""

        def item(ref: int, row, joint: bool, when: datetime | None, reason: str = "") -> Item:
            who = names[row.entered_by].name if row.entered_by in names else row.entered_by
            return Item(ref, short(ref), row.department if joint else "", who, when, reason)

        for ref, row, joint in rows:
            if row.status == State.PENDING.value:
                td.pending.append(item(ref, row, joint, row.entered_at))
                td.new_pending += _later(row.entered_at, since)
            elif row.status == State.RETURNED.value and _later(row.reviewed_at, since):
                td.returned.append(item(ref, row, joint, row.reviewed_at, row.return_reason))
        td.pending.sort(key=lambda i: (i.at or datetime.min, i.ref))
        td.returned.sort(key=lambda i: (i.at or datetime.min, i.ref))
        if deadline is not None and deadline < upto.date():
            # past the deadline from the next day's midnight on
            td.newly_overdue = since is None or since < datetime.combine(deadline + ONE_DAY,
                                                                         time(0))
            td.overdue = [Overdue(ref, short(ref), state) for ref in sorted(found)
                          if (state := results_svc.unit_state(found[ref]).value)
                          not in FINISHED]
        if not td.empty:
            digest.tasks.append(td)
    for fn in CONTRIBUTORS:
        digest.add_line(await fn(session, digest) or "")
    return digest


async def last_upto(session: AsyncSession, before_period: str) -> datetime | None:
    """Up to when the last digest before ``before_period`` looked (None: there was none)."""
    rows = await session.execute(
        select(JobClaim.detail).where(JobClaim.job == JOB, JobClaim.status == claims.DONE,
                                      JobClaim.period < before_period)
        .order_by(JobClaim.period.desc()).limit(60))
    for (detail,) in rows:
        if detail and detail.get("upto"):
            return datetime.fromisoformat(detail["upto"])
    return None


def workday(cal: Calendar, day: date) -> tuple[bool, bool]:
    """(a working day?, decided by the Monday-to-Friday fallback?)"""
    decided = cal.decided(day)
    if decided is None:
        return day.weekday() < 5, True
    return decided, False


async def due(session: AsyncSession, settings: Settings, now: datetime,
              cal: Calendar) -> list[Due]:
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


async def run(ctx: JobCtx) -> dict:
    since = await last_upto(ctx.session, ctx.period)
    digest = await build(ctx.session, ctx.settings, ctx.now, ctx.calendar, since)
    detail = {"upto": digest.upto.isoformat(),
              "since": since.isoformat() if since else None,
              "tasks": [td.task_id for td in digest.tasks], "changed": digest.changed,
              "fallback": ctx.due.fallback}
    if not digest.changed:
        return {**detail, "told": 0}
    return {**detail, "told": await ctx.to_admins(digest.render())}
