"""DingTalk server API client: the app's access token and the calls the sender needs.

The token (``POST /v1.0/oauth2/accessToken``) is cached until ``expireIn`` − 300 s and
fetched single-flight (:class:`~bot.messengers.access_token.TokenCache`); a call answered
401 (a token revoked or expired early) evicts it, fetches a new one once and is retried.
Throttling (HTTP 429, QPS-limit codes, 90002/90018/90019) is retried after a short
backoff, a bounded number of times, then raised as
``DingTalkError(throttled=True)`` for the relay to retry later. The API base is
configurable (专有钉钉 and government deployments run their own hosts).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from bot.messengers.access_token import TokenCache

DEFAULT_API_BASE = "https://api.dingtalk.com"
THROTTLE_CODES = {"90002", "90018", "90019", "130101"}
TOKEN_HEADER = "x-acs-dingtalk-access-token"


class DingTalkError(Exception):
    def __init__(self, status: int, code: str, message: str, throttled: bool = False):
        super().__init__(f"{status} {code} {message}".strip())
        self.status, self.code, self.message = status, code, message
        self.throttled = throttled


def is_throttled(status: int, code: str) -> bool:
    return (
        status == 429
        or code in THROTTLE_CODES
        or "QpsLimit" in code
        or "Throttling" in code
        or "RateLimit" in code
    )


@dataclass
class DingTalkConfig:
    app_key: str
    app_secret: str
    robot_code: str
    api_base: str = DEFAULT_API_BASE


class DingTalkClient:
    def __init__(
        self,
        cfg: DingTalkConfig,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.cfg, self.http, self.clock = cfg, session, clock
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.tokens = TokenCache(self._fetch_token, margin=300, clock=clock)

    def url(self, path: str) -> str:
        return f"{self.cfg.api_base.rstrip('/')}{path}"

    async def token(self, stale: str | None = None) -> str:
        """The app's access token; ``stale``: the one just refused (see TokenCache)."""
        return await self.tokens.get(stale)

    async def _fetch_token(self) -> tuple[str, float]:
        async with self.http.post(
            self.url("/v1.0/oauth2/accessToken"),
            timeout=self.timeout,
            json={"appKey": self.cfg.app_key, "appSecret": self.cfg.app_secret},
        ) as r:
            doc = await r.json(content_type=None)
            status = r.status
        if status != 200 or not isinstance(doc, dict) or not doc.get("accessToken"):
            doc = doc if isinstance(doc, dict) else {}
            raise DingTalkError(status, str(doc.get("code", "")), str(doc.get("message", "")))
        return str(doc["accessToken"]), int(doc.get("expireIn", 7200))

    async def call(self, method: str, path: str, body: dict) -> dict:
        """One API call; token refreshed once on 401, throttling retried with backoff."""
        token = await self.token()
        refreshed, throttled = False, 0
        while True:
            async with self.http.request(
                method,
                self.url(path),
                json=body,
                timeout=self.timeout,
                headers={TOKEN_HEADER: token},
            ) as r:
                status = r.status
                doc = await r.json(content_type=None) if r.content_length != 0 else {}
            doc = doc if isinstance(doc, dict) else {}
            if status == 200:
                return doc
            code = str(doc.get("code", ""))
            if status == 401 and not refreshed:
                refreshed = True
                token = await self.token(stale=token)
                continue
            if is_throttled(status, code):
                if throttled < self.retries:
                    throttled += 1
                    delay = self.backoff * 2 ** (throttled - 1)
                    await self.sleep(delay * (0.8 + 0.4 * random.random()))
                    continue
                raise DingTalkError(status, code, str(doc.get("message", "")), throttled=True)
            raise DingTalkError(status, code, str(doc.get("message", "")))

    async def open_connection(self, subscriptions: list[dict]) -> dict:
        """Stream mode: a WebSocket endpoint and its ticket (AppKey/AppSecret, no token)."""
        async with self.http.post(
            self.url("/v1.0/gateway/connections/open"),
            timeout=self.timeout,
            json={
                "clientId": self.cfg.app_key,
                "clientSecret": self.cfg.app_secret,
                "subscriptions": subscriptions,
                "ua": "shuangsuiji",
                "localIp": "",
            },
        ) as r:
            doc = await r.json(content_type=None)
            if (
                r.status != 200
                or not isinstance(doc, dict)
                or not (doc.get("endpoint") and doc.get("ticket"))
            ):
                raise DingTalkError(r.status, "", "connection not opened")
            return doc
