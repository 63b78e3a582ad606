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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Awaitable, Callable, Iterable

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.messages import Delivered, Outbound, Sender, SendError, Target
from storage import inbound
from storage.models_chat import OutboxMessage, RelayInstance, new_idem_key

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
HEARTBEAT = timedelta(seconds=5)
PRESUMED_DEAD = timedelta(seconds=20)   # four missed heartbeats
PURGE_EVERY = timedelta(minutes=1)      # inbound deduplication rows past their window


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
    def current(cls) -> "Identity":
        pid = os.getpid()
        return cls(uuid.uuid4().hex, socket.gethostname()[:255], machine_id(), pid,
                   proc_start(pid))


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


class _LostLease(Exception):
    """Another relay holds the row now: this one's transaction must not commit."""


@dataclass
class RelayStats:
    sent: int = 0
    failed: int = 0
    parked: int = 0


class Relay:
    def __init__(self, sf: async_sessionmaker, sender: Sender,
                 clock: Callable[[], datetime] = datetime.now,
                 on_parked: Callable[[OutboxMessage], Awaitable[None]] | None = None,
                 *, identity: Identity | None = None,
                 keep_inbound: timedelta | None = None):
        """``keep_inbound``: purge handled inbound events (deduplication rows) older
        than this, every ``PURGE_EVERY`` (None: keep them)."""
        self.sf, self.sender, self.clock, self.on_parked = sf, sender, clock, on_parked
        self.me = identity or Identity.current()
        self.keep_inbound = keep_inbound
        self._last_sent: dict[str, datetime] = {}
        self._beat_at: datetime | None = None
        self._purged_at: datetime | None = None
        self._chores = asyncio.Lock()
        self._beat_task: asyncio.Task | None = None

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
            async with self.sf() as s, s.begin():
                await s.execute(update(OutboxMessage).where(
                    OutboxMessage.status == "sending", OutboxMessage.lease_owner == self.me.id
                ).values(status="pending", lease_owner=None, next_attempt_at=self.clock()))
                await s.execute(delete(RelayInstance).where(RelayInstance.id == self.me.id))
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
                    self._purged_at is None or now - self._purged_at >= PURGE_EVERY):
                self._purged_at = now
                await inbound.purge(self.sf.kw["bind"], self.keep_inbound)

    async def heartbeat(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        async with self.sf() as s, s.begin():
            res = await s.execute(update(RelayInstance).where(
                RelayInstance.id == self.me.id).values(heartbeat_at=now))
            if res.rowcount == 0:   # first beat, or declared dead while it stalled
                await s.execute(insert(RelayInstance).values(
                    id=self.me.id, host=self.me.host, machine=self.me.machine, pid=self.me.pid,
                    proc_start=self.me.proc_start, started_at=now, heartbeat_at=now))
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
            owners = set((await s.execute(select(OutboxMessage.lease_owner).where(
                OutboxMessage.status == "sending", OutboxMessage.lease_owner.is_not(None)
            ).distinct())).scalars())
            instances = (await s.execute(select(RelayInstance))).scalars().all()
        dead = {i.id for i in instances if i.id != self.me.id and self._dead(i, now)}
        dead |= owners - {i.id for i in instances} - {self.me.id}   # unregistered: gone
        if not dead:
            return 0
        async with self.sf() as s, s.begin():
            res = await s.execute(update(OutboxMessage).where(
                OutboxMessage.status == "sending", OutboxMessage.lease_owner.in_(dead)
            ).values(status="pending", lease_owner=None, next_attempt_at=now))
            await s.execute(delete(RelayInstance).where(RelayInstance.id.in_(dead)))
        if res.rowcount:
            log.info("outbox: took back %d message(s) leased by %d dead relay(s)",
                     res.rowcount, len(dead))
        return res.rowcount

    # -- a round ----------------------------------------------------------------------

    async def run_once(self, limit: int = 100) -> RelayStats:
        await self.maintain()
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
            key = await self._claim(row.id, now) if due and paced else None
            if key is None:
                blocked.add(row.recipient)   # keep per-recipient order
                continue
            if await self._send(row, key, now, stats):
                self._last_sent[row.recipient] = now   # the round's instant: pacing counts rounds
            else:
                blocked.add(row.recipient)
            if stats.sent + stats.failed >= limit:
                break
        return stats

    async def _claim(self, row_id: int, now: datetime) -> str | None:
        """Lease the row to this relay; its idempotency key, or None if not claimed."""
        async with self.sf() as s, s.begin():
            got = (await s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id,
                       or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending"),
                       OutboxMessage.next_attempt_at <= now)
                .values(status="sending", next_attempt_at=now + LEASE, lease_owner=self.me.id,
                        idem_key=func.coalesce(OutboxMessage.idem_key, new_idem_key()))
                .returning(OutboxMessage.idem_key)
                .execution_options(synchronize_session=False))).first()
            return got[0] if got else None

    async def _targets(self, msg: Outbound, now: datetime,
                       session: AsyncSession | None = None) -> tuple[Target, ...]:
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
        q = q.order_by(OutboxMessage.id.desc()).limit(MAX_TARGETS)
        if session is not None:
            rows = (await session.execute(q)).all()
        else:
            async with self.sf() as s:
                rows = (await s.execute(q)).all()
        out: dict[str, Target] = {}
        for ref, handle, at in rows:
            fresh = bool(handle) and (ttl is None or (at is not None and now - at < ttl))
            out.setdefault(ref, Target(ref, handle if fresh else ""))
        if not msg.refresh and msg.update_of not in out:
            out[msg.update_of] = Target(msg.update_of)
        return tuple(out.values())

    async def _send(self, row: OutboxMessage, key: str, now: datetime,
                    stats: RelayStats) -> bool:
        msg = replace(Outbound.from_row(row.recipient, row.room, row.payload, row.subject),
                      key=key)
        if getattr(self.sender, "transactional", False):
            return await self._send_in_transaction(row, msg, now, stats)
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
        async with self.sf() as s, s.begin():
            # whoever delivered first records it (a relay that stalled past its lease may
            # finish after another one retried with the same key)
            await self._mark_sent(s, row, msg, got, now, OutboxMessage.status != "sent")
        stats.sent += 1
        return True

    async def _mark_sent(self, s: AsyncSession, row: OutboxMessage, msg: Outbound,
                         got: Delivered, now: datetime, condition) -> bool:
        res = await s.execute(update(OutboxMessage).where(
            OutboxMessage.id == row.id, condition).values(
            status="sent", sent_at=self.clock(), external_id=got.external_id,
            attempts=row.attempts + 1, handle=got.handle or None,
            handle_at=now if got.handle else None, lease_owner=None))
        used = [t.ref for t in msg.targets if t.handle]
        if res.rowcount == 1 and used:   # single-use handles given to the sender are spent
            await s.execute(update(OutboxMessage).where(
                OutboxMessage.recipient == row.recipient,
                OutboxMessage.external_id.in_(used)).values(handle=None, handle_at=None))
        return res.rowcount == 1

    async def _send_in_transaction(self, row: OutboxMessage, msg: Outbound, now: datetime,
                                   stats: RelayStats) -> bool:
        """Deliver and mark sent in one transaction, only while this relay holds the
        lease: a kill at any instant leaves the message either undelivered and due, or
        delivered and marked."""
        try:
            async with self.sf() as s, s.begin():
                # lock the row first (PostgreSQL): a relay that took the lease over waits
                # here for this transaction, then finds the row sent
                held = await s.execute(update(OutboxMessage).where(
                    OutboxMessage.id == row.id, OutboxMessage.status == "sending",
                    OutboxMessage.lease_owner == self.me.id).values(lease_owner=self.me.id))
                if held.rowcount != 1:
                    raise _LostLease()
                if msg.refresh or msg.update_of:
                    msg = replace(msg, targets=await self._targets(msg, now, s))
                if msg.refresh and not msg.targets:
                    result: str | Delivered = ""
                else:
                    result = await self.sender.send_in(s, msg, row.id)
                got = result if isinstance(result, Delivered) else Delivered(result or "")
                if not await self._mark_sent(s, row, msg, got, now,
                                             OutboxMessage.lease_owner == self.me.id):
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

    async def _failed(self, row, now, error, retry_after, permanent, stats) -> bool:
        attempts = row.attempts + 1
        park = permanent or attempts >= MAX_ATTEMPTS
        delay = retry_after if retry_after is not None else backoff(attempts)
        async with self.sf() as s, s.begin():
            res = await s.execute(update(OutboxMessage).where(
                OutboxMessage.id == row.id, OutboxMessage.status == "sending",
                OutboxMessage.lease_owner == self.me.id).values(
                status="parked" if park else "pending", attempts=attempts, last_error=error[:2000],
                next_attempt_at=now + timedelta(seconds=delay), lease_owner=None))
        if res.rowcount != 1:   # another relay took the row over meanwhile: its outcome stands
            return False
        stats.failed += 1
        if park:
            stats.parked += 1
            if self.on_parked:
                row.last_error, row.attempts = error, attempts
                await self.on_parked(row)
        return False
