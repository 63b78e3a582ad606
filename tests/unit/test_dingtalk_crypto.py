"""DingTalk crypto against DingTalk's published debugging vector, round trips, refusals,
and the robot outgoing callback's signature; the Stream SDK's frames as the peer."""

from __future__ import annotations

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.messengers.dingtalk import codec, stream
from bot.messengers.dingtalk.crypto import CryptoError, EventCrypto, robot_sign, robot_sign_ok

TOKEN, AES, OWNER = "123456", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "suite4xxxxxxxxxxxxxxx"
TS, NONCE, SIG = "1445827045067", "nEXhMP4r", "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0"
ENC = (
    "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gT"
    "RWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrf"
    "gnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ=="
)
PLAIN = '{"EventType":"check_create_suite_url","Random":"LPIdSnlF","TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}'


def test_published_vector():
    c = EventCrypto(TOKEN, AES, OWNER)
    assert c.signature(TS, NONCE, ENC) == SIG
    assert c.decrypt_message(SIG, TS, NONCE, ENC) == PLAIN


def test_round_trip_and_reply():
    c = EventCrypto(TOKEN, AES, "dingappkey001")
    enc = c.encrypt("success")
    assert c.decrypt(enc) == "success"
    reply = c.reply("success", TS, NONCE)
    assert c.decrypt_message(reply["msg_signature"], TS, NONCE, reply["encrypt"]) == "success"
    assert reply["timeStamp"] == TS and reply["nonce"] == NONCE


def test_refusals():
    c = EventCrypto(TOKEN, AES, OWNER)
    with pytest.raises(CryptoError) as e:
        c.decrypt_message("0" * 40, TS, NONCE, ENC)
    assert e.value.reason == "signature"
    with pytest.raises(CryptoError) as e:
        EventCrypto(TOKEN, AES, "dingOTHER").decrypt(ENC)
    assert e.value.reason == "owner"
    key = base64.b64decode(AES + "=")
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    bad = base64.b64encode(enc.update(os.urandom(31) + b"\x00") + enc.finalize()).decode()
    with pytest.raises(CryptoError) as e:
        c.decrypt(bad)
    assert e.value.reason == "padding"
    for junk in ("not base64!", "", base64.b64encode(b"x" * 15).decode()):
        with pytest.raises(CryptoError):
            c.decrypt(junk)
    for key_text in ("short", "!" * 43):
        with pytest.raises(ValueError):
            EventCrypto(TOKEN, key_text, OWNER)


def test_robot_sign():
    # base64(HMAC-SHA256(secret, ts + "\n" + secret)), computed independently
    import hashlib
    import hmac

    secret, ts = "this is a secret", "1577262236757"
    want = base64.b64encode(
        hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert robot_sign(secret, ts) == want
    assert robot_sign_ok(secret, ts, want)
    assert not robot_sign_ok(secret, ts, want[:-2] + "AA")
    assert not robot_sign_ok("other", ts, want)


def test_sdk_frames_as_the_peer():
    """The SDK's own classes build the frames and parse our acknowledgement."""
    from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage
    from dingtalk_stream.frames import Headers

    data = {
        "msgtype": "text",
        "text": {"content": " 帮助 "},
        "msgId": "msgA1",
        "senderStaffId": "user01",
        "conversationType": "1",
        "conversationId": "cid1",
        "senderNick": "张三",
        "sessionWebhook": "https://example.invalid/x",
    }
    frame = CallbackMessage.from_dict(
        {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {"topic": ChatbotMessage.TOPIC, "messageId": "frame-1"},
            "data": json.dumps(data),
        }
    )
    ib = stream.translate(frame)
    assert ib is not None and (ib.user, ib.text, ib.event_id, ib.channel) == (
        "user01",
        "帮助",
        "msg:msgA1",
        "dingtalk",
    )
    ack = json.loads(stream.ack("frame-1"))
    assert ack["code"] == AckMessage.STATUS_OK
    assert Headers.from_dict(ack["headers"]).message_id == "frame-1"
    group = dict(data, conversationType="2", isInAtList=True, conversationId="cidGROUP")
    gib = codec.robot_message(group)
    assert gib is not None and gib.room == "group" and gib.group == "cidGROUP" and gib.mentioned


def test_card_callback_via_the_sdk_message():
    from dingtalk_stream import CardCallbackMessage

    msg = CardCallbackMessage()
    msg.user_id, msg.card_instance_id = "user02", "ssj-12-abc"
    msg.content = {"cardPrivateData": {"actionIds": ["acc:12"], "params": {}}}
    ib = codec.card_callback(msg.to_dict(), "frame-9")
    assert ib is not None and (ib.kind, ib.user, ib.key, ib.message_id, ib.event_id) == (
        "click",
        "user02",
        "acc:12",
        "ssj-12-abc",
        "card:frame-9",
    )
    for bad in (
        [],
        {"userId": "u"},
        dict(msg.to_dict(), content="{}"),
        dict(msg.to_dict(), content="not json"),
    ):
        with pytest.raises(codec.CodecError):
            codec.card_callback(bad)
