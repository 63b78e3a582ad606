"""DingTalk's HTTP callbacks at /dingtalk/events (SSJ_DINGTALK_MODE=http): the event
subscription (signed, encrypted, answered with the encrypted "success") and the robot
outgoing callback (timestamp/sign headers, a one-hour window). Forged, replayed, stale,
oversized and malformed callbacks are refused and record nothing; a duplicate delivery
is handled once."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import func, select

from bot.app import create_app
from bot.messengers.dingtalk.crypto import EventCrypto, robot_sign
from storage.models_chat import InboundEvent

from .dingtalk_fake import CARD_TOPIC, FakeDingTalk

APP_KEY, SECRET, ROBOT = "dingssjtestapp0001", "dt-secret", "dingssjrobot0001"
TOKEN = "ssjDingToken"
AES = base64.b64encode(bytes(range(40, 72))).decode().rstrip("=")


@pytest.fixture
async def http_mode(bot, aiohttp_client, aiohttp_server):
    fake = FakeDingTalk()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.base = str(server.make_url("")).rstrip("/")
    settings = replace(
        bot.settings,
        dingtalk_app_key=APP_KEY,
        dingtalk_app_secret=SECRET,
        dingtalk_robot_code=ROBOT,
        dingtalk_api_base=fake.base,
        dingtalk_mode="http",
        dingtalk_token=TOKEN,
        dingtalk_aes_key=AES,
        wecom_corp_id="",
        wecom_bot_token="",
    )
    client = await aiohttp_client(create_app(settings))
    yield fake, client
    await client.close()


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


def robot_doc(user: str, msgid: str, text: str = "帮助") -> dict:
    return {
        "msgtype": "text",
        "text": {"content": text},
        "msgId": msgid,
        "senderStaffId": user,
        "conversationType": "1",
        "conversationId": "cidP",
        "senderNick": user,
        "isInAtList": False,
    }


def headers(ts: str | None = None, secret: str = SECRET) -> dict:
    ts = ts or str(int(time.time() * 1000))
    return {"timestamp": ts, "sign": robot_sign(secret, ts)}


async def test_robot_callback_duplicate_handled_once(bot, http_mode):
    fake, client = http_mode
    user = next(iter(await bot.people()))
    for _ in range(3):
        r = await client.post(
            "/dingtalk/events", json=robot_doc(user, "msgDUP1"), headers=headers()
        )
        assert r.status == 200
    await until(lambda: fake.of("send"))
    await asyncio.sleep(0.5)
    assert len(fake.of("send")) == 1 and await _recorded(bot) == 1


async def test_event_subscription_check_url_and_a_message(bot, http_mode):
    fake, client = http_mode
    user = next(iter(await bot.people()))
    peer = EventCrypto(TOKEN, AES, APP_KEY)
    ts, nonce = str(int(time.time() * 1000)), "nonce001"
    for doc in ({"EventType": "check_url"}, robot_doc(user, "msgEVT1")):
        enc = peer.encrypt(json.dumps(doc, ensure_ascii=False))
        r = await client.post(
            "/dingtalk/events",
            json={"encrypt": enc},
            params={
                "msg_signature": peer.signature(ts, nonce, enc),
                "timestamp": ts,
                "nonce": nonce,
            },
        )
        assert r.status == 200
        reply = await r.json()
        assert (
            peer.decrypt_message(
                reply["msg_signature"], reply["timeStamp"], reply["nonce"], reply["encrypt"]
            )
            == "success"
        )
    await until(lambda: fake.of("send"))
    assert await _recorded(bot) == 1
    # card clicks still come by Stream (cards are created for it); nothing else does
    await until(lambda: fake.of("open"))
    assert [x["topic"] for x in fake.of("open")[0]["subscriptions"]] == [CARD_TOPIC]


async def test_forged_replayed_stale_oversized_and_malformed_are_refused(bot, http_mode):
    fake, client = http_mode
    user = next(iter(await bot.people()))
    good = robot_doc(user, "msgGOOD")
    now_ms = int(time.time() * 1000)
    robot_cases = [
        (headers(secret="not-the-secret"), json.dumps(good)),  # forged sign
        (dict(headers(), sign="A" * 44), json.dumps(good)),  # wrong sign
        (headers(str(now_ms - 3601 * 1000)), json.dumps(good)),  # stale (> 1 h)
        (headers(str(now_ms + 3600 * 1000)), json.dumps(good)),  # from the future
        ({"timestamp": "abc", "sign": "x"}, json.dumps(good)),  # malformed headers
        (headers(), "{not json"),  # malformed body
        (headers(), json.dumps({"msgtype": "text"})),  # no sender
        (headers(), "[" * 100 + "]" * 100),  # too deep
        (headers(), json.dumps(dict(good, text={"content": "x" * 70_000}))),  # oversized
        (headers(), json.dumps(dict(good, senderStaffId="u" * 300))),  # too long an id
        (headers(), json.dumps(dict(good, text={"content": "a\u0000b"}))),  # NUL
    ]
    for hdrs, body in robot_cases:
        r = await client.post("/dingtalk/events", data=body.encode(), headers=hdrs)
        assert r.status in (400, 403, 413), (r.status, hdrs, body[:60])
        assert "钉钉回调被拒绝" in await r.text()
    peer = EventCrypto(TOKEN, AES, APP_KEY)
    ts, nonce = str(now_ms), "n1"
    enc = peer.encrypt(json.dumps(good))
    q = {"msg_signature": peer.signature(ts, nonce, enc), "timestamp": ts, "nonce": nonce}
    raw = bytearray(base64.b64decode(enc))
    raw[20] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    key = base64.b64decode(AES + "=")
    e = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    badpad = base64.b64encode(e.update(os.urandom(31) + b"\x00") + e.finalize()).decode()
    other = EventCrypto(TOKEN, AES, "dingSOMEONEELSE").encrypt(json.dumps(good))
    stale_ts = str(now_ms - 7200 * 1000)

    def signed(x: str, t: str = ts) -> dict:
        return {"msg_signature": peer.signature(t, nonce, x), "timestamp": t, "nonce": nonce}

    event_cases = [
        (dict(q, msg_signature="0" * 40), {"encrypt": enc}),  # forged
        (q, {"encrypt": tampered}),  # tampered
        (signed(tampered), {"encrypt": tampered}),  # re-signed, bad
        (signed(badpad), {"encrypt": badpad}),  # bad padding
        (signed(other), {"encrypt": other}),  # another owner
        (signed(enc, stale_ts), {"encrypt": enc}),  # replayed later
        (q, {"encrypt": enc, "more": {"nested": 1}}),  # not flat
        (q, {"nope": "x"}),  # no encrypt
        ({"timestamp": ts, "nonce": nonce}, {"encrypt": enc}),  # no signature
        (q, {"encrypt": "A" * 70_000}),  # oversized
    ]
    for params, doc in event_cases:
        r = await client.post("/dingtalk/events", json=doc, params=params)
        assert r.status in (400, 403, 413), (r.status, params, str(doc)[:60])
    assert await _recorded(bot) == 0 and fake.of("send") == []
    # the genuine ones still pass afterwards
    r = await client.post("/dingtalk/events", json={"encrypt": enc}, params=q)
    assert r.status == 200 and await _recorded(bot) == 1
