"""The web chat's JSON API end to end through aiohttp's test client (real HTTP)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.app import create_app

from .harness import BOT


@pytest.fixture
async def client(bot, aiohttp_client):
    settings = replace(bot.settings, web_chat=True)
    await bot.close()
    return await aiohttp_client(create_app(settings))


async def _inbox(client, user, room="private", after=0):
    r = await client.get("/chat/api/inbox", params={"user": user, "room": room, "after": after})
    assert r.status == 200
    return (await r.json())["messages"]


async def _wait_for(client, user, room, predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        msgs = await _inbox(client, user, room)
        found = [m for m in msgs if predicate(m)]
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing matched in {room} of {user}: {msgs[-3:]}")
        await asyncio.sleep(0.05)


async def _people(client):
    r = await client.get("/chat/api/people")
    people = (await r.json())["people"]
    admins = [p["account"] for p in people if p["role"] == "管理员"]
    others = [p["account"] for p in people if p["role"] != "管理员" and p["department"] == "生态环境"]
    return admins, others


async def test_quarter_over_http(client):
    admins, others = await _people(client)
    r = await client.post("/chat/api/send", json={"user": admins[0], "room": "group",
                                                  "text": f"{BOT} 抽查 2027Q1"})
    assert r.status == 200 and (await r.json())["ok"]
    card_msg = (await _wait_for(client, admins[0], "group", lambda m: m["card"]))[0]
    key = next(b["key"] for b in card_msg["card"]["buttons"] if b["text"] == "确认抽取")
    statuses = []
    for _ in range(2):   # the same click twice acts once (a retry, then a double tap)
        r = await client.post("/chat/api/click", json={"user": admins[0], "client_id": "tap1",
                                                       "message_id": card_msg["id"], "key": key})
        statuses.append(r.status)
    r = await client.post("/chat/api/click", json={"user": admins[0],
                                                   "message_id": card_msg["id"], "key": key})
    statuses.append(r.status)
    # accepted, or refused once the card no longer has the button
    assert statuses[0] == 200 and set(statuses) <= {200, 400}
    def counted(m):
        return m["card"] and "共抽取检查对象" in m["card"]["body"]
    done = await _wait_for(client, admins[0], "group", counted)
    await asyncio.sleep(0.3)
    group = await _inbox(client, admins[0], "group")
    assert sum(1 for m in group if counted(m)) == 1 and done[0]["id"] == card_msg["id"]
    updated = next(m for m in group if m["id"] == card_msg["id"])
    assert updated["card"]["buttons"] == [] and "已抽取" in updated["card"]["body"]
    draws = sum(1 for m in group if m["card"] and "已抽取" in m["card"]["body"])
    assert draws == 1
    # an inspector got a private card; another person cannot click it
    owner, card = None, None
    for a in others + admins:
        cards = [m for m in await _inbox(client, a) if m["card"] and m["card"]["ref"]]
        if cards:
            owner, card = a, cards[0]
            break
    assert owner is not None
    stranger = next(a for a in others if a != owner)
    r = await client.post("/chat/api/click", json={"user": stranger, "message_id": card["id"],
                                                   "key": card["card"]["buttons"][0]["key"]})
    assert r.status == 404 and "不属于您" in (await r.json())["error"]
    r = await client.post("/chat/api/click", json={"user": owner, "message_id": card["id"],
                                                   "key": f"acc:{card['card']['ref']}"})
    assert r.status == 200
    await _wait_for(client, owner, "private", lambda m: "已接收编号" in m["text"])


@pytest.mark.parametrize("path,body", [
    ("/chat/api/send", b"not json"),
    ("/chat/api/send", b"[1, 2]"),
    ("/chat/api/send", b'{"user": 5, "room": "private", "text": "hi"}'),
    ("/chat/api/send", b'{"user": "x", "room": "kitchen", "text": "hi"}'),
    ("/chat/api/send", b'{"user": "x", "room": "private", "text": ""}'),
    ("/chat/api/click", b'{"user": "x", "message_id": "abc", "key": "acc:1"}'),
    ("/chat/api/click", b'{"user": "x", "message_id": true, "key": "acc:1"}'),
    ("/chat/api/click", b"\xff\xfe"),
])
async def test_malformed_bodies_get_400_not_500(client, path, body):
    r = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    doc = await r.json()
    assert doc["ok"] is False and doc["error"]


async def test_unknown_user_and_bad_inbox_query(client):
    r = await client.post("/chat/api/send", json={"user": "ghost", "room": "private", "text": "帮助"})
    assert r.status == 403
    r = await client.get("/chat/api/inbox", params={"user": "x", "room": "private", "after": "-1"})
    assert r.status == 400
    r = await client.get("/chat")
    assert r.status == 200 and "text/html" in r.headers["Content-Type"]


async def test_unknown_command_gets_help_not_silence(client):
    admins, others = await _people(client)
    await client.post("/chat/api/send", json={"user": others[0], "room": "private",
                                              "text": "你好啊"})
    got = await _wait_for(client, others[0], "private",
                          lambda m: m["from"] == "bot" and "我的任务" in m["text"])
    assert "没有看懂" in got[0]["text"]
