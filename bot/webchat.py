"""The built-in web chat: a messenger for local use and demos (SSJ_WEB_CHAT=1).

An adapter like any other: it only translates HTTP+JSON to neutral inbound events and
stores outbound messages where the page reads them. Not for production: anyone who can
reach the page can pick any person from the library.
"""
from __future__ import annotations

import json
import uuid

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.messages import GROUP, PRIVATE, Inbound, Outbound
from bot.text import render, t
from storage.models_chat import ChatMessage

ROOMS = (PRIVATE, GROUP)
MAX_TEXT = 2000


class WebChatSender:
    """Delivers outbound messages into the web chat's store."""

    pace_seconds = 0.0

    def __init__(self, sf: async_sessionmaker):
        self.sf = sf

    async def send(self, msg: Outbound, outbox_id: int) -> str:
        async with self.sf() as s, s.begin():
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
    def __init__(self, sf: async_sessionmaker, dispatcher, people_directory):
        self.sf, self.dispatcher, self.directory = sf, dispatcher, people_directory

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=render("webchat.html"), content_type="text/html")

    async def people(self, request: web.Request) -> web.Response:
        async with self.sf() as s:
            return web.json_response({"people": await self.directory(s)})

    async def _known(self, account: str) -> bool:
        async with self.sf() as s:
            return any(p["account"] == account for p in await self.directory(s))

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
        if not await self._known(user):
            return _bad("unknown_user", 403, user=user)
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
            msg = await s.get(ChatMessage, mid)
        if msg is None or not msg.card or (msg.room == PRIVATE and msg.owner != user):
            return _bad("no_such_card", 404)
        if key not in [b["key"] for b in msg.card.get("buttons", [])]:
            return _bad("no_such_button", 400)
        if not await self._known(user):
            return _bad("unknown_user", 403, user=user)
        event = _str(doc, "client_id") or uuid.uuid4().hex
        await self.dispatcher.receive(Inbound("click", user, msg.room, "", key=key,
                                              message_id=str(mid), event_id=event))
        return web.json_response({"ok": True})

    async def inbox(self, request: web.Request) -> web.Response:
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
            {"id": r.id, "room": r.room, "from": r.sender, "text": r.text, "card": r.card}
            for r in rows]})


__all__ = ["WebChat", "WebChatSender"]
