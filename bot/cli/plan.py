"""``ssj plan``: make, show and publish the annual plan (第十六条, 附件1)."""

from __future__ import annotations

import sys

from bot import localtime
from bot.cli.base import CliError, database
from bot.cli.terminal import print_json, table
from bot.services import plan as svc
from bot.text import t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "plan", "plan.cmd_plan")
    psub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    for name, func in (("make", make), ("show", show), ("publish", publish)):
        c = _parser(psub, name, f"plan.cmd_{name}", func)
        c.add_argument("--year", metavar="Y", required=True, help=t("plan.opt_year"))
        c.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def parse_year(text: str) -> int:
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise CliError(t("plan.bad_year_text", text=text))
    return int(text)


async def make(args) -> int:
    year = parse_year(args.year)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            doc = await svc.make(s, settings, year, settings.actor, now=localtime.now())
    return _out(args, doc, t("plan.made", year=year))


async def show(args) -> int:
    year = parse_year(args.year)
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            row = await svc.get(s, year)
    if row is None:
        raise CliError(t("plan.plan_missing", year=year))
    return _out(args, row.document, "")


async def publish(args) -> int:
    year = parse_year(args.year)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            doc = await svc.publish(s, year, settings.actor, localtime.now())
    return _out(
        args, doc, t("plan.published", year=year, at=doc["published_at"], by=doc["published_by"])
    )


def _out(args, doc: dict, closing: str) -> int:
    if args.json:
        print_json(doc)
        return 0
    print_plan(doc)
    if closing:
        print(closing)
    return 0


def print_plan(doc: dict, out=None) -> None:
    out = out or sys.stdout
    lib = doc["library"]
    print(t("plan.heading", title=doc["title"], status=doc["status"]), file=out)
    print(t("plan.ratio_line", text=doc["ratio_text"]), file=out)
    print(
        t(
            "plan.library_line",
            key=lib["重点监管"],
            general=lib["一般监管"],
            special=lib["特殊监管"],
        ),
        file=out,
    )
    if not any(lib.values()):
        print(t("plan.empty_library"), file=out)
    print(file=out)
    for task in doc["tasks"]:
        print(t("plan.task_line", no=task["no"], name=task["name"]), file=out)
    first = doc["tasks"][0]
    print(
        t(
            "plan.task_common",
            items=len(first["items"]),
            item_kind=first["item_kind"],
            scope=first["scope"],
        ),
        file=out,
    )
    print(file=out)
    cols = ["period", "no", "category", "eligible", "by_ratio", "objects", "visits"]
    rows = []
    for task in doc["tasks"]:
        for c in task["categories"]:
            rows.append(
                [
                    task["period"],
                    task["no"],
                    c["category"],
                    c["eligible"],
                    c["by_ratio"],
                    c["objects"],
                    c["visits"],
                ]
            )
        rows.append(
            [
                task["period"],
                task["no"],
                t("plan.subtotal"),
                "",
                "",
                task["objects"],
                task["visits"],
            ]
        )
    for c in doc["totals"]["categories"]:
        rows.append(
            [
                t("plan.year_row"),
                "",
                c["category"],
                c["eligible"],
                c["by_ratio"],
                c["objects"],
                c["visits"],
            ]
        )
    rows.append(
        [
            t("plan.year_row"),
            "",
            t("plan.total"),
            "",
            "",
            doc["totals"]["objects"],
            doc["totals"]["visits"],
        ]
    )
    table([t("plan.col", name=c) for c in cols], rows, out=out)
    print(file=out)
    if any("classes" in c for c in doc["totals"]["categories"]):
        print(t("plan.class_table_heading", factors=doc["rules"].get("risk_factors", {})), file=out)
        cols = ["period", "category", "class", "eligible", "objects", "visits"]
        rows = []
        for period, cells in [(task["period"], task["categories"]) for task in doc["tasks"]] + [
            (t("plan.year_row"), doc["totals"]["categories"])
        ]:
            for c in cells:
                for k in c.get("classes", []):
                    rows.append(
                        [
                            period,
                            c["category"],
                            t("plan.class_value", k=k["class"]),
                            k["eligible"],
                            k["objects"],
                            k["visits"],
                        ]
                    )
        table([t("plan.col", name=c) for c in cols], rows, out=out)
        print(file=out)
    if doc.get("joint"):
        print(t("plan.joint_line", **doc["joint"]), file=out)
    print(
        t(
            "plan.summary",
            year=doc["year"],
            objects=doc["totals"]["objects"],
            visits=doc["totals"]["visits"],
        ),
        file=out,
    )
    for note in doc["notes"]:
        print(note, file=out)
