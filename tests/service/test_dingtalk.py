"""DingTalk (Stream mode) against a fake DingTalk on 127.0.0.1, on both databases:
frames acknowledged at once and a redelivered frame handled once, malformed frames
acknowledged and dropped, a token that dies mid-quarter refreshed, throttling retried,
reconnection, an invalid user reported. The whole quarter through DingTalk is
tests/service/test_quartet.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from storage.models_chat import InboundEvent, OutboxMessage

from .channels import DingTalkPeer, dingtalk_settings
from .dingtalk_fake import CARD_TOPIC, ROBOT_TOPIC, FakeDingTalk


@pytest.fixture
async def dingtalk(bot, aiohttp_client, aiohttp_server):
    fake = FakeDingTalk()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.base = str(server.make_url("")).rstrip("/")
    settings = dingtalk_settings(bot.settings, fake.base)
    client = await aiohttp_client(create_app(settings))
    await until(lambda: fake.sockets)
    yield fake, DingTalkPeer(fake), client
    await client.close()  # the service first (its Stream task), then the fake
    await fake.drop()


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


def dump(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def texts_to(fake: FakeDingTalk, user: str) -> str:
    return dump([json.loads(b["msgParam"]) for b in fake.of("send") if user in b["userIds"]])


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


async def test_redelivered_frame_is_handled_once_and_acked_each_time(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    data = peer.robot_message(user, "帮助", msgid="msgSAME0001")
    first = await fake.push(ROBOT_TOPIC, data)
    second = await fake.push(ROBOT_TOPIC, data)  # a late ACK: DingTalk redelivers
    await until(lambda: first in fake.acks and second in fake.acks)
    await until(lambda: [b for b in fake.of("send") if user in b["userIds"]])
    await asyncio.sleep(0.5)
    assert len([b for b in fake.of("send") if user in b["userIds"]]) == 1
    assert await _recorded(bot) == 1


async def test_malformed_frames_are_acked_and_nothing_recorded(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    bad = [
        {"msgtype": "text"},  # no sender, no msgId
        dict(peer.robot_message(user, "x"), senderStaffId="u" * 500),  # too long
        dict(peer.robot_message(user, "a\x00b")),
    ]  # NUL
    ids = [await fake.push(ROBOT_TOPIC, d) for d in bad]
    ids.append(
        await fake.push(CARD_TOPIC, {"userId": user, "outTrackId": "t", "content": "not json"})
    )
    await fake.sockets[-1].send_str("{not a frame")
    await until(lambda: all(i in fake.acks for i in ids))
    await asyncio.sleep(0.3)
    assert await _recorded(bot) == 0 and fake.of("send") == []
    # the connection survived all of it
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))


async def test_token_dying_mid_quarter_is_refreshed_and_throttling_retried(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))
    fetched = len(fake.of("token"))
    fake.script = [401]  # the token expires early, mid-quarter
    await peer.text(user, "帮助")
    await until(lambda: len(fake.of("send")) == 2)
    assert len(fake.of("token")) == fetched + 1
    fake.script = [429, 429]  # throttled twice, then through
    await peer.text(user, "帮助")
    await until(lambda: len(fake.of("send")) == 3)
    assert len(fake.of("send-429")) == 2


async def test_reconnects_after_the_gateway_drops(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    assert fake.connections == 1
    await fake.drop()
    await until(lambda: fake.connections == 2 and fake.sockets, timeout=10)
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))


async def test_invalid_user_is_parked_and_reported(bot, dingtalk):
    fake, peer, client = dingtalk
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.invalid_users.add(user)
    await peer.text(user, "帮助")
    await until(lambda: [a for a in admins if "未能送达" in texts_to(fake, a)])
    async with bot.sf() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
            .scalars()
            .first()
        )
    assert row is not None and row.status == "parked"
