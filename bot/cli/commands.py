"""``ssj init``, ``ssj demo-data`` and ``ssj serve``.

``CliError``, ``database`` and ``today`` live in bot/cli/base.py and are re-exported here
for the command modules that import them from this one.
"""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.base import CliError, database, today
from bot.text import t

__all__ = ["CliError", "database", "demo_data", "init", "serve", "today"]


async def init(args: argparse.Namespace) -> int:
    """Migrate; with ``--app-role NAME`` (PostgreSQL) also create or update the service's
    least-privilege role (storage/app_role.py). Everything is checked before migrating."""
    from bot.config import Settings
    from storage import app_role, migrate
    from storage.db import backend, safe_url

    role = getattr(args, "app_role", None)
    if role is not None:
        url = Settings.from_env(args.db).database_url
        if backend(url) != "postgresql":
            raise CliError(t("audit.role_sqlite"))
        if not app_role.valid_name(role):
            raise CliError(t("audit.role_bad_name", name=role))
    async with database(args, ready=False) as (settings, _, engine):
        if role is not None:
            await _app_role(app_role.check, engine, role)
        await migrate.upgrade(engine)
        print(
            t(
                "cli.init_done",
                url=safe_url(settings.database_url),
                revision=await migrate.current(engine),
            )
        )
        if role is not None:
            print(t("audit.role_done", name=role, **await _app_role(app_role.ensure, engine, role)))
    return 0


async def _app_role(step: Any, engine: Any, role: str) -> Any:
    """``app_role.check`` or ``app_role.ensure``, their refusals as a ``CliError``."""
    from storage import app_role
    from storage.db import driver_error

    try:
        return await step(engine, role)
    except app_role.RoleError as exc:
        raise CliError(t(f"audit.{exc.code}", **exc.params)) from exc
    except Exception as exc:
        detail = driver_error(exc)  # e.g. no CREATEROLE, not the tables' owner
        if detail is None:
            raise
        raise CliError(t("audit.role_denied", name=role, error=detail)) from exc


async def demo_data(args: argparse.Namespace) -> int:
    from bot.cli.library import import_
    from bot.demo import write_library
    from storage import migrate

    paths = write_library(args.dir)
    print(t("cli.demo_written", dir=args.dir))
    if args.files_only:
        return 0
    async with database(args, ready=False) as (_, _sf, engine):
        await migrate.upgrade(engine)
    for kind in ("enterprises", "inspectors", "conflicts", "history"):
        ns = argparse.Namespace(db=args.db, kind=kind, path=str(paths[kind]), json=False)
        code = await import_(ns)
        if code:
            return code
    return 0


async def serve(args: argparse.Namespace) -> int:
    """Run the bot service until interrupted."""
    import asyncio
    from dataclasses import replace

    from aiohttp import web

    from bot.app import NotMigrated, WebChatExposed, create_app
    from bot.config import Settings
    from bot.messengers.wecom.setup import ConfigError

    settings = Settings.from_env(args.db)
    if args.web_chat:
        settings = replace(settings, web_chat=True)
    try:
        app = create_app(settings, settle_heap=True)
    except (ConfigError, WebChatExposed) as exc:  # refused before anything listens
        raise CliError(str(exc)) from exc
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
    except NotMigrated as exc:
        raise CliError(str(exc)) from exc
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        base = f"http://{settings.host}:{settings.port}"
        print(
            t("webchat.serving", url=base, chat=f"{base}/chat" if settings.web_chat else ""),
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
    return 0
