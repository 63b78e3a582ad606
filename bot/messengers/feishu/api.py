"""Feishu open platform client: tenant_access_token cache and the calls the sender needs.

One token per app (:class:`~bot.messengers.access_token.TokenCache`), fetched
single-flight (concurrent callers wait for one request) and refreshed before it has less
than half an hour left (Feishu issues a new one then); on 99991663/99991661 (invalid or
expired token) it is evicted, fetched again once, and the call retried. Throttling (HTTP
429 or code 99991400) raises :class:`RateLimited` with the seconds of
``x-ogw-ratelimit-reset``. The API base is configurable (Feishu or Lark).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.messengers.access_token import TokenCache

FEISHU = "https://open.feishu.cn"
LARK = "https://open.larksuite.com"
TOKEN_INVALID = {99991663, 99991661, 99991668}
RATE_LIMITED = 99991400
REFRESH_MARGIN = 1800  # seconds before expiry a token is replaced


class FeishuError(Exception):
    def __init__(self, code: int, msg: str, body: dict | None = None):
        super().__init__(f"{code} {msg}")
        self.code, self.msg, self.body = code, msg, body or {}


class RateLimited(FeishuError):
    def __init__(self, code: int, msg: str, reset: float):
        super().__init__(code, msg)
        self.reset = reset


@dataclass(frozen=True)
class FeishuConfig:
    app_id: str
    app_secret: str
    api_base: str = FEISHU


def _reset_seconds(headers: Any) -> float:
    raw = headers.get("x-ogw-ratelimit-reset", "")
    try:
        return min(max(float(raw), 0.0), 3600.0)
    except ValueError:
        return 1.0


def _refuse_status(r: aiohttp.ClientResponse) -> None:
    """Throttling (HTTP 429, with Feishu's reset seconds) and server errors, before the
    body is read."""
    if r.status == 429:
        raise RateLimited(429, "HTTP 429", _reset_seconds(r.headers))
    if r.status >= 500:
        raise FeishuError(-r.status, f"HTTP {r.status}")


class FeishuClient:
    def __init__(
        self,
        cfg: FeishuConfig,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
    ):
        self.cfg, self.http, self.clock = cfg, session, clock
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.tokens = TokenCache(self._fetch_token, margin=REFRESH_MARGIN, clock=clock)

    def _url(self, path: str) -> str:
        return f"{self.cfg.api_base.rstrip('/')}/open-apis/{path}"

    async def token(self, stale: str | None = None) -> str:
        """The current token; ``stale``: the one Feishu just refused, evicted unless
        another caller already replaced it (single flight, see TokenCache)."""
        return await self.tokens.get(stale)

    async def _fetch_token(self) -> tuple[str, float]:
        async with self.http.post(
            self._url("auth/v3/tenant_access_token/internal"),
            json={"app_id": self.cfg.app_id, "app_secret": self.cfg.app_secret},
            timeout=self.timeout,
        ) as r:
            _refuse_status(r)
            doc = await r.json(content_type=None)
        if (
            not isinstance(doc, dict)
            or doc.get("code", -1) != 0
            or not isinstance(doc.get("tenant_access_token"), str)
        ):
            code = doc.get("code", -1) if isinstance(doc, dict) else -1
            raise FeishuError(code, str(doc.get("msg", "")) if isinstance(doc, dict) else "")
        return doc["tenant_access_token"], int(doc.get("expire", 7200))

    async def call(
        self, method: str, path: str, body: dict, params: dict[str, str] | None = None
    ) -> dict:
        token = await self.token()
        for attempt in (1, 2):
            async with self.http.request(
                method,
                self._url(path),
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
            ) as r:
                _refuse_status(r)
                doc = await r.json(content_type=None)
                if not isinstance(doc, dict):
                    raise FeishuError(-1, "not a JSON object")
                code = doc.get("code", -1)
                if code == RATE_LIMITED:
                    raise RateLimited(code, str(doc.get("msg", "")), _reset_seconds(r.headers))
            if code in TOKEN_INVALID and attempt == 1:
                token = await self.token(stale=token)
                continue
            if code != 0:
                raise FeishuError(code, str(doc.get("msg", "")), doc)
            return doc
        raise AssertionError("unreachable")

    async def send(
        self, receive_id_type: str, receive_id: str, msg_type: str, content: str, uuid: str
    ) -> str:
        """``im/v1/messages``; the new message's id. ``uuid``: Feishu drops a second
        request with the same one within an hour (the first message's id is returned)."""
        doc = await self.call(
            "POST",
            "im/v1/messages",
            {"receive_id": receive_id, "msg_type": msg_type, "content": content, "uuid": uuid},
            params={"receive_id_type": receive_id_type},
        )
        data = doc.get("data")
        return str(data.get("message_id", "")) if isinstance(data, dict) else ""

    async def update_card(self, message_id: str, content: str) -> None:
        """PATCH a card the app sent (within 14 days of sending)."""
        await self.call("PATCH", f"im/v1/messages/{message_id}", {"content": content})
