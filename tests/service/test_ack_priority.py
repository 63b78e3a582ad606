"""What keeps acknowledgements fast under a burst: background work defers to arriving
callbacks (but is never starved), WAL checkpoints run on their own thread, and the long-
running service freezes its start-up heap out of the garbage collector's reach."""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3

import pytest
from sqlalchemy import func, select

from bot.app import CHECKPOINTER, DISPATCHER, ENGINE, create_app
from bot.dispatch import Dispatcher
from bot.messages import Inbound
from storage.models_chat import InboundEvent


class Quiet:
    pace_seconds = 0.0

    async def send(self, msg, outbox_id):
        return str(outbox_id)


async def _handled(sf) -> int:
    async with sf() as s:
        return (
            await s.execute(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.status != "received")
            )
        ).scalar_one()


def test_pressure_signal():
    d = Dispatcher(None, None)
    d.QUIET = 0.02
    assert not d.busy(100.0)  # nothing has arrived
    d._arrivals = [float("-inf"), 100.0]
    assert not d.busy(100.001)  # one lone message: handle it at once
    d._arrivals = [99.99, 100.0]
    assert d.busy(100.001)  # two within QUIET, the latest recent
    assert not d.busy(100.021)  # quiet again
    d._arrivals = [99.0, 100.0]
    assert not d.busy(100.001)  # far apart: no burst


async def _flood(d: Dispatcher, user: str, seconds: float, prefix: str) -> int:
    loop = asyncio.get_running_loop()
    end, n = loop.time() + seconds, 0
    while loop.time() < end:
        await d.receive(Inbound("text", user, text="帮助", event_id=f"{prefix}{n}"))
        n += 1
        await asyncio.sleep(0.01)
    return n


async def _flood_then_drain(
    bot, quiet: float, max_defer: float, seconds: float, prefix: str
) -> tuple[int, int]:
    """(events sent, events handled while they kept coming); afterwards every one is handled."""
    user = next(iter(await bot.people()))
    d = Dispatcher(bot.sf, bot.settings)
    d.QUIET, d.MAX_DEFER = quiet, max_defer
    sent = await _flood(d, user, seconds, prefix)
    during = await _handled(bot.sf)
    await asyncio.wait_for(d.drain(), 60)
    assert await _handled(bot.sf) == sent
    await d.close()
    return sent, during


async def test_burst_is_acknowledged_first_and_handled_after(bot):
    # gaps of 10 ms are far inside the quiet window; no step waits out MAX_DEFER
    sent, during = await _flood_then_drain(bot, 0.2, 30.0, 1.0, "b")
    assert sent >= 20
    assert during <= 1, f"{during} of {sent} events handled while callbacks kept arriving"


async def test_sustained_flood_still_makes_progress(bot):
    # never quiet, but each step waits 0.1 s at most
    sent, during = await _flood_then_drain(bot, 0.2, 0.1, 1.5, "f")
    assert during >= 3, f"only {during} of {sent} handled during a 1.5 s flood"


async def test_lone_message_is_not_deferred(bot):
    user = next(iter(await bot.people()))
    d = Dispatcher(bot.sf, bot.settings)
    d.QUIET, d.MAX_DEFER = 5.0, 30.0  # a deferral would show as seconds
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await d.receive(Inbound("text", user, text="帮助", event_id="lone"))
    await asyncio.wait_for(d.drain(), 60)
    assert loop.time() - t0 < 4.0
    assert await _handled(bot.sf) == 1
    await d.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # WAL checkpoints are SQLite's
async def test_checkpoints_run_off_the_request_path(bot, aiohttp_client):
    client = await aiohttp_client(create_app(bot.settings, sender=Quiet()))
    app = client.app
    checkpointer, engine, d = app[CHECKPOINTER], app[ENGINE], app[DISPATCHER]
    assert checkpointer is not None
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        got = await raw.driver_connection.execute("PRAGMA wal_autocheckpoint")
        assert (await got.fetchone())[0] == 0  # the service's connection never checkpoints
    user = next(iter(await bot.people()))
    before = checkpointer.rounds
    # > 1,000 WAL pages (SQLite's default threshold) written by acknowledgements alone
    for batch in range(30):
        await asyncio.gather(
            *(
                d.receive(Inbound("text", user, text="帮助" * 300, event_id=f"w{batch}-{i}"))
                for i in range(100)
            )
        )
    db = bot.settings.database_url.split("///", 1)[1]
    wal = db + "-wal"
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while True:  # the checkpointer thread has copied every frame written so far
        if (
            checkpointer.rounds > before + 1
            and checkpointer.last
            and checkpointer.last[1] > 0
            and checkpointer.last[1] == checkpointer.last[2]
        ):
            break
        assert loop.time() < end, f"checkpointer state {checkpointer.last}"
        await asyncio.sleep(0.1)
    with sqlite3.connect(db) as other:  # what the checkpoint copied is in the main file
        assert other.execute("SELECT count(*) FROM inbound_events").fetchone()[0] >= 3000
    await client.close()  # stop: the WAL is truncated
    assert os.path.getsize(wal) == 0 if os.path.exists(wal) else True
    assert not checkpointer._thread.is_alive()


async def test_service_settles_its_heap(bot, aiohttp_client):
    gc.unfreeze()
    try:
        client = await aiohttp_client(create_app(bot.settings, sender=Quiet(), settle_heap=True))
        assert gc.get_freeze_count() > 10_000
        assert (await client.get("/healthz")).status == 200
    finally:
        gc.unfreeze()
    client2 = await aiohttp_client(create_app(bot.settings, sender=Quiet()))
    assert gc.get_freeze_count() == 0  # only when asked (tests build apps by the hundred)
    await client2.close()
