"""Delivery effectively once (both databases): the web chat's delivery commits with the
mark, every row keeps one idempotency key, and the leases of dead relays come back at once
while a live relay's lease is never taken."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from bot.messages import Button, Card, Outbound
from bot.messengers.webchat.adapter import WebChatSender
from bot.services import outbox
from bot.services.outbox import Identity, Relay, SendError
from bot.services.webchat_store import WebChatStore
from storage import inbound, migrate
from storage.db import make_engine, session_factory
from storage.models_chat import ChatMessage, InboundEvent, OutboxMessage, RelayInstance


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


async def _enqueue(sf, *msgs) -> list[int]:
    async with sf() as s, s.begin():
        return [r.id for r in await outbox.enqueue(s, list(msgs))]


async def _row(sf, row_id) -> OutboxMessage:
    async with sf() as s:
        return await s.get(OutboxMessage, row_id)


async def _chat_texts(sf) -> list[str]:
    async with sf() as s:
        return list((await s.execute(select(ChatMessage.text).order_by(ChatMessage.id))).scalars())


class Died(BaseException):
    """The process is killed (nothing after this point runs; not an Exception)."""


class DyingRelay(Relay):
    """A relay killed right after it delivered and wrote the mark, before the commit."""

    async def _mark_sent(self, s, *args, **kw):
        await super()._mark_sent(s, *args, **kw)
        raise Died()


async def test_web_chat_delivery_commits_with_the_mark_or_not_at_all(sf):
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("alice", text="一次"))
    with pytest.raises(Died):
        await DyingRelay(sf, WebChatSender(WebChatStore(sf)), clock).run_once()
    assert await _chat_texts(sf) == []  # rolled back with the mark
    assert (await _row(sf, row_id)).status == "sending"
    clock.now += outbox.LEASE + timedelta(seconds=1)
    stats = await Relay(sf, WebChatSender(WebChatStore(sf)), clock).run_once()
    assert stats.sent == 1 and await _chat_texts(sf) == ["一次"]
    row = await _row(sf, row_id)
    assert row.status == "sent" and row.lease_owner is None and row.external_id.isdigit()
    assert await Relay(sf, WebChatSender(WebChatStore(sf)), clock).run_once() == outbox.RelayStats()
    assert await _chat_texts(sf) == ["一次"]


async def test_a_relay_that_lost_its_lease_delivers_nothing(sf):
    """Relay a claims, stalls past its lease, b takes the row over and delivers; when a
    resumes, its transaction finds the lease gone and rolls its delivery back."""
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("bob", text="只一次"))
    a = Relay(sf, WebChatSender(WebChatStore(sf)), clock)
    b = Relay(sf, WebChatSender(WebChatStore(sf)), clock)
    await a.maintain(force=True)
    key = await a._claim(row_id, clock.now)
    assert key and (await _row(sf, row_id)).lease_owner == a.me.id
    clock.now += outbox.LEASE + timedelta(seconds=1)  # a stalled
    assert (await b.run_once()).sent == 1
    stats = outbox.RelayStats()
    assert await a._send(await _row(sf, row_id), key, clock.now, stats) is False
    assert stats.sent == 0 and await _chat_texts(sf) == ["只一次"]


async def test_card_updates_in_the_web_chat_are_delivered_in_the_same_transaction(sf):
    clock = Clock()
    card = Card("任务", "内容", (Button("acc:1", "接收"),), 1)
    await _enqueue(sf, Outbound("carol", card=card, subject="a:1:c"))
    relay = Relay(sf, WebChatSender(WebChatStore(sf)), clock)
    await relay.run_once()
    await _enqueue(
        sf,
        Outbound(
            "carol", text="已更新", card=Card("任务", "已接收"), subject="a:1:c", refresh=True
        ),
    )
    with pytest.raises(Died):
        await DyingRelay(sf, WebChatSender(WebChatStore(sf)), clock).run_once()
    async with sf() as s:
        assert await s.scalar(select(func.count()).select_from(ChatMessage)) == 1
    clock.now += outbox.LEASE + timedelta(seconds=1)
    await relay.run_once()
    async with sf() as s:
        rows = (await s.execute(select(ChatMessage).order_by(ChatMessage.id))).scalars().all()
    assert [r.replaces for r in rows] == [None, rows[0].id]


class KeyRecorder:
    pace_seconds = 0.0

    def __init__(self, failures: int = 0):
        self.keys: list[tuple[int, str]] = []
        self.failures = failures

    async def send(self, msg, outbox_id):
        self.keys.append((outbox_id, msg.key))
        if self.failures:
            self.failures -= 1
            raise SendError("timeout")
        return f"ext{outbox_id}"


async def test_each_row_keeps_one_key_across_attempts_and_relays(sf):
    clock = Clock()
    ids = await _enqueue(sf, Outbound("dan", text="1"), Outbound("eve", text="2"))
    async with sf() as s, s.begin():  # a row written before keys existed gets one at claim
        await s.execute(
            update(OutboxMessage).where(OutboxMessage.id == ids[1]).values(idem_key=None)
        )
    stored = (await _row(sf, ids[0])).idem_key
    assert stored and len(stored) == 32
    sender = KeyRecorder(failures=2)
    for _ in range(4):
        await Relay(sf, sender, clock).run_once()  # a new relay (process) every round
        clock.now += timedelta(minutes=5)
    keys = {i: {k for j, k in sender.keys if j == i} for i in ids}
    assert keys[ids[0]] == {stored} and len(keys[ids[1]]) == 1
    assert keys[ids[0]] != keys[ids[1]]
    assert (await _row(sf, ids[1])).idem_key in keys[ids[1]]
    assert len([1 for i, _ in sender.keys if i in ids]) == 4  # two failures, two sends


def _dead_process() -> tuple[int, str]:
    """The pid and kernel start time of a process that ran on this machine and is gone."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for _ in range(100):
            started = outbox.proc_start(p.pid)
            if started:
                break
    finally:
        p.kill()
        p.wait()
    assert started and outbox.process_gone(p.pid, started)
    return p.pid, started


