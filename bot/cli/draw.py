"""``ssj draw prepare|run|show|reveal|verify`` and ``ssj recuse``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot import localtime
from bot.cli.base import database, today
from bot.cli.terminal import Progress, print_json, table
from bot.services import draws
from bot.text import t
from storage.repos import library as library_repo
from storage.uow import Session


async def draw_prepare(args: argparse.Namespace) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            row = await draws.prepare(s, settings, args.task, settings.actor, today())
            task_id, draw_id, c = row.task_id, row.id, row.commitment
    if args.json:
        print_json({"task": task_id, "draw_id": draw_id, "commitment": c})
    else:
        print(t("cli.prepared", task=task_id, draw_id=draw_id, commitment=c))
    return 0


def print_draw(doc: dict[str, Any], names: dict[str, str]) -> None:
    cols = ["ref", "name", "uscc", "category", "risk_class", "reason", "ticket", "inspectors"]
    table(
        [t("cli.col", name=c) for c in cols],
        [
            [
                s["ref"],
                s["name"],
                s["uscc"],
                s["category"],
                s.get("risk_class") or "—",
                t("risk.reason", code=s.get("reason") or "", risk_class=s.get("risk_class") or ""),
                s["ticket"][:14],
                "、".join(
                    [names.get(c, c) for c in s["inspectors"]]
                    + [t("cli.aux_member", name=names.get(c, c)) for c in s.get("auxiliary", ())]
                ),
            ]
            for s in doc["selections"]
        ],
    )


async def shown(s: Session, task_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The task's valid draw as JSON, and the inspectors' names by certificate."""
    task, row = await draws.valid_draw(s, task_id)
    doc = draws.as_json(task.id, row, await draws.current_selections(s, row))
    names = {p.cert: p.name for p in await library_repo.inspectors(s)}
    return doc, names


async def draw_run(args: argparse.Namespace) -> int:
    from bot.services import draw_flow

    progress = Progress(not args.json)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            await draw_flow.run_and_notify(
                s,
                settings,
                args.task,
                settings.actor,
                localtime.now(),
                args.entropy,
                args.redraw,
                args.reason,
                progress,
            )
        progress.close()
        async with sf() as s:
            doc, names = await shown(s, args.task)
    if args.json:
        print_json(doc)
    else:
        print(
            t(
                "cli.drawn",
                task=doc["task"],
                draw_id=doc["draw_id"],
                count=len(doc["selections"]),
                commitment=doc["commitment"],
                pool_digest=doc["pool_digest"],
            )
        )
        print_draw(doc, names)
    return 0


async def draw_show(args: argparse.Namespace) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            doc, names = await shown(s, args.task)
    if args.json:
        print_json(doc)
    else:
        print_draw(doc, names)
    return 0


async def draw_reveal(args: argparse.Namespace) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            doc = await draws.reveal(s, args.task, settings.actor, localtime.now())
    if args.json:
        print_json(doc)
    else:
        table(
            [t("cli.col", name="key"), t("cli.col", name="value")],
            [[k, v] for k, v in doc.items()],
            max_col=140,
        )
    return 0


async def draw_verify(args: argparse.Namespace) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rep = await draws.verify(s, args.task)
    task = args.task.strip().upper()
    if args.json:
        print_json(
            {
                "task": task,
                "draw_id": rep.draw_id,
                "ok": rep.ok,
                "checked": rep.checked,
                "problems": rep.problems,
            }
        )
    if rep.ok:
        if not args.json:
            print(t("cli.verify_ok", task=task, draw_id=rep.draw_id, count=rep.checked))
        return 0
    print(t("cli.verify_failed", task=task, draw_id=rep.draw_id), file=sys.stderr)
    for p in rep.problems:
        print("- " + t("cli.verify_problem", code=p), file=sys.stderr)
    return 1


async def recuse(args: argparse.Namespace) -> int:
    from bot.services import recusals

    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            changed = await recusals.recuse(
                s,
                args.task,
                args.uscc.strip().upper(),
                args.inspector.strip(),
                args.reason,
                settings.actor,
                (args.swap_with or "").strip() or None,
                now=localtime.now(),
            )
        async with sf() as s:
            doc, names = await shown(s, args.task)
    doc["selections"] = [x for x in doc["selections"] if x["uscc"] in changed]
    if args.json:
        print_json(doc)
    else:
        print(t("cli.recused", task=doc["task"], count=len(changed)))
        print_draw(doc, names)
    return 0
