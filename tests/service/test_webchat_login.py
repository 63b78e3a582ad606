"""The web chat is for the machine it runs on, unless people log in (both databases).

With SSJ_WEB_CHAT_LOGIN=1 a person enters through a one-time link (``ssj webchat
invite``), then acts only as themselves through an HttpOnly, SameSite=Strict session;
without a session the API answers 401. Without login the web chat answers only requests
addressed to this machine, and takes no input at all when WeCom is configured.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.app import SESSIONS, WebChatExposed, create_app
from bot.messengers.webchat import login
from bot.services import webchat_access as access
from storage.models_chat import ChatMessage, InboundEvent, OutboxMessage
from storage.models_webchat import WebChatInvite, WebChatSession

PUBLIC = "https://ssj.example.gov.cn/bureau"


@pytest.fixture
def login_settings(bot):
    # a bureau's deployment: every interface, login on, links under its public address
    return replace(
        bot.settings, web_chat=True, web_chat_login=True, host="0.0.0.0", public_url=PUBLIC
    )


@pytest.fixture
async def client(bot, login_settings, aiohttp_client):
    await bot.close()
    return await aiohttp_client(create_app(login_settings))


async def _people(bot) -> tuple[str, str, str]:
    """(an inspector, another inspector, a 管理员) by 消息账号."""
    people = await bot.people()
    inspectors = sorted(a for a, p in people.items() if p.role != "管理员")
    admin = sorted(a for a, p in people.items() if p.role == "管理员")[0]
    return inspectors[0], inspectors[1], admin


async def _invite(client, settings, account: str) -> str:
    async with client.app[SESSIONS]() as s, s.begin():
        got = await access.invite(s, settings, account, "test", now=access.utcnow())
    assert got.url.startswith(f"{PUBLIC}/chat/login/")
    return got.url.rsplit("/", 1)[1]


async def _enter(client, token: str):
    return await client.post("/chat/login", data={"token": token}, allow_redirects=False)


async def _logged_in(client, settings, account: str) -> str:
    r = await _enter(client, await _invite(client, settings, account))
    assert r.status == 303
    return r.cookies[login.COOKIE].value


async def _recorded(client) -> tuple[int, int]:
    async with client.app[SESSIONS]() as s:
        return (
            await s.scalar(select(func.count()).select_from(InboundEvent)),
            await s.scalar(select(func.count()).select_from(ChatMessage)),
        )


async def test_anonymous_requests_get_401_on_a_public_address(bot, client):
    me, _, _ = await _people(bot)
    for path, params in (("/chat/api/inbox", {"user": me}), ("/chat/api/people", {})):
        r = await client.get(path, params=params)
        assert r.status == 401 and "邀请链接" in (await r.json())["error"]
    r = await client.post("/chat/api/send", json={"user": me, "room": "private", "text": "帮助"})
    assert r.status == 401
    r = await client.post("/chat/api/click", json={"user": me, "message_id": 1, "key": "acc:1"})
    assert r.status == 401
    # a forged or unknown cookie is no session either
    for cookie in ("x", "A" * 43, "ssj"):
        r = await client.get(
            "/chat/api/inbox", params={"user": me}, headers={"Cookie": f"{login.COOKIE}={cookie}"}
        )
        assert r.status == 401
    r = await client.get("/chat")
    assert r.status == 401 and "邀请链接" in await r.text()
    assert await _recorded(client) == (0, 0)


async def test_a_link_logs_in_once_and_the_session_is_that_person_only(bot, client, login_settings):
    me, other, admin = await _people(bot)
    token = await _invite(client, login_settings, me)
    # the database keeps the link's hash only; the person gets the link by message
    async with client.app[SESSIONS]() as s:
        stored = (await s.execute(select(WebChatInvite.token_hash))).scalars().all()
        sent = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == me)))
            .scalars()
            .all()
        )
    assert token not in stored and access.digest(token) in stored
    assert any(f"{PUBLIC}/chat/login/{token}" in m.payload["text"] for m in sent)
    # opening the link shows a page that posts it back; opening does not use it up
    for _ in range(2):
        r = await client.get(f"/chat/login/{token}")
        assert r.status == 200 and 'action="../login"' in await r.text()
        assert login.COOKIE not in r.cookies
    r = await _enter(client, token)
    assert r.status == 303 and r.headers["Location"] == "../chat"
    set_cookie = r.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=604800"):
        assert attribute in set_cookie, set_cookie
    cookie = r.cookies[login.COOKIE].value
    async with client.app[SESSIONS]() as s:
        assert await s.scalar(select(WebChatSession.token_hash)) == access.digest(cookie)
    # used: a second use, or opening it again, is a Chinese page, 410
    r = await _enter(client, token)
    assert r.status == 410 and "已经用过" in await r.text()
    r = await client.get(f"/chat/login/{token}")
    assert r.status == 410
    jar = {"Cookie": f"{login.COOKIE}={cookie}"}
    # the page: "我是：姓名", no picker
    page = await (await client.get("/chat", headers=jar)).text()
    name = (await bot.people())[me].name
    assert f"我是：{name}" in page and 'data-testid="person"' not in page
    # the API acts as that person only
    people = (await (await client.get("/chat/api/people", headers=jar)).json())["people"]
    assert [p["account"] for p in people] == [me]
    assert (await client.get("/chat/api/inbox", headers=jar)).status == 200
    assert (await client.get("/chat/api/inbox", params={"user": me}, headers=jar)).status == 200
    r = await client.get("/chat/api/inbox", params={"user": other}, headers=jar)
    assert r.status == 403 and "本人" in (await r.json())["error"]
    before = await _recorded(client)
    for body in (
        {"user": admin, "room": "group", "text": "@双随机助手 抽查 2027Q1"},
        {"user": other, "room": "private", "text": "帮助"},
    ):
        r = await client.post("/chat/api/send", json=body, headers=jar)
        assert r.status == 403
    assert await _recorded(client) == before
    r = await client.post("/chat/api/send", json={"room": "private", "text": "帮助"}, headers=jar)
    assert r.status == 200
    async with client.app[SESSIONS]() as s:
        users = [p["user"] for p in (await s.execute(select(InboundEvent.payload))).scalars().all()]
    assert users == [me]
    # an inspector still may not speak in the supervisors' group
    r = await client.post(
        "/chat/api/send", json={"room": "group", "text": "@双随机助手 进度"}, headers=jar
    )
    assert r.status == 403


async def test_links_expire_and_a_new_one_replaces_the_old(bot, client, login_settings):
    me, _, _ = await _people(bot)
    old = await _invite(client, login_settings, me)
    new = await _invite(client, login_settings, me)
    r = await _enter(client, old)
    assert r.status == 410 and "无效" in await r.text()
    async with client.app[SESSIONS]() as s, s.begin():
        await s.execute(
            update(WebChatInvite).values(expires_at=access.utcnow() - timedelta(seconds=1))
        )
    assert (await client.get(f"/chat/login/{new}")).status == 410
    assert (await _enter(client, new)).status == 410
    for junk in ("", "x" * 43, "%00", "A" * 300):
        r = await client.post("/chat/login", data={"token": junk}, allow_redirects=False)
        assert r.status in (400, 410)
    async with client.app[SESSIONS]() as s:
        assert await s.scalar(select(func.count()).select_from(WebChatSession)) == 0


async def test_sessions_end_by_logout_revocation_or_time(bot, client, login_settings):
    me, other, _ = await _people(bot)
    cookie = await _logged_in(client, login_settings, me)
    jar = {"Cookie": f"{login.COOKIE}={cookie}"}
    assert (await client.get("/chat/api/inbox", headers=jar)).status == 200
    r = await client.post("/chat/logout", json={}, headers=jar)
    assert r.status == 200 and r.cookies[login.COOKIE].value == ""
    assert (await client.get("/chat/api/inbox", headers=jar)).status == 401
    # revoked from the command line's service (ssj webchat revoke)
    cookie = await _logged_in(client, login_settings, me)
    jar = {"Cookie": f"{login.COOKIE}={cookie}"}
    unused = await _invite(client, login_settings, me)
    spare = await _logged_in(client, login_settings, other)
    async with client.app[SESSIONS]() as s, s.begin():
        assert await access.revoke(s, me, "test", now=access.utcnow()) == (1, 1)
    assert (await client.get("/chat/api/inbox", headers=jar)).status == 401
    assert (await _enter(client, unused)).status == 410
    other_jar = {"Cookie": f"{login.COOKIE}={spare}"}
    assert (await client.get("/chat/api/inbox", headers=other_jar)).status == 200
    # expired
    async with client.app[SESSIONS]() as s, s.begin():
        await s.execute(
            update(WebChatSession).values(expires_at=access.utcnow() - timedelta(seconds=1))
        )
    assert (await client.get("/chat/api/inbox", headers=other_jar)).status == 401


async def test_posts_from_other_pages_are_refused(bot, client, login_settings):
    me, _, _ = await _people(bot)
    cookie = await _logged_in(client, login_settings, me)
    jar = {"Cookie": f"{login.COOKIE}={cookie}"}
    before = await _recorded(client)
    r = await client.post(
        "/chat/api/send",
        json={"room": "private", "text": "帮助"},
        headers={**jar, "Origin": "https://evil.example"},
    )
    assert r.status == 403
    r = await client.post(
        "/chat/api/send",
        data='{"room": "private", "text": "帮助"}',
        headers={**jar, "Content-Type": "text/plain"},
    )
    assert r.status == 415
    assert await _recorded(client) == before
    r = await client.post(
        "/chat/api/send",
        json={"room": "private", "text": "帮助"},
        headers={**jar, "Origin": "https://ssj.example.gov.cn"},
    )
    assert r.status == 200


def test_serve_refuses_the_web_chat_without_login_beyond_this_machine(bot):
    for host in ("0.0.0.0", "::", "192.168.1.20", "ssj.example.gov.cn"):
        with pytest.raises(WebChatExposed, match="SSJ_WEB_CHAT_LOGIN=1"):
            create_app(replace(bot.settings, web_chat=True, host=host))
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        create_app(replace(bot.settings, web_chat=True, host=host))
    create_app(replace(bot.settings, web_chat=True, web_chat_login=True, host="0.0.0.0"))
    create_app(replace(bot.settings, web_chat=False, host="0.0.0.0"))  # no web chat: fine


async def test_without_login_only_this_machine_and_only_json(bot, aiohttp_client):
    await bot.close()
    client = await aiohttp_client(create_app(replace(bot.settings, web_chat=True)))
    me = next(a for a, p in (await bot.people()).items() if p.role != "管理员")
    # a page of another site reaching 127.0.0.1 through DNS rebinding names its own host
    for path in ("/chat", "/chat/api/people", f"/chat/api/inbox?user={me}"):
        r = await client.get(path, headers={"Host": "evil.example:8080"})
        assert r.status == 403
    r = await client.post(
        "/chat/api/send",
        json={"user": me, "room": "private", "text": "帮助"},
        headers={"Host": "evil.example"},
    )
    assert r.status == 403 and "本机" in (await r.json())["error"]
    # a form of another site cannot post JSON, nor claim its origin
    r = await client.post(
        "/chat/api/send",
        data=f'{{"user": "{me}", "room": "private", "text": "帮助"}}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status == 415
    r = await client.post(
        "/chat/api/send",
        json={"user": me, "room": "private", "text": "帮助"},
        headers={"Origin": "http://evil.example"},
    )
    assert r.status == 403
    assert await _recorded(client) == (0, 0)
    for host in ("localhost:8080", "[::1]:8080", "127.0.0.1"):
        r = await client.get(f"/chat/api/inbox?user={me}", headers={"Host": host})
        assert r.status == 200
    # the login pages do not exist
    assert (await client.get("/chat/login/" + "A" * 43)).status == 404
    assert (await client.post("/chat/login", data={"token": "x"})).status == 404


async def test_with_wecom_and_no_login_the_web_chat_takes_no_input(bot, aiohttp_client):
    await bot.close()
    aes = base64.b64encode(bytes(range(32))).decode().rstrip("=")
    settings = replace(
        bot.settings,
        web_chat=True,
        wecom_corp_id="wwssj0000000001",
        wecom_agent_id=1000002,
        wecom_secret="s",
        wecom_token="t",
        wecom_aes_key=aes,
        wecom_api_base="http://127.0.0.1:9",
    )
    client = await aiohttp_client(create_app(settings))
    me = next(a for a, p in (await bot.people()).items() if p.role != "管理员")
    r = await client.post("/chat/api/send", json={"user": me, "room": "private", "text": "帮助"})
    assert r.status == 403 and "企业微信" in (await r.json())["error"]
    r = await client.post("/chat/api/click", json={"user": me, "message_id": 1, "key": "acc:1"})
    assert r.status == 403
    assert await _recorded(client) == (0, 0)
    assert (await client.get("/chat/api/inbox", params={"user": me})).status == 200
    page = await (await client.get("/chat")).text()
    assert 'data-testid="closed"' in page
