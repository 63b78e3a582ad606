"""Run Alembic migrations from code (``ssj init``, tests, the service at start-up)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    await _run(engine, command.upgrade, target)


async def downgrade(engine: AsyncEngine, target: str) -> None:
    await _run(engine, command.downgrade, target)


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def _run(engine: AsyncEngine, fn, target: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))

    def go(conn):
        cfg.attributes["connection"] = conn
        fn(cfg, target)

    async with engine.begin() as conn:
        await conn.run_sync(go)


def upgrade_sync(url: str, target: str = "head") -> None:
    from storage.db import make_engine

    async def main():
        engine = make_engine(url)
        try:
            await upgrade(engine, target)
        finally:
            await engine.dispose()

    asyncio.run(main())
