"""``ssj jobs``: run the due scheduled jobs once (cron deployments, tests), list claims."""

from __future__ import annotations

import json
from datetime import datetime

from bot.cli.base import CliError, database
from bot.cli.terminal import print_json, table
from bot.text import t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "jobs", "jobs.cmd_jobs")
    jsub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    j = _parser(jsub, "run-due", "jobs.cmd_run_due", run_due)
    j.add_argument("--now", metavar="ISO", help=t("jobs.opt_now"))
    j.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    j = _parser(jsub, "list", "jobs.cmd_list", list_)
    j.add_argument("--limit", type=int, default=200, help=t("jobs.opt_limit"))
    j.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def parse_now(text: str | None) -> datetime:
    """ISO 8601 with or without an offset; without one it is Asia/Shanghai time."""
    from scheduler.jobs import TZ, shanghai

    if text is None or not text.strip():
        return datetime.now(TZ)
    try:
        return shanghai(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise CliError(t("jobs.bad_now", text=text)) from None


def _when(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else ""


async def run_due(args) -> int:
    from scheduler.runner import instance_name
    from scheduler.runner import run_due as run

    now = parse_now(args.now)
    async with database(args) as (settings, sf, _):
        report = await run(sf, settings, now, instance_name("cli:"))
    failed = any(s["why"] == "failed" for s in report["skipped"])
    if args.json:
        print_json(report)
        return 1 if failed else 0
    stamp = now.isoformat(timespec="minutes")
    if not report["ran"] and not report["skipped"]:
        print(t("jobs.nothing_due", now=stamp))
        return 0
    print(t("jobs.run_summary", now=stamp, ran=len(report["ran"]), skipped=len(report["skipped"])))
    rows = [
        [
            t("jobs.job_name", name=r["job"]),
            r["period"],
            t("jobs.ran"),
            _when(r["due_at"]),
            t("jobs.yes_no", value=r["late"]),
        ]
        for r in report["ran"]
    ]
    rows += [
        [t("jobs.job_name", name=s["job"]), s["period"], t("jobs.why", code=s["why"]), "", ""]
        for s in report["skipped"]
    ]
    table([t("jobs.col", name=c) for c in ("job", "period", "result", "due_at", "late")], rows)
    return 1 if failed else 0


async def list_(args) -> int:
    from scheduler import claims

    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = [claims.as_json(r) for r in await claims.all_claims(s, max(1, args.limit))]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print(t("jobs.list_empty"))
        return 0
    cols = ["job", "period", "status", "attempts", "late", "due_at", "finished_at", "detail"]
    table(
        [t("jobs.col", name=c) for c in cols],
        [
            [
                t("jobs.job_name", name=r["job"]),
                r["period"],
                t("jobs.status", code=r["status"]),
                r["attempts"],
                t("jobs.yes_no", value=r["late"]),
                _when(r["due_at"]),
                _when(r["finished_at"]),
                json.dumps(r["detail"], ensure_ascii=False, separators=(",", ":")),
            ]
            for r in rows
        ],
        max_col=60,
    )
    return 0
