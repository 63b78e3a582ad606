"""``ssj import``, ``ssj export draw|history|library``, ``ssj items``, ``ssj library``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bot import localtime
from bot.cli.base import CliError, database, today
from bot.cli.terminal import Progress, print_json, table
from bot.text import t


async def import_(args: argparse.Namespace) -> int:
    from bot.services import library as library_svc

    if not Path(args.path).is_file():
        raise CliError(t("cli.file_missing", path=args.path))
    progress = Progress(not args.json)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            out = await library_svc.import_file(
                s, settings, args.kind, args.path, settings.actor, progress, localtime.now()
            )
            progress.close()
            if not out.ok:
                await s.rollback()
    summary = {
        "kind": args.kind,
        "ok": out.ok,
        "created": out.created,
        "updated": out.updated,
        "unchanged": out.unchanged,
        "errors": [e.__dict__ for e in out.errors],
        "warnings": [w.__dict__ for w in out.warnings],
    }
    if args.json:
        print_json(summary)
    for w in out.warnings:
        print(
            t("library.row_warning", row=w.row, column=w.column, reason=w.reason), file=sys.stderr
        )
    if not out.ok:
        for e in out.errors:
            print(
                t("library.row_error", row=e.row, column=e.column, reason=e.reason), file=sys.stderr
            )
        print(t("library.import_failed", count=len(out.errors)), file=sys.stderr)
        return 1
    if not args.json:
        print(
            t(
                "library.import_done",
                kind=t("library.kind_name", kind=args.kind),
                created=out.created,
                updated=out.updated,
                unchanged=out.unchanged,
            )
        )
    return 0


async def export_draw(args: argparse.Namespace) -> int:
    from bot.services import export

    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await export.draw_workbook(s, args.task, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def export_history(args: argparse.Namespace) -> int:
    from bot.services import history

    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await history.export(s, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def export_library(args: argparse.Namespace) -> int:
    from bot.services import export

    async with database(args) as (_, sf, _e):
        async with sf() as s:
            await export.library_workbook(s, args.kind, args.path)
    print(t("cli.exported", path=args.path))
    return 0


async def items(args: argparse.Namespace) -> int:
    from storage.repos import library as library_repo

    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = await library_repo.items(s)
    table(
        [t("cli.col", name=c) for c in ("seq", "item", "target")],
        [[i.seq, i.name, i.target] for i in rows],
        max_col=60,
    )
    return 0


async def library(args: argparse.Namespace) -> int:
    from bot.services import draws, history
    from storage.repos import draws as draws_repo
    from storage.repos import library as library_repo

    rows: list[list[Any]]
    async with database(args) as (settings, sf, _e):
        async with sf() as s:
            if args.kind == "enterprises":
                year = args.year or today().year
                classes = await draws.current_classes(s, settings, year)
                cols = ["uscc", "name", "category", "status", "region", "risk_class"]
                rows = [
                    [getattr(e, c) for c in cols[:-1]] + [classes.get(e.uscc, "")]
                    for e in await library_repo.enterprises(s)
                    if not args.uscc or e.uscc == args.uscc.strip().upper()
                ]
            elif args.kind == "history":
                found = await history.entries(
                    s, (args.uscc or "").strip().upper() or None, args.year
                )
                if args.json:
                    print_json([e.to_json() for e in found])
                    return 0
                cols = [
                    "year",
                    "quarter",
                    "uscc",
                    "name",
                    "task_name",
                    "inspected_on",
                    "conclusion",
                    "source",
                ]
                rows = [
                    [
                        e.year,
                        e.quarter,
                        e.uscc,
                        e.name,
                        e.task_name,
                        e.inspected_on or "—",
                        e.conclusion or "—",
                        t("cli.source", source=e.source, task=e.task_id),
                    ]
                    for e in found
                ]
            elif args.kind == "inspectors":
                counts = await draws_repo.inspections_per_inspector(s, args.year or today().year)
                cols = [
                    "cert",
                    "name",
                    "department",
                    "role",
                    "duty",
                    "expertise",
                    "msg_account",
                    "count",
                ]
                rows = [
                    [
                        p.cert,
                        p.name,
                        p.department,
                        p.role,
                        p.duty,
                        "、".join(p.expertise),
                        p.msg_account or "",
                        counts.get(p.cert, 0),
                    ]
                    for p in await library_repo.inspectors(s)
                ]
            else:
                cols = ["cert", "uscc"]
                rows = [[c.cert, c.uscc] for c in await library_repo.conflicts(s)]
    if args.json:
        print_json([dict(zip(cols, r, strict=True)) for r in rows])
    else:
        table([t("cli.col", name=c) for c in cols], rows)
    return 0
