"""The import-layer check (tests/layers.py) on the tree, and on copies with a planted
forbidden import or cycle, to show that it fails when it should."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import layers

ROOT = Path(__file__).resolve().parents[2]


def test_the_tree_keeps_its_layers():
    assert layers.violations(ROOT) == []


def test_the_tree_has_no_import_cycle():
    assert layers.cycles(ROOT) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for top in layers.ROOTS:
        shutil.copytree(
            ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__", "migrations")
        )
    return tmp_path


def _plant(tree: Path, rel: str, line: str, *, inside_function: bool = False) -> None:
    path = tree / rel
    text = path.read_text(encoding="utf-8")
    if inside_function:
        text += f"\n\ndef _planted():\n    {line}\n"
    else:
        text += f"\n{line}\n"
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("rel", "line", "expected"),
    [
        (
            "handlers/help.py",
            "from storage.models import Enterprise",
            "handlers.help imports storage.models (layer handlers may not import storage)",
        ),
        (
            "handlers/help.py",
            "import sqlalchemy",
            "handlers.help imports sqlalchemy (SQL outside storage/)",
        ),
        (
            "bot/services/people.py",
            "from sqlalchemy import select",
            "bot.services.people imports sqlalchemy (SQL outside storage/)",
        ),
        (
            "bot/domain/draw.py",
            "import aiohttp",
            "bot.domain.draw imports aiohttp (layer bot.domain uses the standard library only)",
        ),
        (
            "bot/domain/draw.py",
            "from bot.text import t",
            "bot.domain.draw imports bot.text (layer bot.domain may not import bot)",
        ),
        (
            "bot/messengers/wecom/api.py",
            "from bot.services import outbox",
            "bot.messengers.wecom.api imports bot.services.outbox (layer bot.messengers may not "
            "import bot.services)",
        ),
        (
            "bot/messengers/wecom/api.py",
            "from bot.messengers.webchat import adapter",
            "one messenger may not import another",
        ),
        (
            "bot/messengers/bizcrypt.py",
            "from bot.messengers.wecom import crypto",
            "bot.messengers.bizcrypt imports bot.messengers.wecom.crypto (a module shared by "
            "the messengers may not import one of them)",
        ),
        (
            "storage/repos/draws.py",
            "from handlers import router",
            "storage.repos.draws imports handlers.router (layer storage may not import handlers)",
        ),
    ],
)
def test_a_planted_forbidden_import_is_named(tree, rel, line, expected):
    assert not any(expected in v for v in layers.violations(tree))
    _plant(tree, rel, line, inside_function=True)  # lazy imports count too
    found = layers.violations(tree)
    assert any(expected in v and rel in v for v in found), found


def test_a_messenger_may_import_what_the_messengers_share(tree):
    # bot/messengers/bizcrypt.py is a plain module of the package, not a messenger
    _plant(tree, "bot/messengers/feishu/api.py", "from bot.messengers import bizcrypt")
    _plant(tree, "bot/messengers/webchat/http.py", "import bot.messengers.bizcrypt")
    assert layers.violations(tree) == []
    _plant(tree, "bot/messengers/feishu/api.py", "from bot.messengers.wecom import crypto")
    assert any(
        "bot.messengers.feishu.api imports bot.messengers.wecom.crypto (one messenger" in v
        for v in layers.violations(tree)
    )


def test_a_planted_cycle_is_named(tree):
    before = layers.cycles(tree)
    # bot.keys is a leaf; make it import a module that (indirectly) imports it back
    _plant(tree, "bot/keys.py", "import handlers.assignments", inside_function=True)
    after = layers.cycles(tree)
    assert len(after) > len(before)
    assert any("bot.keys" in c and "handlers.assignments" in c for c in after), after


def test_imports_under_type_checking_make_no_cycle(tree):
    before = layers.cycles(tree)
    _plant(
        tree,
        "bot/keys.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import handlers.assignments",
    )
    assert layers.cycles(tree) == before


def test_the_command_fails_on_a_violation(tree, monkeypatch, capsys):
    _plant(tree, "handlers/help.py", "from storage.models import Enterprise")
    monkeypatch.setattr(layers, "__file__", str(tree / "tests" / "layers.py"))
    assert layers.main() == 1
    assert "handlers.help imports storage.models" in capsys.readouterr().out
