"""PostgreSQL only: the audit log cannot be truncated (migration 0011) nor bypassed with
``session_replication_role``."""
from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from storage import audit, migrate
from storage.db import make_engine, session_factory

pytestmark = pytest.mark.postgres


def dsn(url: str, user: str | None = None) -> str:
    """The asyncpg DSN of a SQLAlchemy URL, optionally as another user."""
    u = make_url(url).set(drivername="postgresql")
    if user:
        u = u.set(username=user)
    return u.render_as_string(hide_password=False)


async def refused(conn, sql: str) -> str:
    """Run ``sql``; it must fail. Returns the server's message."""
    with pytest.raises(asyncpg.PostgresError) as err:
        await conn.execute(sql)
    return str(err.value)


async def test_truncate_is_refused_and_replica_mode_does_not_bypass_the_guards(pg_url):
    engine = make_engine(pg_url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as s, s.begin():
            await audit.append(s, "a", "x")
            await audit.append(s, "a", "y")
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn(pg_url))      # the superuser, the tables' owner
    try:
        assert "TRUNCATE refused" in await refused(conn, "TRUNCATE audit_log")
        await conn.execute("SET session_replication_role = replica")
        for sql in ("TRUNCATE audit_log", "DELETE FROM audit_log",
                    "UPDATE audit_log SET actor = 'mallory'"):
            assert "append-only" in await refused(conn, sql)
        await conn.execute("RESET session_replication_role")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 2
    finally:
        await conn.close()

    # downgrading 0011 takes exactly that away again
    engine = make_engine(pg_url)
    try:
        await migrate.downgrade(engine, "0010")
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn(pg_url))
    try:
        assert "append-only" in await refused(conn, "DELETE FROM audit_log")
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("TRUNCATE audit_log")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
    finally:
        await conn.close()
