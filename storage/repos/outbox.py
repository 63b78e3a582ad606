"""The chat outbox: its rows, the relay instances holding leases on them, and the rows'
idempotency keys. The relay's policy (when to claim, retry, park, who is dead) lives in
``bot.services.outbox``; these functions only read and write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Result,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import OutboxStatus
from storage.models_chat import OutboxMessage, RelayInstance, new_idem_key


def _rows(res: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched."""
    return cast(CursorResult[Any], res).rowcount


def _open() -> ColumnElement[bool]:
    return or_(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.status == OutboxStatus.SENDING
    )


# ---- rows ---------------------------------------------------------------------------


async def has_dedupe_key(session: AsyncSession, key: str) -> bool:
    """A message with this deduplication key is already queued (or was sent)."""
    return bool(
        await session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key))
    )


async def remember_handle(
    session: AsyncSession,
    recipient: str,
    ref: str,
    handle: str,
    now: datetime,
    kinds: Iterable[str],
) -> None:
    """Keep a fresh update handle on the delivered card ``ref`` of ``recipient``."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.external_id == ref,
            OutboxMessage.kind.in_(tuple(kinds)),
        )
        .values(handle=handle, handle_at=now)
    )


async def open_rows(session: AsyncSession, limit: int) -> Sequence[OutboxMessage]:
    """Pending or leased rows, oldest first."""
    return (
        (
            await session.execute(
                select(OutboxMessage).where(_open()).order_by(OutboxMessage.id).limit(limit)
            )
        )
        .scalars()
        .all()
    )


async def claim(
    session: AsyncSession, row_id: int, now: datetime, until: datetime, owner: str
) -> str | None:
    """Lease a due open row to ``owner`` until ``until``, giving it an idempotency key if
    it has none yet; the row's key, or None if it was not claimed."""
    got = (
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, _open(), OutboxMessage.next_attempt_at <= now)
            .values(
                status=OutboxStatus.SENDING,
                next_attempt_at=until,
                lease_owner=owner,
                idem_key=func.coalesce(OutboxMessage.idem_key, new_idem_key()),
            )
            .returning(OutboxMessage.idem_key)
            .execution_options(synchronize_session=False)
        )
    ).first()
    return got[0] if got else None


async def hold_lease(session: AsyncSession, row_id: int, owner: str) -> bool:
    """Lock the row (PostgreSQL) if ``owner`` still leases it; whether it does."""
    res = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.lease_owner == owner,
        )
        .values(lease_owner=owner)
    )
    return _rows(res) == 1


async def delivered_cards(
    session: AsyncSession,
    recipient: str,
    kinds: Iterable[str],
    limit: int,
    *,
    subject: str | None = None,
    ref: str | None = None,
) -> list[tuple[str, str | None, datetime | None]]:
    """(external id, update handle, handle's time) of the cards delivered to
    ``recipient``, of one ``subject`` or the one card ``ref``, newest first."""
    q = select(OutboxMessage.external_id, OutboxMessage.handle, OutboxMessage.handle_at).where(
        OutboxMessage.recipient == recipient,
        OutboxMessage.status == OutboxStatus.SENT,
        OutboxMessage.kind.in_(tuple(kinds)),
        OutboxMessage.external_id != "",
    )
    if subject is not None:
        q = q.where(OutboxMessage.subject == subject)
    else:
        q = q.where(OutboxMessage.external_id == ref)
    q = q.order_by(OutboxMessage.id.desc()).limit(limit)
    return [(r[0], r[1], r[2]) for r in (await session.execute(q)).all()]


async def mark_sent(
    session: AsyncSession,
    row_id: int,
    *,
    attempts: int,
    sent_at: datetime,
    external_id: str,
    handle: str | None,
    handle_at: datetime | None,
    owner: str | None = None,
) -> bool:
    """Record a delivery: only while ``owner`` leases the row when given, else only if
    nobody recorded one first. Whether this call recorded it."""
    condition = (
        OutboxMessage.lease_owner == owner
        if owner is not None
        else OutboxMessage.status != OutboxStatus.SENT
    )
    res = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, condition)
        .values(
            status=OutboxStatus.SENT,
            sent_at=sent_at,
            external_id=external_id,
            attempts=attempts,
            handle=handle,
            handle_at=handle_at,
            lease_owner=None,
        )
    )
    return _rows(res) == 1


async def spend_handles(session: AsyncSession, recipient: str, refs: list[str]) -> None:
    """Single-use update handles of these cards were used: forget them."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.recipient == recipient, OutboxMessage.external_id.in_(refs))
        .values(handle=None, handle_at=None)
    )


async def mark_failed(
    session: AsyncSession,
    row_id: int,
    owner: str,
    *,
    status: OutboxStatus,
    attempts: int,
    error: str,
    next_attempt_at: datetime,
) -> bool:
    """Record a failed try while ``owner`` leases the row; whether it still did."""
    res = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.lease_owner == owner,
        )
        .values(
            status=status,
            attempts=attempts,
            last_error=error,
            next_attempt_at=next_attempt_at,
            lease_owner=None,
        )
    )
    return _rows(res) == 1


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: n for status, n in rows}


async def parked(session: AsyncSession) -> Sequence[OutboxMessage]:
    return (
        (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.PARKED)
                .order_by(OutboxMessage.id)
            )
        )
        .scalars()
        .all()
    )


# ---- leases and the relay instances holding them -----------------------------------


async def release_leases(session: AsyncSession, owners: Iterable[str], now: datetime) -> int:
    """Give the rows leased by ``owners`` back, due at ``now``; how many."""
    res = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.lease_owner.in_(tuple(owners)),
        )
        .values(status=OutboxStatus.PENDING, lease_owner=None, next_attempt_at=now)
    )
    return _rows(res)


async def lease_owners(session: AsyncSession) -> set[str]:
    """Every relay holding a lease on a row now."""
    owners = (
        await session.execute(
            select(OutboxMessage.lease_owner)
            .where(
                OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.lease_owner.is_not(None)
            )
            .distinct()
        )
    ).scalars()
    return {o for o in owners if o is not None}


async def instances(session: AsyncSession) -> Sequence[RelayInstance]:
    return (await session.execute(select(RelayInstance))).scalars().all()


async def beat(session: AsyncSession, instance_id: str, now: datetime) -> bool:
    """Record a heartbeat; False if the instance is not registered."""
    res = await session.execute(
        update(RelayInstance).where(RelayInstance.id == instance_id).values(heartbeat_at=now)
    )
    return _rows(res) != 0


async def register(
    session: AsyncSession,
    instance_id: str,
    *,
    host: str,
    machine: str,
    pid: int,
    proc_start: str,
    now: datetime,
) -> None:
    await session.execute(
        insert(RelayInstance).values(
            id=instance_id,
            host=host,
            machine=machine,
            pid=pid,
            proc_start=proc_start,
            started_at=now,
            heartbeat_at=now,
        )
    )


async def forget(session: AsyncSession, instance_ids: Iterable[str]) -> None:
    """Unregister relay instances."""
    await session.execute(delete(RelayInstance).where(RelayInstance.id.in_(tuple(instance_ids))))
