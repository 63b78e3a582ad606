"""Feishu's long connection (长连接) through the official lark-oapi package.

lark-oapi's WebSocket client drives its connection on an event loop of its own (a
module-level one, run by its blocking ``start``), so it runs here on a thread with a new
loop. Each event (a message, a card click) is translated and recorded on the service's
loop; the SDK acknowledges the frame only after the durable record, so an event lost in
between is delivered again by Feishu. The SDK reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from bot.messengers import Receiver, callback

from . import codec

log = logging.getLogger(__name__)
RECORD_TIMEOUT = 2.5  # Feishu wants an answer within 3 s


class LongConnection:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        domain: str,
        recorder: Receiver,
        loop: asyncio.AbstractEventLoop,
    ):
        self.app_id, self.app_secret, self.domain = app_id, app_secret, domain
        self.recorder, self.loop = recorder, loop
        self._thread: threading.Thread | None = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self.received = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import lark_oapi as lark
        from lark_oapi.ws import client as ws_client

        ws_loop = self._ws_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(ws_loop)
        ws_client.loop = ws_loop  # the SDK runs its connection on this module-level loop
        handler = (
            lark.EventDispatcherHandler.builder("", "")
            .register_p2_customized_event(codec.MESSAGE, self._on_message)
            .register_p2_card_action_trigger(self._on_card)
            .build()
        )
        self._client = ws_client.Client(
            self.app_id,
            self.app_secret,
            event_handler=handler,
            domain=self.domain,
            log_level=lark.LogLevel.WARNING,
        )
        try:
            self._client.start()
        except RuntimeError:
            pass  # the loop was stopped by close()
        except Exception:  # noqa: BLE001 - refused credentials and the like: say so
            log.exception("feishu long connection stopped")
        # the SDK's own tasks (ping, receive, cache sweep) end with the connection; the
        # loop is left open: the SDK's cache cancels its task when it is collected
        pending = asyncio.all_tasks(ws_loop)
        for task in pending:
            task.cancel()
        ws_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def _deliver(self, data: Any) -> None:
        """Runs on the SDK's thread; raises (the SDK then answers 500) if not recorded."""
        import lark_oapi as lark

        doc = json.loads(lark.JSON.marshal(data))
        inbound = codec.to_inbound(codec.envelope(doc))
        if inbound is None:
            return
        if not callback.fits(inbound):
            log.warning("feishu event refused: fields")
            return
        asyncio.run_coroutine_threadsafe(self.recorder.receive(inbound), self.loop).result(
            RECORD_TIMEOUT
        )
        self.received += 1

    def _on_message(self, data: Any) -> None:
        self._deliver(data)

    def _on_card(self, data: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import (
            P2CardActionTriggerResponse,
        )

        self._deliver(data)
        return P2CardActionTriggerResponse({})  # the card is updated through the outbox

    def close(self, timeout: float = 3.0) -> None:
        ws_loop, client = self._ws_loop, self._client
        if ws_loop is None or self._thread is None:
            return
        if client is not None:
            client._auto_reconnect = False
            try:
                asyncio.run_coroutine_threadsafe(client._disconnect(), ws_loop).result(timeout)
            except Exception:  # noqa: BLE001 - closing anyway
                log.debug("feishu long connection: disconnect failed", exc_info=True)
        ws_loop.call_soon_threadsafe(ws_loop.stop)
        self._thread.join(timeout)
