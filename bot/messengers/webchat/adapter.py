"""The built-in web chat: a messenger for local use and demos (SSJ_WEB_CHAT=1), and,
with SSJ_WEB_CHAT_LOGIN=1, for people who log in through a one-time link.

An adapter like any other: it only translates HTTP+JSON to neutral inbound events and
stores outbound messages where the page reads them.

Who may use it:

- without login, only this machine: the page and the API answer requests addressed to a
  loopback host name only (a page of another site cannot reach them through DNS
  rebinding), posts must be JSON (no other site's form can send them), and ``ssj serve``
  refuses to serve the web chat on any other address. Anyone at this machine may pick
  any person: that is the demo. When a messenger (WeCom) is configured the web chat
  takes no input at all;
- with login, each person through their own session (bot/messengers/webchat/login.py): the API acts
  only as that person, ``user`` in a body or query must be theirs, no session is a 401.

Every body and query passes bot/httpin.py first (size, nesting, ids, characters): bad
input is a 4xx with a Chinese ``error`` and changes nothing.
"""
from __future__ import annotations

import functools
import uuid
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import httpin
from bot.messengers.webchat import login
from bot.config import Settings, is_loopback, wecom_enabled
from bot.domain.model import Role
from bot.httpin import Refused
from bot.messages import GROUP, PRIVATE, Inbound, Outbound
from bot.text import render, t
from storage.models_chat import ChatMessage

ROOMS = (PRIVATE, GROUP)
MAX_TEXT = 2000
MAX_FORM = 1024
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # a login link never leaves in a Referer; posts of the page still carry their Origin
    # (under no-referrer a browser sends "Origin: null", which _origin_ok refuses)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


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
                             status=status, headers={"Cache-Control": "no-store"})


