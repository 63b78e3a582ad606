"""The messengers' access-token cache (bot/messengers/access_token.py): one fetch for
concurrent callers, a new token before the old one expires (an injected clock), a refused
token evicted and fetched again once however many callers report it, failures cached
never."""

from __future__ import annotations

import asyncio

import pytest

from bot.messengers.access_token import TokenCache


class Issuer:
    """The network's token endpoint: T1, T2, … each valid for ``lifetime`` seconds; a
    fetch takes a little while (so callers pile up) and can be told to fail."""

    def __init__(self, lifetime: float = 7200.0) -> None:
        self.lifetime = lifetime
        self.issued = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail: list[Exception] = []

    async def fetch(self) -> tuple[str, float]:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if self.fail:
                raise self.fail.pop(0)
            self.issued += 1
            return f"T{self.issued}", self.lifetime
        finally:
            self.in_flight -= 1


@pytest.fixture
def clock():
    now = [1000.0]
    return now


def cache_for(issuer: Issuer, now: list[float], margin: float = 300) -> TokenCache:
    return TokenCache(issuer.fetch, margin=margin, clock=lambda: now[0])


async def test_concurrent_callers_share_one_fetch(clock):
    issuer = Issuer()
    cache = cache_for(issuer, clock)
    tokens = await asyncio.gather(*(cache.get() for _ in range(20)))
    assert tokens == ["T1"] * 20
    assert issuer.issued == 1 and issuer.most_in_flight == 1 and cache.fetches == 1
    assert await cache.get() == "T1" and issuer.issued == 1  # cached afterwards


async def test_refreshed_margin_seconds_before_expiry(clock):
    issuer = Issuer(lifetime=7200)
    cache = cache_for(issuer, clock, margin=300)
    assert await cache.get() == "T1"
    clock[0] += 7200 - 300 - 0.5
    assert await cache.get() == "T1" and issuer.issued == 1
    clock[0] += 1  # inside the margin: replaced, though the network would still take it
    assert await cache.get() == "T2" and issuer.issued == 2
    clock[0] += 6899
    assert await cache.get() == "T2"
    clock[0] += 2
    tokens = await asyncio.gather(*(cache.get() for _ in range(5)))
    assert tokens == ["T3"] * 5 and issuer.issued == 3 and issuer.most_in_flight == 1


async def test_a_lifetime_shorter_than_the_margin_is_kept_for_the_floor(clock):
    issuer = Issuer(lifetime=120)
    cache = TokenCache(issuer.fetch, margin=1800, clock=lambda: clock[0], floor=60)
    assert await cache.get() == "T1"
    clock[0] += 59
    assert await cache.get() == "T1" and issuer.issued == 1
    clock[0] += 2
    assert await cache.get() == "T2"


async def test_a_refused_token_is_evicted_and_fetched_again_once(clock):
    issuer = Issuer()
    cache = cache_for(issuer, clock)
    assert await cache.get() == "T1"
    # every caller that was refused T1 reports it at once: one new fetch between them
    tokens = await asyncio.gather(*(cache.get(stale="T1") for _ in range(10)))
    assert tokens == ["T2"] * 10 and issuer.issued == 2 and issuer.most_in_flight == 1
    # a late report of T1 (already replaced) costs nothing
    assert await cache.get(stale="T1") == "T2" and issuer.issued == 2
    # a caller that saw the new one refused too replaces it again
    assert await cache.get(stale="T2") == "T3" and issuer.issued == 3
    assert await cache.get() == "T3"


async def test_a_failed_fetch_raises_and_caches_nothing(clock):
    issuer = Issuer()
    cache = cache_for(issuer, clock)
    assert await cache.get() == "T1"
    issuer.fail = [RuntimeError("secret refused")]
    with pytest.raises(RuntimeError, match="secret refused"):
        await cache.get(stale="T1")
    # the refused token is gone: the next caller fetches instead of using it again
    assert await cache.get() == "T2" and issuer.issued == 2 and cache.fetches == 3


async def test_concurrent_waiters_after_a_failed_fetch_try_again(clock):
    issuer = Issuer()
    cache = cache_for(issuer, clock)
    issuer.fail = [RuntimeError("down")]
    got = await asyncio.gather(*(cache.get() for _ in range(4)), return_exceptions=True)
    # the first caller's fetch failed; the ones waiting behind it fetch once more, together
    assert isinstance(got[0], RuntimeError)
    assert got[1:] == ["T1"] * 3 and issuer.issued == 1 and issuer.most_in_flight == 1


async def test_an_empty_token_is_not_cached(clock):
    answers = [("", 7200.0), ("T", 7200.0)]

    async def fetch() -> tuple[str, float]:
        return answers.pop(0)

    cache = TokenCache(fetch, margin=300, clock=lambda: clock[0])
    assert await cache.get() == ""
    assert await cache.get() == "T" and answers == []
