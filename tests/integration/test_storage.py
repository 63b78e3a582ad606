"""Migrations (stairway), SQLite under concurrent writers, the audit chain under load."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from storage import audit, migrate
from storage.db import make_engine, session_factory
from storage.models import AuditRow, Item


async def test_stairway_upgrade_downgrade_upgrade_each_revision(db_url):
    engine = make_engine(db_url)
    try:
        revs = migrate.revisions()
        assert len(revs) >= 2
        previous = "base"
        for rev in revs:
            await migrate.upgrade(engine, rev)
            assert await migrate.current(engine) == rev
            await migrate.downgrade(engine, previous)
            assert await migrate.current(engine) == (None if previous == "base" else previous)
            await migrate.upgrade(engine, rev)
            previous = rev
        async with session_factory(engine)() as s:
            assert await s.scalar(select(func.count()).select_from(Item)) == 14
    finally:
        await engine.dispose()


async def test_concurrent_audit_appends_keep_one_chain(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    sf = session_factory(engine)

    async def writer(n):
        for i in range(10):
            async with sf() as s, s.begin():
                await audit.append(s, f"w{n}", "test.write", str(i), {"n": n, "i": i})

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        async with sf() as s:
            check = await audit.verify(s)
        assert check.ok and check.entries == 80
    finally:
        await engine.dispose()


async def test_sqlite_transactions_begin_immediate(tmp_path):
    """Two read-then-write transactions never lose an update (BEGIN IMMEDIATE + WAL)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            await conn.execute(text("CREATE TABLE counter (n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump():
            for _ in range(20):
                async with engine.begin() as conn:
                    n = (await conn.execute(text("SELECT n FROM counter"))).scalar()
                    await asyncio.sleep(0)
                    await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(5)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar() == 100
    finally:
        await engine.dispose()


async def test_audit_log_rejects_update_and_delete(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    sf = session_factory(engine)
    try:
        async with sf() as s, s.begin():
            await audit.append(s, "a", "x")
        for sql in ("UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"):
            with pytest.raises(Exception):
                async with engine.begin() as conn:
                    await conn.execute(text(sql))
        async with sf() as s:
            assert (await s.execute(select(AuditRow.actor))).scalar_one() == "a"
    finally:
        await engine.dispose()
