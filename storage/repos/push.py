"""The push outbox (``push_outbox``): messages to the national credit publicity system,
claimed strictly in order per task. The relay's policy lives in ``bot.services.push``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.status import OutboxStatus
from storage.models_push import PushMessage

_OPEN = (OutboxStatus.PENDING, OutboxStatus.SENDING)


def _earlier_unsent(task_id: Any, msg_id: Any) -> ColumnElement[bool]:
    """True while an earlier message of the same task is not yet sent."""
    other = aliased(PushMessage)
    return exists().where(
        other.task_id == task_id, other.id < msg_id, other.status != OutboxStatus.SENT
    )


async def has_key(session: AsyncSession, idempotency_key: str) -> bool:
    return bool(
        await session.scalar(
            select(PushMessage.id).where(PushMessage.idempotency_key == idempotency_key)
        )
    )


async def heads(session: AsyncSession, limit: int) -> Sequence[PushMessage]:
    """Open messages with no unsent message before them in their task, oldest first."""
    return (
        (
            await session.execute(
                select(PushMessage)
                .where(
                    PushMessage.status.in_(_OPEN),
                    ~_earlier_unsent(PushMessage.task_id, PushMessage.id),
                )
                .order_by(PushMessage.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def next_open(session: AsyncSession, task_id: str, after_id: int) -> PushMessage | None:
    """The task's next open message after ``after_id``."""
    return await session.scalar(
        select(PushMessage)
        .where(
            PushMessage.task_id == task_id, PushMessage.id > after_id, PushMessage.status.in_(_OPEN)
        )
        .order_by(PushMessage.id)
        .limit(1)
    )


async def claim(
    session: AsyncSession, msg_id: int, task_id: str, now: datetime, until: datetime, owner: str
) -> int | None:
    """Lease the message to ``owner`` if it is due (pending and due, or its lease ran
    out) and every earlier message of its task is sent, counting the attempt; the
    attempts so far, or None if it was not claimed."""
    got = (
        await session.execute(
            update(PushMessage)
            .where(
                PushMessage.id == msg_id,
                or_(
                    and_(
                        PushMessage.status == OutboxStatus.PENDING,
                        PushMessage.next_attempt_at <= now,
                    ),
                    and_(
                        PushMessage.status == OutboxStatus.SENDING, PushMessage.lease_until <= now
                    ),
                ),
                ~_earlier_unsent(task_id, msg_id),
            )
            .values(
                status=OutboxStatus.SENDING,
                lease_until=until,
                lease_owner=owner,
                attempts=PushMessage.attempts + 1,
            )
            .returning(PushMessage.attempts)
        )
    ).first()
    return None if got is None else int(got[0])


async def mark_sent(
    session: AsyncSession, msg_id: int, sent_at: datetime, http_status: int | None
) -> None:
    """Record the delivery (unless another relay recorded it first)."""
    await session.execute(
        update(PushMessage)
        .where(PushMessage.id == msg_id, PushMessage.status != OutboxStatus.SENT)
        .values(
            status=OutboxStatus.SENT,
            sent_at=sent_at,
            http_status=http_status,
            last_error="",
            lease_until=None,
        )
    )


async def mark_failed(
    session: AsyncSession,
    msg_id: int,
    owner: str,
    *,
    status: OutboxStatus,
    error: str,
    http_status: int | None,
    next_attempt_at: datetime,
) -> bool:
    """Record a failed try while ``owner`` leases the message; whether it still did."""
    res = await session.execute(
        update(PushMessage)
        .where(
            PushMessage.id == msg_id,
            PushMessage.status == OutboxStatus.SENDING,
            PushMessage.lease_owner == owner,
        )
        .values(
            status=status,
            last_error=error,
            http_status=http_status,
            lease_until=None,
            next_attempt_at=next_attempt_at,
        )
    )
    return cast(CursorResult[Any], res).rowcount == 1


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(PushMessage.status, func.count()).group_by(PushMessage.status)
    )
    return {status: n for status, n in rows}


async def parked(session: AsyncSession) -> Sequence[PushMessage]:
    return (
        (
            await session.execute(
                select(PushMessage)
                .where(PushMessage.status == OutboxStatus.PARKED)
                .order_by(PushMessage.id)
            )
        )
        .scalars()
        .all()
    )
