"""The whole quarter through WeCom callbacks against a fake WeCom API (both databases),
with wechatpy as an independent peer, and every forged or malformed callback refused."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.messengers.wecom.crypto import WeComCrypto
from storage.models import EnterpriseRow
from storage.models_chat import InboundEvent, ResultRow

from .harness import reviewer_for
from .wecom_fake import FakeWeCom

CORP, AGENT, SECRET = "wwssjtest00000001", 1000002, "app-secret"
TOKEN, BOT_TOKEN = "ssjToken2027", "ssjBotToken"
AES = base64.b64encode(bytes(range(32))).decode().rstrip("=")
BOT_AES = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
CHAT = "wrGroupChat001"


class WeComPeer:
    """Plays WeCom's side: builds signed, encrypted callbacks."""

    def __init__(self, client, fake_url: str):
        self.client, self.fake_url = client, fake_url
        self.app = WeComCrypto(TOKEN, AES, CORP)
        self.bot = WeComCrypto(BOT_TOKEN, BOT_AES, "")
        self.seq = 0

    def _q(self, crypto, enc):
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        return {"msg_signature": crypto.signature(ts, nonce, enc), "timestamp": ts, "nonce": nonce}

    async def post_app(self, inner: str, *, params=None, body=None) -> int:
        enc = self.app.encrypt(inner)
        body = (
            body
            if body is not None
            else (
                f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]>"
                f"</Encrypt><AgentID><![CDATA[{AGENT}]]></AgentID></xml>"
            )
        )
        r = await self.client.post(
            "/wecom/callback",
            params=params or self._q(self.app, enc),
            data=body.encode() if isinstance(body, str) else body,
        )
        assert r.status != 500
        return r.status

    async def text(self, user: str, content: str, msgid: str | None = None) -> int:
        self.seq += 1
        msgid = msgid or f"7{self.seq:015d}"
        return await self.post_app(
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
            f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]>"
            f"</MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msgid}</MsgId>"
            f"<AgentID>{AGENT}</AgentID></xml>"
        )

    async def click(self, user: str, key: str, task_id: str, response_code: str) -> int:
        self.seq += 1
        return await self.post_app(
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
            f"</FromUserName><CreateTime>{int(time.time()) + self.seq}</CreateTime>"
            f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
            f"<EventKey><![CDATA[{key}]]></EventKey><TaskId><![CDATA[{task_id}]]></TaskId>"
            f"<CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA["
            f"{response_code}]]></ResponseCode><AgentID>{AGENT}</AgentID></xml>"
        )

    async def post_bot(self, doc: dict) -> int:
        enc = self.bot.encrypt(json.dumps(doc, ensure_ascii=False))
        r = await self.client.post(
            "/wecom/bot", params=self._q(self.bot, enc), json={"encrypt": enc}
        )
        return r.status

    def _bot_doc(self, user: str, code: str) -> dict:
        self.seq += 1
        return {
            "msgid": f"bot{self.seq}",
            "aibotid": "AIBOT",
            "chatid": CHAT,
            "chattype": "group",
            "from": {"userid": user},
            "response_url": f"{self.fake_url}/cgi-bin/aibot/response?response_code={code}",
        }

    async def group_text(self, user: str, text: str, code: str) -> int:
        doc = self._bot_doc(user, code)
        doc.update(msgtype="text", text={"content": f"@双随机助手 {text}"})
        return await self.post_bot(doc)

    async def group_click(self, user: str, key: str, task_id: str, code: str) -> int:
        doc = self._bot_doc(user, code)
        doc.update(
            msgtype="event",
            event={
                "eventtype": "template_card_event",
                "template_card_event": {
                    "card_type": "button_interaction",
                    "event_key": key,
                    "task_id": task_id,
                },
            },
        )
        return await self.post_bot(doc)


