"""Deliver neutral outbound messages through DingTalk's robot and card APIs.

Private texts go by ``oToMessages/batchSend`` to the person's ``userId`` (their 消息账号),
group texts by ``groupMessages/send`` to the group's ``openConversationId`` (the inbound
event's group, or the configured supervisors' group for ``to == ""``). Cards with buttons
are interactive cards whose ``outTrackId`` is the row's stable reference: a retry of a
card DingTalk already created is recognised by its duplicate ``outTrackId`` and counted as
delivered. Updates (``refresh``/``update_of``) put new data on each held card by its
``outTrackId`` (no single-use handle is needed on DingTalk). Throttling becomes a retry
later, an unknown user a permanent failure, everything else a retry: never a silent drop.
"""

from __future__ import annotations

import re

import aiohttp

from bot.messages import GROUP, Delivered, Outbound, SendError

from . import cards
from .api import DingTalkClient, DingTalkError

ONE_TO_ONE = "/v1.0/robot/oToMessages/batchSend"
GROUP_SEND = "/v1.0/robot/groupMessages/send"
CREATE_CARD = "/v1.0/card/instances/createAndDeliver"
CARD = "/v1.0/card/instances"
_DUPLICATE_TRACK = re.compile(r"(?i)outtrackid.*(exist|dup)|(exist|dup).*outtrackid")
PERMANENT_CODES = {"staffId.notExisted", "invalidStaffIdList", "resource.not.found"}


class DingTalkSender:
    pace_seconds = 0.2  # robots: 20 messages/s per app is far below this pace
    handle_ttl = None  # cards are updated by outTrackId: no handle to keep

    def __init__(
        self,
        client: DingTalkClient,
        robot_code: str,
        group: str = "",
        card_template: str = cards.DEFAULT_CARD_TEMPLATE,
    ):
        self.client, self.robot_code, self.group = client, robot_code, group
        self.card_template = card_template

    async def send(self, msg: Outbound, outbox_id: int) -> str | Delivered:
        track = ""
        try:
            if msg.refresh or msg.update_of:
                return await self._update(msg, outbox_id)
            conversation = ""
            if msg.room == GROUP:
                conversation = msg.to or self.group
                if not conversation:
                    raise SendError(
                        "no group to send to: SSJ_DINGTALK_GROUP is not set", permanent=True
                    )
            if msg.card and msg.card.buttons:
                track = cards.make_track_id(outbox_id, msg.key)
                if msg.text.strip():
                    await self._texts(msg.to, conversation, msg.text)
                await self.client.call(
                    "POST",
                    CREATE_CARD,
                    cards.create_card(
                        self.robot_code,
                        self.card_template,
                        track,
                        msg.card,
                        user=msg.to,
                        conversation=conversation,
                    ),
                )
                return Delivered(track)
            if msg.card:
                body = cards.markdown(self.robot_code, msg.card, msg.text)
                return await self._post(body, msg.to, conversation)
            if not msg.text.strip():
                return ""
            return await self._texts(msg.to, conversation, msg.text)
        except DingTalkError as exc:
            if track and _DUPLICATE_TRACK.search(f"{exc.code} {exc.message}"):
                return Delivered(track)  # an earlier attempt created this very card
            if exc.throttled:
                raise SendError(f"throttled: {exc}", retry_after=30) from exc
            permanent = (
                exc.code in PERMANENT_CODES
                or exc.status in (400, 403)
                and "staff" in exc.code.lower()
            )
            raise SendError(str(exc), permanent=permanent) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendError(f"network: {type(exc).__name__}: {exc}") from exc

    async def _texts(self, to: str, conversation: str, text: str) -> str:
        bodies = (
            cards.group_texts(self.robot_code, conversation, text)
            if conversation
            else cards.private_texts(self.robot_code, to, text)
        )
        ids = [await self._post(body, to, conversation) for body in bodies]
        return ",".join(i for i in ids if i)

    async def _post(self, body: dict, to: str, conversation: str) -> str:
        if conversation:
            doc = await self.client.call(
                "POST", GROUP_SEND, dict(body, openConversationId=conversation)
            )
            return str(doc.get("processQueryKey", ""))
        doc = await self.client.call("POST", ONE_TO_ONE, dict(body, userIds=[to]))
        if to in (doc.get("invalidStaffIdList") or []) or to in (
            doc.get("flowControlledStaffIdList") or []
        ):
            flow = to in (doc.get("flowControlledStaffIdList") or [])
            raise SendError(
                f"{'flow controlled' if flow else 'invalid userId'}: {to}",
                retry_after=60 if flow else None,
                permanent=not flow,
            )
        return str(doc.get("processQueryKey", ""))

    async def _update(self, msg: Outbound, outbox_id: int) -> str:
        """Every held copy is updated by its outTrackId; a reference that is not a card
        (a text's processQueryKey) cannot be, and a refresh then sends its status text."""
        updated = []
        for target in msg.targets:
            if not target.ref.startswith("ssj-"):
                continue
            try:
                await self.client.call(
                    "PUT", CARD, cards.update_card(target.ref, msg.card, msg.text)
                )
            except DingTalkError as exc:
                if exc.throttled:
                    raise
                continue
            updated.append(target.ref)
        if updated:
            return ",".join(updated)
        status = msg.text if msg.refresh else ""
        if not status.strip():
            return ""
        return await self._texts(msg.to, msg.to if msg.room == GROUP else "", status)
