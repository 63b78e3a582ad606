"""Push to the national enterprise credit publicity system (通知 一(四), 第二十条).

A publication writes three rows to ``push_outbox`` in its own transaction (发布结果,
基础库推送, 任务推送); a relay POSTs them as JSON to ``SSJ_PUBLISH_ENDPOINT``.

Guarantees:

- **Order, strictly per task.** A message is claimed only while every earlier message
  of its task is ``sent`` (the claim's ``NOT EXISTS`` says so in the database), so no
  relay, however many, sends message n+1 before n is delivered. A parked message blocks
  the rest of its task until someone retries it (``ssj outbox retry``); other tasks go on.
- **No loss, no duplicates.** A message leaves the table only as ``sent``; a claim
  carries a lease, so two instances never send one message at the same time and a relay
  that dies mid-send is replaced after the lease. The ``Idempotency-Key`` header is fixed
  at enqueue, so the endpoint can drop a repeat (a 409 then counts as delivered).
- **Retries.** 5xx, 408, 425, timeouts and refused connections: exponential backoff
  with jitter; 429: after ``Retry-After``; any other 4xx or 3xx: parked at once; after
  ``max_attempts`` tries: parked. A parked message is reported through ``on_parked``.
"""
from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Awaitable, Callable

import aiohttp
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.domain.model import DomainError
from storage import audit
from storage.repos import draws as draws_repo
from storage.models_chat import OutboxMessage
from storage.models_push import PushMessage

from .push_payloads import KINDS, SCHEMA, build, idempotency_key

__all__ = ["enqueue_publication", "PushRelay", "PushStats", "Attempt", "classify", "backoff",
           "summary", "retry", "KINDS", "SCHEMA"]

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=120)
TIMEOUT = 30.0                 # seconds per request; must stay well below LEASE
BASE_DELAY, MAX_DELAY = 10.0, 3600.0
STATUSES = ("pending", "sending", "sent", "parked")


async def enqueue_publication(session: AsyncSession, task_id: str, publication: dict,
                              now: datetime | None = None) -> None:
    """Write the task's three push messages (seq 1..3) in the caller's transaction.

    ``publication`` is the publication document: ``published_at`` (ISO text; it fixes the
    idempotency keys, so enqueueing one publication twice adds nothing), ``objects`` (one
    dict per published object, with ``uscc``; pushed as 发布结果 as given), and optionally
    ``summary``, ``verification``, ``completed_on`` and ``audit_anchor``.
    """
    task = await draws_repo.task(session, (task_id or "").strip().upper())
    if task is None:
        raise DomainError("no_task", task=task_id)
    published_at = publication.get("published_at")
    if isinstance(published_at, datetime):
        published_at = published_at.isoformat()
    published_at = str(published_at or f"unpublished:{uuid.uuid4().hex}")
    due = now or datetime.now()
    for seq, code, kind, payload in await build(session, task, publication, published_at):
        key = idempotency_key(task.id, code, published_at)
        if await session.scalar(select(PushMessage.id).where(PushMessage.idempotency_key == key)):
            continue
        session.add(PushMessage(task_id=task.id, seq=seq, kind=kind, kind_code=code,
                                idempotency_key=key, payload=payload, status="pending",
                                attempts=0, next_attempt_at=due, last_error="",
                                lease_owner=""))
    await session.flush()


def backoff(attempts: int, rnd: random.Random | None = None, base: float = BASE_DELAY,
            cap: float = MAX_DELAY) -> float:
    """Seconds before try ``attempts + 1``: base·2^(n-1), capped, with ±20 % jitter."""
    delay = min(cap, base * 2.0 ** max(0, attempts - 1))
    return delay * (0.8 + 0.4 * (rnd or random).random())


