"""The inbound events' repository: record (deduplicated), claim, mark, recover, purge.

Recording inbound events in batches is the acknowledgement's hot path.

``record_batch`` inserts many events in one transaction and returns the id of each new
one by dedupe key (duplicates are skipped by the unique key). On SQLite the whole
transaction — BEGIN IMMEDIATE, one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING,
COMMIT — runs in a single call on the driver's thread: one hop instead of three, which
is what bounds an acknowledgement's latency while the event loop is busy. PostgreSQL
goes through SQLAlchemy Core.

``purge`` forgets handled events once a retry of them can no longer be accepted (see
``retention``), in bounded batches.

The dispatcher (``bot.dispatch``) claims a recorded event and handles it in one
transaction (``claim``), marks it failed when its handlers raise (``mark_failed``), and
at start-up queues again the events recorded but never handled (``unhandled``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain.status import InboundStatus

from .models_chat import InboundEvent

_COLUMNS = ("dedupe_key", "channel", "conversation", "payload", "status")
_TABLE = cast(Table, InboundEvent.__table__)  # declared as a Table


async def record_batch(engine: AsyncEngine, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert events (dicts of ``_COLUMNS``) unless their dedupe key is known; the id of
    each new one by dedupe key."""
    if not rows:
        return {}
    if engine.dialect.name == "sqlite":
        return await _sqlite(engine, rows)
    table = _TABLE
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id, table.c.dedupe_key)
    )
    async with engine.begin() as conn:
        return {k: i for i, k in (await conn.execute(stmt, rows)).all()}


def _insert_sync(db: Any, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Runs on the aiosqlite thread with the sqlite3 connection (autocommit mode)."""
    values = ",".join(["(?, ?, ?, ?, ?, '', CURRENT_TIMESTAMP)"] * len(rows))
    sql = (
        f"INSERT INTO inbound_events ({', '.join(_COLUMNS)}, error, received_at) "
        f"VALUES {values} ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
    )
    params: list[Any] = []
    for r in rows:
        params += [
            r["dedupe_key"],
            r["channel"],
            r["conversation"],
            json.dumps(r["payload"], ensure_ascii=False),
            r["status"],
        ]
    db.execute("BEGIN IMMEDIATE")
    try:
        got = db.execute(sql, params).fetchall()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return cast(list[tuple[int, str]], got)


async def _sqlite(engine: AsyncEngine, rows: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection  # aiosqlite.Connection
        assert driver is not None
        for i in range(0, len(rows), 500):  # stay far below SQLite's variable limit
            got = await driver._execute(_insert_sync, driver._conn, rows[i : i + 500])
            out.update({k: i for i, k in got})
    return out


# ---- forgetting: deduplication rows past the window in which a retry is accepted -------

CLOCK_SKEW = 300  # seconds a callback may be dated ahead of this clock (and clocks differ)


def retention(max_age_seconds: int) -> timedelta:
    """How long a handled event's deduplication row must stay: a callback is accepted
    while at most ``max_age_seconds`` old (and at most ``CLOCK_SKEW`` ahead), so any
    accepted retry of it arrives within this span of the first delivery."""
    return timedelta(seconds=max(0, max_age_seconds) + 2 * CLOCK_SKEW)


async def purge(
    engine: AsyncEngine, keep: timedelta, batch: int = 1000, max_batches: int = 20
) -> int:
    """Delete handled (done or failed) events received more than ``keep`` ago, oldest
    first, ``batch`` rows per transaction and at most ``max_batches`` transactions a
    call (the next call goes on). Events not handled yet are never deleted. Times are
    the database's own clock, as ``received_at`` is. Returns how many rows went."""
    table = _TABLE
    now_fn = (
        func.localtimestamp() if engine.dialect.name == "postgresql" else func.current_timestamp()
    )
    total = 0
    for _ in range(max_batches):
        async with engine.begin() as conn:
            cutoff = cast(datetime, await conn.scalar(select(now_fn))) - keep
            oldest = (
                select(table.c.id)
                .where(table.c.received_at < cutoff, table.c.status != InboundStatus.RECEIVED)
                .order_by(table.c.id)
                .limit(batch)
            )
            gone = (await conn.execute(delete(table).where(table.c.id.in_(oldest)))).rowcount
        total += gone
        if gone < batch:
            break
    return total


# ---- handling: claim, fail, recover ------------------------------------------------------


async def claim(session: AsyncSession, event_id: int, now: datetime) -> dict[str, Any] | None:
    """Mark a received event done (in the caller's transaction, which handles it) and
    return its payload; None if it is not waiting to be handled."""
    claimed = (
        await session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == event_id, InboundEvent.status == InboundStatus.RECEIVED)
            .values(status=InboundStatus.DONE, processed_at=now)
            .returning(InboundEvent.payload)
        )
    ).first()
    return None if claimed is None else cast(dict[str, Any], claimed[0])


async def mark_failed(session: AsyncSession, event_id: int, error: str, now: datetime) -> None:
    await session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id)
        .values(status=InboundStatus.FAILED, error=error, processed_at=now)
    )


async def unhandled(session: AsyncSession) -> list[tuple[int, str]]:
    """(id, conversation) of the events recorded but not handled, oldest first."""
    rows = await session.execute(
        select(InboundEvent.id, InboundEvent.conversation)
        .where(InboundEvent.status == InboundStatus.RECEIVED)
        .order_by(InboundEvent.id)
    )
    return [(event_id, conv) for event_id, conv in rows]
