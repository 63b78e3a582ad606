"""The durable outbox: messages are rows first, sent later by a relay.

A relay claims due rows with a lease (so several instances never send one twice at
the same time, and a crash mid-send is retried after the lease), sends them in id
order per recipient, paces each recipient, and retries failures with exponential
backoff and jitter; a message that keeps failing is parked, never dropped silently.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Iterable, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import Outbound, Target
from storage.models_chat import OutboxMessage

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)


class SendError(Exception):
    def __init__(self, message: str, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    """What a sender may return instead of a bare id: the messenger's reference to the
    message and a single-use handle to update it later (WeCom's response_code)."""
    external_id: str
    handle: str = ""


class Sender(Protocol):
    pace_seconds: float

    async def send(self, msg: Outbound, outbox_id: int) -> str | Delivered: ...


# how many copies of one card a person may hold that an update still reaches
MAX_TARGETS = 5
CARD_KINDS = ("card",)


async def enqueue(session: AsyncSession, messages: Iterable[Outbound]) -> list[OutboxMessage]:
    rows = []
    for m in messages:
        if m.dedupe_key and await session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.dedupe_key == m.dedupe_key)):
            continue
        row = OutboxMessage(recipient=m.to, room=m.room, kind=m.kind, payload=m.payload(),
                            dedupe_key=m.dedupe_key, next_attempt_at=datetime.now(),
                            subject=m.subject)
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


async def remember_handle(session: AsyncSession, recipient: str, ref: str, handle: str,
                          now: datetime) -> None:
    """A click brought a fresh single-use update handle for the card ``ref``: keep it on
    the card's row, for the next update of that card."""
    if not (ref and handle):
        return
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.recipient == recipient, OutboxMessage.external_id == ref,
        OutboxMessage.kind.in_(CARD_KINDS)).values(handle=handle[:200], handle_at=now))


def backoff(attempts: int, rnd: random.Random | None = None) -> float:
    """Seconds before the next try: 1, 2, 4 … capped at 300, with ±20 % jitter."""
    base = min(300.0, 2.0 ** max(0, attempts - 1))
    return base * (0.8 + 0.4 * (rnd or random).random())


@dataclass
class RelayStats:
    sent: int = 0
    failed: int = 0
    parked: int = 0


class Relay:
    def __init__(self, sf: async_sessionmaker, sender: Sender,
                 clock: Callable[[], datetime] = datetime.now,
                 on_parked: Callable[[OutboxMessage], Awaitable[None]] | None = None):
        self.sf, self.sender, self.clock, self.on_parked = sf, sender, clock, on_parked
        self._last_sent: dict[str, datetime] = {}

    async def run_once(self, limit: int = 100) -> RelayStats:
        stats = RelayStats()
        now = self.clock()
        async with self.sf() as s:
            rows = (await s.execute(
                select(OutboxMessage).where(
                    or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending"),
                ).order_by(OutboxMessage.id).limit(limit * 2))).scalars().all()
        blocked: set[str] = set()
        for row in rows:
            if row.recipient in blocked:
                continue
            due = row.next_attempt_at <= now
            last = self._last_sent.get(row.recipient)
            paced = (last is None or self.sender.pace_seconds <= 0
                     or (now - last).total_seconds() >= self.sender.pace_seconds)
            if not (due and paced) or not await self._claim(row.id, now):
                blocked.add(row.recipient)   # keep per-recipient order
                continue
            if await self._send(row, now, stats):
                self._last_sent[row.recipient] = now   # the round's instant: pacing counts rounds
            else:
                blocked.add(row.recipient)
            if stats.sent + stats.failed >= limit:
                break
        return stats

    async def _claim(self, row_id: int, now: datetime) -> bool:
        async with self.sf() as s, s.begin():
            res = await s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id,
                       or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending"),
                       OutboxMessage.next_attempt_at <= now)
                .values(status="sending", next_attempt_at=now + LEASE))
            return res.rowcount == 1

    async def _targets(self, msg: Outbound, now: datetime) -> tuple[Target, ...]:
        """The delivered cards an update replaces, each with its update handle if one is
        still valid: for ``refresh`` every copy of the subject's card the recipient holds
        (newest first), for ``update_of`` the clicked card."""
        q = select(OutboxMessage.external_id, OutboxMessage.handle, OutboxMessage.handle_at
                   ).where(OutboxMessage.recipient == msg.to, OutboxMessage.status == "sent",
                           OutboxMessage.kind.in_(CARD_KINDS), OutboxMessage.external_id != "")
        if msg.refresh:
            if not msg.subject:
                return ()
            q = q.where(OutboxMessage.subject == msg.subject)
        else:
            q = q.where(OutboxMessage.external_id == msg.update_of)
        ttl = getattr(self.sender, "handle_ttl", None)
        async with self.sf() as s:
            rows = (await s.execute(q.order_by(OutboxMessage.id.desc())
                                    .limit(MAX_TARGETS))).all()
        out: dict[str, Target] = {}
        for ref, handle, at in rows:
            fresh = bool(handle) and (ttl is None or (at is not None and now - at < ttl))
            out.setdefault(ref, Target(ref, handle if fresh else ""))
        if not msg.refresh and msg.update_of not in out:
            out[msg.update_of] = Target(msg.update_of)
        return tuple(out.values())

    async def _send(self, row: OutboxMessage, now: datetime, stats: RelayStats) -> bool:
        msg = Outbound.from_row(row.recipient, row.room, row.payload, row.subject)
        if msg.refresh or msg.update_of:
            msg = replace(msg, targets=await self._targets(msg, now))
        try:
            if msg.refresh and not msg.targets:
                result: str | Delivered = ""   # the person holds no such card: nothing to do
            else:
                result = await self.sender.send(msg, row.id)
        except SendError as exc:
            return await self._failed(row, now, str(exc), exc.retry_after, exc.permanent, stats)
        except Exception as exc:  # noqa: BLE001 - a broken sender must not lose the message
            return await self._failed(row, now, f"{type(exc).__name__}: {exc}", None, False, stats)
        got = result if isinstance(result, Delivered) else Delivered(result or "")
        used = [t.ref for t in msg.targets if t.handle]
        async with self.sf() as s, s.begin():
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                status="sent", sent_at=self.clock(), external_id=got.external_id,
                attempts=row.attempts + 1, handle=got.handle or None,
                handle_at=now if got.handle else None))
            if used:   # single-use handles given to the sender are spent
                await s.execute(update(OutboxMessage).where(
                    OutboxMessage.recipient == row.recipient,
                    OutboxMessage.external_id.in_(used)).values(handle=None, handle_at=None))
        stats.sent += 1
        return True

    async def _failed(self, row, now, error, retry_after, permanent, stats) -> bool:
        attempts = row.attempts + 1
        park = permanent or attempts >= MAX_ATTEMPTS
        delay = retry_after if retry_after is not None else backoff(attempts)
        async with self.sf() as s, s.begin():
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                status="parked" if park else "pending", attempts=attempts, last_error=error[:2000],
                next_attempt_at=now + timedelta(seconds=delay)))
        stats.failed += 1
        if park:
            stats.parked += 1
            if self.on_parked:
                row.last_error, row.attempts = error, attempts
                await self.on_parked(row)
        return False
