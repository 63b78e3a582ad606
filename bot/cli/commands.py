"""What each ``ssj`` command does: open the database, call a service, print."""
from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path

from bot import localtime
from bot.config import Settings
from bot.services import draw_flow, draws, export, library as library_svc, recusals
from bot.cli.terminal import Progress, print_json, table
from bot.text import t
from storage import migrate
from storage.repos import draws as draws_repo, library as library_repo
from storage.db import make_engine, session_factory


class CliError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


@asynccontextmanager
async def database(args, ready: bool = True):
    """A session factory on the chosen database; refuses a database not at head."""
    settings = Settings.from_env(args.db)
    engine = make_engine(settings.database_url)
    try:
        try:
            rev = await migrate.current(engine)
        except (OSError, Exception) as exc:  # unreachable server, bad path, bad URL
            if isinstance(exc, CliError):
                raise
            raise CliError(t("cli.db_unreachable", url=_safe(settings.database_url),
                             error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        if ready and rev != migrate.revisions()[-1]:
            raise CliError(t("cli.db_not_ready"))
        yield settings, session_factory(engine), engine
    finally:
        await engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url
    return make_url(url).render_as_string(hide_password=True)


def today():
    return localtime.today()


async def init(args) -> int:
    """Migrate; with ``--app-role NAME`` (PostgreSQL) also create or update the service's
    least-privilege role (storage/app_role.py). Everything is checked before migrating."""
    role = getattr(args, "app_role", None)
    if role is not None:
        from sqlalchemy.engine import make_url

        from storage import app_role
        url = Settings.from_env(args.db).database_url
        if make_url(url).get_backend_name() != "postgresql":
            raise CliError(t("audit.role_sqlite"))
        if not app_role.valid_name(role):
            raise CliError(t("audit.role_bad_name", name=role))
    async with database(args, ready=False) as (settings, _, engine):
        if role is not None:
            await _app_role(engine, role, check_only=True)
        await migrate.upgrade(engine)
        print(t("cli.init_done", url=_safe(settings.database_url),
                revision=await migrate.current(engine)))
        if role is not None:
            print(t("audit.role_done", name=role, **await _app_role(engine, role)))
    return 0


async def _app_role(engine, role: str, check_only: bool = False) -> dict | None:
    from sqlalchemy.exc import DBAPIError

    from storage import app_role
    try:
        if check_only:
            return await app_role.check(engine, role)
        return await app_role.ensure(engine, role)
    except app_role.RoleError as exc:
        raise CliError(t(f"audit.{exc.code}", **exc.params))
    except DBAPIError as exc:       # e.g. no CREATEROLE, not the tables' owner
        detail = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise CliError(t("audit.role_denied", name=role, error=detail))


def _print_problems(outcome) -> None:
    for e in outcome.errors:
        print(t("library.row_error", row=e.row, column=e.column, reason=e.reason), file=sys.stderr)


async def import_(args) -> int:
    if not Path(args.path).is_file():
        raise CliError(t("cli.file_missing", path=args.path))
    progress = Progress(not args.json)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            out = await library_svc.import_file(s, settings, args.kind, args.path,
                                                settings.actor, progress)
            progress.close()
            if not out.ok:
                await s.rollback()
    summary = {"kind": args.kind, "ok": out.ok, "created": out.created, "updated": out.updated,
               "unchanged": out.unchanged,
               "errors": [e.__dict__ for e in out.errors],
               "warnings": [w.__dict__ for w in out.warnings]}
    if args.json:
        print_json(summary)
    for w in out.warnings:
        print(t("library.row_warning", row=w.row, column=w.column, reason=w.reason), file=sys.stderr)
    if not out.ok:
        _print_problems(out)
        print(t("library.import_failed", count=len(out.errors)), file=sys.stderr)
        return 1
    if not args.json:
        print(t("library.import_done", kind=t("library.kind_name", kind=args.kind),
                created=out.created, updated=out.updated, unchanged=out.unchanged))
    return 0


async def draw_prepare(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            row = await draws.prepare(s, settings, args.task, settings.actor)
            task_id, draw_id, c = row.task_id, row.id, row.commitment
    if args.json:
        print_json({"task": task_id, "draw_id": draw_id, "commitment": c})
    else:
        print(t("cli.prepared", task=task_id, draw_id=draw_id, commitment=c))
    return 0


def _print_draw(doc: dict, names: dict) -> None:
    cols = ["ref", "name", "uscc", "category", "risk_class", "reason", "ticket", "inspectors"]
    table([t("cli.col", name=c) for c in cols],
          [[s["ref"], s["name"], s["uscc"], s["category"], s.get("risk_class") or "—",
            t("risk.reason", code=s.get("reason") or "", risk_class=s.get("risk_class") or ""),
            s["ticket"][:14],
            "、".join([names.get(c, c) for c in s["inspectors"]]
                     + [t("cli.aux_member", name=names.get(c, c))
                        for c in s.get("auxiliary", ())])]
           for s in doc["selections"]])


async def _show(s, task_id) -> tuple[dict, dict]:
    task, row = await draws.valid_draw(s, task_id)
    doc = draws.as_json(task.id, row, await draws.current_selections(s, row))
    names = {p.cert: p.name for p in await library_repo.inspectors(s)}
    return doc, names


async def draw_run(args) -> int:
    progress = Progress(not args.json)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            await draw_flow.run_and_notify(s, settings, args.task, settings.actor, today(),
                                           args.entropy, args.redraw, args.reason, progress)
        progress.close()
        async with sf() as s:
            doc, names = await _show(s, args.task)
    if args.json:
        print_json(doc)
    else:
        print(t("cli.drawn", task=doc["task"], draw_id=doc["draw_id"],
                count=len(doc["selections"]), commitment=doc["commitment"],
                pool_digest=doc["pool_digest"]))
        _print_draw(doc, names)
    return 0


async def draw_show(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            doc, names = await _show(s, args.task)
    if args.json:
        print_json(doc)
    else:
        _print_draw(doc, names)
    return 0


async def draw_reveal(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            doc = await draws.reveal(s, args.task, settings.actor)
    if args.json:
        print_json(doc)
    else:
        table([t("cli.col", name="key"), t("cli.col", name="value")],
              [[k, v] for k, v in doc.items()], max_col=140)
    return 0


async def draw_verify(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rep = await draws.verify(s, args.task)
    task = args.task.strip().upper()
    if args.json:
        print_json({"task": task, "draw_id": rep.draw_id, "ok": rep.ok,
                    "checked": rep.checked, "problems": rep.problems})
    if rep.ok:
        if not args.json:
            print(t("cli.verify_ok", task=task, draw_id=rep.draw_id, count=rep.checked))
        return 0
    print(t("cli.verify_failed", task=task, draw_id=rep.draw_id), file=sys.stderr)
    for p in rep.problems:
        print("- " + t("cli.verify_problem", code=p), file=sys.stderr)
    return 1


async def recuse(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            changed = await recusals.recuse(s, args.task, args.uscc.strip().upper(),
                                            args.inspector.strip(), args.reason,
                                            settings.actor, (args.swap_with or "").strip() or None)
        async with sf() as s:
            doc, names = await _show(s, args.task)
    doc["selections"] = [x for x in doc["selections"] if x["uscc"] in changed]
    if args.json:
        print_json(doc)
    else:
        print(t("cli.recused", task=doc["task"], count=len(changed)))
        _print_draw(doc, names)
    return 0


async def export_draw(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await export.draw_workbook(s, args.task, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def export_history(args) -> int:
    from bot.services import history
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await history.export(s, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def export_library(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await export.library_workbook(s, args.kind, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def demo_data(args) -> int:
    from bot.demo import write_library

    paths = write_library(args.dir)
    print(t("cli.demo_written", dir=args.dir))
    if args.files_only:
        return 0
    async with database(args, ready=False) as (_, _sf, engine):
        await migrate.upgrade(engine)
    for kind in ("enterprises", "inspectors", "conflicts", "history"):
        ns = type(args)(db=args.db, kind=kind, path=str(paths[kind]), json=False)
        code = await import_(ns)
        if code:
            return code
    return 0


async def items(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = await library_repo.items(s)
    table([t("cli.col", name=c) for c in ("seq", "item", "target")],
          [[i.seq, i.name, i.target] for i in rows], max_col=60)
    return 0


async def library(args) -> int:
    async with database(args) as (settings, sf, _e):
        async with sf() as s:
            if args.kind == "enterprises":
                year = args.year or today().year
                classes = await draws.current_classes(s, settings, year)
                cols = ["uscc", "name", "category", "status", "region", "risk_class"]
                rows = [[getattr(e, c) for c in cols[:-1]] + [classes.get(e.uscc, "")]
                        for e in await library_repo.enterprises(s)
                        if not args.uscc or e.uscc == args.uscc.strip().upper()]
            elif args.kind == "history":
                from bot.services import history
                found = await history.entries(s, (args.uscc or "").strip().upper() or None,
                                              args.year)
                if args.json:
                    print_json([e.to_json() for e in found])
                    return 0
                cols = ["year", "quarter", "uscc", "name", "task_name", "inspected_on",
                        "conclusion", "source"]
                rows = [[e.year, e.quarter, e.uscc, e.name, e.task_name,
                         e.inspected_on or "—", e.conclusion or "—",
                         t("cli.source", source=e.source, task=e.task_id)] for e in found]
            elif args.kind == "inspectors":
                counts = await draws_repo.inspections_per_inspector(s, args.year or today().year)
                cols = ["cert", "name", "department", "role", "duty", "expertise",
                        "msg_account", "count"]
                rows = [[p.cert, p.name, p.department, p.role, p.duty, "、".join(p.expertise),
                         p.msg_account or "", counts.get(p.cert, 0)]
                        for p in await library_repo.inspectors(s)]
            else:
                cols = ["cert", "uscc"]
                rows = [[c.cert, c.uscc] for c in await library_repo.conflicts(s)]
    if args.json:
        print_json([dict(zip(cols, r)) for r in rows])
    else:
        table([t("cli.col", name=c) for c in cols], rows)
    return 0


async def serve(args) -> int:
    """Run the bot service until interrupted."""
    import asyncio as aio

    from aiohttp import web

    from bot.app import NotMigrated, WebChatExposed, create_app

    settings = Settings.from_env(args.db)
    if args.web_chat:
        from dataclasses import replace
        settings = replace(settings, web_chat=True)
    from bot.messengers.wecom.setup import ConfigError
    try:
        app = create_app(settings, settle_heap=True)
    except (ConfigError, WebChatExposed) as exc:   # refused before anything listens
        raise CliError(str(exc))
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
    except NotMigrated as exc:
        raise CliError(str(exc))
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        base = f"http://{settings.host}:{settings.port}"
        print(t("webchat.serving", url=base, chat=f"{base}/chat" if settings.web_chat else ""),
              flush=True)
        await aio.Event().wait()
    finally:
        await runner.cleanup()
    return 0
