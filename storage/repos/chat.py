"""The web chat's message store (``chat_messages``): what each person sees in each room.

A card changes by new versions: a row whose ``replaces`` holds the id of the original
message. Rows are handed out as :class:`ChatLine` values, never as ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_chat import ChatMessage


@dataclass(frozen=True)
class ChatLine:
    """One stored message: ``owner`` is the person of a private room ("" in a group),
    ``sender`` a 消息账号 or ``"bot"``, ``replaces`` the original's id for a card's version."""

    id: int
    room: str
    owner: str
    sender: str
    text: str
    card: dict | None
    replaces: int | None


def _line(row: ChatMessage) -> ChatLine:
    return ChatLine(row.id, row.room, row.owner, row.sender, row.text, row.card, row.replaces)


async def add(
    session: AsyncSession,
    room: str,
    owner: str,
    sender: str,
    text: str,
    card: dict | None = None,
    replaces: int | None = None,
) -> int:
    """Store one message (flushed): its id."""
    row = ChatMessage(
        room=room, owner=owner, sender=sender, text=text, card=card, replaces=replaces
    )
    session.add(row)
    await session.flush()
    return row.id


async def by_ids(session: AsyncSession, ids: Iterable[int]) -> list[ChatLine]:
    """The messages of these ids that exist, in id order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    rows = await session.execute(
        select(ChatMessage).where(ChatMessage.id.in_(wanted)).order_by(ChatMessage.id)
    )
    return [_line(r) for r in rows.scalars()]


async def get(session: AsyncSession, message_id: int) -> ChatLine | None:
    row = await session.get(ChatMessage, message_id)
    return None if row is None else _line(row)


async def newest_version(session: AsyncSession, original_id: int) -> ChatLine | None:
    """The newest of a message and the versions that replace it (None if it is unknown)."""
    row = await session.scalar(
        select(ChatMessage)
        .where(or_(ChatMessage.id == original_id, ChatMessage.replaces == original_id))
        .order_by(ChatMessage.id.desc())
        .limit(1)
    )
    return None if row is None else _line(row)


async def after(
    session: AsyncSession, room: str, after_id: int, owner: str | None = None, limit: int = 500
) -> list[ChatLine]:
    """The messages of a room after ``after_id`` (of one ``owner`` when given), card
    versions included, in id order, at most ``limit``."""
    q = select(ChatMessage).where(ChatMessage.id > after_id, ChatMessage.room == room)
    if owner is not None:
        q = q.where(ChatMessage.owner == owner)
    rows = await session.execute(q.order_by(ChatMessage.id).limit(limit))
    return [_line(r) for r in rows.scalars()]
