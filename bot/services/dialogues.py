"""Per-person guided dialogues stored in the database: they survive restarts and expire."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from storage.models_chat import Dialogue

DEFAULT_TTL = timedelta(minutes=30)


async def current(session: AsyncSession, user: str, now: datetime) -> Dialogue | None:
    row = await session.get(Dialogue, user)
    if row is None:
        return None
    if row.expires_at <= now:
        await session.delete(row)
        await session.flush()
        return None
    return row


async def save(session: AsyncSession, user: str, kind: str, state: dict, now: datetime,
               ttl: timedelta = DEFAULT_TTL) -> None:
    row = await session.get(Dialogue, user)
    if row is None:
        session.add(Dialogue(user=user, kind=kind, state=dict(state), expires_at=now + ttl))
    else:
        row.kind, row.state, row.expires_at = kind, copy.deepcopy(state), now + ttl
        flag_modified(row, "state")  # the caller may have mutated the loaded dict in place
    await session.flush()


async def clear(session: AsyncSession, user: str) -> bool:
    res = await session.execute(delete(Dialogue).where(Dialogue.user == user))
    return res.rowcount > 0
