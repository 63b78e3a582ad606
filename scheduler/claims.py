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

Times are naive Asia/Shanghai local time (aware datetimes are converted).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_jobs import JobClaim

TZ = ZoneInfo("Asia/Shanghai")
RUNNING, DONE, FAILED = "running", "done", "failed"
MAX_RETRY_DELAY = timedelta(hours=1)
ERROR_LIMIT = 1000


class LostClaim(Exception):
    """Another instance took this claim over (our lease had expired)."""


def local(dt: datetime | None) -> datetime | None:
    """Naive Asia/Shanghai time, as stored."""
    if dt is None or dt.tzinfo is None:
        return dt
    return dt.astimezone(TZ).replace(tzinfo=None)


def retry_delay(attempts: int) -> timedelta:
    return min(MAX_RETRY_DELAY, timedelta(minutes=2 ** max(0, attempts - 1)))


def _key(job: str, period: str):
    return and_(JobClaim.job == job, JobClaim.period == period)


async def claim(session: AsyncSession, job: str, period: str, instance: str, now: datetime,
                lease: timedelta, due_at: datetime | None = None, late: bool = False) -> bool:
    """Take (job, period) for ``instance``; True if this instance now owns it."""
    now = local(now)
    values = dict(status=RUNNING, claimed_by=instance, lease_until=now + lease, started_at=now,
                  finished_at=None, late=late)
    res = await session.execute(
        update(JobClaim)
        .where(_key(job, period), JobClaim.status != DONE, JobClaim.lease_until <= now)
        .values(attempts=JobClaim.attempts + 1, **values))
    if res.rowcount == 1:
        return True
    if await session.scalar(select(JobClaim.status).where(_key(job, period))) is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(insert(JobClaim).values(
                job=job, period=period, due_at=local(due_at), attempts=1, detail={}, **values))
    except IntegrityError:
        return False
    return True


async def hold(session: AsyncSession, job: str, period: str, instance: str, now: datetime,
               lease: timedelta) -> None:
    """First statement of a run's transaction: still ours? (and lock the row on PostgreSQL)."""
    res = await session.execute(
        update(JobClaim)
        .where(_key(job, period), JobClaim.claimed_by == instance, JobClaim.status == RUNNING)
        .values(lease_until=local(now) + lease))
    if res.rowcount != 1:
        raise LostClaim(f"{job}:{period}")


async def finish(session: AsyncSession, job: str, period: str, instance: str, now: datetime,
                 detail: dict | None = None) -> None:
    now = local(now)
    res = await session.execute(
        update(JobClaim)
        .where(_key(job, period), JobClaim.claimed_by == instance, JobClaim.status == RUNNING)
        .values(status=DONE, finished_at=now, lease_until=now, detail=detail or {}))
    if res.rowcount != 1:
        raise LostClaim(f"{job}:{period}")


async def fail(session: AsyncSession, job: str, period: str, instance: str, now: datetime,
               error: str) -> int | None:
    """Record a failed run; returns the attempts so far (None if the claim is not ours)."""
    now = local(now)
    row = await session.scalar(select(JobClaim).where(
        _key(job, period), JobClaim.claimed_by == instance, JobClaim.status == RUNNING))
    if row is None:
        return None
    row.status, row.finished_at = FAILED, now
    row.lease_until = now + retry_delay(row.attempts)
    row.detail = {"error": error[:ERROR_LIMIT], "attempts": row.attempts}
    await session.flush()
    return row.attempts


async def states(session: AsyncSession, keys) -> dict[tuple[str, str], JobClaim]:
    """The claims of the given (job, period) pairs that exist."""
    keys = set(keys)
    if not keys:
        return {}
    jobs = {j for j, _ in keys}
    rows = await session.execute(select(JobClaim).where(JobClaim.job.in_(jobs)))
    return {(r.job, r.period): r for r in rows.scalars() if (r.job, r.period) in keys}


async def all_claims(session: AsyncSession, limit: int = 500) -> list[JobClaim]:
    q = (select(JobClaim).order_by(JobClaim.started_at.desc(), JobClaim.job, JobClaim.period)
         .limit(limit))
    return list((await session.execute(q)).scalars())


def as_json(row: JobClaim) -> dict:
    iso = lambda d: d.replace(tzinfo=TZ).isoformat() if d else None  # noqa: E731
    return {"job": row.job, "period": row.period, "status": row.status,
            "claimed_by": row.claimed_by, "attempts": row.attempts, "late": bool(row.late),
            "due_at": iso(row.due_at), "started_at": iso(row.started_at),
            "finished_at": iso(row.finished_at), "lease_until": iso(row.lease_until),
            "detail": row.detail or {}}
