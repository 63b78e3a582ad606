"""WeCom server API client: access_token cache and the calls the sender needs.

One token per app (:class:`~bot.messengers.access_token.TokenCache`): fetched
single-flight (concurrent callers wait for one request), refreshed five minutes before
expiry, and on 40014/42001 (invalid or expired early) evicted, fetched again once and the
call retried. The API base is configurable for 政务微信 (a private deployment).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from bot.messengers.access_token import TokenCache

TOKEN_INVALID = {40014, 42001, 42007, 42009}
RATE_LIMITED = {45009, 45033, 45047}


class WeComError(Exception):
    def __init__(self, errcode: int, errmsg: str, body: dict | None = None):
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg, self.body = errcode, errmsg, body or {}


@dataclass
class WeComConfig:
    corp_id: str
    agent_id: int
    secret: str
    api_base: str = "https://qyapi.weixin.qq.com"


class WeComClient:
    def __init__(
        self,
        cfg: WeComConfig,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
    ) -> None:
        self.cfg, self.http, self.clock = cfg, session, clock
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.tokens = TokenCache(self._fetch_token, margin=300, clock=clock)

    def _url(self, path: str) -> str:
        return f"{self.cfg.api_base.rstrip('/')}/cgi-bin/{path}"

    async def token(self, stale: str | None = None) -> str:
        """The app's access_token; ``stale``: the one WeCom just refused (see TokenCache)."""
        return await self.tokens.get(stale)

    async def _fetch_token(self) -> tuple[str, float]:
        async with self.http.get(
            self._url("gettoken"),
            timeout=self.timeout,
            params={"corpid": self.cfg.corp_id, "corpsecret": self.cfg.secret},
        ) as r:
            doc = await r.json(content_type=None)
        if doc.get("errcode", 0) != 0:
            raise WeComError(doc.get("errcode", -1), doc.get("errmsg", ""), doc)
        return doc["access_token"], int(doc.get("expires_in", 7200))

    async def call(self, path: str, body: dict) -> dict:
        token = await self.token()
        for attempt in (1, 2):
            async with self.http.post(
                self._url(path), params={"access_token": token}, json=body, timeout=self.timeout
            ) as r:
                if r.status >= 500:
                    raise WeComError(-r.status, f"HTTP {r.status}")
                doc = await r.json(content_type=None)
            code = doc.get("errcode", 0)
            if code in TOKEN_INVALID and attempt == 1:
                token = await self.token(stale=token)
                continue
            if code != 0:
                raise WeComError(code, doc.get("errmsg", ""), doc)
            return doc
        raise AssertionError("unreachable")

    async def send(self, body: dict) -> dict:
        return await self.call("message/send", body)

    async def update_card(self, body: dict) -> dict:
        return await self.call("message/update_template_card", body)

    async def post_url(self, url: str, body: dict) -> dict:
        """POST to a one-time URL given by WeCom (智能机器人 response_url)."""
        async with self.http.post(url, json=body, timeout=self.timeout) as r:
            doc = await r.json(content_type=None)
        if doc.get("errcode", 0) != 0:
            raise WeComError(doc.get("errcode", -1), doc.get("errmsg", ""), doc)
        return doc
