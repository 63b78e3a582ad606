"""Claims: a row per (job, period) that makes each scheduled run happen once.

Rules:

* ``claim`` takes a period for one instance, atomically: a conditional UPDATE takes over
  a row that is not done and whose ``lease_until`` has passed (a crashed instance's
  lease, or a failed run whose retry time has come); otherwise an INSERT inside a
  savepoint creates the row, and the primary key turns a concurrent second INSERT into
  an IntegrityError, i.e. "someone else has it". Each claim counts one attempt.
* The job then runs in its own transaction, which starts with ``hold`` (re-asserting
  ownership; on PostgreSQL the UPDATE also locks the row until the run commits, so a
  takeover waits and then finds the period done) and ends with ``finish``: the job's
  writes, its outbox messages and ``done`` commit together or not at all.
* ``finish`` and ``hold`` check that this instance still owns the claim; if another
  instance took the lease over, they raise ``LostClaim`` and the run rolls back.
* ``fail`` records the error and when to retry: 1, 2, 4 … minutes after the failure,
  at most an hour, never given up (the next catch-up after that time retries).

Times are naive Asia/Shanghai local time (aware datetimes are converted). The SQL is in
``storage.repos.jobs``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, overload
from zoneinfo import ZoneInfo

from bot.domain.status import ClaimStatus
from storage.models_jobs import JobClaim
from storage.repos import jobs as jobs_repo
from storage.uow import Session

TZ = ZoneInfo("Asia/Shanghai")
RUNNING, DONE, FAILED = ClaimStatus.RUNNING, ClaimStatus.DONE, ClaimStatus.FAILED
MAX_RETRY_DELAY = timedelta(hours=1)
ERROR_LIMIT = 1000


class LostClaim(Exception):
    """Another instance took this claim over (our lease had expired)."""


@overload
def local(dt: datetime) -> datetime: ...
@overload
def local(dt: None) -> None: ...
def local(dt: datetime | None) -> datetime | None:
    """Naive Asia/Shanghai time, as stored."""
    if dt is None or dt.tzinfo is None:
        return dt
    return dt.astimezone(TZ).replace(tzinfo=None)


def retry_delay(attempts: int) -> timedelta:
    return min(MAX_RETRY_DELAY, timedelta(minutes=2 ** max(0, attempts - 1)))


async def claim(
    session: Session,
    job: str,
    period: str,
    instance: str,
    now: datetime,
    lease: timedelta,
    due_at: datetime | None = None,
    late: bool = False,
) -> bool:
    """Take (job, period) for ``instance``; True if this instance now owns it."""
    now = local(now)
    return await jobs_repo.take(
        session, job, period, instance, now, now + lease, local(due_at), late
    )


async def hold(
    session: Session, job: str, period: str, instance: str, now: datetime, lease: timedelta
) -> None:
    """First statement of a run's transaction: still ours? (and lock the row on PostgreSQL)."""
    if not await jobs_repo.extend(session, job, period, instance, local(now) + lease):
        raise LostClaim(f"{job}:{period}")


async def finish(
    session: Session,
    job: str,
    period: str,
    instance: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    if not await jobs_repo.mark_done(session, job, period, instance, local(now), detail or {}):
        raise LostClaim(f"{job}:{period}")


async def fail(
    session: Session, job: str, period: str, instance: str, now: datetime, error: str
) -> int | None:
    """Record a failed run; returns the attempts so far (None if the claim is not ours)."""
    return await jobs_repo.mark_failed(
        session, job, period, instance, local(now), retry_delay, {"error": error[:ERROR_LIMIT]}
    )


async def states(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], JobClaim]:
    """The claims of the given (job, period) pairs that exist."""
    return await jobs_repo.states(session, keys)


async def all_claims(session: Session, limit: int = 500) -> list[JobClaim]:
    return await jobs_repo.all_claims(session, limit)


def _iso(d: datetime | None) -> str | None:
    return d.replace(tzinfo=TZ).isoformat() if d else None


def as_json(row: JobClaim) -> dict[str, Any]:
    return {
        "job": row.job,
        "period": row.period,
        "status": row.status,
        "claimed_by": row.claimed_by,
        "attempts": row.attempts,
        "late": bool(row.late),
        "due_at": _iso(row.due_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "lease_until": _iso(row.lease_until),
        "detail": row.detail or {},
    }
