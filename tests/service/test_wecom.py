"""WeCom callbacks against a fake WeCom API (both databases): wechatpy as an independent
peer, every forged or malformed callback refused, tokens, rate limits and duplicates.
The whole quarter through WeCom is tests/service/test_quartet.py."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.messengers.wecom.crypto import WeComCrypto
from storage.models_chat import InboundEvent

from .channels import AES, AGENT, CORP, TOKEN, WeComPeer, wecom_settings
from .wecom_fake import FakeWeCom


@pytest.fixture
async def wecom(bot, aiohttp_client, aiohttp_server):
    fake = FakeWeCom()
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    settings = wecom_settings(bot.settings, url)
    client = await aiohttp_client(create_app(settings))
    return fake, WeComPeer(client, url), client


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


def sent_to(fake: FakeWeCom, user: str) -> list[dict]:
    return [b for b in fake.of("send") if user in b.get("touser", "").split("|")]


def card_keys(body: dict) -> list[str]:
    return [b["key"] for b in body.get("template_card", {}).get("button_list", [])]


async def test_token_expiry_refreshes_once_and_retries(bot, wecom):
    fake, peer, client = wecom
    people = await bot.people()
    user = next(iter(people))
    assert await peer.text(user, "帮助") == 200
    await until(lambda: sent_to(fake, user))
    fetched = len(fake.of("gettoken"))
    fake.script = [42001]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(sent_to(fake, user)) == 2)
    assert len(fake.of("gettoken")) == fetched + 1
    fake.script = [40014]
    fake.token = "REVOKED"
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(sent_to(fake, user)) == 3)


async def test_rate_limit_backs_off_and_invalid_user_reaches_supervisors(bot, wecom):
    fake, peer, client = wecom
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.script = [45009]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: fake.of("send-45009"))
    await asyncio.sleep(0.5)
    assert not sent_to(fake, user)  # held back (60 s), not dropped
    from storage.models_chat import OutboxMessage

    async with bot.sf() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
            .scalars()
            .one()
        )
    assert row.status == "pending" and "rate limited" in row.last_error
    fake.invalid_users.add(admins and sorted(admins)[0])
    other = next(a for a in people if a not in admins and a != user)
    fake.invalid_users.add(other)
    assert await peer.text(other, "帮助") == 200
    await until(
        lambda: [
            a
            for a in admins - {sorted(admins)[0]}
            if any("未能送达" in b.get("text", {}).get("content", "") for b in sent_to(fake, a))
        ]
    )


async def test_wechatpy_as_the_other_side(bot, wecom):
    from wechatpy.enterprise.crypto import WeChatCrypto

    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    theirs = WeChatCrypto(TOKEN, AES, CORP)
    now = str(int(time.time()))  # a callback older than SSJ_WECOM_MAX_AGE_SECONDS is refused
    inner = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
        f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]>"
        f"</MsgType><Content><![CDATA[帮助]]></Content><MsgId>9900000000000001</MsgId>"
        f"<AgentID>{AGENT}</AgentID></xml>"
    )
    envelope = theirs.encrypt_message(inner, "nonce123", now)
    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    r = await client.post(
        "/wecom/callback",
        data=envelope.encode(),
        params={"msg_signature": sig, "timestamp": now, "nonce": "nonce123"},
    )
    assert r.status == 200
    await until(lambda: sent_to(fake, user))
    # URL verification: wechatpy's echostr is answered with its plaintext
    echo = theirs._encrypt("echo-1234") if hasattr(theirs, "_encrypt") else None
    if echo is None:
        from wechatpy.crypto import PrpCrypto

        echo = PrpCrypto(base64.b64decode(AES + "=")).encrypt("echo-1234", CORP)
    from wechatpy.utils import to_text

    echo = to_text(echo)
    sig = peer.app.signature("1700000001", "n2", echo)
    r = await client.get(
        "/wecom/callback",
        params={"msg_signature": sig, "timestamp": "1700000001", "nonce": "n2", "echostr": echo},
    )
    assert r.status == 200 and await r.text() == "echo-1234"


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


async def test_forged_and_malformed_callbacks_are_refused(bot, wecom):
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    inner = (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>{user}</FromUserName>"
        f"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>帮助</Content>"
        f"<MsgId>1</MsgId></xml>"
    )
    enc = peer.app.encrypt(inner)
    good = peer._q(peer.app, enc)
    env = "<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>"
    cases = []
    cases.append((dict(good, msg_signature="0" * 40), env.format(enc)))  # wrong signature
    raw = bytearray(base64.b64decode(enc))
    raw[20] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    cases.append((peer._q(peer.app, tampered), env.format(tampered)))  # tampered
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES + "=")
    e = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    badpad = base64.b64encode(e.update(os.urandom(31) + b"\x00") + e.finalize()).decode()
    cases.append((peer._q(peer.app, badpad), env.format(badpad)))  # bad padding
    other = WeComCrypto(TOKEN, AES, "wwSOMEONEELSE00001").encrypt(inner)
    cases.append((peer._q(peer.app, other), env.format(other)))  # wrong CorpID
    cases.append((good, "<xml><Encrypt>unclosed"))  # malformed
    cases.append((good, "<xml><Encrypt>" + "A" * 70000 + "</Encrypt></xml>"))  # oversized
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Encrypt>&c;</Encrypt></xml>'
    )
    cases.append((good, bomb))  # entity expansion
    for params, body in cases:
        status = await peer.post_app("", params=params, body=body)
        assert status in (400, 403, 413), (status, body[:60])
    for doc in ([1, 2], {"encrypt": 5}, {"nope": "x"}):
        r = await client.post("/wecom/bot", params=good, json=doc)
        assert r.status in (400, 403)
    r = await client.get("/wecom/callback", params=dict(good, echostr=enc, msg_signature="1" * 40))
    assert r.status == 403
    assert await _recorded(bot) == 0 and fake.of("send") == []
    assert (await client.get("/healthz")).status == 200


async def test_same_message_three_times_handled_once(bot, wecom):
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    for _ in range(3):
        assert await peer.text(user, "帮助", msgid="5550000000000001") == 200
    await until(lambda: sent_to(fake, user))
    await asyncio.sleep(0.5)
    assert len(sent_to(fake, user)) == 1 and await _recorded(bot) == 1
