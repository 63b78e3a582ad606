"""The hash-chained, append-only audit log (全过程留痕).

Entry hash = SHA-256 of the previous hash and the canonical JSON of the entry (its id,
time, actor, action, subject and data). Changing, removing or reordering an entry
breaks the chain from that entry on; the database also refuses UPDATE and DELETE.
Appends are serialised: SQLite by BEGIN IMMEDIATE, PostgreSQL by an advisory lock.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from .models import AuditRow

GENESIS = "0" * 64
CST = timezone(timedelta(hours=8))
_LOCK_KEY = 0x55A1D17  # advisory lock id for audit appends


def canonical(data) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)


def entry_hash(prev: str, id_: int, at: str, actor: str, action: str, subject: str,
               data: str) -> str:
    body = canonical({"id": id_, "at": at, "actor": actor, "action": action,
                      "subject": subject, "data": data})
    return hashlib.sha256(f"{prev}\n{body}".encode("utf-8")).hexdigest()


def now_text(now: datetime | None = None) -> str:
    return (now or datetime.now(CST)).astimezone(CST).isoformat(timespec="seconds")


async def append(session: AsyncSession, actor: str, action: str, subject: str = "",
                 data: dict | None = None, now: datetime | None = None) -> AuditRow:
    """Add one entry inside the caller's transaction."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    last = (await session.execute(
        select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1))).first()
    prev, next_id = (last.hash, last.id + 1) if last else (GENESIS, 1)
    at = now_text(now)
    payload = canonical(data or {})
    row = AuditRow(id=next_id, at=at, actor=actor, action=action, subject=subject,
                   data=payload, prev_hash=prev,
                   hash=entry_hash(prev, next_id, at, actor, action, subject, payload))
    session.add(row)
    await session.flush()
    return row


@dataclass
class ChainCheck:
    ok: bool
    entries: int
    first_bad: int | None = None
    problem: str = ""        # code: hash | link | gap
    head: str = GENESIS


async def verify(session: AsyncSession, batch: int = 5000) -> ChainCheck:
    prev, expected_id, count, last_id = GENESIS, 1, 0, 0
    while True:
        rows = (await session.execute(
            select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id).limit(batch)
        )).scalars().all()
        if not rows:
            return ChainCheck(True, count, head=prev)
        for r in rows:
            if r.id != expected_id:
                return ChainCheck(False, count, expected_id, "gap", prev)
            if r.prev_hash != prev:
                return ChainCheck(False, count, r.id, "link", prev)
            if entry_hash(prev, r.id, r.at, r.actor, r.action, r.subject, r.data) != r.hash:
                return ChainCheck(False, count, r.id, "hash", prev)
            prev, expected_id, count, last_id = r.hash, r.id + 1, count + 1, r.id
        session.expunge_all()
