"""An Errbot-style harness: push a message in, get the bot's replies, through the real
dispatcher, handlers, services and database (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from bot import localtime
from bot.config import Settings
from bot.demo import write_library
from bot.dispatch import Dispatcher
from bot.domain import results as rules
from bot.messages import GROUP, PRIVATE, Inbound, Outbound
from bot.services import library, publication
from storage import migrate
from storage.db import make_engine, session_factory
from storage.models import InspectorRow
from tests.pgadmin import pg_admin, url_of

BOT = "@双随机助手"


# The migrated demo library, built once per run and copied into each test's database:
# importing it costs about a second a test (more on PostgreSQL), a copy a few ms. A
# template belongs to one database kind, one bureau and one moment: the import's audit
# entries are dated by the clock, so a test whose clock is frozen (time_machine with
# tick=False) gets a template built at exactly that moment; a test on the running clock
# gets one built earlier in the run (still before anything the test does).
_TEMPLATES: dict[tuple[str, str, str, datetime | None], str] = {}
_SQLITE_DIR: list[Path] = []


def _frozen_now() -> datetime | None:
    """The frozen moment when the clock is stopped, else None."""
    first = time.time()
    time.sleep(0.001)  # time.sleep is not travelled
    return localtime.now() if time.time() == first else None


async def _import_demo(url: str, settings: Settings, actor: str, folder: Path) -> None:
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        paths = write_library(folder)
        sf = session_factory(engine)
        for kind in ("enterprises", "inspectors", "conflicts"):
            async with sf() as s, s.begin():
                out = await library.import_file(s, settings, kind, paths[kind], actor)
                assert out.ok, out.errors
    finally:
        await engine.dispose()


async def _template(url: str, settings: Settings, actor: str) -> str:
    dialect = make_url(url).get_backend_name()
    key = (dialect, settings.region_code, actor, _frozen_now())
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    if not _SQLITE_DIR:
        _SQLITE_DIR.append(Path(tempfile.mkdtemp(prefix="ssj-templates-")))
    folder = _SQLITE_DIR[0] / uuid.uuid4().hex[:12]
    if dialect == "sqlite":
        name = str(folder / "template.db")
        folder.mkdir()
        await _import_demo(f"sqlite+aiosqlite:///{name}", settings, actor, folder / "lib")
    else:
        name = "ssj_tpl_" + uuid.uuid4().hex[:12]
        await pg_admin(f'CREATE DATABASE "{name}"')
        await _import_demo(url_of(name), settings, actor, folder / "lib")
    _TEMPLATES[key] = name
    return name


async def demo_database(url: str, settings: Settings, actor: str = "test") -> None:
    """Make the (empty, unconnected) database at ``url`` the migrated demo library,
    imported by ``actor``: what ``ssj init`` and three ``ssj import`` would leave."""
    await _copy(await _template(url, settings, actor), url)


async def _copy(template: str, url: str) -> None:
    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        src, dst = sqlite3.connect(template), sqlite3.connect(str(target.database))
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        return
    await pg_admin(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    await pg_admin(f'CREATE DATABASE "{target.database}" TEMPLATE "{template}"')


def drop_templates() -> None:
    """At the end of the run: the PostgreSQL templates and the SQLite folder."""
    import asyncio
    import shutil

    for (dialect, *_), name in _TEMPLATES.items():
        if dialect != "sqlite":
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    _TEMPLATES.clear()
    for folder in _SQLITE_DIR:
        shutil.rmtree(folder, ignore_errors=True)
    _SQLITE_DIR.clear()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


class Harness:
    def __init__(self, url: str, clock: Clock):
        self.url, self.clock = url, clock
        self.settings = replace(Settings.from_env(url), actor="test")
        self.engine = make_engine(url)
        self.sf = session_factory(self.engine)
        self.dispatcher = Dispatcher(self.sf, self.settings, clock=clock)

    async def setup_library(self, tmp_path) -> None:
        """The migrated database with the demo library imported (a template's copy)."""
        await self.engine.dispose()
        await demo_database(self.url, self.settings)

    async def restart(self) -> Harness:
        """A new process: new engine, new dispatcher; only the database is kept."""
        await self.engine.dispose()
        return Harness(self.url, self.clock)

    async def close(self) -> None:
        await self.engine.dispose()

    async def refs(self, account: str) -> list[int]:
        """编号 of the person's current assignments (what 我的任务 lists)."""
        from bot.services import assignments

        async with self.sf() as s:
            cert = await s.scalar(
                select(InspectorRow.cert).where(InspectorRow.msg_account == account)
            )
            return await assignments.mine(s, cert) if cert else []

    async def people(self) -> dict[str, InspectorRow]:
        async with self.sf() as s:
            rows = (await s.execute(select(InspectorRow))).scalars().all()
        return {r.msg_account: r for r in rows if r.msg_account}

    async def say(self, user: str, text: str, room: str = PRIVATE) -> list[Outbound]:
        return await self.dispatcher.handle(Inbound("text", user, room, "", text))

    async def group(self, user: str, text: str) -> list[Outbound]:
        return await self.say(user, f"{BOT} {text}", GROUP)

    async def click(
        self, user: str, key: str, message_id: str = "1", room: str = PRIVATE
    ) -> list[Outbound]:
        return await self.dispatcher.handle(
            Inbound("click", user, room, "", key=key, message_id=message_id)
        )


def texts(replies: list[Outbound]) -> str:
    return "\n".join(
        r.text + (f"\n{r.card.title}\n{r.card.body}" if r.card else "") for r in replies
    )


def cards(replies: list[Outbound], to: str | None = None):
    """New cards (not in-place refreshes of cards already held)."""
    return [r.card for r in replies if r.card and not r.refresh and (to is None or r.to == to)]


def refreshed(replies: list[Outbound], to: str | None = None):
    """Cards updated in place (``refresh``), newest state of each held card."""
    return [r.card for r in replies if r.card and r.refresh and (to is None or r.to == to)]


def button(card, label: str) -> str:
    return next(b.key for b in card.buttons if b.text == label)


FINDINGS = "危险废物贮存场所未设置识别标志"


def cycling_draft(i: int, on: date) -> rules.Draft:
    """Results that cycle through the six conclusions with their follow-ups."""
    c = rules.Conclusion.by_number(i % 6 + 1)
    followup = {
        rules.Conclusion.RECTIFY: {
            "rectification": "设置识别标志",
            "rectify_by": on + timedelta(days=30),
        },
        rules.Conclusion.CASE: {"case_no": f"获环立字〔2027〕{i}号"},
        rules.Conclusion.DEPARTMENT: {"department": "县市场监督管理局"},
        rules.Conclusion.JUDICIAL: {"transfer_to": "县公安局"},
    }.get(c, {})
    findings = FINDINGS if c in publication.PROBLEMS else ""
    return rules.Draft(c, on, rules.Mode.ONSITE, findings, followup)


async def reviewer_for(session, ref: int) -> str:
    """A 管理员 who may review object ``ref``'s results under the four-eyes rule: one not
    on its team; if every 管理员 is on it, one who entered none of its results."""
    from storage.models import TeamMemberRow
    from storage.models_chat import ResultRow

    team = set(
        (
            await session.execute(
                select(TeamMemberRow.cert).where(
                    TeamMemberRow.selection_id == ref, TeamMemberRow.active.is_(True)
                )
            )
        ).scalars()
    )
    admins = (
        (
            await session.execute(
                select(InspectorRow.cert)
                .where(InspectorRow.role == "管理员")
                .order_by(InspectorRow.cert)
            )
        )
        .scalars()
        .all()
    )
    entered = set(
        (
            await session.execute(select(ResultRow.entered_by).where(ResultRow.selection_id == ref))
        ).scalars()
    )
    outside = [c for c in admins if c not in team]
    return outside[0] if outside else next(c for c in admins if c not in entered)
