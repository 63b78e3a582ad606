"""The built-in web chat: a messenger for local use and demos (SSJ_WEB_CHAT=1), and,
with SSJ_WEB_CHAT_LOGIN=1, for people who log in through a one-time link.

An adapter like any other: it only translates HTTP+JSON to neutral inbound events (handed
to the injected receiver) and stores outbound messages where the page reads them (the
injected ``ChatStore``, bot/messengers/webchat/ports.py).

Who may use it:

- without login, only this machine: the page and the API answer requests addressed to a
  loopback host name only (a page of another site cannot reach them through DNS
  rebinding), posts must be JSON (no other site's form can send them), and ``ssj serve``
  refuses to serve the web chat on any other address. Anyone at this machine may pick
  any person: that is the demo. When a messenger (WeCom) is configured the web chat
  takes no input at all;
- with login, each person through their own session (bot/messengers/webchat/login.py):
  the API acts only as that person, ``user`` in a body or query must be theirs, no session is a 401.

Every body and query passes bot/httpin.py first (size, nesting, ids, characters): bad
input is a 4xx with a Chinese ``error`` and changes nothing.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from bot import httpin
from bot.config import Settings, is_loopback, messengers_configured
from bot.domain.model import Role
from bot.messages import GROUP, PRIVATE, Inbound, Outbound
from bot.messengers import Receiver

from . import http
from .login import LoginPages
from .ports import ChatStore, Logins, People, Transaction

ROOMS = (PRIVATE, GROUP)
MAX_TEXT = 2000
INBOX_LIMIT = 500


class WebChatSender:
    """Delivers outbound messages into the web chat's store, which lives in the same
    database as the outbox: the relay hands it the transaction that marks the row sent
    (``transactional``), so a message is stored exactly once, whenever the process dies."""

    pace_seconds = 0.0
    transactional = True

    def __init__(self, store: ChatStore):
        self.store = store

    async def send(self, msg: Outbound, outbox_id: int) -> str:
        """Outside a relay (its own transaction)."""
        async with self.store.transaction() as tx:
            return await self.send_in(tx, msg, outbox_id)

    async def send_in(self, tx: Transaction, msg: Outbound, outbox_id: int) -> str:
        card = msg.card.to_json() if msg.card else None
        if msg.refresh or msg.update_of:
            # a new version of each held copy; the page shows it in the original's place
            refs = [int(t.ref) for t in msg.targets if t.ref.isdigit()]
            originals = await self.store.lines(tx, refs) if refs else []
            for orig in originals:
                await self.store.add(
                    tx,
                    orig.room,
                    orig.owner,
                    "bot",
                    msg.text if msg.update_of else "",
                    card,
                    replaces=orig.id,
                )
            return ",".join(str(o.id) for o in originals)
        return str(
            await self.store.add(
                tx, msg.room, msg.to if msg.room == PRIVATE else "", "bot", msg.text, card
            )
        )


class WebChat(LoginPages):
    """The page and its JSON API. A person's role (角色 管理员 in the library) decides what
    they may do: only 管理员 post, or press buttons, in the supervisors' group.

    Cards change by new versions: a row whose ``replaces`` holds the id of the original
    message. The page keeps showing a card under the original's id; a click names that
    id and acts on the newest version, whose buttons alone count.
    """

    def __init__(
        self,
        receiver: Receiver,
        store: ChatStore,
        people: People,
        logins: Logins,
        settings: Settings | None = None,
    ):
        self.receiver, self.store, self.directory, self.logins = receiver, store, people, logins
        self.settings = settings
        self.login = bool(settings and settings.web_chat_login)
        # a messenger is the way in; without login the web chat only shows what it holds
        self.input_closed = bool(settings and messengers_configured(settings) and not self.login)
        self.secure_cookie = bool(settings and settings.public_base.startswith("https://"))

    # ---- the page -----------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        if not self.login:
            if not is_loopback(http.host_name(http.host(request))):
                return http.notice("local_only", 403)
            return http.page("webchat.html", me=None, closed=self.input_closed)
        me = await self._session(request)
        person = await self._person(me) if me else None
        if person is None:
            return http.notice("login_required", 401)
        return http.page(
            "webchat.html",
            me={k: person[k] for k in ("account", "name", "role", "department", "admin")},
            closed=False,
        )

    # ---- the API -------------------------------------------------------------------------

    async def _people(self) -> list[dict]:
        return [
            {**p, "admin": p.get("role") == Role.ADMIN.value} for p in await self.directory.people()
        ]

    @http.api
    async def people(self, request: web.Request) -> web.StreamResponse:
        me = await self._gate(request)
        people = await self._people()
        if self.login:  # a logged-in person is themselves; nobody picks another
            people = [p for p in people if p["account"] == me]
        return web.json_response({"people": people})

    async def _person(self, account: str) -> dict | None:
        return next((p for p in await self._people() if p["account"] == account), None)

    @http.api
    async def send(self, request: web.Request) -> web.StreamResponse:
        me = await self._gate(request, write=True)
        doc = await httpin.json_object(request)
        user = self._user(me, doc.get("user"))
        room, text = doc.get("room"), httpin.text_field(doc.get("text"), "text")
        event = httpin.client_id(doc.get("client_id"))
        if not user or room not in ROOMS or text is None:
            return http.bad("bad_fields")
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            return http.bad("bad_text", limit=MAX_TEXT)
        person = await self._person(user)
        if person is None:
            return http.bad("unknown_user", 403, user=user)
        if room == GROUP and not person["admin"]:
            return http.bad("group_admins_only", 403)
        msg_id = await self.store.post(room, user if room == PRIVATE else "", user, text)
        await self.receiver.receive(
            Inbound("text", user, room, "", text, event_id=event or f"msg{msg_id}")
        )
        return web.json_response({"ok": True, "id": msg_id})

    @http.api
    async def click(self, request: web.Request) -> web.StreamResponse:
        me = await self._gate(request, write=True)
        doc = await httpin.json_object(request)
        user = self._user(me, doc.get("user"))
        key = httpin.button_key(doc.get("key"))
        mid = httpin.row_id(doc.get("message_id"))
        event = httpin.client_id(doc.get("client_id"))
        if not user or not key or mid is None:
            return http.bad("bad_fields")
        found = await self.store.card(mid)
        if found is None:
            return http.bad("no_such_card", 404)
        original, newest = found
        if not (original.card or newest.card) or (
            original.room == PRIVATE and original.owner != user
        ):
            return http.bad("no_such_card", 404)
        person = await self._person(user)
        if person is None:
            return http.bad("unknown_user", 403, user=user)
        if original.room == GROUP and not person["admin"]:
            return http.bad("group_admins_only", 403)
        buttons = (newest.card or {}).get("buttons", [])
        if key not in [b.get("key") for b in buttons]:
            return http.bad("no_such_button", 400)  # e.g. a button of an older version
        await self.receiver.receive(
            Inbound(
                "click",
                user,
                original.room,
                "",
                key=key,
                message_id=str(original.id),
                event_id=event or uuid.uuid4().hex,
            )
        )
        return web.json_response({"ok": True})

    @http.api
    async def inbox(self, request: web.Request) -> web.StreamResponse:
        """Every message after ``after``, card versions included (``replaces``: the id of
        the original message a version replaces, else null), in id order."""
        me = await self._gate(request)
        user = self._user(me, request.query.get("user") or None)
        room = request.query.get("room", PRIVATE)
        after = httpin.row_id(request.query.get("after", "0"))
        if not user or room not in ROOMS or after is None:
            return http.bad("bad_fields")
        rows = await self.store.since(room, after, user if room == PRIVATE else None, INBOX_LIMIT)
        return web.json_response(
            {
                "messages": [
                    {
                        "id": r.id,
                        "room": r.room,
                        "from": r.sender,
                        "text": r.text,
                        "card": r.card,
                        "replaces": r.replaces,
                    }
                    for r in rows
                ]
            },
            headers={"Cache-Control": "no-store"},
        )


__all__ = ["WebChat", "WebChatSender"]
