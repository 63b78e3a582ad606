"""What the web chat needs from the rest of the system, as Protocols: its message store,
the people who may chat, and (with SSJ_WEB_CHAT_LOGIN=1) who is logged in.

Implemented outside the messenger (``bot/services/webchat_access.py`` over
``storage/repos/chat.py`` and ``storage/repos/webchat_login.py``) and handed in by
``bot/app.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

# An open database transaction, opaque to the messenger: the relay's (``send_in``), or one
# the store opens (``ChatStore.transaction``). The store alone knows what it is.
Transaction = Any


class ChatLine(Protocol):
    """One stored message. ``owner``: the person of a private room ("" in the group);
    ``sender``: a 消息账号 or ``"bot"``; ``card``: ``Card.to_json()`` or None;
    ``replaces``: for a new version of a card, the id of the original message."""

    @property
    def id(self) -> int: ...
    @property
    def room(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def sender(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def card(self) -> dict | None: ...
    @property
    def replaces(self) -> int | None: ...


class ChatStore(Protocol):
    """Where the web chat keeps its messages: the same database as the outbox, so a
    message the relay delivers is stored in the relay's own transaction."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction of its own: committed when the block ends."""
        ...

    async def add(
        self,
        tx: Transaction,
        room: str,
        owner: str,
        sender: str,
        text: str,
        card: dict | None = None,
        replaces: int | None = None,
    ) -> int:
        """Store a message within ``tx``: its id."""
        ...

    async def lines(self, tx: Transaction, ids: Sequence[int]) -> Sequence[ChatLine]:
        """The messages of these ids that exist, within ``tx``, in id order."""
        ...

    async def post(self, room: str, owner: str, sender: str, text: str) -> int:
        """A person's message, stored in a transaction of its own: its id."""
        ...

    async def card(self, message_id: int) -> tuple[ChatLine, ChatLine] | None:
        """The message a click names, by its original's id or a version's: (the
        original, its newest version); None when there is no such message."""
        ...

    async def since(
        self, room: str, after: int, owner: str | None, limit: int
    ) -> Sequence[ChatLine]:
        """The messages of a room after id ``after`` (of one ``owner`` when given), card
        versions included, in id order."""
        ...


class People(Protocol):
    """Who may chat (has a 消息账号): dicts of account, name, role, cert, department."""

    async def people(self) -> Sequence[dict[str, Any]]: ...


class Logins(Protocol):
    """Invitation links and sessions (SSJ_WEB_CHAT_LOGIN=1). Tokens and cookies are
    checked for shape before anything is looked up; bad ones are simply unknown."""

    async def link_usable(self, token: str) -> bool:
        """Whether a link can still be used (nothing is changed)."""
        ...

    async def redeem(self, token: str) -> str | None:
        """Use a link once: the new session's cookie value, or None when the link is
        unknown, used, revoked or expired."""
        ...

    async def account(self, cookie: str | None) -> str | None:
        """Whose valid session a cookie is."""
        ...

    async def logout(self, cookie: str | None) -> None:
        """End the session a cookie is."""
        ...
