"""What every command shares: its error and the database it opens.

Light on purpose: ``bot.cli`` imports this module to build the parser and report errors,
so the storage layer is imported only when a command opens the database.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import TYPE_CHECKING

from bot import localtime
from bot.text import t

if TYPE_CHECKING:
    from bot.config import Settings
    from storage.db import Engine
    from storage.uow import Sessions


class CliError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@asynccontextmanager
async def database(
    args: argparse.Namespace, ready: bool = True
) -> AsyncIterator[tuple[Settings, Sessions, Engine]]:
    """A session factory on the chosen database; refuses a database not at head."""
    from bot.config import Settings
    from storage import migrate
    from storage.db import make_engine, safe_url, session_factory

    settings = Settings.from_env(args.db)
    engine = make_engine(settings.database_url)
    try:
        try:
            rev = await migrate.current(engine)
        except Exception as exc:  # noqa: BLE001 - unreachable server, bad path, bad URL
            raise CliError(
                t(
                    "cli.db_unreachable",
                    url=safe_url(settings.database_url),
                    error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            ) from exc
        if ready and rev != migrate.head():
            raise CliError(t("cli.db_not_ready"))
        yield settings, session_factory(engine), engine
    finally:
        await engine.dispose()


def today() -> date:
    return localtime.today()
