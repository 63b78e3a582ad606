"""DingTalk's HTTP callbacks at ``/dingtalk/events``: translate, record, acknowledge.

Two forms reach the route:

- the **event subscription** (query ``msg_signature``/``signature``, ``timestamp``,
  ``nonce``; body ``{"encrypt": …}``): the signature is checked before anything of the
  body is parsed (the ``encrypt`` field is taken from the flat envelope by a pattern),
  then the envelope is decrypted (owner key = AppKey/CorpId) and answered with the
  encrypted "success";
- the **robot outgoing callback** (headers ``timestamp`` in ms and ``sign`` =
  HMAC-SHA256 of the AppSecret): the signature covers only the timestamp, so the body is
  read only after it holds and within the window, and the message is deduplicated on its
  msgId by the durable inbound record.

Both are refused when older than ``max_age`` (1 h) or dated ahead of the clock, too large,
malformed, or holding text no column takes: a refusal is a 4xx with a short Chinese text
and records nothing. The injected ``Receiver`` is the durable inbound record.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from bot import httpin
from bot.messages import Inbound
from bot.messengers import callback
from bot.text import t

from . import codec
from .crypto import CryptoError, EventCrypto, robot_sign_ok

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
CLOCK_SKEW = 300  # seconds a callback may be dated ahead of our clock
_SHAPES = {
    "signature": re.compile(r"[0-9A-Fa-f]{40}"),
    "timestamp": re.compile(r"[0-9]{10,13}"),
    "nonce": re.compile(r"[!-~]{1,128}"),
    "sign": re.compile(r"[A-Za-z0-9+/=]{20,100}"),
}


class Receiver(Protocol):
    """The durable inbound record (``bot.messengers.Receiver``, the dispatcher): returns
    once the event is committed; False when it was received before."""

    async def receive(self, ib: Inbound) -> bool: ...


class DingTalkHttpAdapter:
    def __init__(
        self,
        receiver: Receiver,
        crypto: EventCrypto | None,
        app_secret: str,
        max_age: float = 3600,
        skew: float = CLOCK_SKEW,
        clock: Callable[[], float] = time.time,
    ):
        """A callback signed more than ``max_age`` seconds ago, or more than ``skew``
        ahead, is refused: its deduplication row may be gone, so a replay could pass."""
        self.receiver, self.crypto, self.app_secret = receiver, crypto, app_secret
        self.max_age, self.skew, self.clock = max_age, skew, clock
        self.refused = 0

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused += 1
        log.warning("dingtalk callback refused: %s", why)
        return web.Response(status=status, text=t("dingtalk.refused", status=status))

    def _fresh(self, timestamp: str) -> bool:
        """A timestamp in ms (robot) or s/ms (events) within the window."""
        if not _SHAPES["timestamp"].fullmatch(timestamp):
            return False
        value = int(timestamp)
        seconds = value / 1000 if len(timestamp) == 13 else value
        age = self.clock() - seconds
        return -self.skew <= age <= self.max_age

    async def events(self, request: web.Request) -> web.Response:
        if "sign" in request.headers and not request.query.get("nonce"):
            return await self._robot(request)
        return await self._subscription(request)

    async def _record(self, inbound: Inbound | None) -> web.Response | None:
        if inbound is None:
            return None
        if not callback.fits(inbound):
            return self._refuse(400, "fields")
        await self.receiver.receive(inbound)
        return None

    async def _robot(self, request: web.Request) -> web.Response:
        ts, sign = request.headers.get("timestamp", ""), request.headers.get("sign", "")
        if not (_SHAPES["timestamp"].fullmatch(ts) and _SHAPES["sign"].fullmatch(sign)):
            return self._refuse(400, "robot headers")
        if not self.app_secret or not robot_sign_ok(self.app_secret, ts, sign):
            return self._refuse(403, "robot sign")
        if not self._fresh(ts):
            return self._refuse(403, "robot timestamp outside the window")
        try:
            doc = httpin.parse_json(await httpin.read_body(request, MAX_BODY))
            if not httpin.all_clean(doc):
                raise ValueError("NUL or a lone surrogate")
            inbound = codec.robot_message(doc)
        except httpin.Refused as exc:
            return self._refuse(exc.status, f"json: {exc.key}")
        except ValueError as exc:  # CodecError is one
            return self._refuse(400, f"robot message: {exc}")
        refused = await self._record(inbound)
        return refused or web.json_response({})

    async def _subscription(self, request: web.Request) -> web.Response:
        if self.crypto is None:
            return self._refuse(404, "event subscription not configured")
        signature = request.query.get("msg_signature") or request.query.get("signature", "")
        ts, nonce = request.query.get("timestamp", ""), request.query.get("nonce", "")
        if not (
            _SHAPES["signature"].fullmatch(signature)
            and _SHAPES["nonce"].fullmatch(nonce)
            and _SHAPES["timestamp"].fullmatch(ts)
        ):
            return self._refuse(400, "parameters")
        try:
            body = await httpin.read_body(request, MAX_BODY)
        except httpin.Refused as exc:
            return self._refuse(exc.status, exc.key)
        encrypted = callback.encrypted_field(body, MAX_BODY)
        if encrypted is None:
            return self._refuse(400, "envelope")
        try:
            # the signature first: nothing of the body is parsed before it holds
            self.crypto.verify(signature, ts, nonce, encrypted)
            if not self._fresh(ts):
                return self._refuse(403, "timestamp outside the window")
            doc = httpin.parse_json(self.crypto.decrypt(encrypted).encode("utf-8"))
            if not isinstance(doc, dict) or not httpin.all_clean(doc):
                raise ValueError("not a clean JSON object")
            inbound = _event_inbound(doc)
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except httpin.Refused as exc:
            return self._refuse(exc.status, f"json: {exc.key}")
        except ValueError as exc:
            return self._refuse(400, f"event: {exc}")
        refused = await self._record(inbound)
        return refused or web.json_response(self.crypto.reply("success", ts, nonce))


def _event_inbound(doc: dict) -> Inbound | None:
    """An event subscription's plaintext: robot messages and card clicks become inbound
    events; check_url and every other event are only acknowledged."""
    if "msgtype" in doc and "senderStaffId" in doc:
        return codec.robot_message(doc)
    if "outTrackId" in doc and "content" in doc:
        return codec.card_callback(doc)
    return None
