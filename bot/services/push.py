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

The relay decides; the HTTP request itself is made by a ``PushTransport`` given to it
(``bot.push_runtime.HttpPushTransport`` in the service).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from bot.domain.model import DomainError
from bot.domain.status import OutboxStatus
from storage import audit
from storage.models_push import PushMessage
from storage.repos import draws as draws_repo
from storage.repos import outbox as outbox_repo
from storage.repos import push as push_repo
from storage.uow import Session, Sessions, unit_of_work

from .push_payloads import KINDS, SCHEMA, build, idempotency_key

__all__ = [
    "enqueue_publication",
    "PushRelay",
    "PushStats",
    "Attempt",
    "classify",
    "backoff",
    "summary",
    "retry",
    "KINDS",
    "SCHEMA",
    "PushTransport",
    "PushResponse",
    "PushTransportError",
]

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=120)
TIMEOUT = 30.0  # seconds per request; must stay well below LEASE
BASE_DELAY, MAX_DELAY = 10.0, 3600.0
STATUSES = tuple(s.value for s in OutboxStatus)  # pending, sending, sent, parked


@dataclass(frozen=True)
class PushResponse:
    """The endpoint's answer: its status, body and ``Retry-After`` header (if any)."""

    status: int
    text: str
    retry_after: str | None = None


