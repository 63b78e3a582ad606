"""The durable outbox and its relay: order, retries with backoff, pacing, parking, leases."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.messages import Outbound
from bot.services import outbox
from bot.services.outbox import Relay, SendError
from storage import migrate
from storage.db import make_engine, session_factory
from storage.models_chat import OutboxMessage


class FakeSender:
    def __init__(self, pace=0.0):
        self.pace_seconds = pace
        self.sent: list[tuple[str, str]] = []
        self.fail: dict[str, list[Exception]] = {}

    async def send(self, msg: Outbound, outbox_id: int) -> str:
        errors = self.fail.get(msg.text)
        if errors:
            raise errors.pop(0)
        self.sent.append((msg.to, msg.text))
        return f"ext{outbox_id}"


class Clock:
    def __init__(self):
        self.now = datetime(2027, 1, 4, 9, 0)

    def __call__(self):
        return self.now


@pytest.fixture
async def sf(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


async def _enqueue(sf, *msgs):
    async with sf() as s, s.begin():
        await outbox.enqueue(s, list(msgs))


async def _rows(sf):
    async with sf() as s:
        return (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()


async def test_order_retry_backoff_and_other_recipients_unaffected(sf):
    sender, clock = FakeSender(), Clock()
    sender.fail["a1"] = [SendError("timeout")]
    await _enqueue(
        sf, Outbound("alice", text="a1"), Outbound("alice", text="a2"), Outbound("bob", text="b1")
    )
    relay = Relay(sf, sender, clock)
    await relay.run_once()
    assert sender.sent == [("bob", "b1")]  # alice's a2 waits behind a1
    await relay.run_once()
    assert sender.sent == [("bob", "b1")]  # backoff not over yet
    clock.now += timedelta(seconds=5)
    await relay.run_once()
    assert sender.sent == [("bob", "b1"), ("alice", "a1"), ("alice", "a2")]
    rows = await _rows(sf)
    assert [r.status for r in rows] == ["sent"] * 3 and rows[0].attempts == 2
    assert rows[0].external_id == f"ext{rows[0].id}"


async def test_backoff_grows_and_is_jittered():
    import random

    rnd = random.Random(1)
    values = [outbox.backoff(n, rnd) for n in range(1, 12)]
    assert values[0] < 1.3 and values[3] > 6 and max(values) <= 360
    assert len({round(v, 6) for v in values}) == len(values)


async def test_permanent_failure_is_parked_and_reported(sf):
    sender, clock, parked = FakeSender(), Clock(), []

    async def on_parked(row):
        parked.append((row.recipient, row.last_error))

    sender.fail["x"] = [SendError("invaliduser", permanent=True)]
    await _enqueue(sf, Outbound("carol", text="x"))
    await Relay(sf, sender, clock, on_parked).run_once()
    assert parked == [("carol", "invaliduser")]
    assert (await _rows(sf))[0].status == "parked"


async def test_keeps_failing_then_parked_after_max_attempts(sf):
    sender, clock, parked = FakeSender(), Clock(), []
    sender.fail["y"] = [RuntimeError("down")] * 20

    async def on_parked(row):
        parked.append(row.attempts)

    await _enqueue(sf, Outbound("dave", text="y"))
    relay = Relay(sf, sender, clock, on_parked)
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        await relay.run_once()
        clock.now += timedelta(minutes=10)
    assert parked == [outbox.MAX_ATTEMPTS] and sender.sent == []


async def test_pacing_per_recipient(sf):
    sender, clock = FakeSender(pace=2.0), Clock()
    await _enqueue(
        sf, Outbound("erin", text="1"), Outbound("erin", text="2"), Outbound("fay", text="3")
    )
    relay = Relay(sf, sender, clock)
    await relay.run_once()
    assert sender.sent == [("erin", "1"), ("fay", "3")]
    clock.now += timedelta(seconds=2.5)
    await relay.run_once()
    assert sender.sent[-1] == ("erin", "2")


async def test_crash_mid_send_is_retried_after_the_lease(sf):
    clock = Clock()
    await _enqueue(sf, Outbound("gus", text="g"))

    class Crash(FakeSender):
        async def send(self, msg, outbox_id):
            raise asyncio.CancelledError()  # the process dies mid-send

    with pytest.raises(asyncio.CancelledError):
        await Relay(sf, Crash(), clock).run_once()
    assert (await _rows(sf))[0].status == "sending"
    sender = FakeSender()
    await Relay(sf, sender, clock).run_once()
    assert sender.sent == []  # leased to the dead relay for a while
    clock.now += outbox.LEASE + timedelta(seconds=1)
    await Relay(sf, sender, clock).run_once()
    assert sender.sent == [("gus", "g")]


async def test_two_relays_never_send_one_message_twice(sf):
    clock = Clock()
    await _enqueue(sf, *[Outbound(f"p{i % 7}", text=str(i)) for i in range(60)])
    a, b = FakeSender(), FakeSender()
    for _ in range(5):
        await asyncio.gather(Relay(sf, a, clock).run_once(), Relay(sf, b, clock).run_once())
    texts = [t for _, t in a.sent + b.sent]
    assert sorted(texts, key=int) == [str(i) for i in range(60)]
    for sender in (a, b):  # per-recipient order holds within each relay
        for p in range(7):
            mine = [int(t) for to, t in sender.sent if to == f"p{p}"]
            assert mine == sorted(mine)


async def test_enqueue_is_idempotent_by_key(sf):
    await _enqueue(sf, Outbound("h", text="once", dedupe_key="k1"))
    await _enqueue(sf, Outbound("h", text="once", dedupe_key="k1"))
    assert len(await _rows(sf)) == 1
