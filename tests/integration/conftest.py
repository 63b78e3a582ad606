"""Fixtures of the command-line tests."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import Settings
from tests.service.harness import demo_database


@pytest.fixture
def library(db_url):
    """A migrated database (SQLite or PostgreSQL) with the demo library imported by the
    command line's actor: a copy of a template built once per run (``ssj init`` and
    ``ssj import`` themselves are tested in test_cli_import.py)."""
    settings = Settings.from_env(db_url)
    asyncio.run(demo_database(db_url, settings, settings.actor))
    return db_url
