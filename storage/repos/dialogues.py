"""Per-person guided dialogues (``dialogues``): one row per person."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from storage.models_chat import Dialogue


async def get(session: AsyncSession, user: str) -> Dialogue | None:
    return await session.get(Dialogue, user)


def state_changed(row: Dialogue) -> None:
    """The row's state was replaced or mutated in place: write it at the next flush."""
    flag_modified(row, "state")


async def delete_for(session: AsyncSession, user: str) -> bool:
    """Forget the person's dialogue; whether there was one."""
    res = await session.execute(delete(Dialogue).where(Dialogue.user == user))
    return cast(CursorResult[Any], res).rowcount > 0