@pytest.fixture
async def wecom(bot, aiohttp_client, aiohttp_server):
    fake = FakeWeCom()
    server = await aiohttp_server(fake.app())
    url = str(server.make_url("")).rstrip("/")
    settings = replace(
        bot.settings,
        wecom_corp_id=CORP,
        wecom_agent_id=AGENT,
        wecom_secret=SECRET,
        wecom_token=TOKEN,
        wecom_aes_key=AES,
        wecom_api_base=url,
        wecom_bot_token=BOT_TOKEN,
        wecom_bot_aes_key=BOT_AES,
        wecom_pace_seconds=0.05,
    )
    client = await aiohttp_client(create_app(settings))
    return fake, WeComPeer(client, url), client


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


def sent_to(fake: FakeWeCom, user: str) -> list[dict]:
    return [b for b in fake.of("send") if user in b.get("touser", "").split("|")]


def card_keys(body: dict) -> list[str]:
    return [b["key"] for b in body.get("template_card", {}).get("button_list", [])]


async def test_whole_quarter_through_wecom(bot, wecom):
    fake, peer, client = wecom
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    # 1. the supervisor draws in the group through the 智能机器人
    assert await peer.group_text(admins[0], "抽查 2027Q1", "r1") == 200
    confirm = (await until(lambda: [b for b in fake.of("bot-response") if b["_code"] == "r1"]))[0]
    tc = confirm["template_card"]
    key = next(b["key"] for b in tc["button_list"] if b["text"] == "确认抽取")
    assert await peer.group_click(admins[0], key, tc["task_id"], "r2") == 200
    counts = (await until(lambda: [b for b in fake.of("bot-response") if b["_code"] == "r2"]))[0]
    assert "共抽取检查对象" in json.dumps(counts, ensure_ascii=False)
    # 2. assignment cards arrive privately; nothing in the group names an object
    cards = await until(lambda: [b for b in fake.of("send") if b.get("msgtype") == "template_card"])
    async with bot.sf() as s:
        names = (await s.execute(select(EnterpriseRow.name))).scalars().all()
    group = json.dumps(fake.of("bot-response"), ensure_ascii=False)
    assert not any(n in group for n in names)
    body = cards[0]
    inspector = body["touser"]
    ref = int(card_keys(body)[0].split(":")[1])
    # 3. the inspector asks for recusal from the card; types the reason
    send_id = next(i for i, (p, b) in enumerate(fake.calls) if b is body)
    assert (
        await peer.click(inspector, f"rec:{ref}", body["template_card"]["task_id"], f"rc-{send_id}")
        == 200
    )
    await until(
        lambda: any(
            "理由" in b.get("text", {}).get("content", "") for b in sent_to(fake, inspector)
        )
    )
    assert await peer.text(inspector, "其配偶在该企业任职") == 200
    request_card = await until(
        lambda: [
            b
            for b in fake.of("send")
            if admins[0] in b["touser"] and any(k.startswith("rvo:") for k in card_keys(b))
        ]
    )
    approve = next(k for k in card_keys(request_card[0]) if k.startswith("rvo:"))
    # 4. the supervisor approves from the card: the card is updated, the replacement told
    before = len(fake.of("send"))
    assert (
        await peer.click(
            admins[0], approve, request_card[0]["template_card"]["task_id"], "RESP-APPROVE"
        )
        == 200
    )
    await until(lambda: any(u.get("response_code") == "RESP-APPROVE" for u in fake.of("update")))
    new_cards = await until(
        lambda: [b for b in fake.of("send")[before:] if f"acc:{ref}" in card_keys(b)]
    )
    assert new_cards[0]["touser"] != inspector
    await until(
        lambda: any(
            "已同意" in b.get("text", {}).get("content", "") for b in sent_to(fake, inspector)
        )
    )
    # 5. a result by text: nothing is submitted before the confirmation card's 提交
    member = new_cards[0]["touser"]
    assert await peer.text(member, f"结果 {ref} 1 现场检查未见异常") == 200
    confirm = await until(
        lambda: [b for b in sent_to(fake, member) if f"eok:{ref}" in card_keys(b)]
    )
    async with bot.sf() as s:
        assert (await s.execute(select(ResultRow))).scalars().all() == []
    assert (
        await peer.click(
            member, f"eok:{ref}", confirm[0]["template_card"]["task_id"], "RESP-SUBMIT"
        )
        == 200
    )
    # the state change updates the member's cards in place: the confirmation card with
    # the click's code, the assignment card with the code its send returned
    assigned_code = fake.card_codes[new_cards[0]["template_card"]["task_id"]]
    updates = await until(
        lambda: [
            u
            for u in fake.of("update")
            if u["userids"] == [member] and u["response_code"] in ("RESP-SUBMIT", assigned_code)
        ]
    )
    await until(
        lambda: {u["response_code"] for u in fake.of("update")} >= {"RESP-SUBMIT", assigned_code}
    )
    assert all("wdr:" in json.dumps(u, ensure_ascii=False) for u in updates)  # 撤回 now
    # 6. the review: one list card, then one review card (a 管理员 not on the team)
    async with bot.sf() as s:
        reviewer = await reviewer_for(s, ref)
    checker = next(a for a, p in people.items() if p.cert == reviewer)
    assert await peer.text(checker, "审核") == 200
    listing = await until(
        lambda: [
            b for b in sent_to(fake, checker) if any(k.startswith("rv1:") for k in card_keys(b))
        ]
    )
    assert (
        await peer.click(checker, "rv1:0", listing[0]["template_card"]["task_id"], "RESP-LIST")
        == 200
    )
    review = await until(
        lambda: [
            b for b in sent_to(fake, checker) if any(k.startswith("rro:") for k in card_keys(b))
        ]
    )
    assert f"编号{ref}" in json.dumps(review[0], ensure_ascii=False).replace(" ", "")
    approve_key = next(k for k in card_keys(review[0]) if k.startswith("rro:"))
    assert (
        await peer.click(checker, approve_key, review[0]["template_card"]["task_id"], "RESP-REVIEW")
        == 200
    )
    # the review card is updated with the click's code; the member's cards have no code
    # left (each was spent), so the member gets the short status message instead
    await until(lambda: any(u.get("response_code") == "RESP-REVIEW" for u in fake.of("update")))
    await until(
        lambda: any(
            "审核通过" in b.get("text", {}).get("content", "") for b in sent_to(fake, member)
        )
    )
    assert not fake.of("update-reused")
    # every card sent had a valid, unique task_id
    ids = [b["template_card"]["task_id"] for b in fake.of("send") if b.get("template_card")]
    assert len(ids) == len(set(ids)) and all(
        re.fullmatch(r"[0-9A-Za-z_\-@]{1,128}", i) for i in ids
    )


