"""Who may use the web chat (SSJ_WEB_CHAT_LOGIN=1): invitation links and sessions.

``ssj webchat invite <消息账号>`` makes a single-use link that expires; opening it gives a
session (a cookie) that expires and can be revoked. The database keeps only SHA-256
hashes of both secrets. A person's newer invitation replaces the older unused ones.

The functions take the caller's session and ``now`` (naive UTC); :class:`WebChatAccess`
is what the web chat messenger gets (its ``Logins`` and ``People``,
bot/messengers/webchat/ports.py): each call there is a unit of work of its own.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.messages import Outbound
from bot.services import outbox, people
from bot.text import t
from storage import audit
from storage.repos import webchat_login as login_repo
from storage.uow import Session, Sessions, unit_of_work

LOGIN_PATH = "/chat/login/"  # the web chat's route of an invitation link
# what a link's token or a cookie looks like (secrets.token_urlsafe(32): 43 characters)
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
TOKEN_LEN = 43


def utcnow() -> datetime:
    """The wall clock, as the login tables keep it (naive UTC): the edges' default."""
    return datetime.now(UTC).replace(tzinfo=None)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: str | None) -> bool:
    return (
        isinstance(token, str) and len(token) == TOKEN_LEN and all(c in TOKEN_CHARS for c in token)
    )


@dataclass(frozen=True)
class Invitation:
    account: str
    name: str
    url: str
    expires_at: datetime


class LoginError(Exception):
    """A refusal, in Chinese (``str(exc)``)."""


async def invite(
    session: Session, settings: Settings, account: str, actor: str, *, now: datetime
) -> Invitation:
    """A new single-use link for ``account``; its earlier unused links stop working. The
    link also goes to the person through the messenger (the outbox, same transaction)."""
    person = await people.by_account(session, account)
    if person is None:
        raise LoginError(t("webchat.unknown_user", user=account))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=settings.web_chat_invite_hours)
    await login_repo.revoke_unused_invites(session, account, now)
    invite_id = await login_repo.add_invite(session, digest(token), account, actor, now, expires)
    url = f"{settings.public_base}{LOGIN_PATH}{token}"
    await audit.append(
        session,
        actor,
        "webchat.invite",
        account,
        {"invite": invite_id, "expires_at": expires.isoformat(timespec="seconds")},
    )
    await outbox.enqueue(
        session,
        [
            Outbound(
                account,
                text=t("webchat.invite_message", url=url, hours=settings.web_chat_invite_hours),
                dedupe_key=f"webchat-invite:{invite_id}",
            )
        ],
    )
    return Invitation(account, person.name, url, expires)


async def link_usable(session: Session, token: str, *, now: datetime) -> bool:
    """Whether the link a token names can still be used (nothing is changed)."""
    if not well_formed(token):
        return False
    return await login_repo.usable_invite(session, digest(token), now) is not None


async def redeem(
    session: Session, settings: Settings, token: str, *, now: datetime
) -> tuple[str, str] | None:
    """Use a link once: (the new session's cookie value, account), or None when the link
    is unknown, used, revoked or expired. The link is marked used in the same statement
    that checks it, so two simultaneous clicks get one session."""
    if not well_formed(token):
        return None
    claimed = await login_repo.claim_invite(session, digest(token), now)
    if claimed is None:
        return None
    invite_id, account = claimed
    if await people.by_account(session, account) is None:  # left the library since
        return None
    cookie = secrets.token_urlsafe(32)
    await login_repo.add_session(
        session,
        digest(cookie),
        account,
        invite_id,
        now,
        now + timedelta(days=settings.web_chat_session_days),
    )
    await audit.append(session, account, "webchat.login", account, {"invite": invite_id})
    return cookie, account


async def session_account(session: Session, cookie: str | None, *, now: datetime) -> str | None:
    """Whose session a cookie is, while it is valid and not revoked."""
    if cookie is None or not well_formed(cookie):
        return None
    return await login_repo.session_account(session, digest(cookie), now)


async def logout(session: Session, cookie: str | None, *, now: datetime) -> None:
    if cookie is not None and well_formed(cookie):
        await login_repo.end_session(session, digest(cookie), now)


async def revoke(session: Session, account: str, actor: str, *, now: datetime) -> tuple[int, int]:
    """End every session of ``account`` and void its unused links: (sessions, links)."""
    sessions = await login_repo.revoke_sessions(session, account, now)
    links = await login_repo.revoke_invites(session, account, now)
    await audit.append(
        session, actor, "webchat.revoke", account, {"sessions": sessions, "invites": links}
    )
    return sessions, links


async def active(session: Session, *, now: datetime) -> list[dict[str, Any]]:
    """Valid sessions and usable links, newest first, for ``ssj webchat list``."""
    return [
        *(
            {
                "kind": "session",
                "account": r.account,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
            }
            for r in await login_repo.valid_sessions(session, now)
        ),
        *(
            {
                "kind": "invite",
                "account": r.account,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
            }
            for r in await login_repo.usable_invites(session, now)
        ),
    ]


class WebChatAccess:
    """The web chat's ``Logins`` and ``People`` (bot/messengers/webchat/ports.py)."""

    def __init__(
        self, sessions: Sessions, settings: Settings, clock: Callable[[], datetime] = utcnow
    ):
        self.sessions, self.settings, self.clock = sessions, settings, clock

    async def people(self) -> list[dict[str, Any]]:
        async with self.sessions() as s:
            return await people.directory(s)

    async def link_usable(self, token: str) -> bool:
        if not well_formed(token):
            return False
        async with self.sessions() as s:
            return await link_usable(s, token, now=self.clock())

    async def redeem(self, token: str) -> str | None:
        if not well_formed(token):
            return None
        async with unit_of_work(self.sessions) as s:
            got = await redeem(s, self.settings, token, now=self.clock())
        return None if got is None else got[0]

    async def account(self, cookie: str | None) -> str | None:
        if cookie is None or not well_formed(cookie):
            return None
        async with self.sessions() as s:
            return await session_account(s, cookie, now=self.clock())

    async def logout(self, cookie: str | None) -> None:
        async with unit_of_work(self.sessions) as s:
            await logout(s, cookie, now=self.clock())
