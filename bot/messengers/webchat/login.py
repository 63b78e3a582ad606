"""Logging in to the web chat (SSJ_WEB_CHAT_LOGIN=1): invitation links and sessions.

``ssj webchat invite <消息账号>`` makes a single-use link that expires; opening it gives a
session (a cookie) that expires and can be revoked. The database keeps only SHA-256
hashes of both secrets. A person's newer invitation replaces the older unused ones.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Outbound
from bot.services import outbox, people
from bot.text import t
from storage import audit
from storage.models_webchat import WebChatInvite, WebChatSession

COOKIE = "ssj_chat"
LOGIN_PATH = "/chat/login/"
# what a link's token or a cookie looks like (secrets.token_urlsafe(32): 43 characters)
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
TOKEN_LEN = 43


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str | None) -> bool:
    return (isinstance(token, str) and len(token) == TOKEN_LEN
            and all(c in TOKEN_CHARS for c in token))


@dataclass(frozen=True)
class Invitation:
    account: str
    name: str
    url: str
    expires_at: datetime


class LoginError(Exception):
    """A refusal, in Chinese (``str(exc)``)."""


async def invite(session: AsyncSession, settings, account: str, actor: str,
                 now: datetime | None = None) -> Invitation:
    """A new single-use link for ``account``; its earlier unused links stop working. The
    link also goes to the person through the messenger (the outbox, same transaction)."""
    person = await people.by_account(session, account)
    if person is None:
        raise LoginError(t("webchat.unknown_user", user=account))
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=settings.web_chat_invite_hours)
    await session.execute(update(WebChatInvite).where(
        WebChatInvite.account == account, WebChatInvite.used_at.is_(None),
        WebChatInvite.revoked_at.is_(None)).values(revoked_at=now))
    row = WebChatInvite(token_hash=digest(token), account=account, created_by=actor,
                        created_at=now, expires_at=expires)
    session.add(row)
    await session.flush()
    url = f"{settings.public_base}{LOGIN_PATH}{token}"
    await audit.append(session, actor, "webchat.invite", account,
                       {"invite": row.id, "expires_at": expires.isoformat(timespec="seconds")})
    await outbox.enqueue(session, [Outbound(account, text=t(
        "webchat.invite_message", url=url, hours=settings.web_chat_invite_hours),
        dedupe_key=f"webchat-invite:{row.id}")])
    return Invitation(account, person.name, url, expires)


async def check_invite(session: AsyncSession, token: str,
                       now: datetime | None = None) -> WebChatInvite | None:
    """The invitation a link names, if it can still be used (nothing is changed)."""
    if not well_formed(token):
        return None
    now = now or utcnow()
    row = await session.scalar(select(WebChatInvite).where(
        WebChatInvite.token_hash == digest(token)))
    if row is None or row.used_at is not None or row.revoked_at is not None \
            or row.expires_at <= now:
        return None
    return row


async def redeem(session: AsyncSession, settings, token: str,
                 now: datetime | None = None) -> tuple[str, str] | None:
    """Use a link once: (the new session's cookie value, account), or None when the link
    is unknown, used, revoked or expired. The link is marked used in the same statement
    that checks it, so two simultaneous clicks get one session."""
    if not well_formed(token):
        return None
    now = now or utcnow()
    claimed = (await session.execute(update(WebChatInvite).where(
        WebChatInvite.token_hash == digest(token), WebChatInvite.used_at.is_(None),
        WebChatInvite.revoked_at.is_(None), WebChatInvite.expires_at > now)
        .values(used_at=now).returning(WebChatInvite.id, WebChatInvite.account))).first()
    if claimed is None:
        return None
    invite_id, account = claimed
    if await people.by_account(session, account) is None:   # left the library since
        return None
    cookie = secrets.token_urlsafe(32)
    session.add(WebChatSession(token_hash=digest(cookie), account=account, invite_id=invite_id,
                               created_at=now,
                               expires_at=now + timedelta(days=settings.web_chat_session_days)))
    await audit.append(session, account, "webchat.login", account, {"invite": invite_id})
    return cookie, account


async def session_account(session: AsyncSession, cookie: str | None,
                          now: datetime | None = None) -> str | None:
    """Whose session a cookie is, while it is valid and not revoked."""
    if not well_formed(cookie):
        return None
    now = now or utcnow()
    return await session.scalar(select(WebChatSession.account).where(
        WebChatSession.token_hash == digest(cookie), WebChatSession.revoked_at.is_(None),
        WebChatSession.expires_at > now))


async def logout(session: AsyncSession, cookie: str | None, now: datetime | None = None) -> None:
    if well_formed(cookie):
        await session.execute(update(WebChatSession).where(
            WebChatSession.token_hash == digest(cookie), WebChatSession.revoked_at.is_(None))
            .values(revoked_at=now or utcnow()))


async def revoke(session: AsyncSession, account: str, actor: str,
                 now: datetime | None = None) -> tuple[int, int]:
    """End every session of ``account`` and void its unused links: (sessions, links)."""
    now = now or utcnow()
    sessions = (await session.execute(update(WebChatSession).where(
        WebChatSession.account == account, WebChatSession.revoked_at.is_(None),
        WebChatSession.expires_at > now).values(revoked_at=now))).rowcount
    links = (await session.execute(update(WebChatInvite).where(
        WebChatInvite.account == account, WebChatInvite.used_at.is_(None),
        WebChatInvite.revoked_at.is_(None), WebChatInvite.expires_at > now)
        .values(revoked_at=now))).rowcount
    await audit.append(session, actor, "webchat.revoke", account,
                       {"sessions": sessions, "invites": links})
    return sessions, links


async def active(session: AsyncSession, now: datetime | None = None) -> list[dict]:
    """Valid sessions and usable links, newest first, for ``ssj webchat list``."""
    now = now or utcnow()
    out = []
    for r in (await session.execute(select(WebChatSession).where(
            WebChatSession.revoked_at.is_(None), WebChatSession.expires_at > now)
            .order_by(WebChatSession.id.desc()))).scalars():
        out.append({"kind": "session", "account": r.account, "created_at": r.created_at,
                    "expires_at": r.expires_at})
    for r in (await session.execute(select(WebChatInvite).where(
            WebChatInvite.used_at.is_(None), WebChatInvite.revoked_at.is_(None),
            WebChatInvite.expires_at > now).order_by(WebChatInvite.id.desc()))).scalars():
        out.append({"kind": "invite", "account": r.account, "created_at": r.created_at,
                    "expires_at": r.expires_at})
    return out
