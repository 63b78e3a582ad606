"""The ``ssj`` command: argument parsing and dispatch. Commands live in the modules beside this one.

Only light modules are imported here (bot/cli/tree.py lists the commands): a command's
module, and with it the services and the storage layer, is imported when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Collection

from bot.cli.base import CliError
from bot.cli.terminal import chinese_argparse
from bot.cli.tree import add_commands, resolve
from bot.domain.model import DomainError
from bot.text import domain_message, t


def build_parser(
    wanted: Collection[str] | None = None, help: bool = True
) -> argparse.ArgumentParser:
    """The whole tree, or with ``wanted`` only those commands' options and sub-commands
    (``main`` passes its arguments: the command asked for is among them). ``help=False``
    leaves out help texts that cannot be shown (``main`` when no ``-h``/``--help``)."""
    chinese_argparse()
    parser = argparse.ArgumentParser(
        prog="ssj",
        description=t("cli.prog_description") if help else None,
        epilog=t("cli.prog_epilog") if help else None,
    )
    parser.add_argument("--db", metavar="URL", help=t("cli.opt_db") if help else None)
    sub = parser.add_subparsers(
        dest="command", metavar=t("cli.metavar", name="command"), required=True
    )
    add_commands(sub, wanted, help)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    asks_help = any(a.startswith(("-h", "--h")) for a in argv)
    args = build_parser(set(argv), asks_help).parse_args(argv)
    try:
        code: int = asyncio.run(resolve(args.func)(args))
        return code
    except DomainError as exc:
        print(domain_message(exc), file=sys.stderr)
        return 1
    except CliError as exc:
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
