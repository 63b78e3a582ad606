"""``ssj stats --year Y [--json]``: the year's statistics (bot/services/stats.py)."""

from __future__ import annotations

from bot.cli.base import database
from bot.cli.terminal import print_json
from bot.services import stats as svc
from bot.text import render, t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "stats", "stats.cmd_stats", run)
    p.add_argument("--year", type=int, required=True, help=t("stats.opt_year"))
    p.add_argument("--json", action="store_true", help=t("cli.opt_json"))


async def run(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s:
            doc = await svc.stats(s, settings, args.year)
    if args.json:
        print_json(doc)
    else:
        print(render("chat/stats.j2", s=doc, group=False).strip())
    return 0


__all__ = ["add_parser"]
