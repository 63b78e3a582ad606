"""Feishu event callbacks (HTTP mode, ``/feishu/events``): verify, translate, record.

Every request is checked before any work: the body is at most ``MAX_BODY`` bytes and
must be the flat envelope ``{"encrypt": "<base64>"}`` (found by a pattern, not parsed);
the signature headers must have Feishu's shape, the request timestamp must be fresh,
and ``X-Lark-Signature`` must match (constant time) before anything is decrypted. Only
``url_verification`` comes unsigned: it is answered (its challenge echoed at once) when
it decrypts with the Encrypt Key and carries the Verification Token. The decrypted JSON
passes the web chat's nesting and character checks (bot/httpin.py); an event must carry
the Verification Token and be at most ``EVENT_MAX_AGE`` old (Feishu retries for 6 h;
its deduplication row is kept longer, see ``RETENTION``). A message or a card click is
recorded durably (deduplicated on its message or event id) and answered ``{}`` at once;
the handlers run in the background and update the card through the outbox.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta

from aiohttp import web

from bot import httpin
from bot.messengers import Freshness, Receiver, callback
from bot.text import t

from . import codec
from .crypto import CryptoError, FeishuCrypto

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024
REQUEST_MAX_AGE = 3600  # a signed request's timestamp, seconds
EVENT_MAX_AGE = 7 * 3600  # an event's create_time: Feishu's last retry is at ~6 h
# how long a handled event's deduplication row must stay (≥ 8 h: an event is accepted
# while at most EVENT_MAX_AGE old, plus clock skew both ways, plus an hour's margin)
RETENTION = timedelta(seconds=EVENT_MAX_AGE + 2 * 300 + 3600)
_HEADERS = {
    "X-Lark-Request-Timestamp": re.compile(r"[0-9]{1,12}"),
    "X-Lark-Request-Nonce": re.compile(r"[!-~]{1,128}"),
    "X-Lark-Signature": re.compile(r"[0-9a-fA-F]{64}"),
}


class Refusal(Exception):
    def __init__(self, status: int, why: str):
        super().__init__(why)
        self.status, self.why = status, why


class FeishuEvents:
    def __init__(
        self,
        recorder: Receiver,
        crypto: FeishuCrypto,
        verification_token: str,
        request_fresh: Freshness,
        event_fresh: Freshness,
        clock: Callable[[], float] = time.time,
    ):
        """``request_fresh``: the window of a signed request's timestamp (a replay is
        refused past it); ``event_fresh``: that of an event's ``create_time``."""
        self.recorder, self.crypto, self.clock = recorder, crypto, clock
        self.request_fresh, self.event_fresh = request_fresh, event_fresh
        self._token = verification_token.encode("utf-8")
        self.refused = 0

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refused += 1
        log.warning("feishu callback refused: %s", why)
        return web.Response(status=status, text=t("feishu.refused", status=status))

    def _token_ok(self, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode("utf-8"), self._token)

    async def events(self, request: web.Request) -> web.Response:
        try:
            body = await httpin.read_body(request, MAX_BODY)
        except httpin.Refused as exc:
            return self._refuse(exc.status, exc.key)
        try:
            doc, signed = self._open(request, body)
            if doc.get("type") == "url_verification":
                if not self._token_ok(doc.get("token")) or not isinstance(
                    doc.get("challenge"), str
                ):
                    raise Refusal(403, "url_verification token")
                return web.json_response({"challenge": doc["challenge"]})
            if not signed:
                raise Refusal(403, "unsigned event")
            env = codec.envelope(doc)
            if not self._token_ok(env.token):
                raise Refusal(403, "verification token")
            if env.create_time_ms and not self.event_fresh.holds(
                env.create_time_ms / 1000, self.clock()
            ):
                raise Refusal(403, "event too old")
            inbound = codec.to_inbound(env)
        except Refusal as exc:
            return self._refuse(exc.status, exc.why)
        except CryptoError as exc:
            return self._refuse(403, exc.reason)
        except httpin.Refused as exc:
            return self._refuse(exc.status, f"json: {exc.key}")
        except (ValueError, KeyError, TypeError) as exc:  # CodecError is a ValueError
            return self._refuse(400, f"event: {exc}")
        if inbound is not None:
            if not callback.fits(inbound):
                return self._refuse(400, "fields")
            await self.recorder.receive(inbound)
        return web.json_response({})

    def _open(self, request: web.Request, body: bytes) -> tuple[dict, bool]:
        """The decrypted event and whether its request was signed (and the signature held)."""
        encrypted = callback.encrypted_field(body, MAX_BODY)
        if encrypted is None:
            raise Refusal(400, "envelope")
        names = list(_HEADERS)
        values = [request.headers.get(n, "") for n in names]
        signed = any(values)
        if signed:
            if not all(_HEADERS[n].fullmatch(v) for n, v in zip(names, values, strict=True)):
                raise Refusal(400, "signature headers")
            if not self.request_fresh.holds(int(values[0]), self.clock()):
                raise Refusal(403, "timestamp outside the freshness window")
            self.crypto.verify(values[0], values[1], body, values[2])
        doc = httpin.parse_json(self.crypto.decrypt(encrypted).encode("utf-8"))
        if not isinstance(doc, dict) or not httpin.all_clean(doc):
            raise Refusal(400, "json")
        return doc, signed
