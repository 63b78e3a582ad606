"""The web chat's HTTP helpers: answers (JSON refusals, pages, notices) and who asks
(Host, Origin, content type)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from bot.httpin import Refused
from bot.text import render, t

PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # a login link never leaves in a Referer; posts of the page still carry their Origin
    # (under no-referrer a browser sends "Origin: null", which origin_ok refuses)
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

H = TypeVar("H")


def bad(reason_key: str, status: int = 400, **params: Any) -> web.Response:
    """A refusal of the JSON API: ``{"ok": false, "error": <Chinese>}``."""
    return web.json_response(
        {"ok": False, "error": t(f"webchat.{reason_key}", **params)},
        status=status,
        headers={"Cache-Control": "no-store"},
    )


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    return web.Response(
        text=render(template, **context),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=PAGE_HEADERS,
    )


def notice(key: str, status: int, **params: Any) -> web.Response:
    """A short Chinese page: a refusal, or what to do next."""
    return page("webchat_notice.html", status, message=t(f"webchat.{key}", **params))


def api(
    method: Callable[[H, web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[H, web.Request], Awaitable[web.StreamResponse]]:
    """An API handler: a refusal of bot/httpin.py (or of who may ask) becomes a 4xx with
    a Chinese ``error``."""

    @functools.wraps(method)
    async def wrapper(self: H, request: web.Request) -> web.StreamResponse:
        try:
            return await method(self, request)
        except Refused as exc:
            return bad(exc.key, exc.status, **exc.params)

    return wrapper


def host_name(host: str) -> str:
    """The name of a Host header without its port ("[::1]:8080" → "::1")."""
    h = (host or "").strip()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else ""
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def host(request: web.Request) -> str:
    """The Host header as sent ("" when absent; ``request.host`` would then ask the
    resolver for this machine's name, blocking the event loop)."""
    return request.headers.get("Host", "")


def json_request(request: web.Request) -> bool:
    return request.content_type == "application/json"


def origin_ok(request: web.Request, public_base: str | None) -> bool:
    """A post from a page of this service (its Host, or its public address), or from no
    page at all (no Origin)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    own = {host(request)}
    if public_base is not None:
        own.add(urlsplit(public_base).netloc)
    return netloc in own
