"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL.

PostgreSQL: each test gets its own fresh database on SSJ_TEST_PG_ADMIN (default the
local server's ``test`` database as admin connection). When SSJ_REQUIRE_POSTGRES=1
(set by .ci/run) a missing server is a failure, otherwise those cases are skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

PG_ADMIN = os.environ.get("SSJ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
# Apps built by tests run no scheduled jobs (they would message people at the real
# time); tests of the scheduler turn it on with replace(settings, scheduler=True).
os.environ.setdefault("SSJ_SCHEDULER", "0")


def _pg_base() -> str:
    return PG_ADMIN.rsplit("/", 1)[0]


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_fresh_database() -> str:
    name = "ssj_t_" + uuid.uuid4().hex[:12]
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("SSJ_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unreachable at {PG_ADMIN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """A URL of an empty database (not migrated)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/ssj.db"
        return
    name = _pg_fresh_database()
    yield f"postgresql+asyncpg://{_pg_base().split('://', 1)[1]}/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database, for tests that are about PostgreSQL only."""
    name = _pg_fresh_database()
    yield f"postgresql+asyncpg://{_pg_base().split('://', 1)[1]}/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