async def _leased_by(sf, row_id: int, owner: str, until: datetime) -> None:
    async with sf() as s, s.begin():
        await s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status="sending", lease_owner=owner, next_attempt_at=until)
        )


async def _instance(sf, ident: Identity, beat: datetime) -> None:
    async with sf() as s, s.begin():
        await s.execute(
            insert(RelayInstance).values(
                id=ident.id,
                host=ident.host,
                machine=ident.machine,
                pid=ident.pid,
                proc_start=ident.proc_start,
                started_at=beat,
                heartbeat_at=beat,
            )
        )


@pytest.mark.skipif(not outbox.machine_id(), reason="needs /proc (Linux)")
async def test_a_killed_predecessor_on_this_machine_is_taken_back_at_once(sf):
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("fay", text="接着发"))
    pid, started = _dead_process()
    dead = Identity("dead-one", "h", outbox.machine_id(), pid, started)
    await _instance(sf, dead, clock.now)  # its last heartbeat: just now
    await _leased_by(sf, row_id, dead.id, clock.now + outbox.LEASE)
    sender = KeyRecorder()
    relay = Relay(sf, sender, clock)
    await relay.start()
    try:
        assert (await relay.run_once()).sent == 1  # no wait for the lease
        assert [i for i, _ in sender.keys] == [row_id]
        async with sf() as s:
            ids = set((await s.execute(select(RelayInstance.id))).scalars())
        assert ids == {relay.me.id}  # the dead one is forgotten
    finally:
        await relay.close()
    async with sf() as s:
        assert await s.scalar(select(func.count()).select_from(RelayInstance)) == 0


@pytest.mark.skipif(not outbox.machine_id(), reason="needs /proc (Linux)")
async def test_a_reused_pid_is_not_the_instance_that_held_the_lease(sf):
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("gus", text="g"))
    # this very pid, but started at another time: the process that held the lease is gone
    ghost = Identity("ghost", "h", outbox.machine_id(), os.getpid(), "1")
    await _instance(sf, ghost, clock.now)
    await _leased_by(sf, row_id, ghost.id, clock.now + outbox.LEASE)
    assert (await Relay(sf, KeyRecorder(), clock).run_once()).sent == 1


