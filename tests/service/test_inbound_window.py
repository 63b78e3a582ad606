"""Inbound deduplication, bounded in time (both databases): WeCom callbacks outside the
freshness window are refused and recorded nowhere."""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from storage.models_chat import InboundEvent

from .test_wecom import (AES, AGENT, BOT_AES, BOT_TOKEN, CORP, TOKEN, WeComPeer, sent_to,  # noqa: F401
                         until, wecom)
from .wecom_fake import FakeWeCom


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


def _text(user: str, msgid: str, created: int) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
            f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[text]]>"
            f"</MsgType><Content><![CDATA[帮助]]></Content><MsgId>{msgid}</MsgId>"
            f"<AgentID>{AGENT}</AgentID></xml>")


async def _post_at(peer, inner: str, ts: int) -> int:
    enc = peer.app.encrypt(inner)
    nonce = uuid.uuid4().hex[:10]
    params = {"msg_signature": peer.app.signature(str(ts), nonce, enc), "timestamp": str(ts),
              "nonce": nonce}
    body = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]>"
            f"</Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>")
    return await peer.post_app(inner, params=params, body=body)


async def test_callbacks_outside_the_freshness_window_are_refused(bot, wecom):  # noqa: F811
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    now = int(time.time())
    for i, ts in enumerate((978307200,                 # 2001, the attack of the issue
                            now - 3600 - 30,           # just past the default hour
                            now + 3600)):              # far in the future
        assert await _post_at(peer, _text(user, f"66600000000000{i:02d}", ts), ts) == 403
    doc = {"msgid": "botold", "aibotid": "AIBOT", "chatid": "wrG", "chattype": "group",
           "from": {"userid": user}, "msgtype": "text", "text": {"content": "@双随机助手 帮助"}}
    enc = peer.bot.encrypt(json.dumps(doc, ensure_ascii=False))
    old = str(now - 7200)
    r = await client.post("/wecom/bot", json={"encrypt": enc}, params={
        "msg_signature": peer.bot.signature(old, "n", enc), "timestamp": old, "nonce": "n"})
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
    settings = replace(bot.settings, wecom_corp_id=CORP, wecom_agent_id=AGENT,
                       wecom_secret="s", wecom_token=TOKEN, wecom_aes_key=AES,
                       wecom_api_base=url, wecom_bot_token=BOT_TOKEN, wecom_bot_aes_key=BOT_AES,
                       wecom_pace_seconds=0.05, wecom_max_age_seconds=60)
    client = await aiohttp_client(create_app(settings))
    peer = WeComPeer(client, url)
    user = next(iter(await bot.people()))
    now = int(time.time())
    assert await _post_at(peer, _text(user, "7770000000000001", now - 120), now - 120) == 403
    assert await _post_at(peer, _text(user, "7770000000000002", now - 30), now - 30) == 200
    assert await _recorded(bot) == 1


async def test_a_bad_window_setting_is_refused_in_chinese(bot):
    from bot.wecom.setup import ConfigError
    settings = replace(bot.settings, wecom_corp_id=CORP, wecom_agent_id=AGENT,
                       wecom_secret="s", wecom_token=TOKEN, wecom_aes_key=AES,
                       wecom_max_age_seconds=0)
    with pytest.raises(ConfigError, match="SSJ_WECOM_MAX_AGE_SECONDS"):
        create_app(settings)
