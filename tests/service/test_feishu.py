"""Feishu event callbacks against a fake of Feishu's open platform (both databases):
the long connection with lark-oapi's own ws client as the peer; forged, replayed,
stale, oversized and malformed callbacks refused with nothing recorded; a duplicate
handled once; a token that expires mid-quarter refreshed; throttling. The whole quarter
through Feishu is tests/service/test_quartet.py."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.messengers.feishu.crypto import FeishuCrypto
from storage.models_chat import InboundEvent, OutboxMessage

from .channels import APP_ID, FeishuPeer, content, feishu_settings
from .channels import FS_SECRET as SECRET
from .channels import FS_TOKEN as TOKEN
from .feishu_fake import FakeFeishu


def words(body: dict) -> str:
    return json.dumps(content(body), ensure_ascii=False)


def with_ids(fake: FakeFeishu) -> list[dict]:
    """Every delivered message with its message id."""
    return [dict(b, message_id=m) for m, b in fake.messages.items()]


def to(fake: FakeFeishu, who: str) -> list[dict]:
    return [b for b in with_ids(fake) if b["receive_id"] == who]


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


@pytest.fixture
async def feishu(bot, aiohttp_client, aiohttp_server):
    fake = FakeFeishu(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(create_app(feishu_settings(bot.settings, url)))
    return fake, FeishuPeer(client), client


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


async def test_url_verification_answered_at_once(bot, feishu):
    fake, peer, client = feishu
    doc = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": peer.crypto.encrypt(json.dumps(doc))}).encode()
    start = time.monotonic()
    r = await client.post("/feishu/events", data=body)
    assert r.status == 200 and await r.json() == {"challenge": "ajls384kdjx98XX"}
    assert time.monotonic() - start < 1.0
    # a wrong token, or a key that is not ours, gets no challenge back
    bad = dict(doc, token="guess")
    r = await client.post(
        "/feishu/events", data=json.dumps({"encrypt": peer.crypto.encrypt(json.dumps(bad))})
    )
    assert r.status == 403
    other = FeishuCrypto("another key").encrypt(json.dumps(doc))
    r = await client.post("/feishu/events", data=json.dumps({"encrypt": other}))
    assert r.status in (400, 403)


async def test_forged_replayed_stale_oversized_and_malformed_are_refused(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    doc = peer.message(user, "帮助")
    body, headers = peer.signed(doc)
    cases: list[tuple[bytes, dict]] = []
    cases.append((body, dict(headers, **{"X-Lark-Signature": "0" * 64})))  # forged
    cases.append((body.replace(b'"}', b'A"}'), headers))  # body changed
    cases.append((body, {k: v for k, v in headers.items() if k != "X-Lark-Signature"}))
    old = str(int(time.time()) - 2 * 3600)
    cases.append(peer.signed(doc, ts=old))  # replayed later
    cases.append(peer.signed(peer.message(user, "帮助") | {}, ts="99999999999"))  # from the future
    stale = peer.event("im.message.receive_v1", doc["event"], created=time.time() - 8 * 3600)
    cases.append(peer.signed(stale))  # a stale event
    cases.append(peer.signed(peer.event("im.message.receive_v1", doc["event"], token="x")))
    cases.append(peer.signed({"schema": "2.0", "header": "nope", "event": {}}))  # malformed
    broken = dict(doc, event={"sender": {"sender_id": {}}, "message": {}})
    cases.append(peer.signed(broken))  # no sender
    nul = peer.message(user + "\x00", "帮助")
    cases.append(peer.signed(nul))  # NUL
    for raw in (b"[1,2]", b'{"encrypt": 5}', b'{"nope": "x"}', b"{" * 5000, b"\xff\xfe"):
        cases.append((raw, headers))  # not an envelope
    cases.append((b'{"encrypt": "' + b"A" * 70000 + b'"}', headers))  # oversized
    forged = FeishuCrypto("not the key")
    fbody = json.dumps({"encrypt": forged.encrypt(json.dumps(doc))}).encode()
    ts, nonce = str(int(time.time())), "n1"
    cases.append(
        (
            fbody,
            {
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": forged.signature(ts, nonce, fbody),
            },
        )
    )
    cases.append((body, dict(headers, **{"X-Lark-Request-Timestamp": "12a"})))  # bad shape
    for raw, hdrs in cases:
        status = await peer.post(raw, hdrs)
        assert status in (400, 403, 413), (status, raw[:60])
    assert await _recorded(bot) == 0 and fake.of("send") == []
    assert (await client.get("/healthz")).status == 200


async def test_same_message_delivered_three_times_is_handled_once(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    doc = peer.message(user, "帮助", message_id="om_retried0001")
    for _ in range(3):  # Feishu's retries carry the same message id (and a new event id)
        again = dict(doc, header=dict(doc["header"], event_id=uuid.uuid4().hex))
        assert await peer.send(again) == 200
    await until(lambda: to(fake, user))
    await asyncio.sleep(0.5)
    assert len(to(fake, user)) == 1 and await _recorded(bot) == 1


async def test_token_expiring_mid_quarter_is_refreshed(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    assert await peer.text(user, "帮助") == 200
    await until(lambda: to(fake, user))
    fetched = len(fake.of("token"))
    fake.script = [99991663]  # Feishu says the token is no longer valid
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(to(fake, user)) == 2)
    assert len(fake.of("token")) == fetched + 1
    fake.token = "revoked"  # revoked behind our back: refused, refetched
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(to(fake, user)) == 3)
    assert len(fake.of("token")) == fetched + 2


async def test_throttling_waits_for_the_reset_and_unreachable_user_is_reported(bot, feishu):
    fake, peer, client = feishu
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.script = [429]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: fake.of("send-429"))
    for _ in range(200):  # the relay writes the failure just after Feishu's answer
        async with bot.sf() as s:
            row = (
                (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
                .scalars()
                .one()
            )
        if row.last_error:
            break
        await asyncio.sleep(0.05)
    assert row.status == "pending" and "rate limited" in row.last_error
    await until(lambda: to(fake, user))  # sent after x-ogw-ratelimit-reset
    other = next(a for a in people if a not in admins and a != user)
    fake.unreachable.add(other)
    assert await peer.text(other, "帮助") == 200
    await until(lambda: [a for a in admins if any("未能送达" in words(b) for b in to(fake, a))])


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_long_connection_with_lark_oapi_as_the_client(bot, aiohttp_server, aiohttp_client):
    """ws mode: lark-oapi's own ws client connects to the fake, which pushes event frames
    as Feishu does; each is recorded before the frame is answered, a redelivery once."""
    fake = FakeFeishu(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(create_app(feishu_settings(bot.settings, url, mode="ws")))
    await asyncio.wait_for(fake.ws_connected.wait(), 30)
    assert fake.of("ws-endpoint") == [{"AppID": APP_ID, "AppSecret": SECRET}]
    peer = FeishuPeer(client)
    user = next(iter(await bot.people()))
    event = peer.message(user, "帮助")
    await fake.push(event, "frame-1")
    await until(lambda: fake.ws_answers)
    assert fake.ws_answers[0]["payload"]["code"] == 200
    await until(lambda: to(fake, user))
    await fake.push(event, "frame-2")  # Feishu redelivers: handled once
    await until(lambda: len(fake.ws_answers) == 2)
    assert fake.ws_answers[1]["payload"]["code"] == 200
    # a card click over the long connection: recorded, answered (within 3 s) with no card
    sent = to(fake, user)[0]
    click = peer.action(user, {"k": "pg:1:0"}, sent["message_id"])
    await fake.push(click, "frame-3")
    await until(lambda: len(fake.ws_answers) == 3)
    assert fake.ws_answers[2]["payload"]["code"] == 200
    await asyncio.sleep(0.3)
    assert await _recorded(bot) == 2 and len(to(fake, user)) >= 1
    assert (await client.post("/feishu/events", data=b"{}")).status == 404  # no callback route
