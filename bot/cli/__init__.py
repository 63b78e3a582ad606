"""The ``ssj`` command: argument parsing and dispatch. Commands live in the modules beside this one."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.cli import commands as cmd
from bot.cli import audit as cli_audit, calendar as cli_calendar, results as cli_results
from bot.cli import jobs as cli_jobs
from bot.cli import outbox as cli_outbox, plan as cli_plan
from bot.cli import publish as cli_publish
from bot.cli import tasks as cli_tasks
from bot.cli import stats as cli_stats
from bot.cli import webchat as cli_webchat
from bot.domain.model import DomainError
from bot.cli.terminal import chinese_argparse
from bot.text import domain_message, t


def _parser(sub, name: str, help_key: str, func=None, **kw) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=t(help_key), description=t(help_key), **kw)
    if func:
        p.set_defaults(func=func)
    return p


def _task(p) -> None:
    p.add_argument("--task", required=True, help=t("cli.opt_task"))


def _json(p) -> None:
    p.add_argument("--json", action="store_true", help=t("cli.opt_json"))


def build_parser() -> argparse.ArgumentParser:
    chinese_argparse()
    parser = argparse.ArgumentParser(prog="ssj", description=t("cli.prog_description"),
                                     epilog=t("cli.prog_epilog"))
    parser.add_argument("--db", metavar="URL", help=t("cli.opt_db"))
    sub = parser.add_subparsers(dest="command", metavar=t("cli.metavar", name="command"), required=True)

    p = _parser(sub, "init", "cli.cmd_init", cmd.init)
    p.add_argument("--app-role", metavar="NAME", help=t("audit.opt_app_role"))

    p = _parser(sub, "import", "cli.cmd_import", cmd.import_)
    p.add_argument("kind", choices=["enterprises", "inspectors", "conflicts", "history"],
                   help=t("cli.arg_import_kind"))
    p.add_argument("path", help=t("cli.arg_path"))
    _json(p)

    p = _parser(sub, "export", "cli.cmd_export")
    esub = p.add_subparsers(dest="what", metavar=t("cli.metavar", name="what"), required=True)
    e = _parser(esub, "draw", "cli.cmd_export_draw", cmd.export_draw)
    _task(e)
    e.add_argument("path", help=t("cli.arg_out"))
    e = _parser(esub, "history", "cli.cmd_export_history", cmd.export_history)
    e.add_argument("path", help=t("cli.arg_out_table"))
    e = _parser(esub, "library", "cli.cmd_export_library", cmd.export_library)
    e.add_argument("kind", choices=["enterprises", "inspectors", "conflicts"],
                   help=t("cli.arg_export_kind"))
    e.add_argument("path", help=t("cli.arg_out"))

    p = _parser(sub, "draw", "cli.cmd_draw")
    dsub = p.add_subparsers(dest="action", metavar=t("cli.metavar", name="action"), required=True)
    d = _parser(dsub, "prepare", "cli.cmd_draw_prepare", cmd.draw_prepare)
    _task(d)
    _json(d)
    d = _parser(dsub, "run", "cli.cmd_draw_run", cmd.draw_run)
    _task(d)
    d.add_argument("--entropy", default="", help=t("cli.opt_entropy"))
    d.add_argument("--redraw", action="store_true", help=t("cli.opt_redraw"))
    d.add_argument("--reason", default="", help=t("cli.opt_reason"))
    _json(d)
    for name, func in (("show", cmd.draw_show), ("reveal", cmd.draw_reveal),
                       ("verify", cmd.draw_verify)):
        d = _parser(dsub, name, f"cli.cmd_draw_{name}", func)
        _task(d)
        _json(d)

    p = _parser(sub, "recuse", "cli.cmd_recuse", cmd.recuse)
    _task(p)
    p.add_argument("--uscc", required=True, help=t("cli.opt_uscc"))
    p.add_argument("--inspector", required=True, metavar="CERT", help=t("cli.opt_inspector"))
    p.add_argument("--reason", required=True, help=t("cli.opt_reason"))
    p.add_argument("--swap-with", metavar="CERT", help=t("cli.opt_swap"))
    _json(p)

    cli_audit.add_parser(sub, _parser)

    p = _parser(sub, "demo-data", "cli.cmd_demo", cmd.demo_data)
    p.add_argument("--dir", default="var/demo", help=t("cli.opt_demo_dir"))
    p.add_argument("--files-only", action="store_true", help=t("cli.opt_files_only"))

    cli_results.add_parser(sub, _parser)
    cli_calendar.add_parser(sub, _parser)
    cli_jobs.add_parser(sub, _parser)
    cli_plan.add_parser(sub, _parser)
    cli_outbox.add_parser(sub, _parser)
    cli_publish.add_parser(sub, _parser)
    cli_tasks.add_parser(sub, _parser)
    cli_stats.add_parser(sub, _parser)
    cli_webchat.add_parser(sub, _parser)

    p = _parser(sub, "serve", "cli.cmd_serve", cmd.serve)
    p.add_argument("--web-chat", action="store_true", help=t("cli.opt_web_chat"))

    _parser(sub, "items", "cli.cmd_items", cmd.items)
    p = _parser(sub, "library", "cli.cmd_library", cmd.library)
    p.add_argument("kind", choices=["enterprises", "inspectors", "conflicts", "history"],
                   help=t("cli.arg_library_kind"))
    p.add_argument("--year", type=int, help=t("cli.opt_year"))
    p.add_argument("--uscc", help=t("cli.opt_uscc_filter"))
    _json(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(args.func(args))
    except DomainError as exc:
        print(domain_message(exc), file=sys.stderr)
        return 1
    except cmd.CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(t("cli.interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: a Chinese message, not a trace
        if os.environ.get("SSJ_DEBUG"):
            raise
        print(t("cli.unexpected", error=f"{type(exc).__name__}: {exc}"), file=sys.stderr)
        return 1

