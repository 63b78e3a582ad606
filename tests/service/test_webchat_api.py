"""The web chat's JSON API end to end through aiohttp's test client (real HTTP). The whole
quarter through it is tests/service/test_quartet.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import SESSIONS, create_app
from storage.models_chat import ChatMessage, InboundEvent

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


def _shown(messages) -> dict[int, dict]:
    """What the page shows: each message under its original id, a card as its newest
    version (a row with ``replaces`` is a new version of that original)."""
    out: dict[int, dict] = {}
    for m in messages:
        out[m["replaces"] if m["replaces"] is not None else m["id"]] = m
    return out


async def _people(client):
    r = await client.get("/chat/api/people")
    people = (await r.json())["people"]
    admins = [p["account"] for p in people if p["role"] == "管理员"]
    others = [
        p["account"] for p in people if p["role"] != "管理员" and p["department"] == "生态环境"
    ]
    return admins, others


@pytest.mark.parametrize(
    "path,body",
    [
        ("/chat/api/send", b"not json"),
        ("/chat/api/send", b"[1, 2]"),
        ("/chat/api/send", b'{"user": 5, "room": "private", "text": "hi"}'),
        ("/chat/api/send", b'{"user": "x", "room": "kitchen", "text": "hi"}'),
        ("/chat/api/send", b'{"user": "x", "room": "private", "text": ""}'),
        ("/chat/api/click", b'{"user": "x", "message_id": "abc", "key": "acc:1"}'),
        ("/chat/api/click", b'{"user": "x", "message_id": true, "key": "acc:1"}'),
        ("/chat/api/click", b"\xff\xfe"),
    ],
)
async def test_malformed_bodies_get_400_not_500(client, path, body):
    r = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert r.status == 400
    doc = await r.json()
    assert doc["ok"] is False and doc["error"]


async def test_unknown_user_and_bad_inbox_query(client):
    r = await client.post(
        "/chat/api/send", json={"user": "ghost", "room": "private", "text": "帮助"}
    )
    assert r.status == 403
    r = await client.get("/chat/api/inbox", params={"user": "x", "room": "private", "after": "-1"})
    assert r.status == 400
    r = await client.get("/chat")
    assert r.status == 200 and "text/html" in r.headers["Content-Type"]


async def test_unknown_command_gets_help_not_silence(client):
    admins, others = await _people(client)
    await client.post(
        "/chat/api/send", json={"user": others[0], "room": "private", "text": "你好啊"}
    )
    got = await _wait_for(
        client, others[0], "private", lambda m: m["from"] == "bot" and "我的任务" in m["text"]
    )
    assert "没有看懂" in got[0]["text"]


# ---- who may do what ---------------------------------------------------------------------


async def _counts(client) -> tuple[int, int]:
    """(chat messages, inbound events) recorded so far."""
    async with client.app[SESSIONS]() as s:
        return (
            await s.scalar(select(func.count()).select_from(ChatMessage)),
            await s.scalar(select(func.count()).select_from(InboundEvent)),
        )


async def _insert(client, **row) -> int:
    """A message as the sender stores it (the sender itself is another adapter's part)."""
    async with client.app[SESSIONS]() as s, s.begin():
        msg = ChatMessage(sender="bot", text="", **row)
        s.add(msg)
        await s.flush()
        return msg.id


async def test_people_say_who_is_an_admin(client):
    r = await client.get("/chat/api/people")
    people = (await r.json())["people"]
    assert people and all(p["admin"] is (p["role"] == "管理员") for p in people)
    assert any(p["admin"] for p in people) and not all(p["admin"] for p in people)


async def test_only_admins_post_or_click_in_the_group(client):
    admins, others = await _people(client)
    before = await _counts(client)
    r = await client.post(
        "/chat/api/send", json={"user": others[0], "room": "group", "text": f"{BOT} 进度"}
    )
    doc = await r.json()
    assert r.status == 403 and doc["ok"] is False and "只有管理员" in doc["error"]
    assert await _counts(client) == before  # nothing recorded
    # a group card's buttons are the 管理员's too
    card = {
        "title": "随机抽取 2027Q1",
        "body": "承诺值 …",
        "ref": None,
        "buttons": [{"key": "dro:1", "text": "确认抽取"}],
    }
    mid = await _insert(client, room="group", owner="", card=card)
    before = await _counts(client)
    r = await client.post(
        "/chat/api/click", json={"user": others[0], "message_id": mid, "key": "dro:1"}
    )
    assert r.status == 403 and "只有管理员" in (await r.json())["error"]
    assert await _counts(client) == before
    # the inspector may still read the group; its 管理员 may speak there
    assert [m["id"] for m in await _inbox(client, others[0], "group")] == [mid]
    r = await client.post(
        "/chat/api/send", json={"user": admins[0], "room": "group", "text": f"{BOT} 进度"}
    )
    assert r.status == 200 and (await r.json())["ok"]
    await _wait_for(client, admins[0], "group", lambda m: m["from"] == "bot" and m["id"] > mid)


# ---- card versions (the sender inserts a new row whose ``replaces`` is the original) ------


def _card(ref: int, *buttons: tuple[str, str]) -> dict:
    return {
        "title": "检查任务",
        "body": f"编号 {ref}",
        "ref": ref,
        "buttons": [{"key": k, "text": x} for k, x in buttons],
    }


async def _clicks(client) -> list[dict]:
    async with client.app[SESSIONS]() as s:
        rows = (await s.execute(select(InboundEvent.payload).order_by(InboundEvent.id))).all()
    return [p for (p,) in rows if p["kind"] == "click"]


async def test_a_click_acts_on_the_newest_version_of_a_card(client):
    _, others = await _people(client)
    me, other = others[0], others[1]
    original = await _insert(
        client,
        room="private",
        owner=me,
        card=_card(9001, ("acc:9001", "接收"), ("rec:9001", "申请回避")),
    )
    second = await _insert(
        client,
        room="private",
        owner=me,
        replaces=original,
        card=_card(9001, ("res:9001", "录入结果")),
    )
    inbox = await _inbox(client, me)
    assert [(m["id"], m["replaces"]) for m in inbox] == [(original, None), (second, original)]
    assert [b["key"] for b in inbox[1]["card"]["buttons"]] == ["res:9001"]
    assert await _inbox(client, other) == []  # versions stay private

    # a button of the older version is stale: refused, nothing recorded
    before = await _counts(client)
    r = await client.post(
        "/chat/api/click", json={"user": me, "message_id": original, "key": "acc:9001"}
    )
    assert r.status == 400 and (await r.json())["error"] == "这张卡片上没有这个按钮。"
    assert await _counts(client) == before
    # someone else's card cannot be clicked, by its id or its newest version's
    for mid in (original, second):
        r = await client.post(
            "/chat/api/click", json={"user": other, "message_id": mid, "key": "res:9001"}
        )
        assert r.status == 404 and "不属于您" in (await r.json())["error"]
    assert await _counts(client) == before

    # the newest version's button acts, and the event names the original message
    r = await client.post(
        "/chat/api/click",
        json={"user": me, "message_id": str(original), "key": "res:9001", "client_id": "c1"},
    )
    assert r.status == 200 and (await r.json())["ok"]
    # the version's own id is understood as the card it is a version of
    r = await client.post(
        "/chat/api/click",
        json={"user": me, "message_id": second, "key": "res:9001", "client_id": "c2"},
    )
    assert r.status == 200
    clicks = await _clicks(client)
    assert [(c["key"], c["message_id"], c["user"]) for c in clicks] == [
        ("res:9001", str(original), me)
    ] * 2

    # a third version: the second's button is stale now, the third's acts
    await _insert(
        client, room="private", owner=me, replaces=original, card=_card(9001, ("eok:9001", "提交"))
    )
    r = await client.post(
        "/chat/api/click", json={"user": me, "message_id": original, "key": "res:9001"}
    )
    assert r.status == 400
    r = await client.post(
        "/chat/api/click",
        json={"user": me, "message_id": original, "key": "eok:9001", "client_id": "c3"},
    )
    assert r.status == 200
    assert [c["message_id"] for c in await _clicks(client)] == [str(original)] * 3
    # a version that is no card any more (only text): its old buttons are gone
    await _insert(client, room="private", owner=me, replaces=original, card=None)
    r = await client.post(
        "/chat/api/click", json={"user": me, "message_id": original, "key": "eok:9001"}
    )
    assert r.status == 400 and len(await _clicks(client)) == 3
