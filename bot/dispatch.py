"""The dispatcher: record, deduplicate, order, handle, and put replies in the outbox.

``receive`` records an inbound event (a duplicate delivery is recognised by its key and
dropped) and queues it on its conversation; one worker per conversation handles events
in arrival order, in the background, so adapters can acknowledge at once. ``handle``
runs the handlers in one transaction together with the outbox writes, so a crash either
loses nothing or does nothing; events still ``received`` at start-up are handled then.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot import localtime
from bot.config import Settings
from bot.domain.model import DomainError
from bot.domain.status import InboundStatus
from bot.messages import GROUP, Inbound, Outbound
from bot.services import outbox
from bot.text import domain_message, t
from handlers import registry
from handlers.router import Ctx
from storage import inbound as inbound_repo
from storage.uow import Session, Sessions, unit_of_work

log = logging.getLogger(__name__)


# channels whose event ids are chosen by the client (the web chat's client_id): an id is
# unique only per person and kind, never across people
PER_PERSON_IDS = ("webchat",)
KEY_MAX = 200  # inbound_events.dedupe_key


def dedupe_key(ib: Inbound) -> str:
    if ib.event_id:
        if ib.channel in PER_PERSON_IDS:
            key = f"{ib.channel}:{ib.user}:{ib.kind}:{ib.event_id}"
            if len(key) > KEY_MAX:
                raw = f"{ib.user}|{ib.kind}|{ib.event_id}"
                key = (
                    f"{ib.channel}:p:"
                    + hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
                )
            return key
        return f"{ib.channel}:{ib.event_id}"
    raw = (
        f"{ib.channel}|{ib.kind}|{ib.user}|{ib.room}|{ib.group}|{ib.message_id}|{ib.key}|{ib.text}"
    )
    return f"{ib.channel}:h:" + hashlib.sha256(raw.encode()).hexdigest()


class Dispatcher:
    def __init__(
        self,
        sf: Sessions,
        settings: Settings,
        clock: Callable[[], datetime] = localtime.now,
        on_outbox: Callable[[], None] | None = None,
    ):
        self.sf, self.settings, self.clock = sf, settings, clock
        self.on_outbox = on_outbox or (lambda: None)
        self._queues: dict[str, asyncio.Queue[int]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self._pending: list[tuple[Inbound, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # arrival times of the last two events received (monotonic): the pressure signal
        self._arrivals = [float("-inf"), float("-inf")]
        self._gate = asyncio.Lock()  # one background waiter at a time

    async def receive(self, ib: Inbound) -> bool:
        """Record and queue; False if this event was already received.

        Returns only after the event is committed to the database (so an acknowledgement
        never precedes the durable record). Concurrent calls are written together in one
        transaction (group commit): one INSERT … ON CONFLICT DO NOTHING per batch.
        """
        self._arrivals = [self._arrivals[1], time.monotonic()]
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((ib, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                ids = await self._record(batch)
            except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (ib, fut), event_id in zip(batch, ids, strict=True):
                if event_id is not None:
                    self._queue(ib.conversation).put_nowait(event_id)
                    self._ensure_worker(ib.conversation)
                if not fut.done():
                    fut.set_result(event_id is not None)

    async def _record(self, batch: list[tuple[Inbound, asyncio.Future[bool]]]) -> list[int | None]:
        """Insert a batch; the id of each new event, None for a duplicate."""
        keys: list[str] = []
        rows: list[dict[str, Any]] = []
        first: dict[str, int] = {}
        for ib, _ in batch:
            key = dedupe_key(ib)
            keys.append(key)
            if key not in first:  # a duplicate inside the batch itself
                first[key] = len(rows)
                rows.append(
                    {
                        "dedupe_key": key,
                        "channel": ib.channel,
                        "conversation": ib.conversation,
                        "payload": ib.to_json(),
                        "status": InboundStatus.RECEIVED.value,
                    }
                )
        got = await inbound_repo.record_batch(self.sf.kw["bind"], rows)
        seen: set[str] = set()
        out: list[int | None] = []
        for key in keys:
            out.append(got.get(key) if key not in seen else None)
            seen.add(key)
        return out

    async def recover(self) -> int:
        """Queue events recorded but not handled (e.g. the process died)."""
        async with self.sf() as s:
            rows = await inbound_repo.unhandled(s)
        for event_id, conv in rows:
            self._queue(conv).put_nowait(event_id)
            self._ensure_worker(conv)
        return len(rows)

    async def drain(self) -> None:
        """Wait until every queued event is handled (tests, shutdown)."""
        while any(not q.empty() for q in self._queues.values()) or any(
            not w.done() for w in self._workers.values()
        ):
            await asyncio.sleep(0.01)

    async def close(self, grace: float = 5.0) -> None:
        """Stop: the event in hand is finished (up to ``grace`` seconds), the queued ones
        stay recorded for the next start's ``recover``."""
        self._closing = True
        workers = set(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace)
            for w in late:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def _queue(self, conv: str) -> asyncio.Queue[int]:
        return self._queues.setdefault(conv, asyncio.Queue())

    def _ensure_worker(self, conv: str) -> None:
        w = self._workers.get(conv)
        if w is None or w.done():
            self._workers[conv] = asyncio.create_task(self._work(conv))

    # Background work (handlers, the outbox relay) defers to acknowledgements: while
    # callbacks keep arriving (two within QUIET seconds, the latest less than QUIET ago) it
    # waits for a quiet moment, one waiter at a time, but never longer than MAX_DEFER per
    # step. A lone message is handled at once; a burst is answered first and handled just
    # after; a sustained flood still gets one background step per MAX_DEFER.
    QUIET = 0.02
    MAX_DEFER = 1.0

    def busy(self, now: float | None = None) -> bool:
        prev, last = self._arrivals
        now = time.monotonic() if now is None else now
        return bool(self._pending) or (now - last < self.QUIET and last - prev < self.QUIET)

    async def yield_to_acks(self) -> None:
        if not self.busy():
            return
        async with self._gate:
            start = time.monotonic()
            while True:
                now = time.monotonic()
                if not self.busy(now) or now - start >= self.MAX_DEFER:
                    return
                await asyncio.sleep(min(self.QUIET, start + self.MAX_DEFER - now) + 0.001)

    async def _work(self, conv: str) -> None:
        q = self._queues[conv]
        while not q.empty() and not self._closing:
            event_id = q.get_nowait()
            await self.yield_to_acks()
            try:
                await self._handle_event(event_id)
            except Exception:  # noqa: BLE001 - recorded on the event; the worker goes on
                log.exception("inbound event %s failed", event_id)

    async def _handle_event(self, event_id: int) -> None:
        ib = None
        try:
            async with unit_of_work(self.sf) as s:
                # claim and read in one statement: one transaction per event
                claimed = await inbound_repo.claim(s, event_id, self.clock())
                if claimed is None:
                    return
                ib = Inbound.from_json(claimed)
                replies = await self.handle_in(s, ib)
                await outbox.enqueue(s, replies)
        except Exception as exc:  # noqa: BLE001
            if ib is None:
                raise
            async with unit_of_work(self.sf) as s:
                await inbound_repo.mark_failed(
                    s, event_id, f"{type(exc).__name__}: {exc}"[:2000], self.clock()
                )
                to = ib.group if ib.room == GROUP else ib.user
                await outbox.enqueue(s, [Outbound(to, ib.room, t("chat.internal_error"))])
            raise
        finally:
            self.on_outbox()

    async def handle(self, ib: Inbound) -> list[Outbound]:
        """Run the handlers for one event in a transaction; return (and enqueue) replies."""
        async with unit_of_work(self.sf) as s:
            replies = await self.handle_in(s, ib)
            await outbox.enqueue(s, replies)
        self.on_outbox()
        return replies

    async def handle_in(self, session: Session, ib: Inbound) -> list[Outbound]:
        ctx = Ctx(session, self.settings, ib, None, self.clock())
        if ib.kind == "click" and ib.handle and ib.room != GROUP:
            # the click's fresh update handle (WeCom ResponseCode) serves the card's next update
            await outbox.remember_handle(session, ib.user, ib.message_id, ib.handle, datetime.now())
        try:
            async with session.begin_nested():
                await registry.dispatch(ctx)
        except DomainError as exc:
            ctx.replies = []
            ctx.reply(domain_message(exc, channel="chat"))
        return ctx.replies
