"""Run Alembic migrations from code (``ssj init``, tests, the service at start-up).

Alembic is imported only by what migrates. Asking whether a database is at head
(``current`` and ``head``) reads the version table and the revision files' headers
directly, so a read-only command does not pay for loading Alembic and every migration.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).resolve().parent
VERSIONS = HERE / "migrations" / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py keeps it


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def revisions() -> list[str]:
    """Every revision, oldest first (as Alembic walks them)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


# ``revision = "0007"`` / ``down_revision = '0006'`` (or None) at the start of a line.
_ASSIGN = re.compile(
    r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:(['"])(\w+)\2|None)\s*$""", re.M
)


def _header(path: Path) -> tuple[str, str | None] | None:
    """(revision, down_revision) of a revision file, from its module-level assignments."""
    found: dict[str, str | None] = {}
    for m in _ASSIGN.finditer(path.read_text(encoding="utf-8")):
        found.setdefault(m.group(1), m.group(3))
    rev = found.get("revision")
    if rev is None or "down_revision" not in found:
        return None
    return rev, found["down_revision"]


def head() -> str:
    """The newest revision, read from the files' headers without Alembic (one linear
    history; equal to ``revisions()[-1]``, which tests/integration/test_storage.py checks)."""
    headers = [h for p in sorted(VERSIONS.glob("*.py")) if (h := _header(p))]
    parents = {down for _, down in headers}
    heads = [rev for rev, _ in headers if rev not in parents]
    if len(heads) != 1:
        raise ValueError(f"expected one head revision, found {heads}")
    return heads[0]


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    from alembic import command

    await _run(engine, command.upgrade, target)


async def downgrade(engine: AsyncEngine, target: str) -> None:
    from alembic import command

    await _run(engine, command.downgrade, target)


def _current(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise ValueError(f"the database has several heads: {sorted(rows)}")
    return rows[0] if rows else None


async def current(engine: AsyncEngine) -> str | None:
    """The database's revision (None before the first migration)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def _run(engine: AsyncEngine, fn: Callable[[Config, str], None], target: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def go(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        fn(cfg, target)

    async with engine.begin() as conn:
        await conn.run_sync(go)


def upgrade_sync(url: str, target: str = "head") -> None:
    from storage.db import make_engine

    async def main() -> None:
        engine = make_engine(url)
        try:
            await upgrade(engine, target)
        finally:
            await engine.dispose()

    asyncio.run(main())
