"""The 管理员's daily digest: per task (a valid draw, not yet published) the results
awaiting review (待审核), those returned (已退回) since the last digest, and the objects
past the deadline and not yet approved (逾期).

``build`` returns a ``Digest`` anyone may add to: ``Digest.add_line`` appends a line
under the task sections, and an ``@contributor`` coroutine ``(session, digest) -> str |
None`` registered here is asked for a line every time a digest is built (for example an
audit-chain anchor). Added lines never make a digest "changed" by themselves.

"Since the last digest" is the ``upto`` recorded on the last done claim of the ``digest``
job (``last_upto``). The scheduled job is ``scheduler.digest``; the time is passed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.results import State
from bot.domain.status import TaskStatus
from bot.domain.workdays import Calendar
from bot.services import draws, people
from bot.services import results as results_svc
from bot.services.notify import short_name
from bot.services.reminders import FINISHED, task_deadline, valid_tasks
from bot.text import render, t
from storage import audit
from storage.models_chat import ResultRow
from storage.repos import jobs as jobs_repo
from storage.uow import Session

JOB = "digest"
OLDEST = 3  # awaiting review: the oldest shown per task
RETURNED_SHOWN = 5  # returned since the last digest: shown per task
OVERDUE_SHOWN = 20  # overdue 编号 listed per task
TZ = ZoneInfo("Asia/Shanghai")
ONE_DAY = timedelta(days=1)

__all__ = [
    "JOB",
    "Digest",
    "Item",
    "Overdue",
    "TaskDigest",
    "build",
    "contributor",
    "last_upto",
    "short_name",
]


@dataclass(frozen=True)
class Item:
    """One department's result of one object."""

    ref: int
    name: str  # short name
    department: str  # "" unless the object has several departments' results
    who: str  # who entered it
    at: datetime | None  # entered (awaiting review) or returned (returned)
    reason: str = ""  # why it was returned


@dataclass(frozen=True)
class Overdue:
    ref: int
    name: str
    state: str  # the least advanced state across its departments


@dataclass
class TaskDigest:
    task_id: str
    task_name: str
    deadline: date | None
    pending: list[Item] = field(default_factory=list)  # oldest first
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
        return {
            s: states.count(s)
            for s in (State.NOT_ENTERED.value, State.RETURNED.value, State.PENDING.value)
        }

    @property
    def changed(self) -> bool:
        return bool(self.new_pending or self.returned or (self.overdue and self.newly_overdue))

    @property
    def empty(self) -> bool:
        return not (self.pending or self.returned or self.overdue)


@dataclass
class Digest:
    day: date
    since: datetime | None  # naive Beijing time of the last digest; None: first
    upto: datetime  # naive Beijing time this digest covers up to
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
        return render(
            "chat/digest.j2", d=self, shown_returned=RETURNED_SHOWN, shown_overdue=OVERDUE_SHOWN
        ).strip()


Contributor = Callable[[Session, Digest], Awaitable["str | None"]]
CONTRIBUTORS: list[Contributor] = []


def contributor(fn: Contributor) -> Contributor:
    """Register ``fn`` to add a line to every digest built from now on."""
    CONTRIBUTORS.append(fn)
    return fn


@contributor
async def audit_anchor(session: Session, d: Digest) -> str | None:
    """The audit chain's head, kept by every 管理员 outside the database: anyone can later
    check that no entry up to it was rewritten or deleted."""
    head = await audit.head(session)
    return t("admin.digest_anchor", seq=head[0], hash=head[1]) if head else None


def _naive(dt: datetime | None) -> datetime | None:
    """Naive Asia/Shanghai time, as stored (a naive one is taken as such)."""
    if dt is None or dt.tzinfo is None:
        return dt
    return dt.astimezone(TZ).replace(tzinfo=None)


def _later(when: datetime | None, since: datetime | None) -> bool:
    return since is None or (when is not None and when > since)


async def _task_digest(
    session: Session,
    settings: Settings,
    task_id: str,
    task_name: str,
    draw_refs: dict[int, str],
    deadline: date | None,
    upto: datetime,
    since: datetime | None,
) -> TaskDigest:
    found = await results_svc.units(session, list(draw_refs))
    td = TaskDigest(task_id, task_name, deadline)
    rows = [
        (ref, row, len(by_dept) > 1)
        for ref, by_dept in found.items()
        for row in by_dept.values()
        if row is not None
    ]
    names = await people.by_certs(session, {row.entered_by for _, row, _ in rows})

    def short(ref: int) -> str:
        return short_name(draw_refs[ref], settings.region) if ref in draw_refs else ""

    def item(
        ref: int, row: ResultRow, joint: bool, when: datetime | None, reason: str = ""
    ) -> Item:
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
        td.newly_overdue = since is None or since < datetime.combine(deadline + ONE_DAY, time(0))
        td.overdue = [
            Overdue(ref, short(ref), state)
            for ref in sorted(found)
            if (state := results_svc.unit_state(found[ref]).value) not in FINISHED
        ]
    return td


async def build(
    session: Session, settings: Settings, now: datetime, cal: Calendar, since: datetime | None
) -> Digest:
    """The digest as of ``now`` for the changes after ``since`` (None: the first ever)."""
    upto = now if now.tzinfo is None else now.astimezone(TZ).replace(tzinfo=None)
    since = _naive(since)
    digest = Digest(upto.date(), since, upto)
    for task, draw in await valid_tasks(session):
        if task.status == TaskStatus.PUBLISHED:
            continue
        refs = {ref: sel.name for ref, sel in await draws.current_selections(session, draw)}
        td = await _task_digest(
            session, settings, task.id, task.name, refs, task_deadline(task, cal), upto, since
        )
        if not td.empty:
            digest.tasks.append(td)
    for fn in CONTRIBUTORS:
        digest.add_line(await fn(session, digest) or "")
    return digest


async def last_upto(session: Session, before_period: str, job: str = JOB) -> datetime | None:
    """Up to when the last digest before ``before_period`` looked (None: there was none)."""
    for detail in await jobs_repo.done_details(session, job, before_period):
        if detail.get("upto"):
            return datetime.fromisoformat(detail["upto"])
    return None
