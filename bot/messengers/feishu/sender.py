"""Deliver neutral outbound messages through Feishu's ``im/v1/messages``.

Private messages go to the person's Feishu ``user_id`` (their 消息账号), group messages
to the group's ``chat_id`` (the supervisors' group when the message names none). A card
is an interactive message; its reference is its message id, and any later change
(``update_of`` a clicked card, ``refresh`` of every copy held) PATCHes it in place — in
a group too. Every attempt of one outbox row sends the same ``uuid`` (made of the row's
idempotency key), so Feishu delivers a retry of a delivered message once only.

Pacing: at most 5 messages a second per user and per group and 50 a second per app, on
top of the relay's per-recipient pace; throttling answers (429, 99991400) become a retry
after ``x-ogw-ratelimit-reset``. Nothing is dropped silently: every other failure is
raised to the relay, which retries or parks and reports.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable

import aiohttp

from bot.messages import GROUP, Delivered, Outbound, SendError
from bot.text import t

from . import cards
from .api import FeishuClient, FeishuError, RateLimited

# user not found or not in the app's availability, bot not in the chat, chat gone …
PERMANENT = {230001, 230002, 230006, 230013, 230017, 99992351, 99992361, 99992364}
_MESSAGE_ID = re.compile(r"om_[0-9A-Za-z_-]{1,120}")


class Window:
    """At most ``limit`` events per ``span`` seconds for each key (sliding window)."""

    def __init__(self, limit: int, span: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.span, self.clock = limit, span, clock
        self._seen: dict[str, deque[float]] = {}

    async def take(self, key: str) -> None:
        while True:
            now = self.clock()
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= self.span:
                seen.popleft()
            if len(seen) < self.limit:
                seen.append(now)
                return
            await asyncio.sleep(self.span - (now - seen[0]) + 0.001)


class FeishuSender:
    pace_seconds = 0.2  # 5 messages a second per user and per group

    def __init__(self, client: FeishuClient, group_chat: str = ""):
        self.client, self.group_chat = client, group_chat
        self.per_target = Window(5)
        self.per_app = Window(50)

    async def send(self, msg: Outbound, outbox_id: int) -> str | Delivered:
        if msg.room == GROUP:
            id_type, to = "chat_id", msg.to or self.group_chat
            if not to:
                raise SendError(
                    "no group to send to: the message names none and "
                    "SSJ_FEISHU_GROUP_CHAT_ID is not set",
                    permanent=True,
                )
        else:
            id_type, to = "user_id", msg.to
        base = (msg.key or f"ssj{outbox_id}")[:44]
        try:
            if msg.refresh or msg.update_of:
                return await self._update(msg, id_type, to, base)
            if msg.card is not None:
                content = cards.card_content(msg.card, msg.room)
                if msg.text.strip():
                    await self._send(id_type, to, "text", cards.text_content(msg.text), base + "-t")
                return Delivered(await self._send(id_type, to, "interactive", content, base))
            return await self._texts(id_type, to, msg.text, base)
        except RateLimited as exc:
            raise SendError(f"rate limited: {exc}", retry_after=max(1.0, exc.reset)) from exc
        except FeishuError as exc:
            raise SendError(str(exc), permanent=exc.code in PERMANENT) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"network: {type(exc).__name__}: {exc}") from exc

    async def _send(self, id_type: str, to: str, kind: str, content: str, uuid: str) -> str:
        await self.per_target.take(f"{id_type}:{to}")
        await self.per_app.take("")
        return await self.client.send(id_type, to, kind, content, uuid)

    async def _texts(self, id_type: str, to: str, text: str, base: str) -> str:
        if not text.strip():
            return ""
        ids = [
            await self._send(id_type, to, "text", cards.text_content(chunk), f"{base}-{i}")
            for i, chunk in enumerate(cards.split_text(text))
        ]
        return ",".join(i for i in ids if i)

    async def _update(self, msg: Outbound, id_type: str, to: str, base: str) -> str:
        """PATCH each held copy; when none could be, a refresh sends its status text."""
        if msg.card is not None:
            content = cards.card_content(msg.card, msg.room)
        else:
            content = cards.status_card("", msg.text or t("chat.card_done"))
        updated = []
        for target in msg.targets:
            if not _MESSAGE_ID.fullmatch(target.ref):
                continue
            await self.per_app.take("")
            try:
                await self.client.update_card(target.ref, content)
            except RateLimited:
                raise
            except FeishuError:
                continue  # too old to PATCH (230031), withdrawn …: fall back below
            updated.append(target.ref)
        if updated:
            return ",".join(updated)
        return await self._texts(id_type, to, msg.text if msg.refresh else "", base)
