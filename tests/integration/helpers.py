"""Run the ``ssj`` command in-process and read the database directly."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import text

from bot.cli import main
from storage.db import make_engine


def ssj(capsys, url: str, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--db", url, *args])
    out, err = capsys.readouterr()
    return code, out, err


def ssj_json(capsys, url: str, *args: str):
    code, out, err = ssj(capsys, url, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def query(url: str, sql: str, **params):
    async def go():
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql), params)).all()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def execute(url: str, *sqls: str) -> None:
    async def go():
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                for s in sqls:
                    await conn.execute(text(s))
        finally:
            await engine.dispose()

    asyncio.run(go())


def counts(url: str) -> dict:
    tables = [
        "enterprises",
        "inspectors",
        "conflicts",
        "tasks",
        "draws",
        "selections",
        "team_members",
        "recusals",
        "audit_log",
    ]
    return {t: query(url, f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}


def reviewer(url: str, sel: dict) -> str:
    """A 管理员 who may approve ``sel``'s result under the four-eyes rule: one off its team,
    else (every 管理员 on it) one who did not enter it (its first inspector)."""
    admins = [
        c for (c,) in query(url, "SELECT cert FROM inspectors WHERE role = '管理员' ORDER BY cert")
    ]
    team = list(sel["inspectors"]) + list(sel.get("auxiliary", []))
    outside = [a for a in admins if a not in team]
    return outside[0] if outside else next(a for a in admins if a != sel["inspectors"][0])
