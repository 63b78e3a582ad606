"""Scheduled-job claims (``job_claims``): one row per (job, period), taken atomically.

The SQL of ``scheduler.claims``: a conditional UPDATE takes over a row that is not done
and whose lease has passed; otherwise an INSERT inside a savepoint creates the row, and
the primary key turns a concurrent second INSERT into an IntegrityError ("someone else
has it"). Times are naive Asia/Shanghai local time, as stored; the callers convert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import ClaimStatus
from storage.models_jobs import JobClaim


def _key(job: str, period: str) -> ColumnElement[bool]:
    return and_(JobClaim.job == job, JobClaim.period == period)


def _changed(result: Any) -> int:
    """The rows an UPDATE touched (``CursorResult.rowcount``)."""
    return int(result.rowcount)


async def take(
    session: AsyncSession,
    job: str,
    period: str,
    instance: str,
    now: datetime,
    lease_until: datetime,
    due_at: datetime | None,
    late: bool,
) -> bool:
    """Claim (job, period) for ``instance``: take over an expired, not done row, or insert
    a new one; False if another instance has it. Each claim counts one attempt."""
    values: dict[str, Any] = dict(
        status=ClaimStatus.RUNNING.value,
        claimed_by=instance,
        lease_until=lease_until,
        started_at=now,
        finished_at=None,
        late=late,
    )
    res = await session.execute(
        update(JobClaim)
        .where(
            _key(job, period),
            JobClaim.status != ClaimStatus.DONE.value,
            JobClaim.lease_until <= now,
        )
        .values(attempts=JobClaim.attempts + 1, **values)
    )
    if _changed(res) == 1:
        return True
    if await session.scalar(select(JobClaim.status).where(_key(job, period))) is not None:
        return False
    try:
        async with session.begin_nested():
            await session.execute(
                insert(JobClaim).values(
                    job=job, period=period, due_at=due_at, attempts=1, detail={}, **values
                )
            )
    except IntegrityError:
        return False
    return True


async def extend(
    session: AsyncSession, job: str, period: str, instance: str, lease_until: datetime
) -> bool:
    """Renew a running claim of ``instance`` (on PostgreSQL: lock the row until commit);
    False if the claim is no longer ours."""
    res = await session.execute(
        update(JobClaim)
        .where(
            _key(job, period),
            JobClaim.claimed_by == instance,
            JobClaim.status == ClaimStatus.RUNNING.value,
        )
        .values(lease_until=lease_until)
    )
    return _changed(res) == 1


async def mark_done(
    session: AsyncSession,
    job: str,
    period: str,
    instance: str,
    now: datetime,
    detail: dict[str, Any],
) -> bool:
    """A running claim of ``instance`` becomes done; False if it is no longer ours."""
    res = await session.execute(
        update(JobClaim)
        .where(
            _key(job, period),
            JobClaim.claimed_by == instance,
            JobClaim.status == ClaimStatus.RUNNING.value,
        )
        .values(status=ClaimStatus.DONE.value, finished_at=now, lease_until=now, detail=detail)
    )
    return _changed(res) == 1


async def mark_failed(
    session: AsyncSession,
    job: str,
    period: str,
    instance: str,
    now: datetime,
    retry_after: Callable[[int], timedelta],
    detail: dict[str, Any],
) -> int | None:
    """A running claim of ``instance`` becomes failed, to be retried ``retry_after(attempts)``
    after ``now``; returns the attempts so far (None if the claim is not ours)."""
    row = await session.scalar(
        select(JobClaim).where(
            _key(job, period),
            JobClaim.claimed_by == instance,
            JobClaim.status == ClaimStatus.RUNNING.value,
        )
    )
    if row is None:
        return None
    row.status, row.finished_at = ClaimStatus.FAILED.value, now
    row.lease_until = now + retry_after(row.attempts)
    row.detail = {**detail, "attempts": row.attempts}
    await session.flush()
    return row.attempts


async def states(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], JobClaim]:
    """The claims of the given (job, period) pairs that exist."""
    wanted = set(keys)
    if not wanted:
        return {}
    jobs = {j for j, _ in wanted}
    rows = await session.execute(select(JobClaim).where(JobClaim.job.in_(jobs)))
    return {(r.job, r.period): r for r in rows.scalars() if (r.job, r.period) in wanted}


async def all_claims(session: AsyncSession, limit: int = 500) -> list[JobClaim]:
    """The latest claims, newest first."""
    q = (
        select(JobClaim)
        .order_by(JobClaim.started_at.desc(), JobClaim.job, JobClaim.period)
        .limit(limit)
    )
    return list((await session.execute(q)).scalars())


async def done_details(
    session: AsyncSession, job: str, before_period: str, limit: int = 60
) -> list[dict[str, Any]]:
    """The details of ``job``'s done periods before ``before_period``, latest first."""
    rows = await session.execute(
        select(JobClaim.detail)
        .where(
            JobClaim.job == job,
            JobClaim.status == ClaimStatus.DONE.value,
            JobClaim.period < before_period,
        )
        .order_by(JobClaim.period.desc())
        .limit(limit)
    )
    return [detail or {} for (detail,) in rows]