async def test_token_expiry_refreshes_once_and_retries(bot, wecom):
    fake, peer, client = wecom
    people = await bot.people()
    user = next(iter(people))
    assert await peer.text(user, "帮助") == 200
    await until(lambda: sent_to(fake, user))
    fetched = len(fake.of("gettoken"))
    fake.script = [42001]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(sent_to(fake, user)) == 2)
    assert len(fake.of("gettoken")) == fetched + 1
    fake.script = [40014]
    fake.token = "REVOKED"
    assert await peer.text(user, "帮助") == 200
    await until(lambda: len(sent_to(fake, user)) == 3)


async def test_rate_limit_backs_off_and_invalid_user_reaches_supervisors(bot, wecom):
    fake, peer, client = wecom
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.script = [45009]
    assert await peer.text(user, "帮助") == 200
    await until(lambda: fake.of("send-45009"))
    await asyncio.sleep(0.5)
    assert not sent_to(fake, user)  # held back (60 s), not dropped
    from storage.models_chat import OutboxMessage

    async with bot.sf() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
            .scalars()
            .one()
        )
    assert row.status == "pending" and "rate limited" in row.last_error
    fake.invalid_users.add(admins and sorted(admins)[0])
    other = next(a for a in people if a not in admins and a != user)
    fake.invalid_users.add(other)
    assert await peer.text(other, "帮助") == 200
    await until(
        lambda: [
            a
            for a in admins - {sorted(admins)[0]}
            if any("未能送达" in b.get("text", {}).get("content", "") for b in sent_to(fake, a))
        ]
    )


