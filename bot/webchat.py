"""The built-in web chat: a messenger for local use and demos (SSJ_WEB_CHAT=1).

An adapter like any other: it only translates HTTP+JSON to neutral inbound events and
stores outbound messages where the page reads them. Not for production: anyone who can
reach the page can pick any person from the library.
"""
from __future__ import annotations

import json
import uuid

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.model import Role
from bot.messages import GROUP, PRIVATE, Inbound, Outbound
from bot.text import render, t
from storage.models_chat import ChatMessage

ROOMS = (PRIVATE, GROUP)
MAX_TEXT = 2000


class WebChatSender:
    """Delivers outbound messages into the web chat's store, which lives in the same
    database as the outbox: the relay hands it the transaction that marks the row sent
    (``transactional``), so a message is stored exactly once, whenever the process dies."""

    pace_seconds = 0.0
    transactional = True

    def __init__(self, sf: async_sessionmaker):
        self.sf = sf

    async def send(self, msg: Outbound, outbox_id: int) -> str:
        """Outside a relay (its own transaction)."""
        async with self.sf() as s, s.begin():
            return await self.send_in(s, msg, outbox_id)

    async def send_in(self, s: AsyncSession, msg: Outbound, outbox_id: int) -> str:
        if msg.refresh or msg.update_of:
            # a new version of each held copy; the page shows it in the original's place
            refs = [int(t.ref) for t in msg.targets if t.ref.isdigit()]
            originals = (await s.execute(select(ChatMessage).where(
                ChatMessage.id.in_(refs)))).scalars().all() if refs else []
            for orig in originals:
                s.add(ChatMessage(room=orig.room, owner=orig.owner, sender="bot",
                                  text=msg.text if msg.update_of else "",
                                  card=msg.card.to_json() if msg.card else None,
                                  replaces=orig.id))
            await s.flush()
            return ",".join(str(o.id) for o in originals)
        row = ChatMessage(room=msg.room, owner=msg.to if msg.room == PRIVATE else "",
                          sender="bot", text=msg.text,
                          card=msg.card.to_json() if msg.card else None)
        s.add(row)
        await s.flush()
        return str(row.id)


def _bad(reason_key: str, status: int = 400, **params) -> web.Response:
    return web.json_response({"ok": False, "error": t(f"webchat.{reason_key}", **params)},
                             status=status)


async def _body(request: web.Request) -> dict | None:
    try:
        doc = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _str(doc: dict, key: str) -> str | None:
    v = doc.get(key)
    return v if isinstance(v, str) else None


class WebChat:
    """The page and its JSON API. A person's role (角色 管理员 in the library) decides what
    they may do: only 管理员 post, or press buttons, in the supervisors' group.

    Cards change by new versions: a row whose ``replaces`` holds the id of the original
    message. The page keeps showing a card under the original's id; a click names that
    id and acts on the newest version, whose buttons alone count.
    """

    def __init__(self, sf: async_sessionmaker, dispatcher, people_directory):
        self.sf, self.dispatcher, self.directory = sf, dispatcher, people_directory

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=render("webchat.html"), content_type="text/html")

    async def _people(self) -> list[dict]:
        async with self.sf() as s:
            people = await self.directory(s)
        return [{**p, "admin": p.get("role") == Role.ADMIN.value} for p in people]

    async def people(self, request: web.Request) -> web.Response:
        return web.json_response({"people": await self._people()})

    async def _person(self, account: str) -> dict | None:
        return next((p for p in await self._people() if p["account"] == account), None)

    async def send(self, request: web.Request) -> web.Response:
        doc = await _body(request)
        if doc is None:
            return _bad("bad_json")
        user, room, text = _str(doc, "user"), _str(doc, "room"), _str(doc, "text")
        if not user or room not in ROOMS or text is None:
            return _bad("bad_fields")
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            return _bad("bad_text", limit=MAX_TEXT)
        person = await self._person(user)
        if person is None:
            return _bad("unknown_user", 403, user=user)
        if room == GROUP and not person["admin"]:
            return _bad("group_admins_only", 403)
        async with self.sf() as s, s.begin():
            row = ChatMessage(room=room, owner=user if room == PRIVATE else "", sender=user,
                              text=text)
            s.add(row)
            await s.flush()
            msg_id = row.id
        event = _str(doc, "client_id") or f"msg{msg_id}"
        await self.dispatcher.receive(Inbound("text", user, room, "", text, event_id=event))
        return web.json_response({"ok": True, "id": msg_id})

    async def click(self, request: web.Request) -> web.Response:
        doc = await _body(request)
        if doc is None:
            return _bad("bad_json")
        user, key = _str(doc, "user"), _str(doc, "key")
        mid = doc.get("message_id")
        if isinstance(mid, str) and mid.isdigit():
            mid = int(mid)
        if not user or not key or not isinstance(mid, int) or isinstance(mid, bool):
            return _bad("bad_fields")
        async with self.sf() as s:
            original = await s.get(ChatMessage, mid)
            if original is not None and original.replaces is not None:
                # a version's own id: the card is still known by its original's
                original = await s.get(ChatMessage, original.replaces)
            newest = None if original is None else await s.scalar(
                select(ChatMessage)
                .where(or_(ChatMessage.id == original.id, ChatMessage.replaces == original.id))
                .order_by(ChatMessage.id.desc()).limit(1))
        if (original is None or not (original.card or newest.card)
                or (original.room == PRIVATE and original.owner != user)):
            return _bad("no_such_card", 404)
        person = await self._person(user)
        if person is None:
            return _bad("unknown_user", 403, user=user)
        if original.room == GROUP and not person["admin"]:
            return _bad("group_admins_only", 403)
        buttons = (newest.card or {}).get("buttons", [])
        if key not in [b.get("key") for b in buttons]:
            return _bad("no_such_button", 400)   # e.g. a button of an older version
        event = _str(doc, "client_id") or uuid.uuid4().hex
        await self.dispatcher.receive(Inbound("click", user, original.room, "", key=key,
                                              message_id=str(original.id), event_id=event))
        return web.json_response({"ok": True})

    async def inbox(self, request: web.Request) -> web.Response:
        """Every message after ``after``, card versions included (``replaces``: the id of
        the original message a version replaces, else null), in id order."""
        user, room = request.query.get("user", ""), request.query.get("room", PRIVATE)
        after = request.query.get("after", "0")
        if not user or room not in ROOMS or not after.isdigit():
            return _bad("bad_fields")
        q = select(ChatMessage).where(ChatMessage.id > int(after), ChatMessage.room == room)
        if room == PRIVATE:
            q = q.where(ChatMessage.owner == user)
        async with self.sf() as s:
            rows = (await s.execute(q.order_by(ChatMessage.id).limit(500))).scalars().all()
        return web.json_response({"messages": [
            {"id": r.id, "room": r.room, "from": r.sender, "text": r.text, "card": r.card,
             "replaces": r.replaces}
            for r in rows]})

__all__ = ["WebChat", "WebChatSender"]
