"""Who is asking the web chat, and logging in to it (SSJ_WEB_CHAT_LOGIN=1).

Without login only this machine may use the web chat (a loopback Host); with login, the
one whose session cookie it is. Posts must be JSON and come from a page of this service
(or from no page). An invitation link (made by ``ssj webchat invite``) is used by posting
its token back from the page its GET shows (link previews and scanners fetch links too);
that gives a session cookie. The links and sessions themselves are the injected
``Logins`` (bot/messengers/webchat/ports.py).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

from bot import httpin
from bot.config import Settings, is_loopback
from bot.httpin import Refused

from . import http
from .ports import Logins

COOKIE = "ssj_chat"
MAX_FORM = 1024


class LoginPages:
    """Mixed into ``WebChat``: who asks, and the login pages."""

    login: bool  # SSJ_WEB_CHAT_LOGIN=1
    input_closed: bool  # without login, while another messenger is the way in
    secure_cookie: bool
    logins: Logins
    settings: Settings | None

    # ---- who is asking --------------------------------------------------------------------

    def _origin_ok(self, request: web.Request) -> bool:
        """A post from a page of this service, or from no page at all (no Origin)."""
        return http.origin_ok(
            request, self.settings.public_base if self.settings is not None else None
        )

    async def _session(self, request: web.Request) -> str | None:
        return await self.logins.account(request.cookies.get(COOKIE))

    async def _gate(self, request: web.Request, write: bool = False) -> str | None:
        """Refused unless this request may use the API (checked before its body is read).
        With login: the session's 消息账号; without: None (the body names the person)."""
        if write and not http.json_request(request):
            raise Refused("json_only", 415)
        if write and not self._origin_ok(request):
            raise Refused("foreign_origin", 403)
        if not self.login:
            if not is_loopback(http.host_name(http.host(request))):
                raise Refused("local_only", 403)
            if write and self.input_closed:
                raise Refused("input_closed", 403)
            return None
        me = await self._session(request)
        if me is None:
            raise Refused("login_required", 401)
        return me

    @staticmethod
    def _user(me: str | None, claimed: object) -> str | None:
        """Who acts: without login the ``user`` given (None if missing or malformed); with
        login the session's person, and a ``user`` given must be them."""
        name = httpin.text_field(claimed, "user")
        if me is None:
            return httpin.account(name)
        if name is not None and name != me:
            raise Refused("not_you", 403)
        return me

    # ---- logging in -------------------------------------------------------------------------

    async def login_link(self, request: web.Request) -> web.Response:
        """GET of an invitation link: a page that logs in by posting the token back (link
        previews and scanners fetch links too; a GET never uses the link up)."""
        if not self.login:
            return http.notice("login_off", 404)
        token = request.match_info.get("token", "")
        if not await self.logins.link_usable(token):
            return http.notice("link_invalid", 410)
        return http.page("webchat_login.html", token=token)

    async def login_post(self, request: web.Request) -> web.Response:
        """The invitation used: a session cookie, then the chat."""
        if not self.login or self.settings is None:
            return http.notice("login_off", 404)
        if not self._origin_ok(request):
            return http.notice("foreign_origin", 403)
        try:
            raw = await httpin.read_body(request, MAX_FORM)
            fields = dict(
                parse_qsl(
                    raw.decode("ascii"),
                    keep_blank_values=True,
                    max_num_fields=4,
                    strict_parsing=False,
                )
            )
        except Refused as exc:
            return http.notice(exc.key, exc.status, **exc.params)
        except (UnicodeDecodeError, ValueError):
            return http.notice("link_invalid", 400)
        cookie = await self.logins.redeem(fields.get("token", ""))
        if cookie is None:
            return http.notice("link_invalid", 410)
        resp = web.HTTPSeeOther("../chat", headers=http.PAGE_HEADERS)
        resp.set_cookie(
            COOKIE,
            cookie,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
            max_age=self.settings.web_chat_session_days * 86400,
        )
        raise resp

    @http.api
    async def logout(self, request: web.Request) -> web.StreamResponse:
        if not self.login:
            return http.bad("login_off", 404)
        await self._gate(request, write=True)
        await self.logins.logout(request.cookies.get(COOKIE))
        resp = web.json_response({"ok": True}, headers={"Cache-Control": "no-store"})
        resp.del_cookie(COOKIE, path="/")
        return resp
