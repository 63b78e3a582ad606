"""WeCom server API client: access_token cache and the calls the sender needs.

One token per app, fetched single-flight (concurrent callers wait for one request),
refreshed before expiry, and on 40014/42001 (invalid or expired early) refreshed once
and the call retried. The API base is configurable for 政务微信 (a private deployment).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

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
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.token_fetches = 0

    def _url(self, path: str) -> str:
        return f"{self.cfg.api_base.rstrip('/')}/cgi-bin/{path}"

    async def token(self, force: bool = False, stale: str | None = None) -> str:
        if not force and self._token and self.clock() < self._expires:
            return self._token
        async with self._lock:
            # another caller may have refreshed while we waited (single flight)
            if self._token and self.clock() < self._expires and (not force or self._token != stale):
                return self._token
            async with self.http.get(
                self._url("gettoken"),
                timeout=self.timeout,
                params={"corpid": self.cfg.corp_id, "corpsecret": self.cfg.secret},
            ) as r:
                doc = await r.json(content_type=None)
            self.token_fetches += 1
            if doc.get("errcode", 0) != 0:
                raise WeComError(doc.get("errcode", -1), doc.get("errmsg", ""), doc)
            self._token = doc["access_token"]
            # refresh five minutes early
            self._expires = self.clock() + max(60, int(doc.get("expires_in", 7200)) - 300)
            return self._token

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
                token = await self.token(force=True, stale=token)
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
