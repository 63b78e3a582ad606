"""DingTalk Stream mode: the outbound long connection, through the official SDK's frames.

The connection is opened with ``/v1.0/gateway/connections/open`` (AppKey/AppSecret; on
the configured API host), then a WebSocket to the endpoint it names. Every frame is
acknowledged at once, before any work (a late ACK makes DingTalk redeliver); robot
messages and card clicks are then translated and handed, in arrival order, to the
durable inbound record, which drops a redelivery by its msgId. A dropped connection is
reopened with backoff (1 s doubling to 60 s, with jitter; back to 1 s after a connection
that lived a while).

The SDK's own client loop is not used: it opens the connection with a blocking HTTP call
on a fixed host, waits a fixed 10 s between attempts and acknowledges only after the
handler has run. Its frame, acknowledgement and message classes are used as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import websockets
from dingtalk_stream import AckMessage, CallbackMessage, SystemHandler, SystemMessage
from dingtalk_stream.frames import Headers

from bot import httpin
from bot.messages import Inbound
from bot.messengers import callback

from . import codec
from .adapter import Receiver
from .api import DingTalkClient

log = logging.getLogger(__name__)
MAX_FRAME = 256 * 1024


def ack(message_id: str, data: Any = None, code: int = AckMessage.STATUS_OK) -> str:
    """The acknowledgement of one frame, as the SDK builds it."""
    out = AckMessage()
    out.code = code
    out.headers.message_id = message_id
    out.headers.content_type = Headers.CONTENT_TYPE_APPLICATION_JSON
    out.message = "OK"
    out.data = data if data is not None else {"response": {}}
    return json.dumps(out.to_dict())


def translate(frame: CallbackMessage) -> Inbound | None:
    topic = frame.headers.topic
    if topic == codec.ROBOT_TOPIC:
        return codec.robot_message(frame.data)
    if topic == codec.CARD_TOPIC:
        return codec.card_callback(frame.data, str(frame.headers.message_id or ""))
    return None


class StreamReceiver:
    def __init__(
        self,
        client: DingTalkClient,
        receiver: Receiver,
        *,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        stable_after: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        topics: tuple[str, ...] = (codec.ROBOT_TOPIC, codec.CARD_TOPIC),
    ):
        """``topics``: what to subscribe to (HTTP mode: card callbacks only)."""
        self.client, self.receiver = client, receiver
        self.subscriptions = [{"type": "CALLBACK", "topic": topic} for topic in topics]
        self.min_backoff, self.max_backoff, self.stable_after = (
            min_backoff,
            max_backoff,
            stable_after,
        )
        self.sleep = sleep
        self.connections = 0
        self.acked = 0
        self.refused = 0
        self._queue: asyncio.Queue[Inbound] = asyncio.Queue()

    async def run(self) -> None:
        """Connect, read, reconnect: until cancelled."""
        recorder = asyncio.create_task(self._record())
        delay = self.min_backoff
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._connect_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any failure: reconnect later
                    log.warning("dingtalk stream: %s: %s", type(exc).__name__, exc)
                if time.monotonic() - started >= self.stable_after:
                    delay = self.min_backoff
                await self.sleep(delay * (0.8 + 0.4 * random.random()))
                delay = min(self.max_backoff, delay * 2)
        finally:
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)

    async def _connect_once(self) -> None:
        doc = await self.client.open_connection(self.subscriptions)
        uri = f"{doc['endpoint']}?ticket={quote_plus(str(doc['ticket']))}"
        async with websockets.connect(uri, max_size=MAX_FRAME, open_timeout=10) as ws:
            self.connections += 1
            async for raw in ws:
                if not await self.on_frame(ws, raw):
                    return

    async def on_frame(self, ws: Any, raw: str | bytes) -> bool:
        """Acknowledge, then queue what it carries; False to reconnect (disconnect)."""
        try:
            doc = httpin.parse_json(raw.encode("utf-8") if isinstance(raw, str) else raw)
        except httpin.Refused:
            self.refused += 1
            return True
        if not isinstance(doc, dict):
            self.refused += 1
            return True
        kind = doc.get("type")
        if kind == SystemMessage.TYPE:
            try:
                system = SystemMessage.from_dict(doc)
            except (ValueError, TypeError, AttributeError, RecursionError):
                self.refused += 1
                return True
            reply = await SystemHandler().raw_process(system)
            await ws.send(json.dumps(reply.to_dict()))
            self.acked += 1
            return system.headers.topic != SystemMessage.TOPIC_DISCONNECT
        headers = doc.get("headers")
        headers = headers if isinstance(headers, dict) else {}
        await ws.send(ack(str(headers.get("messageId", ""))))  # at once, before any work
        self.acked += 1
        if kind != CallbackMessage.TYPE:
            return True
        try:
            frame = CallbackMessage.from_dict(doc)
            if not httpin.all_clean(frame.data):
                raise codec.CodecError("NUL or a lone surrogate")
            inbound = translate(frame)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            self.refused += 1
            log.warning("dingtalk stream frame refused: %s", exc)
            return True
        if inbound is not None:
            if callback.fits(inbound):
                self._queue.put_nowait(inbound)
            else:
                self.refused += 1
        return True

    async def _record(self) -> None:
        while True:
            inbound = await self._queue.get()
            try:
                await self.receiver.receive(inbound)
            except Exception:  # noqa: BLE001 - the next frame must still be recorded
                log.exception("dingtalk stream: recording an inbound event failed")