class PushTransportError(Exception):
    """No answer (timeout, refused or broken connection): the message is retried.
    ``status``: the answer's status if one began to arrive before the failure."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class PushTransport(Protocol):
    """POSTs one message; raises ``PushTransportError`` when no answer arrives. Must not
    follow redirects (a 3xx is an answer)."""

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> PushResponse: ...


async def enqueue_publication(
    session: Session, task_id: str, publication: dict[str, Any], now: datetime | None = None
) -> None:
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
        if await push_repo.has_key(session, key):
            continue
        session.add(
            PushMessage(
                task_id=task.id,
                seq=seq,
                kind=kind,
                kind_code=code,
                idempotency_key=key,
                payload=payload,
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=due,
                last_error="",
                lease_owner="",
            )
        )
    await session.flush()


def backoff(
    attempts: int,
    rnd: random.Random | None = None,
    base: float = BASE_DELAY,
    cap: float = MAX_DELAY,
) -> float:
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
        when = when.replace(tzinfo=UTC)
    now_utc = now_utc or datetime.now(UTC)
    return max(0.0, min(MAX_DELAY, (when - now_utc).total_seconds()))


def classify(status: int) -> str:
    """What an HTTP answer means: sent | duplicate | retry | park."""
    if 200 <= status < 300:
        return "sent"
    if status == 409:
        return "duplicate"  # the endpoint already has this Idempotency-Key
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "park"


@dataclass
class Attempt:
    id: int
    task_id: str
    seq: int
    kind: str
    outcome: str  # sent | duplicate | retry | parked
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

    def __init__(
        self,
        sf: Sessions,
        endpoint: str,
        transport: PushTransport,
        clock: Callable[[], datetime] = datetime.now,
        token: str | None = None,
        on_parked: Callable[[PushMessage], Awaitable[None]] | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = TIMEOUT,
        lease: timedelta = LEASE,
        concurrency: int = 4,
        rnd: random.Random | None = None,
    ):
        self.sf, self.endpoint, self.transport, self.clock = sf, endpoint, transport, clock
        self.token, self.on_parked, self.max_attempts = token or None, on_parked, max_attempts
        self.timeout, self.lease, self.concurrency = timeout, lease, max(1, concurrency)
        self.rnd = rnd or random.Random()
        self.owner = uuid.uuid4().hex

    async def run_once(self, limit: int = 100) -> PushStats:
        stats, budget = PushStats(), [max(1, limit)]
        gate = asyncio.Semaphore(self.concurrency)
        async with self.sf() as s:
            heads = await push_repo.heads(s, limit)

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
            return await push_repo.next_open(s, row.task_id, row.id)

    async def _claim(self, row: PushMessage) -> bool:
        now = self.clock()
        async with unit_of_work(self.sf) as s:
            attempts = await push_repo.claim(
                s, row.id, row.task_id, now, now + self.lease, self.owner
            )
        if attempts is None:
            return False
        row.status, row.attempts = OutboxStatus.SENDING, attempts
        return True

    async def _send(self, row: PushMessage, stats: PushStats) -> bool:
        headers = {"Idempotency-Key": row.idempotency_key, "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        status: int | None = None
        wait: float | None = None
        try:
            resp = await self.transport.post(self.endpoint, body, headers, self.timeout)
            status = resp.status
            text = resp.text[:300]
            wait = retry_after(resp.retry_after) if status == 429 else None
            outcome = classify(status)
            error = "" if outcome in ("sent", "duplicate") else f"HTTP {status}: {text}".strip()
        except PushTransportError as exc:
            status = exc.status
            outcome, error = "retry", str(exc)
        if outcome in ("sent", "duplicate"):
            await self._delivered(row, status)
            stats.sent += 1
            stats.attempts.append(Attempt(row.id, row.task_id, row.seq, row.kind, outcome, status))
            return True
        await self._failed(row, status, error, wait, outcome == "park", stats)
        return False

    async def _delivered(self, row: PushMessage, status: int | None) -> None:
        async with unit_of_work(self.sf) as s:
            await push_repo.mark_sent(s, row.id, self.clock(), status)
        row.status = OutboxStatus.SENT

    async def _failed(
        self,
        row: PushMessage,
        status: int | None,
        error: str,
        wait: float | None,
        permanent: bool,
        stats: PushStats,
    ) -> None:
        park = permanent or row.attempts >= self.max_attempts
        now = self.clock()
        delay = wait if wait is not None else backoff(row.attempts, self.rnd)
        new_status = OutboxStatus.PARKED if park else OutboxStatus.PENDING
        async with unit_of_work(self.sf) as s:
            still_held = await push_repo.mark_failed(
                s,
                row.id,
                self.owner,
                status=new_status,
                error=error[:2000],
                http_status=status,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        if not still_held:  # the lease was lost meanwhile: another relay owns it
            return
        stats.failed += 1
        row.status, row.last_error, row.http_status = new_status, error, status
        stats.attempts.append(
            Attempt(
                row.id, row.task_id, row.seq, row.kind, "parked" if park else "retry", status, error
            )
        )
        if park:
            stats.parked += 1
            if self.on_parked:
                await self.on_parked(row)


async def summary(session: Session) -> dict[str, Any]:
    """Counts per status of the chat outbox and the push outbox, and every parked message."""
    out: dict[str, Any] = {}
    for name, found in (
        ("chat", await outbox_repo.count_by_status(session)),
        ("push", await push_repo.count_by_status(session)),
    ):
        counts = {s: 0 for s in STATUSES}
        counts.update(found)
        out[name] = counts
    chat = await outbox_repo.parked(session)
    push = await push_repo.parked(session)
    out["parked"] = [
        {
            "outbox": "chat",
            "id": m.id,
            "recipient": m.recipient,
            "kind": m.kind,
            "attempts": m.attempts,
            "error": m.last_error,
        }
        for m in chat
    ] + [
        {
            "outbox": "push",
            "id": m.id,
            "task": m.task_id,
            "seq": m.seq,
            "kind": m.kind,
            "kind_code": m.kind_code,
            "attempts": m.attempts,
            "http_status": m.http_status,
            "error": m.last_error,
        }
        for m in push
    ]
    return out


async def retry(
    session: Session, msg_id: int, actor: str, now: datetime | None = None
) -> PushMessage:
    """Put a parked push message back in the queue (its task's later messages follow)."""
    row = await session.get(PushMessage, msg_id)
    if row is None or row.status != OutboxStatus.PARKED:
        raise DomainError("push_not_parked", id=msg_id)
    error = row.last_error
    row.status, row.attempts, row.next_attempt_at = OutboxStatus.PENDING, 0, now or datetime.now()
    await session.flush()
    await audit.append(
        session,
        actor,
        "push.retry",
        row.task_id,
        {"push_id": row.id, "kind": row.kind_code, "last_error": error},
    )
    return row
