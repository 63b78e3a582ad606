"""``ssj result``: back-office entry of paper forms, and review."""

from __future__ import annotations

from bot import localtime
from bot.cli.base import CliError, database, today
from bot.cli.terminal import print_json
from bot.domain import results as rules
from bot.services import results as svc
from bot.text import t

FOLLOWUP_OPTS = {
    "rectification": "rectification",
    "rectify_by": "rectify_by",
    "case_no": "case_no",
    "department": "department",
    "transfer_to": "transfer_to",
}


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "result", "cli.cmd_result")
    rsub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    r = _parser(rsub, "record", "cli.cmd_result_record", record)
    _common(r)
    r.add_argument("--conclusion", required=True, help=t("cli.opt_conclusion"))
    r.add_argument("--date", help=t("cli.opt_date"))
    r.add_argument(
        "--mode", default="现场检查", choices=["现场检查", "非现场检查"], help=t("cli.opt_mode")
    )
    r.add_argument("--findings", default="", help=t("cli.opt_findings"))
    for opt in FOLLOWUP_OPTS:
        r.add_argument("--" + opt.replace("_", "-"), dest=opt, help=t("cli.opt_followup", name=opt))
    for name, func in (("approve", approve), ("return", return_)):
        r = _parser(rsub, name, f"cli.cmd_result_{name}", func)
        _common(r)
        r.add_argument("--reason", default="", help=t("cli.opt_reason"))
        r.add_argument(
            "--team",
            default=None,
            metavar=t("cli.metavar", name="department"),
            help=t("cli.opt_team"),
        )


def _common(p) -> None:
    p.add_argument("--task", required=True, help=t("cli.opt_task"))
    p.add_argument("--uscc", required=True, help=t("cli.opt_uscc"))
    p.add_argument("--by", required=True, metavar="CERT", help=t("cli.opt_by"))
    p.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def _draft(args, on) -> rules.Draft:
    conclusion = rules.parse_conclusion(args.conclusion)
    day = rules.parse_date(args.date, on) if args.date else on
    followup = {}
    for opt in FOLLOWUP_OPTS:
        value = getattr(args, opt)
        if value:
            followup[opt] = rules.parse_date(value, on) if opt == "rectify_by" else value
    return rules.Draft(conclusion, day, rules.Mode(args.mode), args.findings, followup)


def _out(args, row) -> int:
    doc = {
        "task": row.task_id,
        "ref": row.selection_id,
        "department": row.department,
        "status": row.status,
        "conclusion": row.conclusion,
    }
    if args.json:
        print_json(doc)
    else:
        print(t("cli.result_status", **doc))
    return 0


async def record(args) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            ref = await svc.ref_of(s, args.task.strip().upper(), args.uscc.strip().upper())
            now = localtime.now()
            row = await svc.submit(
                s, ref, args.by, _draft(args, today()), now, f"{settings.actor}/{args.by}"
            )
    return _out(args, row)


async def _review(args, approve_it: bool) -> int:
    async with database(args) as (settings, sf, _):
        async with sf() as s, s.begin():
            await svc.require_admin(s, args.by)
            ref = await svc.ref_of(s, args.task.strip().upper(), args.uscc.strip().upper())
            now = localtime.now()
            row = await svc.review(
                s,
                ref,
                approve_it,
                args.by,
                now,
                f"{settings.actor}/{args.by}",
                reason=args.reason,
                department=args.team,
            )
    return _out(args, row)


async def approve(args) -> int:
    return await _review(args, True)


async def return_(args) -> int:
    return await _review(args, False)


__all__ = ["add_parser", "CliError"]
