"""Engine and session factory. Nothing is opened at import time.

SQLite (the default) gets WAL, a busy timeout, foreign keys and ``BEGIN IMMEDIATE`` for
every transaction, so concurrent async writers queue instead of failing or losing
updates. The service's engine (``checkpointer=True``) leaves WAL checkpoints to a
``Checkpointer`` thread with a connection of its own instead of the commit that happens to
cross SQLite's threshold: a checkpoint copies pages and syncs the file, and done inline it
would hold up every acknowledgement waiting on that commit. PostgreSQL is used as is.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

DEFAULT_URL = "sqlite+aiosqlite:///var/ssj.db"

Engine = AsyncEngine  # what callers outside storage/ name an engine by


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("SSJ_DATABASE_URL") or DEFAULT_URL


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def backend(url: str) -> str:
    """The database kind of a URL: ``sqlite``, ``postgresql`` …"""
    return make_url(url).get_backend_name()


def safe_url(url: str) -> str:
    """The URL as it may be shown: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def driver_error(exc: BaseException) -> str | None:
    """The first line of the database's own message when ``exc`` is an error the database
    driver raised (a refused statement, a missing privilege …); None for anything else."""
    if not isinstance(exc, DBAPIError):
        return None
    return (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]


log = logging.getLogger(__name__)


def make_engine(url: str | None = None, *, checkpointer: bool = False, **kw: Any) -> AsyncEngine:
    """``checkpointer``: this engine's connections never checkpoint the WAL themselves; the
    caller runs a ``Checkpointer`` on the same file (the service does)."""
    url = database_url(url)
    if is_sqlite(url):
        path = _file_of(make_url(url))
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite has one writer anyway, and waiting in the
        # pool's FIFO queue is far faster and fairer than SQLite's sleeping busy handler
        # (1, 2, 5 … 100 ms retries) when many coroutines want to write at once. Other
        # processes (the ssj command while the service runs) still wait on busy_timeout.
        kw.setdefault("pool_size", 1)
        kw.setdefault("max_overflow", 0)
        kw.setdefault("pool_timeout", 60)
        # Returning the connection rolls back only if SQLite says a transaction is open
        # (see _reset below): otherwise every checkout would end with one more round trip
        # to the driver's thread for a rollback that has nothing to undo.
        kw.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kw)
        _sqlite_setup(engine, autocheckpoint=not checkpointer)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kw)


def _file_of(u: URL) -> str | None:
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return u.database


def sqlite_file(engine: AsyncEngine) -> str | None:
    """The database file of a SQLite engine (None for PostgreSQL or an in-memory database)."""
    return _file_of(engine.url)


def _sqlite_setup(engine: AsyncEngine, autocheckpoint: bool = True) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below be the only one
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _reset(dbapi_conn, _record, state):  # pragma: no cover - exercised by every test
        if not state.asyncio_safe or state.transaction_was_reset:
            return  # garbage-collected (the connection is discarded) or already reset
        try:
            open_tx = dbapi_conn._connection._conn.in_transaction  # sqlite3.Connection
        except (AttributeError, ValueError):
            open_tx = True  # unknown: be safe
        if open_tx:
            dbapi_conn.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Checkpointer:
    """Checkpoints a SQLite WAL from a thread and connection of its own.

    Every ``interval`` seconds a PASSIVE checkpoint copies what the WAL holds into the
    database file without waiting for (or blocking) readers and writers; SQLite rewinds
    the WAL on the next write once everything was copied, so it stays small. ``stop``
    ends the thread and truncates the WAL. The sqlite3 module releases the GIL while
    SQLite copies and syncs, so the event loop goes on meanwhile.
    """

    def __init__(self, path: str, interval: float = 0.5):
        self.path, self.interval = path, interval
        self.rounds = 0
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, checkpointed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Checkpointer:
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()
        return self

    def _checkpoint(self, conn: sqlite3.Connection, mode: str) -> None:
        self.last = tuple(conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone())
        self.rounds += 1

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stop.wait(self.interval):
                try:
                    self._checkpoint(conn, "PASSIVE")
                except sqlite3.Error:  # busy or locked: the next round tries again
                    log.warning("WAL checkpoint failed", exc_info=True)
            try:  # TRUNCATE waits for readers: briefly, shutdown must not hang on one
                conn.execute("PRAGMA busy_timeout=200")
                self._checkpoint(conn, "TRUNCATE")
            except sqlite3.Error:
                log.warning("final WAL checkpoint failed", exc_info=True)
        finally:
            conn.close()

    def stop(self) -> None:
        """Blocking: call it through ``asyncio.to_thread`` from a running loop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