async def test_wechatpy_as_the_other_side(bot, wecom):
    from wechatpy.enterprise.crypto import WeChatCrypto

    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    theirs = WeChatCrypto(TOKEN, AES, CORP)
    now = str(int(time.time()))  # a callback older than SSJ_WECOM_MAX_AGE_SECONDS is refused
    inner = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]>"
        f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]>"
        f"</MsgType><Content><![CDATA[帮助]]></Content><MsgId>9900000000000001</MsgId>"
        f"<AgentID>{AGENT}</AgentID></xml>"
    )
    envelope = theirs.encrypt_message(inner, "nonce123", now)
    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", envelope).group(1)
    r = await client.post(
        "/wecom/callback",
        data=envelope.encode(),
        params={"msg_signature": sig, "timestamp": now, "nonce": "nonce123"},
    )
    assert r.status == 200
    await until(lambda: sent_to(fake, user))
    # URL verification: wechatpy's echostr is answered with its plaintext
    echo = theirs._encrypt("echo-1234") if hasattr(theirs, "_encrypt") else None
    if echo is None:
        from wechatpy.crypto import PrpCrypto

        echo = PrpCrypto(base64.b64decode(AES + "=")).encrypt("echo-1234", CORP)
    from wechatpy.utils import to_text

    echo = to_text(echo)
    sig = peer.app.signature("1700000001", "n2", echo)
    r = await client.get(
        "/wecom/callback",
        params={"msg_signature": sig, "timestamp": "1700000001", "nonce": "n2", "echostr": echo},
    )
    assert r.status == 200 and await r.text() == "echo-1234"


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


async def test_forged_and_malformed_callbacks_are_refused(bot, wecom):
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    inner = (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>{user}</FromUserName>"
        f"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>帮助</Content>"
        f"<MsgId>1</MsgId></xml>"
    )
    enc = peer.app.encrypt(inner)
    good = peer._q(peer.app, enc)
    env = "<xml><Encrypt><![CDATA[{}]]></Encrypt></xml>"
    cases = []
    cases.append((dict(good, msg_signature="0" * 40), env.format(enc)))  # wrong signature
    raw = bytearray(base64.b64decode(enc))
    raw[20] ^= 1
    tampered = base64.b64encode(bytes(raw)).decode()
    cases.append((peer._q(peer.app, tampered), env.format(tampered)))  # tampered
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES + "=")
    e = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    badpad = base64.b64encode(e.update(os.urandom(31) + b"\x00") + e.finalize()).decode()
    cases.append((peer._q(peer.app, badpad), env.format(badpad)))  # bad padding
    other = WeComCrypto(TOKEN, AES, "wwSOMEONEELSE00001").encrypt(inner)
    cases.append((peer._q(peer.app, other), env.format(other)))  # wrong CorpID
    cases.append((good, "<xml><Encrypt>unclosed"))  # malformed
    cases.append((good, "<xml><Encrypt>" + "A" * 70000 + "</Encrypt></xml>"))  # oversized
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Encrypt>&c;</Encrypt></xml>'
    )
    cases.append((good, bomb))  # entity expansion
    for params, body in cases:
        status = await peer.post_app("", params=params, body=body)
        assert status in (400, 403, 413), (status, body[:60])
    for doc in ([1, 2], {"encrypt": 5}, {"nope": "x"}):
        r = await client.post("/wecom/bot", params=good, json=doc)
        assert r.status in (400, 403)
    r = await client.get("/wecom/callback", params=dict(good, echostr=enc, msg_signature="1" * 40))
    assert r.status == 403
    assert await _recorded(bot) == 0 and fake.of("send") == []
    assert (await client.get("/healthz")).status == 200


async def test_same_message_three_times_handled_once(bot, wecom):
    fake, peer, client = wecom
    user = next(iter(await bot.people()))
    for _ in range(3):
        assert await peer.text(user, "帮助", msgid="5550000000000001") == 200
    await until(lambda: sent_to(fake, user))
    await asyncio.sleep(0.5)
    assert len(sent_to(fake, user)) == 1 and await _recorded(bot) == 1
