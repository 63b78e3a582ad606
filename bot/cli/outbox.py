"""``ssj outbox``: the outboxes' state, one push relay round, and retrying a parked push.

The chat outbox needs a messenger to send through, so only the service relays it; the
push outbox can be relayed from here against ``SSJ_PUBLISH_ENDPOINT``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import aiohttp

from bot.cli.base import CliError, database
from bot.cli.terminal import print_json, table
from bot.push_runtime import POLL_SECONDS, HttpPushTransport, parked_reporter
from bot.services import push as svc
from bot.text import t


def add_parser(sub, _parser) -> None:
    p = _parser(sub, "outbox", "push.cmd_outbox")
    osub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    c = _parser(osub, "status", "push.cmd_status", status)
    c.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    c = _parser(osub, "relay", "push.cmd_relay", relay)
    c.add_argument("--once", action="store_true", help=t("push.opt_once"))
    c.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    c = _parser(osub, "retry", "push.cmd_retry", retry)
    c.add_argument("id", metavar="ID", help=t("push.arg_id"))
    c.add_argument("--json", action="store_true", help=t("cli.opt_json"))


async def status(args) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            doc = await svc.summary(s)
    if args.json:
        print_json(doc)
        return 0
    cols = ["box", "pending", "sending", "sent", "parked"]
    table(
        [t("push.col", name=c) for c in cols],
        [[t("push.box", name=b)] + [doc[b][k] for k in cols[1:]] for b in ("chat", "push")],
    )
    print()
    if not doc["parked"]:
        print(t("push.none_parked"))
        return 0
    print(t("push.parked_title", count=len(doc["parked"])))
    table(
        [t("push.col", name=c) for c in ("box", "id", "target", "kind", "attempts", "error")],
        [
            [
                t("push.box", name=m["outbox"]),
                m["id"],
                m.get("recipient") or m.get("task"),
                m["kind"],
                m["attempts"],
                m["error"],
            ]
            for m in doc["parked"]
        ],
        max_col=60,
    )
    return 0


async def relay(args) -> int:
    async with database(args) as (settings, sf, _e):
        if not settings.publish_endpoint:
            raise CliError(t("push.no_endpoint"))
        async with aiohttp.ClientSession() as http:
            r = svc.PushRelay(
                sf,
                settings.publish_endpoint,
                HttpPushTransport(http),
                token=settings.publish_token or None,
                on_parked=parked_reporter(sf),
            )
            while True:
                stats = await r.run_once()
                _report(args, stats)
                if args.once:
                    return 0
                if not stats.sent:
                    await asyncio.sleep(POLL_SECONDS)


def _report(args, stats: svc.PushStats) -> None:
    if args.json:
        print_json(
            {
                "sent": stats.sent,
                "failed": stats.failed,
                "parked": stats.parked,
                "attempts": [asdict(a) for a in stats.attempts],
            }
        )
        return
    if not stats.attempts:
        print(t("push.nothing_due"), flush=True)
        return
    for a in stats.attempts:
        print(
            t(
                "push.outcome",
                outcome=a.outcome,
                id=a.id,
                task=a.task_id,
                seq=a.seq,
                kind=a.kind,
                http_status=a.http_status,
                error=a.error[:200],
            ),
            flush=True,
        )
    print(
        t("push.round_done", sent=stats.sent, failed=stats.failed, parked=stats.parked), flush=True
    )


async def retry(args) -> int:
    text = (args.id or "").strip()
    if not (text.isascii() and text.isdigit()):
        raise CliError(t("push.bad_id", text=text))
    async with database(args) as (settings, sf, _e):
        async with sf() as s, s.begin():
            row = await svc.retry(s, int(text), settings.actor)
            doc = {"id": row.id, "task": row.task_id, "kind": row.kind, "status": row.status}
    if args.json:
        print_json(doc)
    else:
        print(t("push.retried", id=doc["id"], task=doc["task"], kind=doc["kind"]))
    return 0
