"""``ssj publish`` and ``ssj export publication``: publish a task, export what was published."""

from __future__ import annotations

import sys

from bot import localtime
from bot.cli.base import CliError, database
from bot.cli.terminal import print_json
from bot.domain.model import DomainError
from bot.messages import GROUP, Outbound
from bot.services import outbox, publish_flow
from bot.services import publication as svc
from bot.text import domain_message, t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "publish", "publication.cmd_publish", publish)
    p.add_argument("--task", required=True, help=t("cli.opt_task"))
    p.add_argument(
        "--withhold",
        action="append",
        default=[],
        metavar=t("publication.metavar_withhold"),
        help=t("publication.opt_withhold"),
    )
    p.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def parse_withhold(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        uscc, sep, reason = item.replace("＝", "=").partition("=")
        if not sep or not uscc.strip() or not reason.strip():
            raise CliError(t("publication.bad_withhold", text=item))
        out[uscc.strip().upper()] = reason.strip()
    return out


async def publish(args) -> int:
    withhold = parse_withhold(args.withhold)
    task_id = args.task.strip().upper()
    async with database(args) as (settings, sf, _):
        try:
            async with sf() as s, s.begin():
                now = localtime.now()
                doc = await publish_flow.publish_and_notify(
                    s, settings, task_id, settings.actor, now, withhold
                )
                # the supervisors' group hears of it, as when 公示 is sent in chat
                text = svc.announcement(doc, settings.public_base)
                await outbox.enqueue(
                    s, [Outbound("", GROUP, text, dedupe_key=f"publish:{task_id}")]
                )
        except DomainError as exc:
            if args.json and exc.code == "publish_incomplete":
                print_json({"ok": False, "error": exc.code, **exc.params})
                print(domain_message(exc), file=sys.stderr)
                return 1
            raise
    if args.json:
        print_json(doc)
        return 0
    s = doc["summary"]
    print(
        t(
            "publication.cli_published",
            task=task_id,
            name=doc["task"]["name"],
            count=s["drawn"],
            inspected=s["inspected"],
            problems=s["problems_found"],
            withheld=s["withheld"],
            path=settings.public_base + svc.public_path(task_id),
            seed=doc["verification"]["seed"],
        )
    )
    return 0


async def export_publication(args) -> int:
    task_id = args.task.strip().upper()
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            doc = await svc.document(s, task_id)
    if doc is None:
        raise CliError(t("publication.not_published", task=task_id))
    svc.workbook(doc, args.path)
    print(t("cli.exported", path=args.path))
    return 0
