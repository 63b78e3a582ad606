"""Logging in to the web chat in Debian's Chromium (a phone, 390×844), SSJ_WEB_CHAT_LOGIN=1.

Without a session the page says how to get in; the invitation link (as ``ssj webchat
invite`` makes it) logs the person in and lands on /chat showing "我是：姓名" in place of
the picker; the person talks to the bot as themselves; a used link is a Chinese page;
退出 ends the session. The cookie is HttpOnly (the page's script cannot read it) and
SameSite=Strict. Screenshots go to tests/artifacts/browser-login-*.png.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip, or fail when SSJ_REQUIRE_BROWSER=1
    expect = None

from .conftest import ARTIFACTS, _prepare, serving
from .test_browser_quarter import WAIT, say


@pytest.fixture
def login_server(browser_available, tmp_path):
    """The real app on 127.0.0.1 with login on; ``invite(account)`` → (link, name)."""
    from bot.services import webchat_access
    from storage.db import make_engine, session_factory

    async def prepare(db_url, settings):
        await _prepare(db_url, tmp_path, settings)
        return db_url, settings

    with serving(tmp_path, prepare, web_chat=True, web_chat_login=True) as (url, (db, s), _):

        async def invite(account: str):
            engine = make_engine(db)
            try:
                async with session_factory(engine)() as ses, ses.begin():
                    got = await webchat_access.invite(
                        ses, s, account, "e2e", now=webchat_access.utcnow()
                    )
            finally:
                await engine.dispose()
            # the link of a service on port 0 names the port it really listens on
            return got.url.replace(s.public_base, url), got.name

        async def someone():
            from sqlalchemy import select

            from storage.models import InspectorRow

            engine = make_engine(db)
            try:
                async with session_factory(engine)() as ses:
                    return await ses.scalar(
                        select(InspectorRow.msg_account)
                        .where(InspectorRow.msg_account.is_not(None), InspectorRow.role != "管理员")
                        .order_by(InspectorRow.cert)
                    )
            finally:
                await engine.dispose()

        yield url, (lambda account: off_thread(invite(account))), off_thread(someone())


def off_thread(coro):
    """Run ``coro`` to its end in a thread of its own (the browser's driver keeps an event
    loop running in this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-login-{name}.png"))


def test_an_invitation_logs_in_once_and_the_page_is_that_person(login_server, page):
    url, invite, account = login_server
    page.goto(f"{url}/chat")
    expect(page.get_by_test_id("notice")).to_contain_text("邀请链接")
    shot(page, "01-no-session")

    link, name = invite(account)
    page.goto(link)
    page.wait_for_url(f"{url}/chat", timeout=WAIT)
    expect(page.get_by_test_id("me")).to_contain_text(f"我是：{name}")
    expect(page.get_by_test_id("person")).to_have_count(0)
    cookies = {c["name"]: c for c in page.context.cookies(url)}
    session = cookies["ssj_chat"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("ssj_chat") < 0

    say(page, "帮助")
    expect(page.locator('[data-testid="msg"][data-from="bot"]').last).to_contain_text(
        "我的任务", timeout=WAIT
    )
    shot(page, "02-logged-in")

    page.goto(link)  # used: a Chinese page, no session
    expect(page.get_by_test_id("notice")).to_contain_text("已经用过")
    shot(page, "03-used-link")

    page.goto(f"{url}/chat")
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("notice")).to_contain_text("邀请链接", timeout=WAIT)
    assert "ssj_chat" not in {c["name"] for c in page.context.cookies(url)}
