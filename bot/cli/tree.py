"""The ``ssj`` command tree, built without importing what the commands do.

Each top-level command is listed with its help key and a builder that adds its options
and sub-commands. A builder is a function here or ``"module:function"`` (resolved only
when that command is asked for, so ``ssj --help`` imports no command module). A command's
handler is ``"module:function"`` too and is imported when the command runs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Collection
from typing import Any, Protocol

from bot.text import t

Handler = Callable[[argparse.Namespace], Any]


class MakeParser(Protocol):
    def __call__(
        self, sub: Any, name: str, help_key: str, func: Handler | str | None = None, **kw: Any
    ) -> argparse.ArgumentParser: ...


Builder = Callable[[Any, MakeParser], None]


def resolve(target: Any) -> Any:
    """``"module:function"`` -> the function (imported now); anything else as it is."""
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class _Help:
    """Whether the parser being built may print help. Help texts are needed only then:
    without ``-h``/``--help`` among the arguments they are left out, and their templates
    are not compiled."""

    shown = True


def _h(key: str, **params: Any) -> str | None:
    return t(key, **params) if _Help.shown else None


def make_parser(
    sub: Any, name: str, help_key: str, func: Handler | str | None = None, **kw: Any
) -> argparse.ArgumentParser:
    text = _h(help_key)
    p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text, **kw)
    if func:
        p.set_defaults(func=func)
    return p


def _task(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help=_h("cli.opt_task"))


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help=_h("cli.opt_json"))


def _sub(p: argparse.ArgumentParser, dest: str) -> Any:
    return p.add_subparsers(dest=dest, metavar=t("cli.metavar", name=dest), required=True)


LIB = "bot.cli.library:"
DRAW = "bot.cli.draw:"


def _init(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "init", "cli.cmd_init", "bot.cli.commands:init")
    p.add_argument("--app-role", metavar="NAME", help=_h("audit.opt_app_role"))


def _import(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "import", "cli.cmd_import", LIB + "import_")
    p.add_argument(
        "kind",
        choices=["enterprises", "inspectors", "conflicts", "history"],
        help=_h("cli.arg_import_kind"),
    )
    p.add_argument("path", help=_h("cli.arg_path"))
    _json(p)


def _export(sub: Any, mk: MakeParser) -> None:
    esub = _sub(mk(sub, "export", "cli.cmd_export"), "what")
    e = mk(esub, "draw", "cli.cmd_export_draw", LIB + "export_draw")
    _task(e)
    e.add_argument("path", help=_h("cli.arg_out"))
    e = mk(esub, "history", "cli.cmd_export_history", LIB + "export_history")
    e.add_argument("path", help=_h("cli.arg_out_table"))
    e = mk(esub, "library", "cli.cmd_export_library", LIB + "export_library")
    e.add_argument(
        "kind", choices=["enterprises", "inspectors", "conflicts"], help=_h("cli.arg_export_kind")
    )
    e.add_argument("path", help=_h("cli.arg_out"))
    e = mk(esub, "publication", "publication.cmd_export", "bot.cli.publish:export_publication")
    _task(e)
    e.add_argument("path", help=_h("cli.arg_out"))


def _draw(sub: Any, mk: MakeParser) -> None:
    dsub = _sub(mk(sub, "draw", "cli.cmd_draw"), "action")
    d = mk(dsub, "prepare", "cli.cmd_draw_prepare", DRAW + "draw_prepare")
    _task(d)
    _json(d)
    d = mk(dsub, "run", "cli.cmd_draw_run", DRAW + "draw_run")
    _task(d)
    d.add_argument("--entropy", default="", help=_h("cli.opt_entropy"))
    d.add_argument("--redraw", action="store_true", help=_h("cli.opt_redraw"))
    d.add_argument("--reason", default="", help=_h("cli.opt_reason"))
    _json(d)
    for name in ("show", "reveal", "verify"):
        d = mk(dsub, name, f"cli.cmd_draw_{name}", f"{DRAW}draw_{name}")
        _task(d)
        _json(d)


def _recuse(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "recuse", "cli.cmd_recuse", DRAW + "recuse")
    _task(p)
    p.add_argument("--uscc", required=True, help=_h("cli.opt_uscc"))
    p.add_argument("--inspector", required=True, metavar="CERT", help=_h("cli.opt_inspector"))
    p.add_argument("--reason", required=True, help=_h("cli.opt_reason"))
    p.add_argument("--swap-with", metavar="CERT", help=_h("cli.opt_swap"))
    _json(p)


def _demo(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "demo-data", "cli.cmd_demo", "bot.cli.commands:demo_data")
    p.add_argument("--dir", default="var/demo", help=_h("cli.opt_demo_dir"))
    p.add_argument("--files-only", action="store_true", help=_h("cli.opt_files_only"))


def _serve(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "serve", "cli.cmd_serve", "bot.cli.commands:serve")
    p.add_argument("--web-chat", action="store_true", help=_h("cli.opt_web_chat"))


def _items(sub: Any, mk: MakeParser) -> None:
    mk(sub, "items", "cli.cmd_items", LIB + "items")


def _library(sub: Any, mk: MakeParser) -> None:
    p = mk(sub, "library", "cli.cmd_library", LIB + "library")
    p.add_argument(
        "kind",
        choices=["enterprises", "inspectors", "conflicts", "history"],
        help=_h("cli.arg_library_kind"),
    )
    p.add_argument("--year", type=int, help=_h("cli.opt_year"))
    p.add_argument("--uscc", help=_h("cli.opt_uscc_filter"))
    _json(p)


# (name, help key, builder), in the order ``ssj --help`` lists them. The help key must be
# the one the builder gives the command (tests/unit/test_cli_lazy.py checks it).
COMMANDS: tuple[tuple[str, str, Builder | str], ...] = (
    ("init", "cli.cmd_init", _init),
    ("import", "cli.cmd_import", _import),
    ("export", "cli.cmd_export", _export),
    ("draw", "cli.cmd_draw", _draw),
    ("recuse", "cli.cmd_recuse", _recuse),
    ("audit", "cli.cmd_audit", "bot.cli.audit:add_parser"),
    ("demo-data", "cli.cmd_demo", _demo),
    ("result", "cli.cmd_result", "bot.cli.results:add_parser"),
    ("calendar", "calendar.cmd_calendar", "bot.cli.calendar:add_parser"),
    ("jobs", "jobs.cmd_jobs", "bot.cli.jobs:add_parser"),
    ("plan", "plan.cmd_plan", "bot.cli.plan:add_parser"),
    ("outbox", "push.cmd_outbox", "bot.cli.outbox:add_parser"),
    ("publish", "publication.cmd_publish", "bot.cli.publish:add_parser"),
    ("task", "tasks.cmd_task", "bot.cli.tasks:add_parser"),
    ("stats", "stats.cmd_stats", "bot.cli.stats:add_parser"),
    ("webchat", "webchat.cmd_webchat", "bot.cli.webchat:add_parser"),
    ("serve", "cli.cmd_serve", _serve),
    ("items", "cli.cmd_items", _items),
    ("library", "cli.cmd_library", _library),
)


def add_commands(sub: Any, wanted: Collection[str] | None = None, help: bool = True) -> None:
    """Every command; only those in ``wanted`` (all when None) with their options and
    sub-commands, the others as a name and a help line (enough for ``ssj --help``).
    ``help=False``: without the help texts of this module's builders (nothing will print
    help; usage lines and error messages do not use them)."""
    _Help.shown = help
    try:
        for name, help_key, builder in COMMANDS:
            if wanted is None or name in wanted:
                resolve(builder)(sub, make_parser)
            else:
                make_parser(sub, name, help_key)
    finally:
        _Help.shown = True
