"""Links to the public record: absolute (SSJ_PUBLIC_URL) in what the chat says, and a
Chinese 404 page for anything under /public/ that is not there."""

from __future__ import annotations

import html
from dataclasses import replace

import pytest

from bot.app import create_app
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.messages import GROUP
from bot.services import publication

from .harness import texts
from .test_publication import TASK, _draw, _enter


def test_public_url_defaults_to_the_service_and_is_checked(monkeypatch):
    for name in ("SSJ_PUBLIC_URL", "SSJ_HOST", "SSJ_PORT"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env("sqlite+aiosqlite:///unused.db")
    assert s.public_url == "" and s.public_base == "http://127.0.0.1:8080"
    monkeypatch.setenv("SSJ_HOST", "10.1.2.3")
    monkeypatch.setenv("SSJ_PORT", "9000")
    assert Settings.from_env("sqlite+aiosqlite:///unused.db").public_base == "http://10.1.2.3:9000"
    assert replace(s, host="::1", port=81).public_base == "http://[::1]:81"
    monkeypatch.setenv("SSJ_PUBLIC_URL", " https://ssj.example.gov.cn/huojia/ ")
    s = Settings.from_env("sqlite+aiosqlite:///unused.db")
    assert s.public_base == "https://ssj.example.gov.cn/huojia"  # no trailing slash
    for bad in (
        "ssj.example.gov.cn",
        "ftp://ssj.example.gov.cn",
        "https://",
        "javascript:alert(1)",
        "https://ssj.example.gov.cn/?x=1",
        "https://ssj.example.gov.cn/#top",
        "http://ssj.example.gov.cn:99999",
        "http://ssj example.gov.cn",
    ):
        monkeypatch.setenv("SSJ_PUBLIC_URL", bad)
        with pytest.raises(ValueError) as err:
            Settings.from_env("sqlite+aiosqlite:///unused.db")
        assert "SSJ_PUBLIC_URL" in str(err.value) and "http://" in str(err.value), bad


async def test_publishing_in_chat_links_the_public_page_absolutely(bot):
    base = "https://ssj.example.gov.cn/huojia"
    bot.settings = replace(bot.settings, public_url=base)
    bot.dispatcher = Dispatcher(bot.sf, bot.settings, clock=bot.clock)
    sels, cert = await _draw(bot)
    await _enter(bot, sels, cert)
    admin = next(a for a, p in (await bot.people()).items() if p.cert == cert)
    out = await bot.say(admin, f"公示 {TASK}")
    url = f"{base}/public/tasks/{TASK}"
    assert [r.room for r in out] == ["private", GROUP]
    for r in out:  # the address ends its line, so a chat can make it a link
        assert f"公示页面：{url}\n" in r.text + "\n"
    assert "/public/" not in texts(out).replace(url, "")  # no bare path left
    async with bot.sf() as s:
        doc = await publication.document(s, TASK)
    assert publication.announcement(doc, base + "/").endswith(f"公示页面：{url}")


@pytest.mark.parametrize(
    "path",
    [
        "/public/nope",
        "/public/tasks/",
        "/public/tasks/2099Q1",
        "/public/tasks/2099Q1.json",
        "/public/tasks/a/b",
        "/public/plans/2099",
        "/public/plans/abcd",
        "/public/stats/2031",
        "/public/stats/20x1",
        "/public/forms/2099Q1/91410724MA0000000X",
        "/public/forms/x",
        "/public/<script>alert(1)</script>",
    ],
)
async def test_anything_missing_under_public_is_a_chinese_404(bot, aiohttp_client, path):
    client = await aiohttp_client(create_app(bot.settings))
    r = await client.get(path)
    body = await r.text()
    assert r.status == 404 and r.headers["Content-Type"].startswith("text/html")
    assert "<h1>未找到</h1>" in body and "返回公示首页" in body and "Not Found" not in body
    assert html.escape(r.url.path) in body and "<script>" not in body
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
