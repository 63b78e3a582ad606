"""The durable outbox: messages are rows first, sent later by a relay.

A relay claims due rows with a lease (so several instances never send one twice at
the same time), sends them in id order per recipient, paces each recipient, and retries
failures with exponential backoff and jitter; a message that keeps failing is parked,
never dropped silently.

Effectively once:

* A *transactional* sender (``transactional = True``, e.g. the web chat, which stores
  messages in this very database) gets the session of the transaction that marks the row
  sent (``send_in(session, msg, outbox_id)``): the delivery and the mark commit together,
  or neither does, whenever the process dies. The mark is conditional on this relay still
  holding the lease, so a relay that lost it rolls its delivery back.
* Every other sender gets the row's idempotency key (``msg.key``: random, stored on the
  row, the same on every attempt) to hand to the network (WeCom: the card's task_id, a
  text's duplicate check), so a retry after a crash between sending and marking is
  recognised by the network instead of delivered twice.
* Each relay registers itself in ``relay_instances`` (a new id per process start, its
  machine, pid and the kernel's start time of that pid) and beats every ``HEARTBEAT``;
  the rows it claims carry its id. A relay takes back, at start-up and at every beat, the
  leases of instances that are dead: on the same machine, their process is gone (so a
  service restarted after a kill -9 resumes its in-flight rows at once); anywhere, their
  heartbeat is older than ``PRESUMED_DEAD``. A live instance's lease is never taken before
  it expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeGuard

from bot.domain.status import OutboxStatus
from bot.messages import Delivered, Outbound, Sender, SendError, Target
from storage import inbound as inbound_repo
from storage.models_chat import OutboxMessage, RelayInstance
from storage.repos import outbox as outbox_repo
from storage.uow import Session, Sessions, unit_of_work

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=5)
PRESUMED_DEAD = timedelta(seconds=20)  # four missed heartbeats
PURGE_EVERY = timedelta(minutes=1)  # inbound deduplication rows past their window


# ---- who holds a lease, and whether it is still alive --------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def machine_id() -> str:
    """Where a pid names one process: hostname, boot id and PID namespace; "" when this
    system does not tell (then only heartbeats decide)."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    if not (boot and pidns):
        return ""
    raw = f"{socket.gethostname()}|{boot}|{pidns}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; the command name may hold spaces."""
    text = _read(f"/proc/{pid}/stat")
    return text.rsplit(")", 1)[-1].split() if text else []


def proc_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (clock ticks after boot), "" if unknown."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else ""


def process_gone(pid: int, started: str) -> bool:
    """On this machine: no process ``pid`` started at ``started`` is running any more
    (it exited, is a zombie, or the pid now names another process)."""
    fields = _stat(pid)
    if len(fields) <= 19 or fields[0] in ("Z", "X", "x"):
        return True
    return bool(started) and fields[19] != started


@dataclass(frozen=True)
class Identity:
    """One relay's life: a new id every time a process starts one."""

    id: str
    host: str
    machine: str
    pid: int
    proc_start: str

    @classmethod
    def current(cls) -> Identity:
        pid = os.getpid()
        return cls(uuid.uuid4().hex, socket.gethostname()[:255], machine_id(), pid, proc_start(pid))


# how many copies of one card a person may hold that an update still reaches
MAX_TARGETS = 5
CARD_KINDS = ("card",)


async def enqueue(session: Session, messages: Iterable[Outbound]) -> list[OutboxMessage]:
    rows = []
    for m in messages:
        if m.dedupe_key and await outbox_repo.has_dedupe_key(session, m.dedupe_key):
            continue
        row = OutboxMessage(
            recipient=m.to,
            room=m.room,
            kind=m.kind,
            payload=m.payload(),
            dedupe_key=m.dedupe_key,
            next_attempt_at=datetime.now(),
            subject=m.subject,
        )
        session.add(row)
        rows.append(row)
    await session.flush()
    return rows


async def remember_handle(
    session: Session, recipient: str, ref: str, handle: str, now: datetime
) -> None:
    """A click brought a fresh single-use update handle for the card ``ref``: keep it on
    the card's row, for the next update of that card."""
    if not (ref and handle):
        return
    await outbox_repo.remember_handle(session, recipient, ref, handle[:200], now, CARD_KINDS)


