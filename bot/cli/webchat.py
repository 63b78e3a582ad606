"""``ssj webchat invite|revoke|list``: who may log in to the web chat (SSJ_WEB_CHAT_LOGIN=1).

``invite`` prints a one-time link and puts it in the outbox, so the running service sends
it to the person through the messenger; the database keeps only the link's hash.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime

from bot.cli.commands import CliError, database
from bot.cli.terminal import print_json, table
from bot.localtime import CST
from bot.services import webchat_access as access
from bot.text import t
from storage.uow import unit_of_work


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    _parser: Callable[..., argparse.ArgumentParser],
) -> None:
    p = _parser(sub, "webchat", "webchat.cmd_webchat")
    wsub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    w = _parser(wsub, "invite", "webchat.cmd_invite", invite)
    w.add_argument("account", metavar="消息账号", help=t("webchat.arg_account"))
    w.add_argument("--json", action="store_true", help=t("cli.opt_json"))
    w = _parser(wsub, "revoke", "webchat.cmd_revoke", revoke)
    w.add_argument("account", metavar="消息账号", help=t("webchat.arg_account"))
    w = _parser(wsub, "list", "webchat.cmd_list", list_)
    w.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def beijing(at: datetime) -> str:
    """A stored UTC time as people read it."""
    return at.replace(tzinfo=UTC).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


async def invite(args: argparse.Namespace) -> int:
    async with database(args) as (settings, sf, _):
        if not settings.web_chat_login:
            raise CliError(t("webchat.login_not_on"))
        if not settings.public_url and _unspecified(settings.host):
            raise CliError(t("webchat.need_public_url", host=settings.host))
        try:
            async with unit_of_work(sf) as s:
                got = await access.invite(
                    s, settings, args.account, settings.actor, now=access.utcnow()
                )
        except access.LoginError as exc:
            raise CliError(str(exc)) from exc
    if args.json:
        print_json(
            {
                "account": got.account,
                "name": got.name,
                "url": got.url,
                "expires_at": got.expires_at.replace(tzinfo=UTC).isoformat(),
            }
        )
    else:
        print(
            t(
                "webchat.invited",
                name=got.name,
                account=got.account,
                url=got.url,
                expires=beijing(got.expires_at),
            )
        )
    return 0


async def revoke(args: argparse.Namespace) -> int:
    async with database(args) as (settings, sf, _):
        async with unit_of_work(sf) as s:
            sessions, links = await access.revoke(
                s, args.account, settings.actor, now=access.utcnow()
            )
    print(t("webchat.revoked", account=args.account, sessions=sessions, invites=links))
    return 0


async def list_(args: argparse.Namespace) -> int:
    async with database(args) as (_, sf, _e):
        async with sf() as s:
            rows = await access.active(s, now=access.utcnow())
    if args.json:
        print_json(
            [
                {
                    **r,
                    "created_at": r["created_at"].replace(tzinfo=UTC).isoformat(),
                    "expires_at": r["expires_at"].replace(tzinfo=UTC).isoformat(),
                }
                for r in rows
            ]
        )
        return 0
    if not rows:
        print(t("webchat.list_empty"))
        return 0
    table(
        [
            t("webchat.col_kind"),
            t("webchat.col_account"),
            t("webchat.col_created"),
            t("webchat.col_expires"),
        ],
        [
            [
                t(f"webchat.kind_{r['kind']}"),
                r["account"],
                beijing(r["created_at"]),
                beijing(r["expires_at"]),
            ]
            for r in rows
        ],
    )
    return 0
