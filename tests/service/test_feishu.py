"""The whole quarter through Feishu event callbacks against a fake of Feishu's open
platform (both databases): draw, cards, a click, recusal, the result dialogue, the
digest, review and publication; the long connection with lark-oapi's own ws client as
the peer; forged, replayed, stale, oversized and malformed callbacks refused with
nothing recorded; a duplicate handled once; a token that expires mid-quarter refreshed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.messengers.feishu.crypto import FeishuCrypto
from bot.services import draws
from bot.services import results as results_svc
from scheduler.jobs import TZ
from scheduler.runner import run_due
from storage.models import EnterpriseRow
from storage.models_chat import InboundEvent, OutboxMessage, ResultRow

from .feishu_fake import FakeFeishu
from .harness import cycling_draft, reviewer_for

APP_ID, SECRET = "cli_ssjtest00000001", "feishu-app-secret"
ENCRYPT_KEY, TOKEN = "ssj-encrypt-key-2027", "ssjVerificationToken"
GROUP = "oc_supervisors0001"
TASK = "2027Q1"


class FeishuPeer:
    """Plays Feishu's side: v2 events, encrypted and signed as Feishu sends them."""

    def __init__(self, client):
        self.client = client
        self.crypto = FeishuCrypto(ENCRYPT_KEY)
        self.seq = 0

    def event(
        self,
        event_type: str,
        event: dict,
        *,
        token: str = TOKEN,
        created: float | None = None,
        event_id: str | None = None,
    ) -> dict:
        self.seq += 1
        created = time.time() if created is None else created
        return {
            "schema": "2.0",
            "header": {
                "event_id": event_id or f"ev{self.seq:08d}{uuid.uuid4().hex[:8]}",
                "event_type": event_type,
                "create_time": str(int(created * 1000)),
                "token": token,
                "app_id": APP_ID,
                "tenant_key": "tenant1",
            },
            "event": event,
        }

    def signed(self, doc: dict, ts: str | None = None) -> tuple[bytes, dict]:
        body = json.dumps(
            {"encrypt": self.crypto.encrypt(json.dumps(doc, ensure_ascii=False))}
        ).encode()
        ts, nonce = ts or str(int(time.time())), uuid.uuid4().hex[:12]
        return body, {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": self.crypto.signature(ts, nonce, body),
            "Content-Type": "application/json",
        }

    async def post(self, body: bytes, headers: dict) -> int:
        r = await self.client.post("/feishu/events", data=body, headers=headers)
        assert r.status != 500
        return r.status

    async def send(self, doc: dict) -> int:
        return await self.post(*self.signed(doc))

    def message(self, user: str, text: str, *, chat: str = "", message_id: str = "") -> dict:
        self.seq += 1
        content, mentions = {"text": text}, []
        if chat:
            content = {"text": f"@_user_1 {text}"}
            mentions = [
                {
                    "key": "@_user_1",
                    "id": {"open_id": "ou_bot"},
                    "name": "双随机助手",
                    "tenant_key": "tenant1",
                }
            ]
        return self.event(
            "im.message.receive_v1",
            {
                "sender": {
                    "sender_id": {"user_id": user, "open_id": f"ou_{user}"},
                    "sender_type": "user",
                    "tenant_key": "tenant1",
                },
                "message": {
                    "message_id": message_id or f"om_in{self.seq:08d}",
                    "chat_id": chat or f"oc_p2p_{user}",
                    "chat_type": "group" if chat else "p2p",
                    "message_type": "text",
                    "content": json.dumps(content, ensure_ascii=False),
                    "mentions": mentions,
                },
            },
        )

    async def text(self, user: str, text: str, **kw) -> int:
        return await self.send(self.message(user, text, **kw))

    def action(self, user: str, value: dict, message_id: str, chat: str = "") -> dict:
        return self.event(
            "card.action.trigger",
            {
                "operator": {"tenant_key": "tenant1", "user_id": user, "open_id": f"ou_{user}"},
                "token": f"c-{uuid.uuid4().hex}",
                "action": {"value": value, "tag": "button"},
                "host": "im_message",
                "context": {
                    "open_message_id": message_id,
                    "open_chat_id": chat or f"oc_p2p_{user}",
                },
            },
        )

    async def click(self, user: str, sent: dict, label_or_key: str) -> int:
        """Click the button (by its label or key) of a card the fake delivered."""
        value = next(v for text, v in buttons(sent) if label_or_key in (text, v["k"]))
        return await self.send(
            self.action(
                user,
                value,
                sent["message_id"],
                GROUP if sent["receive_id_type"] == "chat_id" else "",
            )
        )


