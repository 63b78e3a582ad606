"""Engine and session factory. Nothing is opened at import time.

SQLite (the default) gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for
every transaction, so concurrent async writers queue instead of failing or losing
updates. PostgreSQL is used as is.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///var/ssj.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SSJ_DATABASE_URL") or DEFAULT_URL


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | None = None, **kw) -> AsyncEngine:
    url = database_url(url)
    if is_sqlite(url):
        u = make_url(url)
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite has one writer anyway, and waiting in the
        # pool's FIFO queue is far faster and fairer than SQLite's sleeping busy handler
        # (1, 2, 5 … 100 ms retries) when many coroutines want to write at once. Other
        # processes (the ssj command while the service runs) still wait on busy_timeout.
        kw.setdefault("pool_size", 1)
        kw.setdefault("max_overflow", 0)
        kw.setdefault("pool_timeout", 60)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kw)
        _sqlite_setup(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kw)


def _sqlite_setup(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
