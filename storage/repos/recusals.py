"""Recusal requests (回避) and the conflicts they register."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.status import RecusalStatus
from storage.models import ConflictRow, DrawRow, RecusalRow
from storage.uow import Session


async def get(session: Session, recusal_id: int) -> RecusalRow | None:
    return await session.get(RecusalRow, recusal_id)


async def lock_draw(session: Session, draw_id: int) -> None:
    """Lock the draw's row until the transaction ends (PostgreSQL; a no-op on SQLite), so
    requests on one draw are checked one after the other."""
    await session.execute(select(DrawRow.id).where(DrawRow.id == draw_id).with_for_update())


async def pending_id(session: Session, draw_id: int, uscc: str, cert: str) -> int | None:
    """The oldest pending request of ``cert`` about ``uscc`` in a draw, if any."""
    q = (
        select(RecusalRow.id)
        .where(
            RecusalRow.draw_id == draw_id,
            RecusalRow.uscc == uscc,
            RecusalRow.cert == cert,
            RecusalRow.status == RecusalStatus.PENDING,
        )
        .order_by(RecusalRow.id)
        .limit(1)
    )
    return await session.scalar(q)


async def conflict_registered(session: Session, cert: str, uscc: str) -> bool:
    q = select(ConflictRow.id).where(ConflictRow.cert == cert, ConflictRow.uscc == uscc)
    return bool(await session.scalar(q))
