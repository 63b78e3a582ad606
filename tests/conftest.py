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

from .pgadmin import PG_ADMIN, pg_admin, url_of

# Apps built by tests run no scheduled jobs (they would message people at the real
# time); tests of the scheduler turn it on with replace(settings, scheduler=True).
os.environ.setdefault("SSJ_SCHEDULER", "0")


def _pg_fresh_database() -> str:
    name = "ssj_t_" + uuid.uuid4().hex[:12]
    try:
        asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
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
    yield url_of(name)
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database, for tests that are about PostgreSQL only."""
    name = _pg_fresh_database()
    yield url_of(name)
    asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_sessionfinish(session, exitstatus):
    """Drop the service harness's template databases, if any were built."""
    import sys

    harness = sys.modules.get("tests.service.harness")
    if harness is not None:
        harness.drop_templates()