def retry_after(value: str | None, now_utc: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), at most an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(MAX_DELAY, float(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now_utc = now_utc or datetime.now(timezone.utc)
    return max(0.0, min(MAX_DELAY, (when - now_utc).total_seconds()))


def classify(status: int) -> str:
    """What an HTTP answer means: sent | duplicate | retry | park."""
    if 200 <= status < 300:
        return "sent"
    if status == 409:
        return "duplicate"   # the endpoint already has this Idempotency-Key
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "park"


@dataclass
class Attempt:
    id: int
    task_id: str
    seq: int
    kind: str
    outcome: str              # sent | duplicate | retry | parked
    http_status: int | None
    error: str = ""


@dataclass
class PushStats:
    sent: int = 0
    failed: int = 0
    parked: int = 0
    attempts: list[Attempt] = field(default_factory=list)


class PushRelay:
    """Sends due push messages, strictly in order per task, tasks side by side."""

    def __init__(self, sf: async_sessionmaker, endpoint: str, http_session: aiohttp.ClientSession,
                 clock: Callable[[], datetime] = datetime.now, token: str | None = None,
                 on_parked: Callable[[PushMessage], Awaitable[None]] | None = None,
                 max_attempts: int = MAX_ATTEMPTS, timeout: float = TIMEOUT,
                 lease: timedelta = LEASE, concurrency: int = 4,
                 rnd: random.Random | None = None):
        self.sf, self.endpoint, self.http, self.clock = sf, endpoint, http_session, clock
        self.token, self.on_parked, self.max_attempts = token or None, on_parked, max_attempts
        self.timeout, self.lease, self.concurrency = timeout, lease, max(1, concurrency)
        self.rnd = rnd or random.Random()
        self.owner = uuid.uuid4().hex

    async def run_once(self, limit: int = 100) -> PushStats:
        stats, budget = PushStats(), [max(1, limit)]
        gate = asyncio.Semaphore(self.concurrency)
        async with self.sf() as s:
            heads = (await s.execute(
                select(PushMessage).where(PushMessage.status.in_(("pending", "sending")),
                                          ~_earlier_unsent(PushMessage.task_id, PushMessage.id))
                .order_by(PushMessage.id).limit(limit))).scalars().all()

        async def chain(row: PushMessage | None) -> None:
            async with gate:
                while row is not None and budget[0] > 0:
                    if not await self._claim(row):
                        return
                    budget[0] -= 1
                    if not await self._send(row, stats):
                        return
                    row = await self._next(row)

        await asyncio.gather(*(chain(r) for r in heads))
        return stats

    async def _next(self, row: PushMessage) -> PushMessage | None:
        async with self.sf() as s:
            return await s.scalar(select(PushMessage).where(
                PushMessage.task_id == row.task_id, PushMessage.id > row.id,
                PushMessage.status.in_(("pending", "sending"))).order_by(PushMessage.id).limit(1))

    async def _claim(self, row: PushMessage) -> bool:
        now = self.clock()
        async with self.sf() as s, s.begin():
            got = (await s.execute(
                update(PushMessage)
                .where(PushMessage.id == row.id,
                       or_(and_(PushMessage.status == "pending",
                                PushMessage.next_attempt_at <= now),
                           and_(PushMessage.status == "sending", PushMessage.lease_until <= now)),
                       ~_earlier_unsent(row.task_id, row.id))
                .values(status="sending", lease_until=now + self.lease, lease_owner=self.owner,
                        attempts=PushMessage.attempts + 1)
                .returning(PushMessage.attempts))).first()
        if got is None:
            return False
        row.status, row.attempts = "sending", got[0]
        return True

    async def _send(self, row: PushMessage, stats: PushStats) -> bool:
        headers = {"Idempotency-Key": row.idempotency_key, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        status, wait = None, None
        try:
            async with self.http.post(self.endpoint, data=body, headers=headers,
                                      allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                status = resp.status
                text = (await resp.text(errors="replace"))[:300]
                wait = retry_after(resp.headers.get("Retry-After")) if status == 429 else None
            outcome = classify(status)
            error = "" if outcome in ("sent", "duplicate") else f"HTTP {status}: {text}".strip()
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as exc:
            outcome, error = "retry", f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        if outcome in ("sent", "duplicate"):
            await self._delivered(row, status)
            stats.sent += 1
            stats.attempts.append(Attempt(row.id, row.task_id, row.seq, row.kind, outcome, status))
            return True
        await self._failed(row, status, error, wait, outcome == "park", stats)
        return False

    async def _delivered(self, row: PushMessage, status: int | None) -> None:
        async with self.sf() as s, s.begin():
            await s.execute(update(PushMessage).where(
                PushMessage.id == row.id, PushMessage.status != "sent").values(
                status="sent", sent_at=self.clock(), http_status=status, last_error="",
                lease_until=None))
        row.status = "sent"

    async def _failed(self, row, status, error, wait, permanent, stats) -> None:
        park = permanent or row.attempts >= self.max_attempts
        now = self.clock()
        delay = wait if wait is not None else backoff(row.attempts, self.rnd)
        async with self.sf() as s, s.begin():
            res = await s.execute(update(PushMessage).where(
                PushMessage.id == row.id, PushMessage.status == "sending",
                PushMessage.lease_owner == self.owner).values(
                status="parked" if park else "pending", last_error=error[:2000],
                http_status=status, lease_until=None,
                next_attempt_at=now + timedelta(seconds=delay)))
        if res.rowcount != 1:       # the lease was lost meanwhile: another relay owns it
            return
        stats.failed += 1
        row.status, row.last_error, row.http_status = ("parked" if park else "pending"), error, status
        stats.attempts.append(Attempt(row.id, row.task_id, row.seq, row.kind,
                                      "parked" if park else "retry", status, error))
        if park:
            stats.parked += 1
            if self.on_parked:
                await self.on_parked(row)


def _earlier_unsent(task_id, msg_id):
    """True while an earlier message of the same task is not yet sent."""
    other = aliased(PushMessage)
    return exists().where(other.task_id == task_id, other.id < msg_id, other.status != "sent")


async def summary(session: AsyncSession) -> dict:
    """Counts per status of the chat outbox and the push outbox, and every parked message."""
    out: dict = {}
    for name, model in (("chat", OutboxMessage), ("push", PushMessage)):
        rows = await session.execute(select(model.status, func.count()).group_by(model.status))
        counts = {s: 0 for s in STATUSES}
        counts.update({status: n for status, n in rows})
        out[name] = counts
    chat = (await session.execute(select(OutboxMessage).where(
        OutboxMessage.status == "parked").order_by(OutboxMessage.id))).scalars().all()
    push = (await session.execute(select(PushMessage).where(
        PushMessage.status == "parked").order_by(PushMessage.id))).scalars().all()
    out["parked"] = (
        [{"outbox": "chat", "id": m.id, "recipient": m.recipient, "kind": m.kind,
          "attempts": m.attempts, "error": m.last_error} for m in chat]
        + [{"outbox": "push", "id": m.id, "task": m.task_id, "seq": m.seq, "kind": m.kind,
            "kind_code": m.kind_code, "attempts": m.attempts, "http_status": m.http_status,
            "error": m.last_error} for m in push])
    return out


async def retry(session: AsyncSession, msg_id: int, actor: str,
                now: datetime | None = None) -> PushMessage:
    """Put a parked push message back in the queue (its task's later messages follow)."""
    row = await session.get(PushMessage, msg_id)
    if row is None or row.status != "parked":
        raise DomainError("push_not_parked", id=msg_id)
    error = row.last_error
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now or datetime.now()
    await session.flush()
    await audit.append(session, actor, "push.retry", row.task_id,
                       {"push_id": row.id, "kind": row.kind_code, "last_error": error})
    return row
