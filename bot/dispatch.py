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
from datetime import datetime
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.config import Settings
from bot.domain.model import DomainError
from bot.messages import GROUP, Inbound, Outbound
from bot.services import outbox
from bot.text import domain_message, t
from handlers import registry
from handlers.router import Ctx
from storage.models_chat import InboundEvent

log = logging.getLogger(__name__)


def dedupe_key(ib: Inbound) -> str:
    if ib.event_id:
        return f"{ib.channel}:{ib.event_id}"
    raw = f"{ib.channel}|{ib.kind}|{ib.user}|{ib.room}|{ib.group}|{ib.message_id}|{ib.key}|{ib.text}"
    return f"{ib.channel}:h:" + hashlib.sha256(raw.encode()).hexdigest()


class Dispatcher:
    def __init__(self, sf: async_sessionmaker, settings: Settings,
                 clock: Callable[[], datetime] = datetime.now,
                 on_outbox: Callable[[], None] | None = None):
        self.sf, self.settings, self.clock = sf, settings, clock
        self.on_outbox = on_outbox or (lambda: None)
        self._queues: dict[str, asyncio.Queue] = {}
        self._workers: dict[str, asyncio.Task] = {}

    async def receive(self, ib: Inbound) -> bool:
        """Record and queue; False if this event was already received."""
        try:
            async with self.sf() as s, s.begin():
                row = InboundEvent(dedupe_key=dedupe_key(ib), channel=ib.channel,
                                   conversation=ib.conversation, payload=ib.to_json())
                s.add(row)
                await s.flush()
                event_id = row.id
        except IntegrityError:
            return False
        self._queue(ib.conversation).put_nowait(event_id)
        self._ensure_worker(ib.conversation)
        return True

    async def recover(self) -> int:
        """Queue events recorded but not handled (e.g. the process died)."""
        async with self.sf() as s:
            rows = (await s.execute(select(InboundEvent.id, InboundEvent.conversation)
                                    .where(InboundEvent.status == "received")
                                    .order_by(InboundEvent.id))).all()
        for event_id, conv in rows:
            self._queue(conv).put_nowait(event_id)
            self._ensure_worker(conv)
        return len(rows)

    async def drain(self) -> None:
        """Wait until every queued event is handled (tests, shutdown)."""
        while any(not q.empty() for q in self._queues.values()) or \
                any(not w.done() for w in self._workers.values()):
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        for w in self._workers.values():
            w.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)

    def _queue(self, conv: str) -> asyncio.Queue:
        return self._queues.setdefault(conv, asyncio.Queue())

    def _ensure_worker(self, conv: str) -> None:
        w = self._workers.get(conv)
        if w is None or w.done():
            self._workers[conv] = asyncio.create_task(self._work(conv))

    async def _work(self, conv: str) -> None:
        q = self._queues[conv]
        while not q.empty():
            event_id = q.get_nowait()
            try:
                await self._handle_event(event_id)
            except Exception:  # noqa: BLE001 - recorded on the event; the worker goes on
                log.exception("inbound event %s failed", event_id)

    async def _handle_event(self, event_id: int) -> None:
        async with self.sf() as s:
            row = await s.get(InboundEvent, event_id)
            if row is None or row.status != "received":
                return
            ib = Inbound.from_json(row.payload)
        try:
            async with self.sf() as s, s.begin():
                claimed = await s.execute(update(InboundEvent).where(
                    InboundEvent.id == event_id, InboundEvent.status == "received"
                ).values(status="done", processed_at=self.clock()))
                if claimed.rowcount != 1:
                    return
                replies = await self.handle_in(s, ib)
                await outbox.enqueue(s, replies)
        except Exception as exc:  # noqa: BLE001
            async with self.sf() as s, s.begin():
                await s.execute(update(InboundEvent).where(InboundEvent.id == event_id).values(
                    status="failed", error=f"{type(exc).__name__}: {exc}"[:2000],
                    processed_at=self.clock()))
                to = ib.group if ib.room == GROUP else ib.user
                await outbox.enqueue(s, [Outbound(to, ib.room, t("chat.internal_error"))])
            raise
        finally:
            self.on_outbox()

    async def handle(self, ib: Inbound) -> list[Outbound]:
        """Run the handlers for one event in a transaction; return (and enqueue) replies."""
        async with self.sf() as s, s.begin():
            replies = await self.handle_in(s, ib)
            await outbox.enqueue(s, replies)
        self.on_outbox()
        return replies

    async def handle_in(self, session, ib: Inbound) -> list[Outbound]:
        ctx = Ctx(session, self.settings, ib, None, self.clock())
        try:
            async with session.begin_nested():
                await registry.dispatch(ctx)
        except DomainError as exc:
            ctx.replies = []
            ctx.reply(domain_message(exc))
        return ctx.replies