async def test_a_live_instance_keeps_its_lease(sf):
    """Same process (alive by its pid) or another machine with a fresh heartbeat: the row
    waits; another machine that stopped beating is presumed dead before the lease ends."""
    clock = Clock()
    ids = await _enqueue(sf, Outbound("hal", text="h"), Outbound("ida", text="i"))
    here = Relay(sf, KeyRecorder(), clock)
    await here.maintain(force=True)
    await _leased_by(sf, ids[0], here.me.id, clock.now + outbox.LEASE)
    other = Identity("other-machine", "far", "another-machine-id", 4242, "99")
    await _instance(sf, other, clock.now)
    await _leased_by(sf, ids[1], other.id, clock.now + outbox.LEASE)
    sender = KeyRecorder()
    second = Relay(sf, sender, clock)
    await second.start()
    try:
        assert (await second.run_once()).sent == 0
        clock.now += outbox.PRESUMED_DEAD - timedelta(seconds=1)
        await here.heartbeat()
        await second.maintain(force=True)
        assert (await second.run_once()).sent == 0
        clock.now += timedelta(seconds=2)  # past PRESUMED_DEAD, not LEASE
        await here.heartbeat()
        await second.maintain(force=True)
        assert (await second.run_once()).sent == 1
        assert [i for i, _ in sender.keys] == [ids[1]]
        assert (await _row(sf, ids[0])).lease_owner == here.me.id
    finally:
        await second.close()


async def test_two_live_relays_while_one_is_mid_send(sf):
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("jon", text="j"))
    gate, entered = asyncio.Event(), asyncio.Event()

    class Slow(KeyRecorder):
        async def send(self, msg, outbox_id):
            entered.set()
            await gate.wait()
            return await super().send(msg, outbox_id)

    slow, fast = Slow(), KeyRecorder()
    a, b = Relay(sf, slow, clock), Relay(sf, fast, clock)
    await a.start()
    await b.start()
    try:
        task = asyncio.create_task(a.run_once())
        await entered.wait()
        await b.maintain(force=True)
        assert (await b.run_once()).sent == 0 and fast.keys == []
        gate.set()
        assert (await task).sent == 1
        assert (await _row(sf, row_id)).status == "sent"
    finally:
        await a.close()
        await b.close()


async def test_an_owner_nobody_knows_is_gone_and_close_gives_leases_back(sf):
    clock = Clock()
    ids = await _enqueue(sf, Outbound("kim", text="k"), Outbound("lee", text="l"))
    await _leased_by(sf, ids[0], "unregistered", clock.now + outbox.LEASE)
    leaving = Relay(sf, KeyRecorder(), clock)
    await leaving.maintain(force=True)
    await _leased_by(sf, ids[1], leaving.me.id, clock.now + outbox.LEASE)
    await leaving.close()  # a clean stop
    row = await _row(sf, ids[1])
    assert (row.status, row.lease_owner, row.next_attempt_at) == ("pending", None, clock.now)
    sender = KeyRecorder()
    assert (await Relay(sf, sender, clock).run_once()).sent == 2


async def test_a_failure_reported_late_does_not_overwrite_the_new_owner(sf):
    clock = Clock()
    [row_id] = await _enqueue(sf, Outbound("max", text="m"))
    a = Relay(sf, KeyRecorder(), clock)
    await a.maintain(force=True)
    assert await a._claim(row_id, clock.now)
    await _leased_by(sf, row_id, "someone-else", clock.now + outbox.LEASE)
    stats = outbox.RelayStats()
    assert await a._failed(await _row(sf, row_id), clock.now, "late", None, True, stats) is False
    row = await _row(sf, row_id)
    assert (row.status, row.lease_owner, stats.parked) == ("sending", "someone-else", 0)


async def test_purge_forgets_handled_events_past_the_window_in_bounded_batches(sf):
    engine = sf.kw["bind"]
    now_fn = (
        func.localtimestamp() if engine.dialect.name == "postgresql" else func.current_timestamp()
    )
    async with engine.begin() as conn:
        db_now = await conn.scalar(select(now_fn))
        rows = [
            {
                "dedupe_key": f"k{i}",
                "channel": "wecom",
                "conversation": "c",
                "payload": {},
                "status": status,
                "error": "",
                "received_at": db_now - age,
            }
            for i, (status, age) in enumerate(
                [("done", timedelta(hours=3))] * 25
                + [("failed", timedelta(hours=3))] * 5
                + [("received", timedelta(hours=3))] * 2
                + [("done", timedelta(minutes=5))] * 3
            )
        ]
        await conn.execute(insert(InboundEvent), rows)
    keep = inbound.retention(3600)
    assert timedelta(hours=1) < keep < timedelta(hours=2)
    assert await inbound.purge(engine, keep, batch=10, max_batches=2) == 20
    assert await inbound.purge(engine, keep, batch=10, max_batches=2) == 10
    assert await inbound.purge(engine, keep, batch=10) == 0
    async with sf() as s:
        left = (await s.execute(select(InboundEvent.status))).scalars().all()
    assert sorted(left) == ["done"] * 3 + ["received"] * 2  # recent or not handled yet
