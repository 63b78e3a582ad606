"""``ssj calendar``: the working-day calendar (overrides, deadlines, a year's holidays)."""

from __future__ import annotations

import re
import sys
from datetime import date

from bot.cli.base import CliError, database
from bot.cli.terminal import print_json, table
from bot.domain.workdays import Calendar
from bot.services import calendar as svc
from bot.text import t

WORK = {"班", "上班", "工作日", "补班"}
OFF = {"休", "休息", "放假", "休息日"}


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "calendar", "calendar.cmd_calendar")
    csub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    c = _parser(csub, "set", "calendar.cmd_set", set_)
    c.add_argument("day", metavar="DATE", help=t("calendar.arg_day"))
    c.add_argument("kind", metavar="班|休", help=t("calendar.arg_kind"))
    c.add_argument("--name", default="", help=t("calendar.opt_name"))
    c = _parser(csub, "deadline", "calendar.cmd_deadline", deadline)
    c.add_argument(
        "--from", dest="start", metavar="DATE", required=True, help=t("calendar.opt_from")
    )
    c.add_argument("--workdays", metavar="N", required=True, help=t("calendar.opt_workdays"))
    c.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    c = _parser(csub, "show", "calendar.cmd_show", show)
    c.add_argument("--year", metavar="Y", required=True, help=t("calendar.opt_year"))


def parse_day(text: str) -> date:
    text = (text or "").strip()
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        y, m, d = (int(x) for x in text.split("-"))
        try:
            return date(y, m, d)
        except ValueError:
            pass
    raise CliError(t("calendar.bad_date", text=text))


def parse_kind(text: str) -> bool:
    text = (text or "").strip()
    if text in WORK:
        return True
    if text in OFF:
        return False
    raise CliError(t("calendar.bad_kind", text=text))


def _positive(text: str, key: str, low: int = 1, high: int = 10_000) -> int:
    text = (text or "").strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise CliError(t(key, text=text))
    return int(text)


async def set_(args) -> int:
    day, workday = parse_day(args.day), parse_kind(args.kind)
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            await svc.set_day(s, day, workday, args.name, settings.actor)
    print(
        t(
            "calendar.set_done",
            day=day.isoformat(),
            weekday=t("calendar.weekday", n=day.weekday()),
            workday=workday,
            name=args.name.strip(),
            was=svc.oracle(day),
        )
    )
    return 0


async def deadline(args) -> int:
    start = parse_day(args.start)
    n = _positive(args.workdays, "calendar.bad_count")
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            due = await svc.deadline(s, start, n)
    if args.json:
        print_json({"from": start.isoformat(), "workdays": n, "deadline": due.isoformat()})
    else:
        print(due.isoformat())
    return 0


async def show(args) -> int:
    year = _positive(args.year, "calendar.bad_year", 1, 9998)
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = await svc.specials(s, year)
            cal: Calendar = await svc.calendar(s)
            known = await svc.year_known(s, year)
    if known:
        print(t("calendar.show_title", year=year, count=len(rows)))
    elif rows:
        print(t("calendar.show_entered", year=year, count=len(rows)))
    if rows:
        table(
            [t("calendar.col", name=c) for c in ("day", "weekday", "kind", "name", "source")],
            [
                [
                    r.day.isoformat(),
                    t("calendar.weekday", n=r.day.weekday()),
                    t("calendar.kind", workday=r.workday),
                    r.name,
                    t("calendar.source", code=r.source),
                ]
                for r in rows
            ],
        )
    if not known:
        print(t("calendar.show_unknown", year=year, entered=len(rows)), file=sys.stderr)
        return 1
    print(
        t(
            "calendar.show_workdays",
            year=year,
            count=cal.workdays_between(date(year - 1, 12, 31), date(year, 12, 31)),
        )
    )
    return 0
