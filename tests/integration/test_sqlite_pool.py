"""SQLite's one pooled connection: returned without a needless rollback, but never with a
transaction left open."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection

from storage.db import make_engine, session_factory


async def test_return_rolls_back_only_an_open_transaction(tmp_path, monkeypatch):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/p.db")
    rollbacks = []
    orig = AsyncAdapt_aiosqlite_connection.rollback

    def counting(self):
        rollbacks.append(1)
        return orig(self)

    monkeypatch.setattr(AsyncAdapt_aiosqlite_connection, "rollback", counting)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v INTEGER)"))
        rollbacks.clear()  # SQLAlchemy's first-connect rollback
        sf = session_factory(engine)
        for v in range(5):  # committed sessions: nothing to roll back
            async with sf() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (:v)"), {"v": v})
        async with engine.connect() as conn:  # raw use, autocommit: nothing either
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.execute("INSERT INTO t VALUES (5)")
        assert rollbacks == []

        async with engine.connect() as conn:  # left open by raw use: rolled back
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.execute("BEGIN IMMEDIATE")
            await raw.execute("INSERT INTO t VALUES (99)")
        assert rollbacks == [1]
        try:  # a session that fails: rolled back by it
            async with sf() as s, s.begin():
                await s.execute(text("INSERT INTO t VALUES (98)"))
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        async with sf() as s, s.begin():  # the connection is clean and writable
            got = (await s.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
            await s.execute(text("INSERT INTO t VALUES (6)"))
        assert got == [0, 1, 2, 3, 4, 5]
    finally:
        await engine.dispose()