def _page(template: str, status: int = 200, **context) -> web.Response:
    return web.Response(text=render(template, **context), status=status,
                        content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def _notice(key: str, status: int, **params) -> web.Response:
    """A short Chinese page: a refusal, or what to do next."""
    return _page("webchat_notice.html", status, message=t(f"webchat.{key}", **params))


def _api(method):
    """An API handler: a refusal of bot/httpin.py (or of who may ask) becomes a 4xx with
    a Chinese ``error``."""
    @functools.wraps(method)
    async def wrapper(self, request: web.Request) -> web.StreamResponse:
        try:
            return await method(self, request)
        except Refused as exc:
            return _bad(exc.key, exc.status, **exc.params)
    return wrapper


def host_name(host: str) -> str:
    """The name of a Host header without its port ("[::1]:8080" → "::1")."""
    h = (host or "").strip()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else ""
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _host(request: web.Request) -> str:
    """The Host header as sent ("" when absent; ``request.host`` would then ask the
    resolver for this machine's name, blocking the event loop)."""
    return request.headers.get("Host", "")


def _json_request(request: web.Request) -> bool:
    return request.content_type == "application/json"


class WebChat:
    """The page and its JSON API. A person's role (角色 管理员 in the library) decides what
    they may do: only 管理员 post, or press buttons, in the supervisors' group.

    Cards change by new versions: a row whose ``replaces`` holds the id of the original
    message. The page keeps showing a card under the original's id; a click names that
    id and acts on the newest version, whose buttons alone count.
    """

    def __init__(self, sf: async_sessionmaker, dispatcher, people_directory,
                 settings: Settings | None = None):
        self.sf, self.dispatcher, self.directory = sf, dispatcher, people_directory
        self.settings = settings
        self.login = bool(settings and settings.web_chat_login)
        # a messenger is the way in; without login the web chat only shows what it holds
        self.input_closed = bool(settings and wecom_enabled(settings) and not self.login)
        self.secure_cookie = bool(settings and settings.public_base.startswith("https://"))

    # ---- who is asking --------------------------------------------------------------------

    def _origin_ok(self, request: web.Request) -> bool:
        """A post from a page of this service, or from no page at all (no Origin)."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:
            return False
        own = {_host(request)}
        if self.settings is not None:
            own.add(urlsplit(self.settings.public_base).netloc)
        return netloc in own

    async def _session(self, request: web.Request) -> str | None:
        cookie = request.cookies.get(login.COOKIE)
        if not login.well_formed(cookie):
            return None
        async with self.sf() as s:
            return await login.session_account(s, cookie)

    async def _gate(self, request: web.Request, write: bool = False) -> str | None:
        """Refused unless this request may use the API (checked before its body is read).
        With login: the session's 消息账号; without: None (the body names the person)."""
        if write and not _json_request(request):
            raise Refused("json_only", 415)
        if write and not self._origin_ok(request):
            raise Refused("foreign_origin", 403)
        if not self.login:
            if not is_loopback(host_name(_host(request))):
                raise Refused("local_only", 403)
            if write and self.input_closed:
                raise Refused("input_closed", 403)
            return None
        me = await self._session(request)
        if me is None:
            raise Refused("login_required", 401)
        return me

    @staticmethod
    def _user(me: str | None, claimed) -> str | None:
        """Who acts: without login the ``user`` given (None if missing or malformed); with
        login the session's person, and a ``user`` given must be them."""
        claimed = httpin.text_field(claimed, "user")
        if me is None:
            return httpin.account(claimed)
        if claimed is not None and claimed != me:
            raise Refused("not_you", 403)
        return me

    # ---- the page and its login ----------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        if not self.login:
            if not is_loopback(host_name(_host(request))):
                return _notice("local_only", 403)
            return _page("webchat.html", me=None, closed=self.input_closed)
        me = await self._session(request)
        person = await self._person(me) if me else None
        if person is None:
            return _notice("login_required", 401)
        return _page("webchat.html", me={k: person[k] for k in
                                          ("account", "name", "role", "department", "admin")},
                     closed=False)

    async def login_link(self, request: web.Request) -> web.Response:
        """GET of an invitation link: a page that logs in by posting the token back (link
        previews and scanners fetch links too; a GET never uses the link up)."""
        if not self.login:
            return _notice("login_off", 404)
        token = request.match_info.get("token", "")
        async with self.sf() as s:
            row = await login.check_invite(s, token)
        if row is None:
            return _notice("link_invalid", 410)
        return _page("webchat_login.html", token=token)

    async def login_post(self, request: web.Request) -> web.Response:
        """The invitation used: a session cookie, then the chat."""
        if not self.login:
            return _notice("login_off", 404)
        if not self._origin_ok(request):
            return _notice("foreign_origin", 403)
        try:
            raw = await httpin.read_body(request, MAX_FORM)
            fields = dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True,
                                    max_num_fields=4, strict_parsing=False))
        except Refused as exc:
            return _notice(exc.key, exc.status, **exc.params)
        except (UnicodeDecodeError, ValueError):
            return _notice("link_invalid", 400)
        async with self.sf() as s, s.begin():
            got = await login.redeem(s, self.settings, fields.get("token", ""))
        if got is None:
            return _notice("link_invalid", 410)
        cookie, _ = got
        resp = web.HTTPSeeOther("../chat", headers=PAGE_HEADERS)
        resp.set_cookie(login.COOKIE, cookie, path="/", httponly=True, samesite="Strict",
                        secure=self.secure_cookie,
                        max_age=self.settings.web_chat_session_days * 86400)
        raise resp

    @_api
    async def logout(self, request: web.Request) -> web.Response:
        if not self.login:
            return _bad("login_off", 404)
        await self._gate(request, write=True)
        async with self.sf() as s, s.begin():
            await login.logout(s, request.cookies.get(login.COOKIE))
        resp = web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})
        resp.del_cookie(login.COOKIE, path="/")
        return resp

    # ---- the API -------------------------------------------------------------------------

    async def _people(self) -> list[dict]:
        async with self.sf() as s:
            people = await self.directory(s)
        return [{**p, "admin": p.get("role") == Role.ADMIN.value} for p in people]

    @_api
    async def people(self, request: web.Request) -> web.Response:
        me = await self._gate(request)
        people = await self._people()
        if self.login:   # a logged-in person is themselves; nobody picks another
            people = [p for p in people if p["account"] == me]
        return web.json_response({"people": people})

    async def _person(self, account: str) -> dict | None:
        return next((p for p in await self._people() if p["account"] == account), None)

    @_api
    async def send(self, request: web.Request) -> web.Response:
        me = await self._gate(request, write=True)
        doc = await httpin.json_object(request)
        user = self._user(me, doc.get("user"))
        room, text = doc.get("room"), httpin.text_field(doc.get("text"), "text")
        event = httpin.client_id(doc.get("client_id"))
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
        await self.dispatcher.receive(Inbound("text", user, room, "", text,
                                              event_id=event or f"msg{msg_id}"))
        return web.json_response({"ok": True, "id": msg_id})

    @_api
    async def click(self, request: web.Request) -> web.Response:
        me = await self._gate(request, write=True)
        doc = await httpin.json_object(request)
        user = self._user(me, doc.get("user"))
        key = httpin.button_key(doc.get("key"))
        mid = httpin.row_id(doc.get("message_id"))
        event = httpin.client_id(doc.get("client_id"))
        if not user or not key or mid is None:
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
        await self.dispatcher.receive(Inbound("click", user, original.room, "", key=key,
                                              message_id=str(original.id),
                                              event_id=event or uuid.uuid4().hex))
        return web.json_response({"ok": True})

    @_api
    async def inbox(self, request: web.Request) -> web.Response:
        """Every message after ``after``, card versions included (``replaces``: the id of
        the original message a version replaces, else null), in id order."""
        me = await self._gate(request)
        user = self._user(me, request.query.get("user") or None)
        room = request.query.get("room", PRIVATE)
        after = httpin.row_id(request.query.get("after", "0"))
        if not user or room not in ROOMS or after is None:
            return _bad("bad_fields")
        q = select(ChatMessage).where(ChatMessage.id > after, ChatMessage.room == room)
        if room == PRIVATE:
            q = q.where(ChatMessage.owner == user)
        async with self.sf() as s:
            rows = (await s.execute(q.order_by(ChatMessage.id).limit(500))).scalars().all()
        return web.json_response({"messages": [
            {"id": r.id, "room": r.room, "from": r.sender, "text": r.text, "card": r.card,
             "replaces": r.replaces}
            for r in rows]}, headers={"Cache-Control": "no-store"})

__all__ = ["WebChat", "WebChatSender"]
