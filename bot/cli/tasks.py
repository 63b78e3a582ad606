"""``ssj task``: special campaigns (专项) and joint tasks (联合抽查) beyond the quarterly four.

A task made here is drawn with ``ssj draw run --task ID`` like a quarterly one.
"""

from __future__ import annotations

from bot.cli.base import database, today
from bot.cli.terminal import print_json
from bot.services import tasks as svc
from bot.text import t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "task", "tasks.cmd_task")
    tsub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    c = _parser(tsub, "create", "tasks.cmd_task_create", create)
    c.add_argument("--task", required=True, help=t("tasks.opt_task_id"))
    c.add_argument("--kind", required=True, help=t("tasks.opt_kind"))
    c.add_argument("--name", required=True, help=t("tasks.opt_name"))
    c.add_argument("--year", required=True, type=int, help=t("tasks.opt_year"))
    c.add_argument("--quarter", required=True, type=int, help=t("tasks.opt_quarter"))
    c.add_argument("--departments", default="", help=t("tasks.opt_departments"))
    c.add_argument("--initiator", default="本部门", help=t("tasks.opt_initiator"))
    c.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="列名=值",
        help=t("tasks.opt_filter", supported=svc.supported_filters()),
    )
    size = c.add_mutually_exclusive_group()
    size.add_argument("--ratio", help=t("tasks.opt_ratio"))
    size.add_argument("--count", type=int, help=t("tasks.opt_count"))
    c.add_argument(
        "--inspector-filter",
        action="append",
        default=[],
        metavar="列名=值",
        dest="inspector_filter",
        help=t("tasks.opt_inspector_filter", supported=svc.supported_inspector_filters()),
    )
    c.add_argument("--auxiliary", type=int, default=0, metavar="N", help=t("tasks.opt_auxiliary"))
    c.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    ls = _parser(tsub, "list", "tasks.cmd_task_list", list_)
    ls.add_argument("--json", action="store_true", help=t("cli.opt_json"))


async def create(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            row = await svc.create_task(
                s,
                settings,
                task_id=args.task,
                kind=args.kind,
                name=args.name,
                year=args.year,
                quarter=args.quarter,
                departments=args.departments,
                initiator=args.initiator,
                filters=args.filter,
                ratio=args.ratio,
                count=args.count,
                inspector_filters=args.inspector_filter,
                auxiliary=args.auxiliary,
                actor=settings.actor,
                today=today(),
            )
            doc = svc.task_json(row, settings.rules().own_department)
    if args.json:
        print_json(doc)
    else:
        print(
            t(
                "tasks.created",
                task=doc["task"],
                name=doc["name"],
                kind=t(f"tasks.kind_{doc['kind']}"),
            )
        )
    return 0


async def list_(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s:
            own = settings.rules().own_department
            docs = [svc.task_json(r, own) for r in await svc.list_tasks(s)]
    if args.json:
        print_json(docs)
        return 0
    if not docs:
        print(t("tasks.empty"))
    for d in docs:
        if d["count"] is not None:
            size = t("tasks.size_count", n=d["count"])
        elif d["ratio"]:
            size = t("tasks.size_ratio", ratio=d["ratio"])
        else:
            size = t("tasks.size_quota")
        if d.get("auxiliary"):
            size += t("tasks.size_auxiliary", n=d["auxiliary"])
        kind = d["kind"] if d["kind"] in ("joint", "special", "quarterly") else "special"
        print(
            t(
                "tasks.line",
                task=d["task"],
                kind=t(f"tasks.kind_{kind}"),
                name=d["name"],
                year=d["year"],
                quarter=d["quarter"] or "",
                departments="、".join(d["departments"]),
                size=size,
            )
        )
    return 0


__all__ = ["add_parser"]
