"""The web chat's logins: invitation links (``webchat_invites``) and sessions
(``webchat_sessions``), found by the SHA-256 hash of their secret. Times are naive UTC.

A link can be used while it is unused, not revoked and not expired; a session is valid
while not revoked and not expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_webchat import WebChatInvite, WebChatSession


@dataclass(frozen=True)
class Login:
    """A usable link or a valid session, for listing."""

    account: str
    created_at: datetime
    expires_at: datetime


def _usable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        WebChatInvite.used_at.is_(None),
        WebChatInvite.revoked_at.is_(None),
        WebChatInvite.expires_at > now,
    )


def _valid(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return WebChatSession.revoked_at.is_(None), WebChatSession.expires_at > now


# ---- invitation links ----------------------------------------------------------------


async def revoke_unused_invites(session: AsyncSession, account: str, now: datetime) -> int:
    """Revoke every link of ``account`` not used nor revoked yet (expired ones too)."""
    result = await session.execute(
        update(WebChatInvite)
        .where(
            WebChatInvite.account == account,
            WebChatInvite.used_at.is_(None),
            WebChatInvite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return _count(result)


async def add_invite(
    session: AsyncSession,
    token_hash: str,
    account: str,
    created_by: str,
    created_at: datetime,
    expires_at: datetime,
) -> int:
    """A new link (flushed): its id."""
    row = WebChatInvite(
        token_hash=token_hash,
        account=account,
        created_by=created_by,
        created_at=created_at,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row.id


async def usable_invite(session: AsyncSession, token_hash: str, now: datetime) -> int | None:
    """The id of the link of this hash if it can still be used; nothing is changed."""
    return await session.scalar(
        select(WebChatInvite.id).where(WebChatInvite.token_hash == token_hash, *_usable(now))
    )


async def claim_invite(
    session: AsyncSession, token_hash: str, now: datetime
) -> tuple[int, str] | None:
    """Mark the link of this hash used, in the statement that checks it is usable (so
    of two simultaneous claims one wins): (its id, its account), or None."""
    claimed = (
        await session.execute(
            update(WebChatInvite)
            .where(WebChatInvite.token_hash == token_hash, *_usable(now))
            .values(used_at=now)
            .returning(WebChatInvite.id, WebChatInvite.account)
        )
    ).first()
    return None if claimed is None else (claimed[0], claimed[1])


async def revoke_invites(session: AsyncSession, account: str, now: datetime) -> int:
    """Revoke the usable links of ``account``: how many."""
    result = await session.execute(
        update(WebChatInvite)
        .where(WebChatInvite.account == account, *_usable(now))
        .values(revoked_at=now)
    )
    return _count(result)


async def usable_invites(session: AsyncSession, now: datetime) -> list[Login]:
    """Every usable link, newest first."""
    rows = await session.execute(
        select(WebChatInvite).where(*_usable(now)).order_by(WebChatInvite.id.desc())
    )
    return [Login(r.account, r.created_at, r.expires_at) for r in rows.scalars()]


# ---- sessions --------------------------------------------------------------------------


async def add_session(
    session: AsyncSession,
    token_hash: str,
    account: str,
    invite_id: int | None,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    session.add(
        WebChatSession(
            token_hash=token_hash,
            account=account,
            invite_id=invite_id,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


async def session_account(session: AsyncSession, token_hash: str, now: datetime) -> str | None:
    """Whose valid session has this hash."""
    return await session.scalar(
        select(WebChatSession.account).where(WebChatSession.token_hash == token_hash, *_valid(now))
    )


async def end_session(session: AsyncSession, token_hash: str, now: datetime) -> None:
    """Revoke the session of this hash (if not revoked yet)."""
    await session.execute(
        update(WebChatSession)
        .where(WebChatSession.token_hash == token_hash, WebChatSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_sessions(session: AsyncSession, account: str, now: datetime) -> int:
    """Revoke the valid sessions of ``account``: how many."""
    result = await session.execute(
        update(WebChatSession)
        .where(WebChatSession.account == account, *_valid(now))
        .values(revoked_at=now)
    )
    return _count(result)


async def valid_sessions(session: AsyncSession, now: datetime) -> list[Login]:
    """Every valid session, newest first."""
    rows = await session.execute(
        select(WebChatSession).where(*_valid(now)).order_by(WebChatSession.id.desc())
    )
    return [Login(r.account, r.created_at, r.expires_at) for r in rows.scalars()]


def _count(result: Result[Any]) -> int:
    """Rows an UPDATE matched (executing an UPDATE gives a CursorResult)."""
    return cast(CursorResult[Any], result).rowcount
