"""``ssj`` answers at once: building its parser imports no command module (no services,
no SQLAlchemy, no aiohttp …); a command's module is imported when it runs. Not timed:
bench/cli.py measures; this keeps the property without a flaky timing."""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.cli.tree import COMMANDS, resolve
from storage import migrate

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "sqlalchemy",
    "alembic",
    "aiohttp",
    "aiosqlite",
    "asyncpg",
    "openpyxl",
    "apscheduler",
    "handlers",
    "scheduler",
    "storage",
    "bot.services",
    "bot.app",
    "bot.messengers",
    "bot.web",
    "bot.sheets",
    "bot.demo",
)

PROBE = """
import contextlib, io, json, sys
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:] + ["--help"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    mods = json.loads(out.stdout)
    return [m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("draw",),
        ("draw", "show"),
        ("export", "publication"),
        ("import",),
        ("init",),
        ("serve",),
        ("library",),
    ],
)
def test_help_imports_nothing_heavy(args):
    assert _loaded(*args) == []


def test_the_short_tree_lists_what_the_whole_one_does():
    """``ssj --help`` from the stand-in entries equals the one of the whole tree: each
    entry of COMMANDS names the help key its builder uses."""
    assert build_parser(set()).format_help() == build_parser().format_help()


def _handlers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    func = parser.get_default("func")
    if func is not None:
        yield path, func
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _handlers(sub, (*path, name))


def test_every_handler_resolves_to_a_coroutine_function():
    found = dict(_handlers(build_parser()))
    assert {p[0] for p in found} == {name for name, _, _ in COMMANDS}
    for path, target in found.items():
        assert inspect.iscoroutinefunction(resolve(target)), path


def test_revision_files_head_is_alembics():
    assert migrate.head() == migrate.revisions()[-1]


@pytest.mark.parametrize(
    "argv",
    [
        ["--db", "sqlite+aiosqlite:///x.db", "draw", "show", "--task", "2027Q1", "--json"],
        ["export", "publication", "--task", "2027Q1", "out.xlsx"],
        ["library", "history", "--year", "2026"],
        ["calendar", "show", "--year", "2027"],
        ["serve", "--web-chat"],
        ["init", "--app-role", "ssj_app"],
    ],
)
def test_the_short_tree_parses_as_the_whole_one(argv):
    """Without help texts and with only the command asked for, the same arguments."""
    assert build_parser(set(argv), help=False).parse_args(argv) == build_parser().parse_args(argv)


def test_usage_errors_are_the_same_without_help_texts(capsys):
    for argv in (["draw", "run"], ["nope"], [], ["draw", "show", "--task"]):
        errors = []
        for parser in (build_parser(), build_parser(set(argv), help=False)):
            with pytest.raises(SystemExit):
                parser.parse_args(argv)
            errors.append(capsys.readouterr().err)
        assert errors[0] == errors[1], argv
