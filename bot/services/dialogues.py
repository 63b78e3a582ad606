"""Per-person guided dialogues stored in the database: they survive restarts and expire."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from storage.models_chat import Dialogue
from storage.repos import dialogues as dialogues_repo
from storage.uow import Session

DEFAULT_TTL = timedelta(minutes=30)


async def current(session: Session, user: str, now: datetime) -> Dialogue | None:
    row = await dialogues_repo.get(session, user)
    if row is None:
        return None
    if row.expires_at <= now:
        await session.delete(row)
        await session.flush()
        return None
    return row


async def save(
    session: Session,
    user: str,
    kind: str,
    state: dict[str, Any],
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> None:
    row = await dialogues_repo.get(session, user)
    if row is None:
        session.add(Dialogue(user=user, kind=kind, state=dict(state), expires_at=now + ttl))
    else:
        row.kind, row.state, row.expires_at = kind, copy.deepcopy(state), now + ttl
        dialogues_repo.state_changed(row)  # the caller may have mutated the loaded dict in place
    await session.flush()


async def clear(session: Session, user: str) -> bool:
    return await dialogues_repo.delete_for(session, user)
