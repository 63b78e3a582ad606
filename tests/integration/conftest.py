"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest

from bot.demo import write_library

from .helpers import ssj


@pytest.fixture
def library(db_url, tmp_path, capsys):
    """A migrated database (SQLite or PostgreSQL) with the demo library imported."""
    paths = write_library(tmp_path / "lib")
    assert ssj(capsys, db_url, "init")[0] == 0
    for kind in ("enterprises", "inspectors", "conflicts"):
        code, _, err = ssj(capsys, db_url, "import", kind, str(paths[kind]))
        assert code == 0, err
    return db_url
