"""WeCom callbacks: translate to neutral inbound events and acknowledge at once.

``/wecom/callback`` (self-built app: private messages and card clicks; XML) and
``/wecom/bot`` (智能机器人 in API mode: group @-mentions; JSON ``{"encrypt": …}``,
empty receive id). Every request is verified (signature in constant time, receive id,
padding), the body size is limited and XML entities refused; a valid event is handed to
the injected receiver (``bot.messengers.Receiver``: recorded, deduplicated) and answered
with an empty 200, processing happens in the background.

Hostile input is refused before any work: query parameters must have the shape WeCom
gives them (hex signature, decimal timestamp, short nonce, base64), checked before any
hashing; the 智能机器人's JSON body is not parsed before its signature is checked (the
``encrypt`` field is taken from the flat envelope by a pattern), and the decrypted JSON
passes the same nesting and character checks as the web chat's (bot/httpin.py). A
refusal is a 4xx with a short Chinese text.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import NamedTuple

from aiohttp import web

from bot import httpin
from bot.messengers import Freshness, Receiver, callback
from bot.text import t

from . import xmlcodec
from .crypto import CryptoError, WeComCrypto

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
# what WeCom's query parameters look like; anything else is refused before any hashing
_PARAM_SHAPES = {
    "msg_signature": re.compile(r"[0-9A-Fa-f]{1,64}"),
    "timestamp": re.compile(r"[0-9]{1,20}"),
    "nonce": re.compile(r"[!-~]{1,128}"),
    "echostr": re.compile(rf"[A-Za-z0-9+/=]{{1,{MAX_BODY}}}"),
}


class _Callback(NamedTuple):
    """A callback POST past its first checks (configured, parameters, size, freshness)."""

    crypto: WeComCrypto
    signature: str
    timestamp: str
    nonce: str
    body: bytes


class WeComAdapter:
    def __init__(
        self,
        receiver: Receiver,
        app_crypto: WeComCrypto | None,
        bot_crypto: WeComCrypto | None,
        freshness: Freshness,
        clock: Callable[[], float] = time.time,
    ):
        """``freshness``: a callback whose signed timestamp is older, or further ahead,
        than it allows is refused, so a recorded callback cannot be replayed once its
        deduplication row is gone."""
        self.receiver, self.app_crypto, self.bot_crypto = receiver, app_crypto, bot_crypto
        self.freshness, self.clock = freshness, clock
        self.refused = 0

    @staticmethod
    def _params(request: web.Request, *names: str) -> list[str] | None:
        values = [request.query.get(n, "") for n in names]
        ok = all(v and _PARAM_SHAPES[n].fullmatch(v) for n, v in zip(names, values, strict=True))
        return values if ok else None

    async def _body(self, request: web.Request) -> bytes | httpin.Refused:
        try:
            return await httpin.read_body(request, MAX_BODY)
        except httpin.Refused as exc:  # too large, or a broken encoding
            return exc

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused += 1
        log.warning("wecom callback refused: %s", why)
        return web.Response(status=status, text=t("http.wecom_refused", status=status))

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

    async def _prelude(
        self, request: web.Request, crypto: WeComCrypto | None
    ) -> _Callback | web.Response:
        """The crypto, signature params and body of a callback POST, or the refusal."""
        if crypto is None:
            return self._refuse(404, "not configured")
        p = self._params(request, "msg_signature", "timestamp", "nonce")
        if p is None:
            return self._refuse(400, "parameters")
        body = await self._body(request)
        if isinstance(body, httpin.Refused):
            return self._refuse(body.status, body.key)
        if not self._fresh(p[1]):
            return self._refuse(403, "timestamp outside the freshness window")
        return _Callback(crypto, p[0], p[1], p[2], body)

    def _fresh(self, timestamp: str) -> bool:
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            return False
        return self.freshness.holds(int(timestamp), self.clock())

    async def app_callback(self, request: web.Request) -> web.Response:
        got = await self._prelude(request, self.app_crypto)
        if isinstance(got, web.Response):
            return got
        try:
            env = xmlcodec.parse_envelope(got.body)
            got.crypto.verify(got.signature, got.timestamp, got.nonce, env["encrypt"])
            inbound = xmlcodec.to_inbound(
                xmlcodec.parse_message(got.crypto.decrypt(env["encrypt"]))
            )
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except xmlcodec.CodecError as exc:
            return self._refuse(400, f"xml: {exc}")
        if inbound is not None:
            if not callback.fits(inbound):
                return self._refuse(400, "fields")
            await self.receiver.receive(inbound)
        return web.Response(text="")

    async def bot_callback(self, request: web.Request) -> web.Response:
        got = await self._prelude(request, self.bot_crypto)
        if isinstance(got, web.Response):
            return got
        # the 智能机器人's envelope {"encrypt": "<base64>"}: flat, one such field
        encrypted = callback.encrypted_field(got.body, MAX_BODY)
        if encrypted is None:
            return self._refuse(400, "envelope")
        try:
            # the signature first: nothing of the body is parsed before it holds
            got.crypto.verify(got.signature, got.timestamp, got.nonce, encrypted)
            doc = httpin.parse_json(got.crypto.decrypt(encrypted).encode("utf-8"))
            if not httpin.all_clean(doc):
                raise ValueError("NUL or a lone surrogate")
            inbound = xmlcodec.bot_callback_to_inbound(doc)
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except httpin.Refused as exc:
            return self._refuse(exc.status, f"json: {exc.key}")
        except (ValueError, KeyError, TypeError) as exc:  # CodecError is a ValueError
            return self._refuse(400, f"json: {exc}")
        if inbound is not None:
            if not callback.fits(inbound):
                return self._refuse(400, "fields")
            await self.receiver.receive(inbound)
        return web.Response(text="")
