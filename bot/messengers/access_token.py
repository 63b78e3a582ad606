"""An API access token shared by a messenger's calls: fetched single flight, replaced
before it expires, evicted when the network refuses it.

WeCom's ``access_token``, DingTalk's ``accessToken`` and Feishu's
``tenant_access_token`` all work alike: a request with the app's secret returns a token
and its lifetime in seconds; every call carries it; the network may refuse it before
its time (a token revoked, or replaced by a newer one). Each client keeps one
:class:`TokenCache` and gives it a ``fetch`` that makes that request (and raises the
messenger's own error when it fails).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Fetch = Callable[[], Awaitable[tuple[str, float]]]


class TokenCache:
    """One token: ``await cache.get()`` is the current one.

    ``fetch`` returns (token, lifetime in seconds); the token is used until ``margin``
    seconds before it expires, and at least ``floor`` seconds (a lifetime shorter than
    the margin is not refetched on every call). Concurrent callers wait for one fetch
    (single flight). A failed fetch raises to the callers waiting on it and caches
    nothing; so does an empty token. ``clock`` is monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        fetch: Fetch,
        margin: float,
        clock: Callable[[], float] = time.monotonic,
        floor: float = 60.0,
    ) -> None:
        self._fetch, self.margin, self.clock, self.floor = fetch, margin, clock, floor
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # fetches started, for tests and diagnostics

    def _valid(self, stale: str | None) -> str | None:
        token = self._token
        if token and token != stale and self.clock() < self._expires:
            return token
        return None

    async def get(self, stale: str | None = None) -> str:
        """The current token. ``stale``: the token the network just refused; it is
        evicted and a new one fetched, unless another caller already replaced it."""
        token = self._valid(stale)
        if token:
            return token
        async with self._lock:
            # another caller may have fetched while this one waited (single flight)
            token = self._valid(stale)
            if token:
                return token
            self._token = None
            self.fetches += 1
            token, lifetime = await self._fetch()
            self._token = token
            self._expires = self.clock() + max(self.floor, lifetime - self.margin)
            return token
