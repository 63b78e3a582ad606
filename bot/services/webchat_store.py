"""The web chat's message store (its ``ChatStore``, bot/messengers/webchat/ports.py) over
``storage/repos/chat.py``.

``add`` and ``lines`` work in the transaction they are given: the relay's, when the web
chat's sender delivers a message (``send_in``), so the message and the outbox row's
"sent" mark commit together or not at all. The other calls are units of work of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from storage.repos import chat as chat_repo
from storage.repos.chat import ChatLine
from storage.uow import Session, Sessions, unit_of_work


class WebChatStore:
    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        return unit_of_work(self.sessions)

    async def add(
        self,
        tx: Session,
        room: str,
        owner: str,
        sender: str,
        text: str,
        card: dict | None = None,
        replaces: int | None = None,
    ) -> int:
        return await chat_repo.add(tx, room, owner, sender, text, card, replaces)

    async def lines(self, tx: Session, ids: Sequence[int]) -> list[ChatLine]:
        return await chat_repo.by_ids(tx, ids)

    async def post(self, room: str, owner: str, sender: str, text: str) -> int:
        async with unit_of_work(self.sessions) as s:
            return await chat_repo.add(s, room, owner, sender, text)

    async def card(self, message_id: int) -> tuple[ChatLine, ChatLine] | None:
        async with self.sessions() as s:
            original = await chat_repo.get(s, message_id)
            if original is not None and original.replaces is not None:
                # a version's own id: the card is still known by its original's
                original = await chat_repo.get(s, original.replaces)
            if original is None:
                return None
            newest = await chat_repo.newest_version(s, original.id)
        return None if newest is None else (original, newest)

    async def since(self, room: str, after: int, owner: str | None, limit: int) -> list[ChatLine]:
        async with self.sessions() as s:
            return await chat_repo.after(s, room, after, owner, limit)
