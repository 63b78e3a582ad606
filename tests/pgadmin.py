"""The admin connection to the test PostgreSQL server: create and drop databases."""

from __future__ import annotations

import os

PG_ADMIN = os.environ.get("SSJ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


def pg_base() -> str:
    return PG_ADMIN.rsplit("/", 1)[0]


def url_of(name: str) -> str:
    """The SQLAlchemy URL of database ``name`` on the admin connection's server."""
    return f"postgresql+asyncpg://{pg_base().split('://', 1)[1]}/{name}"


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
