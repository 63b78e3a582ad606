"""WeCom delivery effectively once, against the fake WeCom API: each outbox row's every
attempt carries the same key (a card's task_id, a text's duplicate-checked request), so a
retry after a crash between sending and marking is not delivered twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import aiohttp
import pytest
from sqlalchemy import select

from bot.messages import Button, Card, Outbound
from bot.messengers.wecom import cards
from bot.messengers.wecom.api import WeComClient, WeComConfig
from bot.messengers.wecom.sender import WeComSender
from bot.services import outbox
from bot.services.outbox import Delivered, Relay
from storage import migrate
from storage.db import make_engine, session_factory
from storage.models_chat import OutboxMessage

from .wecom_fake import FakeWeCom

CORP, AGENT = "wwssjtest00000001", 1000002
CARD = Card("检查任务", "某企业", (Button("acc:1", "接收"),), 1)


@pytest.fixture
async def fake_sender(aiohttp_server):
    fake = FakeWeCom()
    server = await aiohttp_server(fake.app())
    async with aiohttp.ClientSession() as http:
        client = WeComClient(
            WeComConfig(CORP, AGENT, "secret", str(server.make_url("")).rstrip("/")), http
        )
        sender = WeComSender(client, AGENT)
        sender.pace_seconds = 0.0
        yield fake, sender


async def test_a_card_sent_again_with_its_key_is_recognised(fake_sender):
    fake, sender = fake_sender
    msg = Outbound("zhang", card=CARD, key="a" * 32)
    first = await sender.send(msg, 7)
    again = await sender.send(msg, 7)  # the retry after a lost answer
    assert isinstance(first, Delivered) and first.handle
    assert again == Delivered(first.external_id) == Delivered("ssj-7-" + "a" * 32)
    assert [k for k, _ in fake.calls if k.startswith("send")] == ["send", "send-42014"]
    assert len(fake.delivered) == 1
    # no per-process salt: another process (a new sender) makes the same task_id
    assert cards.make_task_id(7, "a" * 32) == first.external_id


async def test_a_text_sent_again_is_the_same_request_and_dropped(fake_sender):
    fake, sender = fake_sender
    msg = Outbound("zhang", text="您的检查任务已更新。", key="b" * 32)
    await sender.send(msg, 8)
    await sender.send(msg, 8)
    bodies = [b for k, b in fake.calls if k.startswith("send")]
    assert bodies[0] == bodies[1] and bodies[0]["enable_duplicate_check"] == 1
    assert 1800 <= bodies[0]["duplicate_check_interval"] < 3600
    assert [k for k, _ in fake.calls if k.startswith("send")] == ["send", "send-dup"]
    # another row with the same text is another message: both are delivered
    await sender.send(Outbound("zhang", text="您的检查任务已更新。", key="c" * 32), 9)
    assert len(fake.delivered) == 2


@pytest.fixture
async def sf(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


class Died(BaseException):
    pass


class DyingRelay(Relay):
    """Killed after the network accepted a message, before its mark committed (once per
    message)."""

    killed: ClassVar[set[int]] = set()

    async def _mark_sent(self, s, row, *args, **kw):
        if row.id not in self.killed:
            self.killed.add(row.id)
            raise Died()
        return await super()._mark_sent(s, row, *args, **kw)


async def test_a_relay_killed_after_sending_retries_with_the_same_key(sf, fake_sender):
    fake, sender = fake_sender
    clock_now = [datetime(2027, 1, 4, 9, 0)]

    def clock():
        return clock_now[0]

    async with sf() as s, s.begin():
        await outbox.enqueue(s, [Outbound("li", card=CARD), Outbound("li", text="请查收。")])
    DyingRelay.killed = set()
    for _ in range(2):  # a kill after each message went out, each time a new "process"
        with pytest.raises(Died):
            await DyingRelay(sf, sender, clock).run_once()
        clock_now[0] += outbox.LEASE + timedelta(seconds=1)
    await Relay(sf, sender, clock).run_once()
    async with sf() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert [r.status for r in rows] == ["sent", "sent"]
    sends = [(k, b) for k, b in fake.calls if k.startswith("send")]
    card_ids = {b["template_card"]["task_id"] for _, b in sends if "template_card" in b}
    assert card_ids == {f"ssj-{rows[0].id}-{rows[0].idem_key}"} == {rows[0].external_id}
    texts = [b for _, b in sends if b.get("msgtype") == "text"]
    assert len(texts) == 2 and texts[0] == texts[1]
    assert [k for k, _ in sends] == ["send", "send-42014", "send", "send-dup"]
    assert len(fake.delivered) == 2  # each message reached li once
