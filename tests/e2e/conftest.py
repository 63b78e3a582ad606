"""Fixtures for the real-browser tests: the real app on 127.0.0.1 and Debian's Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by the ``playwright`` package; this
never downloads a browser. When either is missing the tests are skipped, or fail when
SSJ_REQUIRE_BROWSER=1 (as in CI). ``make browser`` installs Chromium.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # only 127.0.0.1 is ever contacted; never go through a proxy
]


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (run `make browser`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser_available() -> None:
    missing = _browser_missing()
    if missing is None:
        return
    if os.environ.get("SSJ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required (SSJ_REQUIRE_BROWSER=1) but {missing}")
    pytest.skip(missing)


# a direct opener: the test talks to 127.0.0.1 only, whatever *_proxy says
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class LiveServer:
    url: str
    enterprise_names: list[str]
    enterprise_codes: list[str]
    people: list[dict] = field(default_factory=list)
    db_url: str = ""

    def get(self, path: str, **query) -> dict:
        q = f"?{urllib.parse.urlencode(query)}" if query else ""
        with _LOCAL.open(f"{self.url}{path}{q}", timeout=10) as resp:
            return json.load(resp)

    def inbox(self, user: str, room: str = "private", after: int = 0) -> list[dict]:
        return self.get("/chat/api/inbox", user=user, room=room, after=after)["messages"]

    def admins(self) -> list[str]:
        return [p["account"] for p in self.people if p["role"] == "管理员"]

    def name(self, account: str) -> str:
        return next(p["name"] for p in self.people if p["account"] == account)


async def _prepare(db_url: str, tmp_path: Path, settings) -> tuple[list[str], list[str]]:
    """Migrate a fresh database and import the demo library, like tests/service/harness."""
    from sqlalchemy import select

    from bot.demo import write_library
    from bot.services import library
    from storage import migrate
    from storage.db import make_engine, session_factory
    from storage.models import EnterpriseRow

    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine)
        sf = session_factory(engine)
        paths = write_library(tmp_path / "lib")
        for kind in ("enterprises", "inspectors", "conflicts"):
            async with sf() as s, s.begin():
                out = await library.import_file(s, settings, kind, paths[kind], "e2e")
                assert out.ok, out.errors
        async with sf() as s:
            rows = (await s.execute(select(EnterpriseRow.name, EnterpriseRow.uscc))).all()
    finally:
        await engine.dispose()
    return [n for n, _ in rows], [u for _, u in rows]


@contextmanager
def serving(tmp_path, prepare, **overrides):
    """The real app on 127.0.0.1 and a free port, in a thread with its own event loop.

    ``prepare(db_url, settings)`` (async) fills the SQLite database first; yields
    (base URL, what ``prepare`` returned). Traffic stays on loopback.
    """
    from aiohttp import web

    from bot.app import create_app
    from bot.config import Settings

    db_url = f"sqlite+aiosqlite:///{tmp_path}/ssj.db"
    settings = replace(
        Settings.from_env(db_url), host="127.0.0.1", port=0, actor="e2e", **overrides
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="e2e-server", daemon=True)
    thread.start()

    def run(coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    async def start():
        extra = await prepare(db_url, settings)
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return runner, f"http://{host}:{port}", extra

    runner = None
    try:
        runner, url, extra = run(start())
        yield url, extra, db_url
    finally:
        if runner is not None:
            run(runner.cleanup())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def live_server(browser_available, tmp_path):
    """The real app with the web chat on and the demo library imported."""

    async def prepare(db_url, settings):
        return await _prepare(db_url, tmp_path, settings)

    with serving(tmp_path, prepare, web_chat=True) as (url, (names, codes), db_url):
        server = LiveServer(url, names, codes, db_url=db_url)
        server.people = server.get("/chat/api/people")["people"]
        yield server


@pytest.fixture
def page(browser_available, tmp_path_factory):
    """A phone-sized page in Debian's Chromium with a fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            service_workers="block",
        )
        try:
            context.set_default_timeout(15_000)
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


@pytest.fixture
def shot(page):
    """``shot("01-draw")`` saves tests/artifacts/browser-quarter-01-draw.png (phone screen)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, show=None) -> Path:
        if show is not None:  # a locator to bring into view first (its top at the top)
            show.evaluate("el => el.scrollIntoView({block: 'start'})")
        path = ARTIFACTS / f"browser-quarter-{name}.png"
        page.screenshot(path=str(path))
        return path

    return take
