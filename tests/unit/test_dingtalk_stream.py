"""The Stream receiver without a network: system frames (ping echoed, disconnect ends
the connection), every frame acknowledged before any work, and reconnection with
backoff from 1 s doubling to 60 s."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.messengers.dingtalk import stream
from bot.messengers.dingtalk.api import DingTalkError


class Socket:
    def __init__(self):
        self.sent: list[dict] = []

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))


class Receiver:
    def __init__(self, socket: Socket | None = None):
        self.got, self.socket = [], socket
        self.acked_first: list[bool] = []

    async def receive(self, ib) -> bool:
        # the frame was acknowledged before its event reached the record
        self.acked_first.append(bool(self.socket and self.socket.sent))
        self.got.append(ib)
        return True


def frame(kind: str, topic: str, data: dict, mid: str = "m1") -> str:
    return json.dumps(
        {
            "specVersion": "1.0",
            "type": kind,
            "headers": {"topic": topic, "messageId": mid},
            "data": json.dumps(data),
        }
    )


async def test_ping_is_echoed_and_disconnect_ends_the_connection():
    r = stream.StreamReceiver(None, Receiver())  # type: ignore[arg-type]
    ws = Socket()
    assert await r.on_frame(ws, frame("SYSTEM", "ping", {"opaque": "abc"}, "p1"))
    assert ws.sent[-1]["headers"]["messageId"] == "p1"
    assert json.loads(ws.sent[-1]["data"]) == {"opaque": "abc"}
    assert not await r.on_frame(ws, frame("SYSTEM", "disconnect", {}, "d1"))
    assert ws.sent[-1]["code"] == 200


async def test_callback_acked_before_recorded():
    ws = Socket()
    rec = Receiver(ws)
    r = stream.StreamReceiver(None, rec)  # type: ignore[arg-type]
    recorder = asyncio.create_task(r._record())
    data = {
        "msgtype": "text",
        "text": {"content": "帮助"},
        "msgId": "x1",
        "senderStaffId": "u1",
        "conversationType": "1",
        "conversationId": "c",
    }
    assert await r.on_frame(ws, frame("CALLBACK", stream.codec.ROBOT_TOPIC, data, "f1"))
    assert ws.sent and ws.sent[0]["headers"]["messageId"] == "f1" and not rec.got
    for _ in range(50):
        if rec.got:
            break
        await asyncio.sleep(0.01)
    recorder.cancel()
    assert rec.got[0].event_id == "msg:x1" and rec.acked_first == [True]
    # an EVENT frame and an unknown topic are acknowledged and otherwise ignored
    assert await r.on_frame(ws, frame("EVENT", "*", {"a": 1}, "e1"))
    assert await r.on_frame(ws, frame("CALLBACK", "/v1.0/other", {"a": 1}, "o1"))
    assert [a["headers"]["messageId"] for a in ws.sent] == ["f1", "e1", "o1"]


class Refusing:
    """A gateway that never opens a connection."""

    def __init__(self):
        self.calls = 0

    async def open_connection(self, subscriptions):
        self.calls += 1
        assert {s["topic"] for s in subscriptions} == {
            stream.codec.ROBOT_TOPIC,
            stream.codec.CARD_TOPIC,
        }
        raise DingTalkError(503, "", "unavailable")


async def test_reconnect_backoff_doubles_to_a_minute():
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) >= 9:
            raise asyncio.CancelledError

    gateway = Refusing()
    r = stream.StreamReceiver(gateway, Receiver(), sleep=sleep)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await r.run()
    nominal = [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert gateway.calls == 9
    assert all(0.8 * n <= d <= 1.2 * n for d, n in zip(delays, nominal, strict=True))
