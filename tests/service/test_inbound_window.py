"""Inbound deduplication, bounded in time and scoped right (both databases): WeCom
callbacks outside the freshness window are refused and recorded nowhere; a web chat
client_id is one person's own; a second pending recusal of the same object is refused."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.messages import Outbound
from storage.models import RecusalRow
from storage.models_chat import InboundEvent

from .channels import AES, AGENT, BOT_AES, BOT_TOKEN, CORP, TOKEN, WeComPeer
from .test_wecom import sent_to, until, wecom  # noqa: F401
from .wecom_fake import FakeWeCom


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


def _text(user: str, msgid: str, created: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
        f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]>"
        f"</MsgType><Content><![CDATA[帮助]]></Content><MsgId>{msgid}</MsgId>"
        f"<AgentID>{AGENT}</AgentID></xml>"
    )


async def _post_at(peer, inner: str, ts: int) -> int:
    enc = peer.app.encrypt(inner)
    nonce = uuid.uuid4().hex[:10]
    params = {
        "msg_signature": peer.app.signature(str(ts), nonce, enc),
        "timestamp": str(ts),
        "nonce": nonce,
    }
    body = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]>"
        f"</Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>"
    )
    return await peer.post_app(inner, params=params, body=body)


async def test_callbacks_outside_the_freshness_window_are_refused(bot, wecom):  # noqa: F811
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    now = int(time.time())
    for i, ts in enumerate(
        (
            978307200,  # 2001, the attack of the issue
            now - 3600 - 30,  # just past the default hour
            now + 3600,
        )
    ):  # far in the future
        assert await _post_at(peer, _text(user, f"66600000000000{i:02d}", ts), ts) == 403
    doc = {
        "msgid": "botold",
        "aibotid": "AIBOT",
        "chatid": "wrG",
        "chattype": "group",
        "from": {"userid": user},
        "msgtype": "text",
        "text": {"content": "@双随机助手 帮助"},
    }
    enc = peer.bot.encrypt(json.dumps(doc, ensure_ascii=False))
    old = str(now - 7200)
    r = await client.post(
        "/wecom/bot",
        json={"encrypt": enc},
        params={"msg_signature": peer.bot.signature(old, "n", enc), "timestamp": old, "nonce": "n"},
    )
    assert r.status == 403
    assert await _recorded(bot) == 0
    assert await _post_at(peer, _text(user, "6660000000000099", now - 3500), now - 3500) == 200
    assert await _post_at(peer, _text(user, "6660000000000098", now + 60), now + 60) == 200
    assert await _recorded(bot) == 2
    await until(lambda: len(sent_to(fake, user)) >= 2)


async def test_the_window_is_configurable(bot, aiohttp_client, aiohttp_server):
    fake = FakeWeCom()
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    settings = replace(
        bot.settings,
        wecom_corp_id=CORP,
        wecom_agent_id=AGENT,
        wecom_secret="s",
        wecom_token=TOKEN,
        wecom_aes_key=AES,
        wecom_api_base=url,
        wecom_bot_token=BOT_TOKEN,
        wecom_bot_aes_key=BOT_AES,
        wecom_pace_seconds=0.05,
        wecom_max_age_seconds=60,
    )
    client = await aiohttp_client(create_app(settings))
    peer = WeComPeer(client, url)
    user = next(iter(await bot.people()))
    now = int(time.time())
    assert await _post_at(peer, _text(user, "7770000000000001", now - 120), now - 120) == 403
    assert await _post_at(peer, _text(user, "7770000000000002", now - 30), now - 30) == 200
    assert await _recorded(bot) == 1


async def test_a_bad_window_setting_is_refused_in_chinese(bot):
    from bot.messengers.wecom.setup import ConfigError

    settings = replace(
        bot.settings,
        wecom_corp_id=CORP,
        wecom_agent_id=AGENT,
        wecom_secret="s",
        wecom_token=TOKEN,
        wecom_aes_key=AES,
        wecom_max_age_seconds=0,
    )
    with pytest.raises(ConfigError, match="SSJ_WECOM_MAX_AGE_SECONDS"):
        create_app(settings)


class Recorder:
    pace_seconds = 0.0

    def __init__(self):
        self.sent: list[Outbound] = []

    async def send(self, msg, outbox_id):
        self.sent.append(msg)
        return str(outbox_id)


async def test_a_client_id_is_deduplicated_per_person(bot, aiohttp_client):
    sender = Recorder()
    client = await aiohttp_client(create_app(replace(bot.settings, web_chat=True), sender=sender))
    people = sorted(await bot.people())
    a, b = people[0], people[1]
    for user in (a, b, a):  # b's message with a's client_id is b's own; a's retry is not
        r = await client.post(
            "/chat/api/send",
            json={"user": user, "room": "private", "text": "回避 987654 理由", "client_id": "c-1"},
        )
        assert r.status == 200
    await until(lambda: len(sender.sent) >= 2)
    await asyncio.sleep(0.5)
    assert sorted(m.to for m in sender.sent) == sorted([a, b])
    assert all("987654" in m.text for m in sender.sent)
    assert await _recorded(bot) == 2


async def test_a_second_pending_recusal_for_the_same_object_is_refused(bot):
    from .harness import GROUP, button, cards

    people = await bot.people()
    admin = next(a for a, p in people.items() if p.role == "管理员")
    card = cards(await bot.group(admin, "抽查 2027Q1"))[0]
    await bot.click(admin, button(card, "确认抽取"), room=GROUP)
    mine = {a: await bot.refs(a) for a in people if a != admin}
    user, ref = next((a, refs[0]) for a, refs in mine.items() if refs)
    first = await bot.say(user, f"回避 {ref} 其配偶在该企业任职")
    assert any("已提交" in m.text for m in first if m.to == user)
    second = await bot.say(user, f"回避 {ref} 再次申请")
    assert len(second) == 1 and second[0].to == user
    assert "已提交" in second[0].text and "请勿重复申请" in second[0].text
    async with bot.sf() as s:
        assert await s.scalar(select(func.count()).select_from(RecusalRow)) == 1