def content(body: dict) -> dict:
    return json.loads(body["content"])


def buttons(body: dict) -> list[tuple[str, dict]]:
    if body.get("msg_type") != "interactive":
        return []
    return [
        (b["text"]["content"], b["value"])
        for e in content(body)["elements"]
        if e["tag"] == "action"
        for b in e["actions"]
    ]


def keys(body: dict) -> list[str]:
    return [v["k"] for _, v in buttons(body)]


def words(body: dict) -> str:
    return json.dumps(content(body), ensure_ascii=False)


def with_ids(fake: FakeFeishu) -> list[dict]:
    """Every delivered message with its message id."""
    return [dict(b, message_id=m) for m, b in fake.messages.items()]


def to(fake: FakeFeishu, who: str) -> list[dict]:
    return [b for b in with_ids(fake) if b["receive_id"] == who]


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


def feishu_settings(bot, url: str, mode: str = "http"):
    return replace(
        bot.settings,
        feishu_app_id=APP_ID,
        feishu_app_secret=SECRET,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_verification_token=TOKEN,
        feishu_mode=mode,
        feishu_api_base=url,
        feishu_group_chat_id=GROUP,
        scheduler=False,
    )


@pytest.fixture
async def feishu(bot, aiohttp_client, aiohttp_server):
    fake = FakeFeishu(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(create_app(feishu_settings(bot, url)))
    return fake, FeishuPeer(client), client


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_whole_quarter_through_feishu(bot, feishu):
    fake, peer, client = feishu
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    # 1. the supervisor draws in the group (@-mentioning the bot); confirms on the card
    assert await peer.text(admins[0], f"抽查 {TASK}", chat=GROUP) == 200
    confirm = await until(
        lambda: [b for b in to(fake, GROUP) if "确认抽取" in [text for text, _ in buttons(b)]]
    )
    assert confirm[0]["receive_id_type"] == "chat_id"
    assert await peer.click(admins[0], confirm[0], "确认抽取") == 200
    await until(lambda: any("共抽取检查对象" in words(b) for b in to(fake, GROUP)))
    # 2. assignment cards arrive privately (by user_id); nothing in the group names an object
    cards = await until(
        lambda: [
            b
            for b in with_ids(fake)
            if b["receive_id_type"] == "user_id" and any(k.startswith("acc:") for k in keys(b))
        ]
    )
    async with bot.sf() as s:
        names = (await s.execute(select(EnterpriseRow.name))).scalars().all()
    group = json.dumps(to(fake, GROUP), ensure_ascii=False)
    assert not any(n in group for n in names)
    card = cards[0]
    inspector = card["receive_id"]
    ref = int(keys(card)[0].split(":")[1])
    # 3. the inspector asks for recusal from the card and types the reason
    assert await peer.click(inspector, card, f"rec:{ref}") == 200
    await until(lambda: any("理由" in words(b) for b in to(fake, inspector)))
    assert await peer.text(inspector, "其配偶在该企业任职") == 200
    request = await until(
        lambda: [b for b in to(fake, admins[0]) if any(k.startswith("rvo:") for k in keys(b))]
    )
    approve = next(k for k in keys(request[0]) if k.startswith("rvo:"))
    # 4. the supervisor approves from the card: that card is PATCHed, the replacement told
    assert await peer.click(admins[0], request[0], approve) == 200
    await until(lambda: any(p["message_id"] == request[0]["message_id"] for p in fake.of("patch")))
    new = await until(
        lambda: [
            b for b in with_ids(fake) if f"acc:{ref}" in keys(b) and b["receive_id"] != inspector
        ]
    )
    await until(lambda: any("已同意" in words(b) for b in to(fake, inspector)))
    # 5. the new member accepts (接收): the card turns to 已接收 in place
    member, assigned = new[0]["receive_id"], new[0]
    assert await peer.click(member, assigned, f"acc:{ref}") == 200
    await until(lambda: "已接收" in words(fake.messages[assigned["message_id"]]))
    # 6. a result by text: nothing is submitted before the confirmation card's 提交
    assert await peer.text(member, f"结果 {ref} 1 现场检查未见异常") == 200
    check = await until(lambda: [b for b in to(fake, member) if f"eok:{ref}" in keys(b)])
    async with bot.sf() as s:
        assert (await s.execute(select(ResultRow))).scalars().all() == []
    assert await peer.click(member, check[0], f"eok:{ref}") == 200
    # the state change updates the member's cards in place: now 撤回 is offered
    await until(lambda: f"wdr:{ref}" in keys(fake.messages[assigned["message_id"]]))
    # 7. the 管理员's daily digest goes out through Feishu
    report = await run_due(bot.sf, bot.settings, datetime(2027, 3, 3, 17, 0, tzinfo=TZ), "t")
    assert [r["job"] for r in report["ran"] if r["job"] == "digest"] == ["digest"]
    for admin in admins:
        await until(lambda a=admin: any("每日汇总" in words(b) for b in to(fake, a)))
    # 8. the review: one list card, then one review card (a 管理员 not on the team)
    async with bot.sf() as s:
        reviewer = await reviewer_for(s, ref)
    checker = next(a for a, p in people.items() if p.cert == reviewer)
    assert await peer.text(checker, "审核") == 200
    listing = await until(
        lambda: [b for b in to(fake, checker) if any(k.startswith("rv1:") for k in keys(b))]
    )
    assert await peer.click(checker, listing[0], "rv1:0") == 200
    review = await until(
        lambda: [b for b in to(fake, checker) if any(k.startswith("rro:") for k in keys(b))]
    )
    assert f"编号{ref}" in words(review[0]).replace(" ", "")
    assert (
        await peer.click(
            checker, review[0], next(k for k in keys(review[0]) if k.startswith("rro:"))
        )
        == 200
    )
    # Feishu updates every held card without a handle: the member's card says 已审核
    await until(lambda: "已审核" in words(fake.messages[assigned["message_id"]]))
    # 9. publication once every object has an approved result: the group hears of it
    # and every assignment card of the task turns to 已公示
    async with bot.sf() as s, s.begin():
        _, row = await draws.valid_draw(s, TASK)
        now = datetime.now()
        for i, (other, sel) in enumerate(await draws.current_selections(s, row)):
            if other != ref:
                await results_svc.submit(
                    s, other, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
                )
                await results_svc.review(s, other, True, await reviewer_for(s, other), now, "t")
    assert await peer.text(admins[0], f"公示 {TASK}") == 200
    await until(lambda: any(f"/public/tasks/{TASK}" in words(b) for b in to(fake, GROUP)))
    await until(lambda: "已公示" in words(fake.messages[assigned["message_id"]]))
    # every message carried its own uuid; no PATCH missed its card
    uuids = [b["uuid"] for b in fake.of("send")]
    assert len(uuids) == len(set(uuids)) and all(0 < len(u) <= 50 for u in uuids)
    assert not fake.of("patch-missing") and not fake.of("send-dup")


async def test_url_verification_answered_at_once(bot, feishu):
    fake, peer, client = feishu
    doc = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": peer.crypto.encrypt(json.dumps(doc))}).encode()
    start = time.monotonic()
    r = await client.post("/feishu/events", data=body)
    assert r.status == 200 and await r.json() == {"challenge": "ajls384kdjx98XX"}
    assert time.monotonic() - start < 1.0
    # a wrong token, or a key that is not ours, gets no challenge back
    bad = dict(doc, token="guess")
    r = await client.post(
        "/feishu/events", data=json.dumps({"encrypt": peer.crypto.encrypt(json.dumps(bad))})
    )
    assert r.status == 403
    other = FeishuCrypto("another key").encrypt(json.dumps(doc))
    r = await client.post("/feishu/events", data=json.dumps({"encrypt": other}))
    assert r.status in (400, 403)


async def test_forged_replayed_stale_oversized_and_malformed_are_refused(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    doc = peer.message(user, "帮助")
    body, headers = peer.signed(doc)
    cases: list[tuple[bytes, dict]] = []
    cases.append((body, dict(headers, **{"X-Lark-Signature": "0" * 64})))  # forged
    cases.append((body.replace(b'"}', b'A"}'), headers))  # body changed
    cases.append((body, {k: v for k, v in headers.items() if k != "X-Lark-Signature"}))
    old = str(int(time.time()) - 2 * 3600)
    cases.append(peer.signed(doc, ts=old))  # replayed later
    cases.append(peer.signed(peer.message(user, "帮助") | {}, ts="99999999999"))  # from the future
    stale = peer.event("im.message.receive_v1", doc["event"], created=time.time() - 8 * 3600)
    cases.append(peer.signed(stale))  # a stale event
    cases.append(peer.signed(peer.event("im.message.receive_v1", doc["event"], token="x")))
    cases.append(peer.signed({"schema": "2.0", "header": "nope", "event": {}}))  # malformed
    broken = dict(doc, event={"sender": {"sender_id": {}}, "message": {}})
    cases.append(peer.signed(broken))  # no sender
    nul = peer.message(user + "\x00", "帮助")
    cases.append(peer.signed(nul))  # NUL
    for raw in (b"[1,2]", b'{"encrypt": 5}', b'{"nope": "x"}', b"{" * 5000, b"\xff\xfe"):
        cases.append((raw, headers))  # not an envelope
    cases.append((b'{"encrypt": "' + b"A" * 70000 + b'"}', headers))  # oversized
    forged = FeishuCrypto("not the key")
    fbody = json.dumps({"encrypt": forged.encrypt(json.dumps(doc))}).encode()
    ts, nonce = str(int(time.time())), "n1"
    cases.append(
        (
            fbody,
            {
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": forged.signature(ts, nonce, fbody),
            },
        )
    )
    cases.append((body, dict(headers, **{"X-Lark-Request-Timestamp": "12a"})))  # bad shape
    for raw, hdrs in cases:
        status = await peer.post(raw, hdrs)
        assert status in (400, 403, 413), (status, raw[:60])
    assert await _recorded(bot) == 0 and fake.of("send") == []
    assert (await client.get("/healthz")).status == 200


async def test_same_message_delivered_three_times_is_handled_once(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    doc = peer.message(user, "帮助", message_id="om_retried0001")
    for _ in range(3):  # Feishu's retries carry the same message id (and a new event id)
        again = dict(doc, header=dict(doc["header"], event_id=uuid.uuid4().hex))
        assert await peer.send(again) == 200
    await until(lambda: to(fake, user))
    await asyncio.sleep(0.5)
    assert len(to(fake, user)) == 1 and await _recorded(bot) == 1


async def test_token_expiring_mid_quarter_is_refreshed(bot, feishu):
    fake, peer, client = feishu
    user = next(iter(await bot.people()))
    assert await peer.text(user, "帮助") == 200
    await until(lambda: to(fake, user))
    fetched = len(fake.of("token"))
    fake.script = [99991663]  # Feishu says the token is no longer valid
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(to(fake, user)) == 2)
    assert len(fake.of("token")) == fetched + 1
    fake.token = "revoked"  # revoked behind our back: refused, refetched
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(to(fake, user)) == 3)
    assert len(fake.of("token")) == fetched + 2


async def test_throttling_waits_for_the_reset_and_unreachable_user_is_reported(bot, feishu):
    fake, peer, client = feishu
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.script = [429]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: fake.of("send-429"))
    for _ in range(200):  # the relay writes the failure just after Feishu's answer
        async with bot.sf() as s:
            row = (
                (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
                .scalars()
                .one()
            )
        if row.last_error:
            break
        await asyncio.sleep(0.05)
    assert row.status == "pending" and "rate limited" in row.last_error
    await until(lambda: to(fake, user))  # sent after x-ogw-ratelimit-reset
    other = next(a for a in people if a not in admins and a != user)
    fake.unreachable.add(other)
    assert await peer.text(other, "帮助") == 200
    await until(lambda: [a for a in admins if any("未能送达" in words(b) for b in to(fake, a))])


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_long_connection_with_lark_oapi_as_the_client(bot, aiohttp_server, aiohttp_client):
    """ws mode: lark-oapi's own ws client connects to the fake, which pushes event frames
    as Feishu does; each is recorded before the frame is answered, a redelivery once."""
    fake = FakeFeishu(APP_ID, SECRET)
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    client = await aiohttp_client(create_app(feishu_settings(bot, url, mode="ws")))
    await asyncio.wait_for(fake.ws_connected.wait(), 30)
    assert fake.of("ws-endpoint") == [{"AppID": APP_ID, "AppSecret": SECRET}]
    peer = FeishuPeer(client)
    user = next(iter(await bot.people()))
    event = peer.message(user, "帮助")
    await fake.push(event, "frame-1")
    await until(lambda: fake.ws_answers)
    assert fake.ws_answers[0]["payload"]["code"] == 200
    await until(lambda: to(fake, user))
    await fake.push(event, "frame-2")  # Feishu redelivers: handled once
    await until(lambda: len(fake.ws_answers) == 2)
    assert fake.ws_answers[1]["payload"]["code"] == 200
    # a card click over the long connection: recorded, answered (within 3 s) with no card
    sent = to(fake, user)[0]
    click = peer.action(user, {"k": "pg:1:0"}, sent["message_id"])
    await fake.push(click, "frame-3")
    await until(lambda: len(fake.ws_answers) == 3)
    assert fake.ws_answers[2]["payload"]["code"] == 200
    await asyncio.sleep(0.3)
    assert await _recorded(bot) == 2 and len(to(fake, user)) >= 1
    assert (await client.post("/feishu/events", data=b"{}")).status == 404  # no callback route
