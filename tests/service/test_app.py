"""The service as a whole: cleanup contexts, relay delivery, parked messages surface."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.app import DISPATCHER, create_app
from bot.messages import Inbound
from bot.services.outbox import SendError
from storage.models import AuditRow
from storage.models_chat import OutboxMessage


class Recorder:
    pace_seconds = 0.0

    def __init__(self, broken: set[str]):
        self.broken, self.sent = broken, []

    async def send(self, msg, outbox_id):
        if msg.to in self.broken:
            raise SendError("invaliduser", permanent=True)
        self.sent.append(msg)
        return str(outbox_id)


async def _until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await predicate():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


async def test_failed_delivery_is_reported_to_supervisors(bot, aiohttp_client):
    people = await bot.people()
    admins = [a for a, p in people.items() if p.role == "管理员"]
    victim = next(a for a, p in people.items() if p.role != "管理员")
    sender = Recorder({victim})
    settings, sf = bot.settings, bot.sf
    client = await aiohttp_client(create_app(settings, sender=sender))
    assert (await client.get("/healthz")).status == 200
    await client.app[DISPATCHER].receive(Inbound("text", victim, text="帮助", event_id="e1"))

    async def reported():
        return {m.to for m in sender.sent if "未能送达" in m.text} == set(admins)

    await _until(reported)
    async with sf() as s:
        parked = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.status == "parked")))
            .scalars()
            .all()
        )
        audit = (await s.execute(select(AuditRow.action))).scalars().all()
    assert [p.recipient for p in parked] == [victim]
    assert "outbox.parked" in audit


async def test_retried_webhook_event_is_handled_once(bot, aiohttp_client):
    people = await bot.people()
    user = next(iter(people))
    sender = Recorder(set())
    client = await aiohttp_client(create_app(bot.settings, sender=sender))
    d = client.app[DISPATCHER]
    results = [
        await d.receive(Inbound("text", user, text="帮助", event_id="same")) for _ in range(3)
    ]
    assert results == [True, False, False]

    async def delivered():
        return len(sender.sent) >= 1

    await _until(delivered)
    await asyncio.sleep(0.3)
    assert len(sender.sent) == 1


async def test_concurrent_receives_group_commit_once_per_key(bot):
    """Receives are written in batches (group commit); duplicates inside one batch and
    across batches are recognised; every accepted event is durably recorded."""
    from bot.dispatch import Dispatcher
    from storage.models_chat import InboundEvent

    d = Dispatcher(bot.sf, bot.settings)
    user = next(iter(await bot.people()))
    events = [Inbound("text", user, text="帮助", event_id=f"k{i % 40}") for i in range(200)]
    results = await asyncio.gather(*(d.receive(e) for e in events))
    assert sum(results) == 40
    async with bot.sf() as s:
        keys = (await s.execute(select(InboundEvent.dedupe_key))).scalars().all()
    # web chat event ids (client_id) are the client's: unique per person and kind only
    assert sorted(keys) == sorted({f"webchat:{user}:text:k{i}" for i in range(40)})
    await d.drain()
    await d.close()


class Paced(Recorder):
    pace_seconds = 0.2

    async def send(self, msg, outbox_id):
        self.sent.append((asyncio.get_running_loop().time(), msg))
        return str(outbox_id)


async def test_a_persons_queued_messages_go_at_the_pace_not_once_a_second(bot, aiohttp_client):
    """The relay waits for the soonest row its pace holds back, not its whole idle
    second: five messages to one person take about four paces."""
    from bot.app import WAKE
    from bot.messages import Outbound
    from bot.services import outbox

    user = next(iter(await bot.people()))
    sender = Paced(set())
    client = await aiohttp_client(create_app(bot.settings, sender=sender))
    async with bot.sf() as s, s.begin():
        await outbox.enqueue(s, [Outbound(user, text=f"第{i}条") for i in range(5)])
    client.app[WAKE].set()

    async def all_sent():
        return len(sender.sent) == 5

    await _until(all_sent)
    times = [at for at, _ in sender.sent]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert [m.text for _, m in sender.sent] == [f"第{i}条" for i in range(5)]  # in order
    assert min(gaps) >= 0.18  # never faster than the pace
    assert times[-1] - times[0] < 2.5  # once a second would take 4 s
