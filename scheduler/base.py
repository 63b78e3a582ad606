"""What every job is made of: ``Due`` periods, the run's ``JobCtx`` and the ``Job`` itself,
with the Asia/Shanghai time helpers the jobs share.

A job's ``due(session, settings, now, calendar)`` lists ``Due(period, due_at, until)``:
every period whose due time is at or before ``now`` within the job's look-back.
``until`` is when a period stops making sense: the runner records such a period as expired
instead of running it. ``run(ctx)`` returns a small JSON-able detail stored on the claim.
Messages go through the durable outbox with dedupe keys ``job:{job}:{period}:{account}``,
in the run's transaction; they say when a run is late (service down at the due time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.domain.workdays import Calendar
from bot.messages import Outbound
from bot.services import notify, outbox
from bot.text import t
from storage.uow import Session

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
    fallback: bool = False  # the calendar did not know the date: a documented default


@dataclass
class JobCtx:
    session: Session
    settings: Settings
    now: datetime  # the scheduler's clock, Asia/Shanghai
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
        return (
            body.strip()
            + "\n"
            + t("jobs.late_note", due=self.due.due_at.strftime("%Y-%m-%d %H:%M"))
        )

    def key(self, account: str) -> str:
        return f"job:{self.job}:{self.period}:{account}"

    async def to_admins(self, body: str) -> int:
        msgs = await notify.to_admins(
            self.session, self.text(body), dedupe=f"job:{self.job}:{self.period}"
        )
        await outbox.enqueue(self.session, msgs)
        return len(msgs)

    async def to_person(self, account: str, body: str) -> None:
        await outbox.enqueue(
            self.session, [Outbound(account, text=self.text(body), dedupe_key=self.key(account))]
        )


DueFn = Callable[[Session, Settings, datetime, Calendar], Awaitable[list[Due]]]
RunFn = Callable[[JobCtx], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    name: str
    due: DueFn
    run: RunFn
