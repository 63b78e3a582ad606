"""WeCom callbacks: translate to neutral inbound events and acknowledge at once.

``/wecom/callback`` (self-built app: private messages and card clicks; XML) and
``/wecom/bot`` (智能机器人 in API mode: group @-mentions; JSON ``{"encrypt": …}``,
empty receive id). Every request is verified (signature in constant time, receive id,
padding), the body size is limited and XML entities refused; a valid event is recorded
(deduplicated) and answered with an empty 200, processing happens in the background.
"""
from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from storage.inbound import CLOCK_SKEW

from . import xmlcodec
from .crypto import CryptoError, WeComCrypto

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


class WeComAdapter:
    def __init__(self, dispatcher, app_crypto: WeComCrypto | None,
                 bot_crypto: WeComCrypto | None, max_age: int = 3600, clock=time.time):
        """``max_age``: a callback whose signed timestamp is more than this many seconds
        old (or more than ``CLOCK_SKEW`` ahead) is refused, so a recorded callback cannot
        be replayed once its deduplication row is gone (``storage.inbound.retention``)."""
        self.dispatcher, self.app_crypto, self.bot_crypto = dispatcher, app_crypto, bot_crypto
        self.max_age, self.clock = max_age, clock
        self.refused = 0

    @staticmethod
    def _params(request: web.Request, *names: str) -> list[str] | None:
        values = [request.query.get(n, "") for n in names]
        return values if all(values) else None

    async def _body(self, request: web.Request) -> bytes | None:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return None
        data = await request.content.read(MAX_BODY + 1)
        return None if len(data) > MAX_BODY else data

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused += 1
        log.warning("wecom callback refused: %s", why)
        return web.Response(status=status, text="")

    async def verify_app(self, request: web.Request) -> web.Response:
        return self._verify_url(request, self.app_crypto)

    async def verify_bot(self, request: web.Request) -> web.Response:
        return self._verify_url(request, self.bot_crypto)

    def _verify_url(self, request: web.Request, crypto: WeComCrypto | None) -> web.Response:
        if crypto is None:
            return self._refuse(404, "not configured")
        p = self._params(request, "msg_signature", "timestamp", "nonce", "echostr")
        if p is None:
            return self._refuse(400, "missing parameters")
        try:
            return web.Response(text=crypto.verify_url(*p))
        except CryptoError as exc:
            return self._refuse(403, exc.reason)

    async def _prelude(self, request: web.Request, crypto):
        """(signature params, body) of a callback POST, or the refusal to answer."""
        if crypto is None:
            return self._refuse(404, "not configured")
        p = self._params(request, "msg_signature", "timestamp", "nonce")
        body = await self._body(request)
        if p is None or body is None:
            return self._refuse(400 if body is not None else 413, "parameters or size")
        if not self._fresh(p[1]):
            return self._refuse(403, "timestamp outside the freshness window")
        return p, body

    def _fresh(self, timestamp: str) -> bool:
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            return False
        age = self.clock() - int(timestamp)
        return -CLOCK_SKEW <= age <= self.max_age

    async def app_callback(self, request: web.Request) -> web.Response:
        got = await self._prelude(request, self.app_crypto)
        if isinstance(got, web.Response):
            return got
        p, body = got
        try:
            env = xmlcodec.parse_envelope(body)
            self.app_crypto.verify(p[0], p[1], p[2], env["encrypt"])
            inbound = xmlcodec.to_inbound(xmlcodec.parse_message(
                self.app_crypto.decrypt(env["encrypt"])))
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except xmlcodec.CodecError as exc:
            return self._refuse(400, f"xml: {exc}")
        if inbound is not None:
            await self.dispatcher.receive(inbound)
        return web.Response(text="")

    async def bot_callback(self, request: web.Request) -> web.Response:
        got = await self._prelude(request, self.bot_crypto)
        if isinstance(got, web.Response):
            return got
        p, body = got
        try:
            doc = json.loads(body)
            encrypted = doc["encrypt"] if isinstance(doc, dict) else None
            if not isinstance(encrypted, str):
                raise ValueError("no encrypt field")
            self.bot_crypto.verify(p[0], p[1], p[2], encrypted)
            inbound = xmlcodec.bot_callback_to_inbound(json.loads(
                self.bot_crypto.decrypt(encrypted)))
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except (ValueError, KeyError, TypeError) as exc:   # JSON errors are ValueErrors
            return self._refuse(400, f"json: {exc}")
        if inbound is not None:
            await self.dispatcher.receive(inbound)
        return web.Response(text="")