def backoff(attempts: int, rnd: random.Random | None = None) -> float:
    """Seconds before the next try: 1, 2, 4 … capped at 300, with ±20 % jitter."""
    base = min(300.0, 2.0 ** max(0, attempts - 1))
    return base * (0.8 + 0.4 * (rnd or random).random())


class TransactionalSender(Sender, Protocol):
    """A sender that delivers inside the relay's transaction (the module's docstring)."""

    transactional: bool

    async def send_in(self, session: Session, msg: Outbound, outbox_id: int) -> str | Delivered: ...


def _transactional(sender: Sender) -> TypeGuard[TransactionalSender]:
    return bool(getattr(sender, "transactional", False))


class _LostLease(Exception):
    """Another relay holds the row now: this one's transaction must not commit."""


@dataclass
class RelayStats:
    sent: int = 0
    failed: int = 0
    parked: int = 0
    # seconds until the soonest row held back (by its pace or its retry time) is due;
    # None when nothing is held back: the loop then waits for news
    due_in: float | None = None

    def hold(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.due_in = seconds if self.due_in is None else min(self.due_in, seconds)


class Relay:
    def __init__(
        self,
        sf: Sessions,
        sender: Sender,
        clock: Callable[[], datetime] = datetime.now,
        on_parked: Callable[[OutboxMessage], Awaitable[None]] | None = None,
        *,
        identity: Identity | None = None,
        keep_inbound: timedelta | None = None,
    ):
        """``keep_inbound``: purge handled inbound events (deduplication rows) older
        than this, every ``PURGE_EVERY`` (None: keep them)."""
        self.sf, self.sender, self.clock, self.on_parked = sf, sender, clock, on_parked
        self.me = identity or Identity.current()
        self.keep_inbound = keep_inbound
        self._last_sent: dict[str, datetime] = {}
        self._beat_at: datetime | None = None
        self._purged_at: datetime | None = None
        self._chores = asyncio.Lock()
        self._beat_task: asyncio.Task[None] | None = None

    # -- life: register, beat, take back the dead's leases, leave ---------------------

    async def start(self) -> None:
        """Register, take back the leases of dead instances now, and beat from a task of
        its own (so a long round of sends does not look like death)."""
        await self.maintain(force=True)
        self._beat_task = asyncio.create_task(self._beat())

    async def close(self) -> None:
        """Leave: stop beating, give this relay's leases back, unregister."""
        if self._beat_task is not None:
            self._beat_task.cancel()
            await asyncio.gather(self._beat_task, return_exceptions=True)
        try:
            async with unit_of_work(self.sf) as s:
                await outbox_repo.release_leases(s, [self.me.id], self.clock())
                await outbox_repo.forget(s, [self.me.id])
        except Exception:  # noqa: BLE001 - the next start (or another instance) takes them back
            log.exception("outbox relay could not give its leases back at shutdown")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            try:
                await self.maintain(force=True)
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.exception("outbox relay heartbeat failed")

    async def maintain(self, force: bool = False) -> None:
        """Heartbeat and take back dead instances' leases when a beat is due (or
        ``force``); purge old inbound deduplication rows when that is due."""
        async with self._chores:
            now = self.clock()
            if force or self._beat_at is None or now - self._beat_at >= HEARTBEAT:
                await self.heartbeat(now)
                await self.reclaim(now)
            if self.keep_inbound is not None and (
                self._purged_at is None or now - self._purged_at >= PURGE_EVERY
            ):
                self._purged_at = now
                await inbound_repo.purge(self.sf.kw["bind"], self.keep_inbound)

    async def heartbeat(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        async with unit_of_work(self.sf) as s:
            if not await outbox_repo.beat(s, self.me.id, now):
                # first beat, or declared dead while it stalled
                await outbox_repo.register(
                    s,
                    self.me.id,
                    host=self.me.host,
                    machine=self.me.machine,
                    pid=self.me.pid,
                    proc_start=self.me.proc_start,
                    now=now,
                )
        self._beat_at = now

    def _dead(self, inst: RelayInstance, now: datetime) -> bool:
        if now - inst.heartbeat_at > PRESUMED_DEAD:
            return True
        if self.me.machine and inst.machine == self.me.machine:
            return process_gone(inst.pid, inst.proc_start)
        return False

    async def reclaim(self, now: datetime | None = None) -> int:
        """Give the rows leased by dead instances back (due at once); forget those
        instances. Returns how many rows came back."""
        now = now or self.clock()
        async with self.sf() as s:
            # owners first: an instance registers before it claims, so every owner read
            # here that is still registered shows up in the read after it
            owners = await outbox_repo.lease_owners(s)
            instances = await outbox_repo.instances(s)
        dead = {i.id for i in instances if i.id != self.me.id and self._dead(i, now)}
        dead |= owners - {i.id for i in instances} - {self.me.id}  # unregistered: gone
        if not dead:
            return 0
        async with unit_of_work(self.sf) as s:
            back = await outbox_repo.release_leases(s, dead, now)
            await outbox_repo.forget(s, dead)
        if back:
            log.info("outbox: took back %d message(s) leased by %d dead relay(s)", back, len(dead))
        return back

    # -- a round ----------------------------------------------------------------------

    async def run_once(self, limit: int = 100) -> RelayStats:
        await self.maintain()
        stats = RelayStats()
        now = self.clock()
        async with self.sf() as s:
            rows = await outbox_repo.open_rows(s, limit * 2)
        blocked: set[str] = set()
        for row in rows:
            if row.recipient in blocked:
                continue
            due = row.next_attempt_at <= now
            last = self._last_sent.get(row.recipient)
            paced = (
                last is None
                or self.sender.pace_seconds <= 0
                or (now - last).total_seconds() >= self.sender.pace_seconds
            )
            if not due:
                stats.hold((row.next_attempt_at - now).total_seconds())
            elif not paced and last is not None:
                stats.hold(self.sender.pace_seconds - (now - last).total_seconds())
            key = await self._claim(row.id, now) if due and paced else None
            if key is None:
                blocked.add(row.recipient)  # keep per-recipient order
                continue
            if await self._send(row, key, now, stats):
                self._last_sent[row.recipient] = now  # the round's instant: pacing counts rounds
            else:
                blocked.add(row.recipient)
            if stats.sent + stats.failed >= limit:
                break
        return stats

    async def _claim(self, row_id: int, now: datetime) -> str | None:
        """Lease the row to this relay; its idempotency key, or None if not claimed."""
        async with unit_of_work(self.sf) as s:
            return await outbox_repo.claim(s, row_id, now, now + LEASE, self.me.id)

    async def _targets(
        self, msg: Outbound, now: datetime, session: Session | None = None
    ) -> tuple[Target, ...]:
        """The delivered cards an update replaces, each with its update handle if one is
        still valid: for ``refresh`` every copy of the subject's card the recipient holds
        (newest first), for ``update_of`` the clicked card."""
        if msg.refresh and not msg.subject:
            return ()
        which = {"subject": msg.subject} if msg.refresh else {"ref": msg.update_of}
        ttl = getattr(self.sender, "handle_ttl", None)
        if session is not None:
            rows = await outbox_repo.delivered_cards(
                session, msg.to, CARD_KINDS, MAX_TARGETS, **which
            )
        else:
            async with self.sf() as s:
                rows = await outbox_repo.delivered_cards(
                    s, msg.to, CARD_KINDS, MAX_TARGETS, **which
                )
        out: dict[str, Target] = {}
        for ref, handle, at in rows:
            fresh = bool(handle) and (ttl is None or (at is not None and now - at < ttl))
            out.setdefault(ref, Target(ref, (handle or "") if fresh else ""))
        if not msg.refresh and msg.update_of not in out:
            out[msg.update_of] = Target(msg.update_of)
        return tuple(out.values())

    async def _send(self, row: OutboxMessage, key: str, now: datetime, stats: RelayStats) -> bool:
        msg = replace(Outbound.from_row(row.recipient, row.room, row.payload, row.subject), key=key)
        if _transactional(self.sender):
            return await self._send_in_transaction(self.sender, row, msg, now, stats)
        if msg.refresh or msg.update_of:
            msg = replace(msg, targets=await self._targets(msg, now))
        try:
            if msg.refresh and not msg.targets:
                result: str | Delivered = ""  # the person holds no such card: nothing to do
            else:
                result = await self.sender.send(msg, row.id)
        except SendError as exc:
            return await self._failed(row, now, str(exc), exc.retry_after, exc.permanent, stats)
        except Exception as exc:  # noqa: BLE001 - a broken sender must not lose the message
            return await self._failed(row, now, f"{type(exc).__name__}: {exc}", None, False, stats)
        got = result if isinstance(result, Delivered) else Delivered(result or "")
        async with unit_of_work(self.sf) as s:
            # whoever delivered first records it (a relay that stalled past its lease may
            # finish after another one retried with the same key)
            await self._mark_sent(s, row, msg, got, now, None)
        stats.sent += 1
        return True

    async def _mark_sent(
        self,
        s: Session,
        row: OutboxMessage,
        msg: Outbound,
        got: Delivered,
        now: datetime,
        owner: str | None,
    ) -> bool:
        """Record the delivery: while ``owner`` holds the lease, or (None) unless another
        relay recorded it first."""
        marked = await outbox_repo.mark_sent(
            s,
            row.id,
            attempts=row.attempts + 1,
            sent_at=self.clock(),
            external_id=got.external_id,
            handle=got.handle or None,
            handle_at=now if got.handle else None,
            owner=owner,
        )
        used = [t.ref for t in msg.targets if t.handle]
        if marked and used:  # single-use handles given to the sender are spent
            await outbox_repo.spend_handles(s, row.recipient, used)
        return marked

    async def _send_in_transaction(
        self,
        sender: TransactionalSender,
        row: OutboxMessage,
        msg: Outbound,
        now: datetime,
        stats: RelayStats,
    ) -> bool:
        """Deliver and mark sent in one transaction, only while this relay holds the
        lease: a kill at any instant leaves the message either undelivered and due, or
        delivered and marked."""
        try:
            async with unit_of_work(self.sf) as s:
                # lock the row first (PostgreSQL): a relay that took the lease over waits
                # here for this transaction, then finds the row sent
                if not await outbox_repo.hold_lease(s, row.id, self.me.id):
                    raise _LostLease()
                if msg.refresh or msg.update_of:
                    msg = replace(msg, targets=await self._targets(msg, now, s))
                if msg.refresh and not msg.targets:
                    result: str | Delivered = ""
                else:
                    result = await sender.send_in(s, msg, row.id)
                got = result if isinstance(result, Delivered) else Delivered(result or "")
                if not await self._mark_sent(s, row, msg, got, now, self.me.id):
                    raise _LostLease()
        except _LostLease:
            log.warning("outbox %s: lease lost before delivery; not delivered here", row.id)
            return False
        except SendError as exc:
            return await self._failed(row, now, str(exc), exc.retry_after, exc.permanent, stats)
        except Exception as exc:  # noqa: BLE001 - rolled back; retried like any failure
            return await self._failed(row, now, f"{type(exc).__name__}: {exc}", None, False, stats)
        stats.sent += 1
        return True

    async def _failed(
        self,
        row: OutboxMessage,
        now: datetime,
        error: str,
        retry_after: float | None,
        permanent: bool,
        stats: RelayStats,
    ) -> bool:
        attempts = row.attempts + 1
        park = permanent or attempts >= MAX_ATTEMPTS
        delay = retry_after if retry_after is not None else backoff(attempts)
        async with unit_of_work(self.sf) as s:
            still_held = await outbox_repo.mark_failed(
                s,
                row.id,
                self.me.id,
                status=OutboxStatus.PARKED if park else OutboxStatus.PENDING,
                attempts=attempts,
                error=error[:2000],
                next_attempt_at=now + timedelta(seconds=delay),
            )
        if not still_held:  # another relay took the row over meanwhile: its outcome stands
            return False
        stats.failed += 1
        if park:
            stats.parked += 1
            if self.on_parked:
                row.last_error, row.attempts = error, attempts
                await self.on_parked(row)
        return False
