"""Deliver neutral outbound messages through WeCom.

Private messages and cards go through the self-built app's ``message/send``; a card is
updated after a click with ``update_template_card`` and the click's response code. Group
messages answer the 智能机器人 callback they reply to (its one-time ``response_url``),
else the configured group webhook. Rate limits back off; an invalid user and every other
failure is raised to the relay, which retries or parks and reports — never a silent drop.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from bot.messages import GROUP, Card, Delivered, Outbound, SendError

from . import cards
from .api import RATE_LIMITED, WeComClient, WeComError

PERMANENT = {40003, 81013, 86001, 40058}  # invalid userid, all targets invalid, …
TASK_ID_EXISTS = 42014


class WeComSender:
    pace_seconds = 2.0  # WeCom drops, silently, more than 30 messages a minute per member
    # a response_code is valid for 72 h and once; an hour's margin for queues and clocks
    handle_ttl = timedelta(hours=71)

    def __init__(self, client: WeComClient, agent_id: int, group_webhook: str = "") -> None:
        self.client, self.agent_id = client, agent_id
        self.group_webhook = group_webhook

    async def send(self, msg: Outbound, outbox_id: int) -> str | Delivered:
        """Every attempt of one outbox row sends the same request: a card's task_id is
        made of the row's id and idempotency key (``msg.key``), a text carries WeCom's
        duplicate check, so a retry of a message WeCom already delivered is not delivered
        again (42014 for a card, silently for a text)."""
        task_id = ""
        try:
            if msg.room == GROUP:
                return await self._group(msg, outbox_id)
            if msg.refresh or msg.update_of:
                return await self._update(msg, outbox_id)
            text = msg.text
            if msg.card and msg.card.buttons:
                task_id = cards.make_task_id(outbox_id, msg.key)
                body = cards.card_body(msg.to, self.agent_id, msg.card, task_id)
                doc = await self.client.send(body)
                self._checked(doc, msg.to)
                # the card's reference is its task_id (clicks carry it); the response_code
                # the send returned updates it once, within 72 h
                return Delivered(task_id, str(doc.get("response_code") or ""))
            if msg.card:  # a card without buttons is a text on WeCom
                text = "\n".join(x for x in (msg.text, cards.card_text(msg.card)) if x)
            if not text.strip():
                return ""
            ids = [
                self._checked(await self.client.send(b), msg.to)
                for b in cards.text_body(msg.to, self.agent_id, text, outbox_id)
            ]
            return ",".join(i for i in ids if i)
        except WeComError as exc:
            if exc.errcode == TASK_ID_EXISTS and task_id:
                # this very card (its task_id is this row's) was delivered by an earlier
                # attempt whose outcome was lost; its update code went with that answer
                return Delivered(task_id)
            if exc.errcode in RATE_LIMITED:
                raise SendError(f"rate limited: {exc}", retry_after=60) from exc
            raise SendError(str(exc), permanent=exc.errcode in PERMANENT) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"network: {type(exc).__name__}: {exc}") from exc

    @staticmethod
    def _checked(doc: dict, to: str) -> str:
        if doc.get("invaliduser"):
            raise SendError(f"invaliduser: {doc['invaliduser']}", permanent=True)
        return str(doc.get("msgid", ""))

    async def _update(self, msg: Outbound, outbox_id: int) -> str:
        """Update each held copy whose response code is at hand (update_template_card);
        when none is, a refresh sends its short status text instead (if it has one)."""
        updated = []
        for target in msg.targets:
            if not target.handle:
                continue
            body = cards.update_card_body(self.agent_id, target.handle, msg.card, msg.text)
            body["userids"] = [msg.to]
            try:
                await self.client.update_card(body)
            except WeComError as exc:
                if exc.errcode in RATE_LIMITED:
                    raise
                continue  # an expired or spent code: fall back below
            updated.append(target.ref)
        if updated:
            return ",".join(updated)
        status = msg.text if msg.refresh else ""
        if not status.strip():
            return ""  # nothing to update and nothing worth a message
        ids = [
            self._checked(await self.client.send(b), msg.to)
            for b in cards.text_body(msg.to, self.agent_id, status, outbox_id)
        ]
        return ",".join(i for i in ids if i)

    async def _group(self, msg: Outbound, outbox_id: int) -> str:
        """A card update cannot be pushed to a group (WeCom updates bot cards only in a
        passive reply, and we acknowledge at once): it is sent as a new message."""
        task_id = cards.make_task_id(outbox_id, msg.key) if msg.card and msg.card.buttons else ""
        body = group_body(msg.card, msg.text, task_id)
        if msg.via:
            try:
                await self.client.post_url(msg.via, body)
                return "response_url"
            except WeComError:
                if not self.group_webhook:
                    raise
        if not self.group_webhook:
            raise SendError(
                "no way to reach the group: no response_url left and "
                "SSJ_WECOM_GROUP_WEBHOOK is not set",
                permanent=True,
            )
        await self.client.post_url(self.group_webhook, body)
        return "webhook"


def group_body(card: Card | None, text: str, task_id: str) -> dict:
    """A group message: a button card stays a card (clicks come back to the 智能机器人),
    anything else is markdown (which response_url and the group webhook both take)."""
    if card is not None and card.buttons:
        tc = cards.card_body("", 0, card, task_id)["template_card"]
        return {"msgtype": "template_card", "template_card": tc}
    content = (
        text if card is None else "\n".join(x for x in (text, f"**{card.title}**", card.body) if x)
    )
    return {"msgtype": "markdown", "markdown": {"content": cards.clip(content, 4000)}}
