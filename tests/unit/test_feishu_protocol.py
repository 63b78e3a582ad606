"""Feishu protocol layer: callback crypto against Feishu's published vector, lark-oapi
(the official SDK) as the independent other side, the event codec, card contents, the
token cache, pacing, and the start-up refusal of bad settings.

Published vector (飞书开放平台, 事件订阅 → 加密策略 sample): Encrypt Key ``test key``,
``P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=`` decrypts to ``hello world``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import replace

import pytest
from aiohttp import web
from Crypto.Cipher import AES as PeerAES  # pycryptodome, lark-oapi's own AES
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher as PeerCipher
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bot.config import Settings
from bot.messages import GROUP, PRIVATE, Button, Card
from bot.messengers.feishu import cards, codec
from bot.messengers.feishu.api import FeishuClient, FeishuConfig, FeishuError
from bot.messengers.feishu.crypto import CryptoError, FeishuCrypto
from bot.messengers.feishu.sender import Window
from bot.messengers.feishu.setup import ConfigError, check

VECTOR_KEY, VECTOR = "test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="


def test_published_vector() -> None:
    assert FeishuCrypto(VECTOR_KEY).decrypt(VECTOR) == "hello world"
    assert PeerCipher(VECTOR_KEY).decrypt_str(VECTOR) == "hello world"  # the SDK agrees


@pytest.mark.parametrize("text", ["hello world", "", "你好，双随机", "x" * 16, "y" * 1000])
def test_round_trips_with_the_sdk_as_the_peer(text: str) -> None:
    ours = FeishuCrypto("ssj key 2027")
    assert PeerCipher("ssj key 2027").decrypt_str(ours.encrypt(text)) == text
    # the peer's encryption, written with pycryptodome as Feishu describes it
    key, iv = hashlib.sha256(b"ssj key 2027").digest(), os.urandom(16)
    data = text.encode()
    pad = 16 - len(data) % 16
    theirs = base64.b64encode(
        iv + PeerAES.new(key, PeerAES.MODE_CBC, iv).encrypt(data + bytes([pad]) * pad)
    ).decode()
    assert ours.decrypt(theirs) == text


def test_the_sdk_accepts_our_signed_encrypted_event() -> None:
    """lark-oapi's webhook handler verifies what our peer-side code produces: the
    signature over timestamp + nonce + key + body, the envelope and the token."""
    crypto, got = FeishuCrypto("k3y"), []
    handler = (
        EventDispatcherHandler.builder("k3y", "tok")
        .register_p2_customized_event("im.message.receive_v1", got.append)
        .build()
    )
    doc = {
        "schema": "2.0",
        "header": {
            "event_id": "e1",
            "event_type": "im.message.receive_v1",
            "create_time": "1700000000000",
            "token": "tok",
        },
        "event": {"message": {"message_id": "om_1"}},
    }
    req = RawRequest()
    req.body = json.dumps({"encrypt": crypto.encrypt(json.dumps(doc))}).encode()
    req.headers = {
        "X-Lark-Request-Timestamp": "1700000000",
        "X-Lark-Request-Nonce": "n0nce",
        "X-Lark-Signature": crypto.signature("1700000000", "n0nce", req.body),
    }
    resp = handler.do(req)
    assert resp.status_code == 200 and got and got[0].event == doc["event"]
    req.headers["X-Lark-Signature"] = "0" * 64
    assert handler.do(req).status_code == 500  # and refuses a forged one
    crypto.verify(
        "1700000000", "n0nce", req.body, crypto.signature("1700000000", "n0nce", req.body).upper()
    )
    with pytest.raises(CryptoError):
        crypto.verify("1700000000", "n0nce", req.body + b" ", "0" * 64)


@pytest.mark.parametrize(
    "bad,reason",
    [
        ("not base64!", "base64"),
        (base64.b64encode(b"short").decode(), "length"),
        (base64.b64encode(os.urandom(33)).decode(), "length"),
        ("A" * 200_000, "length"),
    ],
    ids=["not-base64", "short", "not-a-block-multiple", "oversized"],
)
def test_malformed_ciphertexts(bad: str, reason: str) -> None:
    with pytest.raises(CryptoError) as err:
        FeishuCrypto("k").decrypt(bad)
    assert err.value.reason == reason


def test_bad_padding_and_bad_utf8() -> None:
    key = hashlib.sha256(b"k").digest()
    iv = os.urandom(16)
    for plain, reason in ((os.urandom(15) + b"\x00", "padding"), (b"\xff" * 15 + b"\x01", "utf8")):
        enc = base64.b64encode(iv + PeerAES.new(key, PeerAES.MODE_CBC, iv).encrypt(plain)).decode()
        with pytest.raises(CryptoError) as err:
            FeishuCrypto("k").decrypt(enc)
        assert err.value.reason == reason


def _message(chat_type: str = "p2p", text: str = "帮助", **message) -> dict:
    return {
        "schema": "2.0",
        "header": {
            "event_id": "e1",
            "event_type": codec.MESSAGE,
            "create_time": "1700000000000",
            "token": "t",
        },
        "event": {
            "sender": {"sender_id": {"user_id": "zhang3"}, "sender_type": "user"},
            "message": {
                "message_id": "om_9",
                "chat_id": "oc_1",
                "chat_type": chat_type,
                "message_type": "text",
                "content": json.dumps({"text": text}),
                **message,
            },
        },
    }


def test_codec_messages_and_clicks() -> None:
    ib = codec.to_inbound(codec.envelope(_message()))
    assert ib is not None and (ib.kind, ib.user, ib.room, ib.text, ib.event_id, ib.channel) == (
        "text",
        "zhang3",
        PRIVATE,
        "帮助",
        "msg:om_9",
        "feishu",
    )
    doc = _message(
        "group",
        "@_user_1 抽查 2027Q1 问 @_user_2",
        mentions=[{"key": "@_user_1", "name": "双随机助手"}, {"key": "@_user_2", "name": "李四"}],
    )
    ib = codec.to_inbound(codec.envelope(doc))
    assert ib is not None and (ib.room, ib.group, ib.text, ib.mentioned) == (
        GROUP,
        "oc_1",
        "抽查 2027Q1 问 @李四",
        True,
    )
    plain = codec.to_inbound(codec.envelope(_message("group", "大家好")))  # no @: not for us
    assert plain is not None and plain.mentioned is False
    click = {
        "schema": "2.0",
        "header": {"event_id": "e2", "event_type": codec.CARD_ACTION, "token": "t"},
        "event": {
            "operator": {"user_id": "zhang3"},
            "action": {"value": {"k": "acc:3"}},
            "context": {"open_message_id": "om_5", "open_chat_id": "oc_1"},
        },
    }
    ib = codec.to_inbound(codec.envelope(click))
    assert ib is not None and (ib.kind, ib.key, ib.message_id, ib.room, ib.event_id) == (
        "click",
        "acc:3",
        "om_5",
        PRIVATE,
        "evt:e2",
    )
    click["event"]["action"]["value"]["r"] = GROUP
    ib = codec.to_inbound(codec.envelope(click))
    assert ib is not None and (ib.room, ib.group) == (GROUP, "oc_1")
    # ignored: another bot, a sticker, an unknown event
    bot = _message()
    bot["event"]["sender"]["sender_type"] = "app"
    assert codec.to_inbound(codec.envelope(bot)) is None
    assert codec.to_inbound(codec.envelope(_message(message_type="sticker"))) is None
    other = dict(_message(), header=dict(_message()["header"], event_type="im.chat.updated_v1"))
    assert codec.to_inbound(codec.envelope(other)) is None


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"schema": "1.0"},
        {"schema": "2.0", "header": {}, "event": []},
        {"schema": "2.0", "header": {"create_time": "12x"}, "event": {}},
        {"schema": "2.0", "header": {"event_type": codec.MESSAGE}, "event": {}},
        _message(content="not json"),
        _message(content=json.dumps({"text": 5})),
        {
            "schema": "2.0",
            "header": {"event_type": codec.CARD_ACTION, "event_id": "e"},
            "event": {"operator": {"user_id": "u"}, "action": {"value": "acc:1"}},
        },
    ],
)
def test_codec_refuses_malformed_events(doc) -> None:
    with pytest.raises(codec.CodecError):
        codec.to_inbound(codec.envelope(doc))


def test_card_contents() -> None:
    card = Card(
        "检查任务",
        "编号 12：某某公司\n期限 2027-03-31",
        (Button("acc:12", "接收"), Button("rec:12", "申请回避")),
    )
    doc = json.loads(cards.card_content(card))
    assert doc["header"]["title"]["content"] == "检查任务"
    assert doc["config"]["update_multi"] is True
    body, actions = doc["elements"]
    assert body["text"] == {"tag": "plain_text", "content": card.body}  # never markdown
    assert [a["value"] for a in actions["actions"]] == [{"k": "acc:12"}, {"k": "rec:12"}]
    group = json.loads(cards.card_content(card, GROUP))
    assert group["elements"][1]["actions"][0]["value"] == {"k": "acc:12", "r": GROUP}
    with pytest.raises(ValueError):
        cards.card_content(Card("t", "b", (Button("a", "x"), Button("a", "y"))))
    long = "第一行\n" + "字" * 20000
    parts = cards.split_text(long, 4096)
    assert "".join(parts) == long and all(len(p.encode()) <= 4096 for p in parts)
    assert len(cards.card_content(Card("t", "字" * 50_000)).encode()) <= 30 * 1024


async def test_token_refreshed_before_expiry_and_on_invalid(aiohttp_server) -> None:
    """A token that would expire mid-quarter: replaced once less than 30 min remain;
    one Feishu calls invalid is evicted and fetched again, the call retried once."""
    issued: list[str] = []
    answers: list[int] = []

    async def token(request: web.Request) -> web.Response:
        issued.append(f"t-{len(issued) + 1}")
        return web.json_response({"code": 0, "tenant_access_token": issued[-1], "expire": 7200})

    async def send(request: web.Request) -> web.Response:
        code = answers.pop(0) if answers else 0
        ok = request.headers["Authorization"] == f"Bearer {issued[-1]}"
        return web.json_response({"code": code if ok else 99991663, "data": {"message_id": "om_1"}})

    app = web.Application()
    app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", token)
    app.router.add_post("/open-apis/im/v1/messages", send)
    server = await aiohttp_server(app)
    now = [1000.0]
    import aiohttp

    async with aiohttp.ClientSession() as http:
        client = FeishuClient(
            FeishuConfig("cli_a", "s", str(server.make_url("")).rstrip("/")),
            http,
            clock=lambda: now[0],
        )
        assert await client.send("user_id", "u", "text", "{}", "k1") == "om_1"
        now[0] += 7200 - 1800 - 1  # 30 min and a second left: still used
        await client.send("user_id", "u", "text", "{}", "k2")
        assert issued == ["t-1"]
        now[0] += 2  # less than 30 min left: replaced
        await client.send("user_id", "u", "text", "{}", "k3")
        assert issued == ["t-1", "t-2"]
        answers.append(99991661)  # Feishu says: invalid
        await client.send("user_id", "u", "text", "{}", "k4")
        assert issued == ["t-1", "t-2", "t-3"]
        answers.extend([99991663, 99991663])  # still refused after one refetch
        with pytest.raises(FeishuError):
            await client.send("user_id", "u", "text", "{}", "k5")


async def test_window_paces_five_a_second() -> None:
    now = [0.0]
    w = Window(5, 1.0, clock=lambda: now[0])
    for _ in range(5):
        await w.take("u")
    import asyncio

    blocked = asyncio.create_task(w.take("u"))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    await w.take("other")  # another user is not held back
    now[0] = 1.0
    await asyncio.wait_for(blocked, 2)


def _settings(**kw) -> Settings:
    base = Settings(
        "sqlite+aiosqlite:///:memory:",
        feishu_app_id="cli_a1b2c3d4",
        feishu_app_secret="s",
        feishu_encrypt_key="k",
        feishu_verification_token="t",
        feishu_mode="http",
    )
    return replace(base, **kw)


def test_settings_refused_in_chinese() -> None:
    check(_settings())
    check(_settings(feishu_mode="ws", feishu_encrypt_key="", feishu_verification_token=""))
    for bad, words in (
        ({"feishu_app_secret": ""}, "SSJ_FEISHU_APP_SECRET"),
        ({"feishu_encrypt_key": ""}, "SSJ_FEISHU_ENCRYPT_KEY"),
        ({"feishu_verification_token": ""}, "SSJ_FEISHU_VERIFICATION_TOKEN"),
        ({"feishu_app_id": "wx123"}, "cli_"),
        ({"feishu_mode": "webhook"}, "SSJ_FEISHU_MODE"),
        ({"feishu_api_base": "open.feishu.cn/x"}, "SSJ_FEISHU_API_BASE"),
    ):  # Feishu beside another messenger: tests/unit/test_one_messenger.py
        with pytest.raises(ConfigError) as err:
            check(_settings(**bad))
        assert words in str(err.value)


def test_settings_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SSJ_FEISHU_APP_ID", "cli_a1b2c3d4")
    monkeypatch.setenv("SSJ_FEISHU_MODE", "HTTP")
    monkeypatch.setenv("SSJ_FEISHU_API_BASE", "https://open.larksuite.com")
    s = Settings.from_env("sqlite+aiosqlite:///:memory:")
    assert (s.feishu_app_id, s.feishu_mode, s.feishu_api_base) == (
        "cli_a1b2c3d4",
        "http",
        "https://open.larksuite.com",
    )


def test_the_service_refuses_to_start_with_bad_feishu_settings() -> None:
    from bot.app import create_app
    from bot.messengers import ConfigError as Refusal

    base = Settings("sqlite+aiosqlite:///:memory:", scheduler=False)
    for bad in (
        {"feishu_encrypt_key": "k"},  # no App ID
        {
            "feishu_app_id": "cli_a1b2c3d4",
            "feishu_app_secret": "s",
            "wecom_corp_id": "ww1",
            "wecom_agent_id": 1,
            "wecom_secret": "x",
            "wecom_token": "t",
            "wecom_aes_key": "a" * 43,
        },
    ):  # two messengers
        with pytest.raises(Refusal):
            create_app(replace(base, **bad))
