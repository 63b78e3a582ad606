"""The hash-chained, append-only audit log (全过程留痕).

Entry hash = SHA-256 of the previous hash and the canonical JSON of the entry (its id,
time, actor, action, subject and data). Changing, removing or reordering an entry
breaks the chain from that entry on; the database also refuses UPDATE, DELETE and (on
PostgreSQL) TRUNCATE. Appends are serialised: SQLite by BEGIN IMMEDIATE, PostgreSQL by
an advisory lock.

Whoever controls the database can still rewrite the whole chain consistently, or cut
off its newest entries. An *anchor* — the sequence number and hash of the newest entry
(``head``), copied outside the database (every publication carries one) — pins the
chain as it was: later, entry ``seq`` must still exist with that very hash, and since
each hash covers every earlier entry, entries 1..seq are then exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.localtime import CST

from .models import AuditRow

GENESIS = "0" * 64
_LOCK_KEY = 0x55A1D17  # advisory lock id for audit appends


def canonical(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    prev: str, id_: int, at: str, actor: str, action: str, subject: str, data: str
) -> str:
    body = canonical(
        {"id": id_, "at": at, "actor": actor, "action": action, "subject": subject, "data": data}
    )
    return hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest()


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(CST)).astimezone(CST).isoformat(timespec="seconds")


async def append(
    session: AsyncSession,
    actor: str,
    action: str,
    subject: str = "",
    data: dict | None = None,
    now: datetime | None = None,
) -> AuditRow:
    """Add one entry inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = await head(session)
    prev, next_id = (last[1], last[0] + 1) if last else (GENESIS, 1)
    at = now_text(now)
    payload = canonical(data or {})
    row = AuditRow(
        id=next_id,
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        data=payload,
        prev_hash=prev,
        hash=entry_hash(prev, next_id, at, actor, action, subject, payload),
    )
    session.add(row)
    await session.flush()
    return row


async def head(session: AsyncSession) -> tuple[int, str] | None:
    """(sequence number, hash) of the newest entry: the chain's anchor; None when empty."""
    last = (
        await session.execute(
            select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
        )
    ).first()
    return (last.id, last.hash) if last else None


@dataclass
class ChainCheck:
    """The outcome of walking the chain. ``problem`` (with the entries it names,
    ``first_bad``..``last_bad``):

    - ``hash``: the entry's content was changed (its hash no longer matches it);
    - ``replaced``: the entry was rewritten and re-hashed (the next entry still links to
      the hash it had, which no entry has any more);
    - ``gap``: entries are missing (deleted): the numbers jump and the entry after the
      gap links to a hash no entry has;
    - ``inserted``: entries that were never in the chain: either an entry numbered out of
      sequence yet linked to its predecessor (``append`` always numbers last + 1), or
      entries spliced in (the entry after them, ``next_id``, still links to the one
      before them, ``linked_to``);
    - ``link``: the entry links to a later entry or to itself (the order was changed).
    """

    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str = ""  # code: hash | replaced | gap | inserted | link
    head: str = GENESIS
    head_seq: int = 0
    last_bad: int | None = None
    next_id: int | None = None
    linked_to: int | None = None


async def verify(session: AsyncSession, batch: int = 5000) -> ChainCheck:
    prev, prev_id, count = GENESIS, 0, 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditRow).where(AuditRow.id > prev_id).order_by(AuditRow.id).limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainCheck(True, count, head=prev, head_seq=prev_id)
        for r in rows:
            if r.id != prev_id + 1 or r.prev_hash != prev:
                return await _broken(session, r, prev_id, prev, count)
            if _hash_of(r, r.prev_hash) != r.hash:
                return ChainCheck(False, count, r.id, "hash", prev, prev_id)
            prev, prev_id, count = r.hash, r.id, count + 1
        session.expunge_all()


def _hash_of(r: AuditRow, prev: str) -> str:
    return entry_hash(prev, r.id, r.at, r.actor, r.action, r.subject, r.data)


async def _broken(
    session: AsyncSession, r: AuditRow, prev_id: int, prev: str, count: int
) -> ChainCheck:
    """Name what happened where entry ``r`` does not follow entry ``prev_id``."""

    def bad(problem: str, first: int, last: int | None = None, linked_to=None) -> ChainCheck:
        return ChainCheck(
            False,
            count,
            first,
            problem,
            prev,
            prev_id,
            last if last is not None else first,
            r.id,
            linked_to,
        )

    if r.prev_hash == prev:  # linked to its predecessor, numbered out of turn
        return bad("inserted", r.id, linked_to=prev_id)
    target = (
        0
        if r.prev_hash == GENESIS
        else await session.scalar(select(AuditRow.id).where(AuditRow.hash == r.prev_hash))
    )
    if target is not None and target < prev_id:  # r still follows an earlier entry
        return bad("inserted", target + 1, prev_id, linked_to=target)
    if target is None:
        if r.id != prev_id + 1:
            return bad("gap", prev_id + 1, r.id - 1)
        if prev_id and _hash_of(r, r.prev_hash) == r.hash:  # r is intact: its predecessor
            return bad("replaced", prev_id)  # was rewritten and re-hashed
        return bad("hash", r.id)
    return bad("link", r.id, linked_to=target)


# ---- anchors: the head as it was, kept outside the database ----------------------------


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    line: int = 0  # where it was read (1-based), 0 when not from a file


class AnchorFormatError(ValueError):
    def __init__(self, line: int, text: str):
        super().__init__(f"line {line}: {text!r}")
        self.line, self.text = line, text


_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_anchors(text: str) -> list[Anchor]:
    """One anchor per line: ``seq hash`` (as ``ssj audit head`` prints them, separated by
    white space), or the JSON object ``{"seq": n, "hash": "…"}`` of ``ssj audit head
    --json``. Blank lines and lines starting with ``#`` are skipped."""
    out = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        seq, hash_ = None, None
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                seq, hash_ = obj["seq"], obj["hash"]
            except (ValueError, KeyError, TypeError):
                raise AnchorFormatError(no, raw) from None
        else:
            parts = line.split()
            if len(parts) == 2:
                seq, hash_ = parts
        try:
            seq = int(seq) if seq is not None and not isinstance(seq, bool) else None
        except (TypeError, ValueError):
            seq = None
        hash_ = hash_.strip().lower() if isinstance(hash_, str) else ""
        if seq is None or seq < 1 or not _HEX64.fullmatch(hash_):
            raise AnchorFormatError(no, raw)
        out.append(Anchor(seq, hash_, no))
    return out


async def check_anchors(session: AsyncSession, anchors: list[Anchor]) -> list[tuple[Anchor, str]]:
    """Each anchor that no longer holds, with why: ``missing`` (no entry with that
    number: deleted) or ``changed`` (the entry's hash differs: it, or an entry before
    it, was rewritten). The chain itself must also verify for the anchors to mean
    anything (``verify``)."""
    found: dict[int, str] = {}
    seqs = sorted({a.seq for a in anchors})
    for i in range(0, len(seqs), 500):
        q = select(AuditRow.id, AuditRow.hash).where(AuditRow.id.in_(seqs[i : i + 500]))
        found.update({id_: h for id_, h in (await session.execute(q)).all()})
    out = []
    for a in anchors:
        if a.seq not in found:
            out.append((a, "missing"))
        elif found[a.seq] != a.hash:
            out.append((a, "changed"))
    return out
