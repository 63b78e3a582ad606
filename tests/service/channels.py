"""One conversation, four messengers: a driver ("channel") per messenger that speaks
through its network adapter — the web chat's JSON API, WeCom callbacks, DingTalk's
Stream frames, Feishu's event callbacks — against a local fake of the network, and shows
what people received in neutral terms (``Shown``: title, body, buttons, how often a card
was changed in place).

Also the peers (each plays its network's side: signs, encrypts, frames) and the
settings each messenger needs, shared with the messenger-specific tests.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from dingtalk_stream import CardCallbackMessage

from bot.app import SENDER, WAKE, create_app
from bot.messengers.feishu.crypto import FeishuCrypto
from bot.messengers.wecom.crypto import WeComCrypto

from .dingtalk_fake import CARD_TOPIC, ROBOT_TOPIC, FakeDingTalk
from .feishu_fake import FakeFeishu
from .harness import BOT
from .wecom_fake import FakeWeCom

# each person's messages a little faster than the networks' limits ask (as WeCom's tests
# did with wecom_pace_seconds); pacing itself is the outbox's (tests/service/test_outbox.py)
PACE = 0.05


def dump(x: Any) -> str:
    return json.dumps(x, ensure_ascii=False)


async def until(probe, timeout: float = 20.0, what: str = ""):
    """Poll ``probe`` (a function, sync or async) until it returns something truthy."""
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = probe()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, f"timed out waiting {what}".strip()
        await asyncio.sleep(0.05)


# ---- WeCom -----------------------------------------------------------------------------

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

    def group_click_doc(self, user: str, key: str, task_id: str, code: str) -> dict:
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
        return doc

    async def group_click(self, user: str, key: str, task_id: str, code: str) -> int:
        return await self.post_bot(self.group_click_doc(user, key, task_id, code))


def wecom_settings(settings, url: str):
    return replace(
        settings,
        wecom_corp_id=CORP,
        wecom_agent_id=AGENT,
        wecom_secret=SECRET,
        wecom_token=TOKEN,
        wecom_aes_key=AES,
        wecom_api_base=url,
        wecom_bot_token=BOT_TOKEN,
        wecom_bot_aes_key=BOT_AES,
        wecom_pace_seconds=PACE,
    )


# ---- DingTalk --------------------------------------------------------------------------

APP_KEY, DT_SECRET, ROBOT = "dingssjtestapp0001", "dt-secret", "dingssjrobot0001"
CID = "cidSupervisors0001=="


class DingTalkPeer:
    """Plays DingTalk's side of the Stream connection."""

    def __init__(self, fake: FakeDingTalk):
        self.fake, self.seq = fake, 0

    def robot_message(self, user: str, content: str, msgid: str = "", group: str = "") -> dict:
        self.seq += 1
        return {
            "msgtype": "text",
            "text": {"content": content},
            "msgId": msgid or f"msg{self.seq:08d}",
            "senderStaffId": user,
            "senderId": f"$:LWCP_v1:${user}",
            "senderNick": user,
            "conversationType": "2" if group else "1",
            "conversationId": group or f"cidPrivate{user}",
            "isInAtList": bool(group),
            "robotCode": ROBOT,
            "chatbotUserId": "$:LWCP_v1:$bot",
            "createAt": 1700000000000 + self.seq,
            "sessionWebhook": "http://127.0.0.1:9/session",
        }

    async def text(self, user: str, content: str, msgid: str = "", group: str = "") -> str:
        return await self.fake.push(ROBOT_TOPIC, self.robot_message(user, content, msgid, group))

    async def click(
        self, user: str, key: str, track: str, group: str = "", frame_id: str | None = None
    ) -> str:
        msg = CardCallbackMessage()  # the SDK builds the callback's data
        msg.user_id, msg.card_instance_id, msg.corp_id = user, track, "dingcorp"
        msg.content = {"cardPrivateData": {"actionIds": [key], "params": {}}}
        data = dict(
            msg.to_dict(), spaceType="IM_GROUP" if group else "IM_ROBOT", spaceId=group or user
        )
        return await self.fake.push(CARD_TOPIC, data, frame_id)


def dingtalk_settings(settings, base: str):
    return replace(
        settings,
        dingtalk_app_key=APP_KEY,
        dingtalk_app_secret=DT_SECRET,
        dingtalk_robot_code=ROBOT,
        dingtalk_api_base=base,
        dingtalk_group=CID,
        wecom_corp_id="",
        wecom_bot_token="",
    )


# ---- Feishu ----------------------------------------------------------------------------

APP_ID, FS_SECRET = "cli_ssjtest00000001", "feishu-app-secret"
ENCRYPT_KEY, FS_TOKEN = "ssj-encrypt-key-2027", "ssjVerificationToken"
FS_GROUP = "oc_supervisors0001"


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
        token: str = FS_TOKEN,
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
        body, mentions = {"text": text}, []
        if chat:
            body = {"text": f"@_user_1 {text}"}
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
                    "content": json.dumps(body, ensure_ascii=False),
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

    def click_doc(self, user: str, sent: dict, label_or_key: str) -> dict:
        value = next(v for text, v in buttons(sent) if label_or_key in (text, v["k"]))
        chat = FS_GROUP if sent["receive_id_type"] == "chat_id" else ""
        return self.action(user, value, sent["message_id"], chat)

    async def click(self, user: str, sent: dict, label_or_key: str) -> int:
        """Click the button (by its label or key) of a card the fake delivered."""
        return await self.send(self.click_doc(user, sent, label_or_key))


def feishu_settings(settings, url: str, mode: str = "http"):
    return replace(
        settings,
        feishu_app_id=APP_ID,
        feishu_app_secret=FS_SECRET,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_verification_token=FS_TOKEN,
        feishu_mode=mode,
        feishu_api_base=url,
        feishu_group_chat_id=FS_GROUP,
        scheduler=False,
    )


# ---- the neutral view -------------------------------------------------------------------


@dataclass
class Shown:
    """A card as its holder sees it now (its newest state)."""

    to: str  # the holder's account; "" for the group
    title: str
    body: str
    buttons: list[tuple[str, str]]  # (key, label)
    updates: int  # how many times it was changed in place since it arrived
    handle: Any  # what the channel needs to click it

    def keys(self) -> list[str]:
        return [k for k, _ in self.buttons]

    def has(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self.keys())

    def key(self, prefix: str) -> str:
        return next(k for k in self.keys() if k.startswith(prefix))

    def button(self, label: str) -> str:
        return next(k for k, text in self.buttons if text == label)

    @property
    def words(self) -> str:
        return "\n".join([self.title, self.body, *(text for _, text in self.buttons)])


class Channel:
    """A messenger driven as people use it. Subclasses speak one network."""

    name = ""
    client: Any  # aiohttp's test client of the service
    # a card's update handle is spent by one use (WeCom's response_code): a card changed
    # once after a click cannot be changed again; the holder gets the status as a text
    single_use_handles = False
    # a card in the group can be changed in place (WeCom's 智能机器人 cannot: new message)
    group_cards_change_in_place = True

    async def open(self, bot, aiohttp_client, aiohttp_server) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        pass

    def wake(self) -> None:
        """Wake the outbox relay, as the service's scheduler does after a job queued
        messages (a job run by the test is outside the service)."""
        self.client.app[WAKE].set()

    async def text(self, user: str, words: str, group: bool = False) -> None:
        raise NotImplementedError

    async def click(self, user: str, card: Shown, key: str, twice: bool = False) -> None:
        """Press a button; ``twice``: the network delivers the same click twice."""
        raise NotImplementedError

    async def cards_to(self, user: str) -> list[Shown]:
        """Cards with buttons the person received privately, in order, as they are now."""
        raise NotImplementedError

    async def group_cards(self) -> list[Shown]:
        raise NotImplementedError

    async def group_messages(self) -> list[str]:
        """What the group shows: each message (a card in its newest state) as words."""
        raise NotImplementedError

    async def group_said(self) -> str:
        """Everything ever sent to the group, raw (every state of every card)."""
        raise NotImplementedError

    async def texts_to(self, user: str) -> str:
        """Every text and card the person received privately, as words."""
        raise NotImplementedError

    async def check(self) -> None:
        """The network's own rules, held over the whole conversation."""


# ---- the web chat (its JSON API over HTTP) ------------------------------------------


class WebChatChannel(Channel):
    name = "webchat"

    async def open(self, bot, aiohttp_client, aiohttp_server) -> None:
        self.client = await aiohttp_client(create_app(replace(bot.settings, web_chat=True)))
        self.admin = ""

    async def _inbox(self, user: str, room: str) -> list[dict]:
        r = await self.client.get(
            "/chat/api/inbox", params={"user": user, "room": room, "after": 0}
        )
        assert r.status == 200
        return (await r.json())["messages"]

    async def text(self, user: str, words: str, group: bool = False) -> None:
        room = "group" if group else "private"
        r = await self.client.post(
            "/chat/api/send",
            json={"user": user, "room": room, "text": f"{BOT} {words}" if group else words},
        )
        assert r.status == 200 and (await r.json())["ok"], await r.text()

    async def click(self, user: str, card: Shown, key: str, twice: bool = False) -> None:
        doc = {"user": user, "message_id": card.handle, "key": key}
        if not twice:
            r = await self.client.post("/chat/api/click", json=doc)
            assert r.status == 200, await r.text()
            return
        # the same click twice acts once (a retry with its client_id, then a double tap)
        statuses = []
        for extra in ({"client_id": "tap1"}, {"client_id": "tap1"}, {}):
            r = await self.client.post("/chat/api/click", json=doc | extra)
            statuses.append(r.status)
        # accepted, or refused once the card no longer has the button
        assert statuses[0] == 200 and set(statuses) <= {200, 400}, statuses

    @staticmethod
    def _shown(messages: list[dict], to: str) -> list[Shown]:
        """Each card under its original id in its newest version (a row with
        ``replaces`` is a new version of that original)."""
        newest: dict[int, dict] = {}
        versions: dict[int, int] = {}
        for m in messages:
            original = m["replaces"] if m["replaces"] is not None else m["id"]
            newest[original] = m
            versions[original] = versions.get(original, -1) + 1
        out = []
        for original, m in newest.items():
            first = next(x for x in messages if x["id"] == original)
            if not (first["card"] and first["card"]["buttons"]):
                continue
            card = m["card"] or {"title": "", "body": m["text"], "buttons": []}
            out.append(
                Shown(
                    to,
                    card["title"],
                    "\n".join(x for x in (card["body"], m["text"]) if x),
                    [(b["key"], b["text"]) for b in card["buttons"]],
                    versions[original],
                    original,
                )
            )
        return out

    async def cards_to(self, user: str) -> list[Shown]:
        return self._shown(await self._inbox(user, "private"), user)

    async def _group(self) -> list[dict]:
        if not self.admin:  # any 管理员 reads the group
            r = await self.client.get("/chat/api/people")
            self.admin = next(p["account"] for p in (await r.json())["people"] if p["admin"])
        return await self._inbox(self.admin, "group")

    async def group_cards(self) -> list[Shown]:
        return self._shown(await self._group(), "")

    async def group_messages(self) -> list[str]:
        newest: dict[int, dict] = {}
        for m in await self._group():
            if m["from"] == "bot":
                newest[m["replaces"] if m["replaces"] is not None else m["id"]] = m
        return [m["text"] + (dump(m["card"]) if m["card"] else "") for m in newest.values()]

    async def group_said(self) -> str:
        return dump(await self._group())

    async def texts_to(self, user: str) -> str:
        return "\n".join(
            m["text"] + ("\n" + m["card"]["title"] + "\n" + m["card"]["body"] if m["card"] else "")
            for m in await self._inbox(user, "private")
            if m["from"] == "bot"
        )


# ---- WeCom (app callbacks privately, the 智能机器人 in the group) ----------------------


class WeComChannel(Channel):
    name = "wecom"
    single_use_handles = True
    group_cards_change_in_place = False

    async def open(self, bot, aiohttp_client, aiohttp_server) -> None:
        self.fake = FakeWeCom()
        server = await aiohttp_server(self.fake.app())
        url = str(server.make_url("")).rstrip("/")
        self.client = await aiohttp_client(create_app(wecom_settings(bot.settings, url)))
        self.peer = WeComPeer(self.client, url)
        self.codes = itertools.count(1)
        self.clicked: dict[str, str] = {}  # a click's response_code -> the card's task_id
        self.group_calls: list[tuple[str, str]] = []  # (key or text, response_code)

    async def text(self, user: str, words: str, group: bool = False) -> None:
        if group:
            code = f"g{next(self.codes)}"
            self.group_calls.append((words, code))
            assert await self.peer.group_text(user, words, code) == 200
        else:
            assert await self.peer.text(user, words) == 200

    async def click(self, user: str, card: Shown, key: str, twice: bool = False) -> None:
        code = f"c{next(self.codes)}"
        if card.to == "":
            self.group_calls.append((key, code))
            doc = self.peer.group_click_doc(user, key, card.handle, code)
            for _ in range(2 if twice else 1):  # a redelivery carries the same msgid
                assert await self.peer.post_bot(doc) == 200
            return
        assert not twice
        self.clicked[code] = card.handle
        assert await self.peer.click(user, key, card.handle, code) == 200

    def _updates(self) -> dict[str, list[tuple[int, dict]]]:
        """The card updates by response_code, each with its place in the call log."""
        out: dict[str, list[tuple[int, dict]]] = {}
        for i, (kind, body) in enumerate(self.fake.calls):
            if kind == "update":
                out.setdefault(body["response_code"], []).append((i, body))
        return out

    def _state(self, body: dict, to: str, updates: dict[str, list[tuple[int, dict]]]) -> Shown:
        """A card as it is now: as sent, then each update made with one of its codes (the
        one its send returned, those of clicks on it), in order."""
        tc = body["template_card"]
        task = tc["task_id"]
        codes = {c for c, t in self.clicked.items() if t == task}
        if task in self.fake.card_codes:
            codes.add(self.fake.card_codes[task])
        title, text = tc["main_title"]["title"], tc.get("sub_title_text", "")
        keys = [(b["key"], b["text"]) for b in tc["button_list"]]
        mine = sorted((x for c in codes for x in updates.get(c, [])), key=lambda x: x[0])
        for _, u in mine:
            if "template_card" in u:
                new = u["template_card"]
                title, text = new["main_title"]["title"], new.get("sub_title_text", "")
                keys = [(b["key"], b["text"]) for b in new["button_list"]]
            else:
                keys, text = [], text + "\n" + u["button"]["replace_name"]
        return Shown(to, title, text, keys, len(mine), task)

    def _cards(self, user: str) -> list[dict]:
        return [
            b
            for b in self.fake.of("send")
            if b.get("msgtype") == "template_card" and b["touser"] == user
        ]

    async def cards_to(self, user: str) -> list[Shown]:
        updates = self._updates()
        return [self._state(b, user, updates) for b in self._cards(user)]

    def _group(self) -> list[dict]:
        return [b for p, b in self.fake.calls if p in ("bot-response", "webhook")]

    async def group_cards(self) -> list[Shown]:
        return [
            Shown(
                "",
                b["template_card"]["main_title"]["title"],
                b["template_card"].get("sub_title_text", ""),
                [(x["key"], x["text"]) for x in b["template_card"]["button_list"]],
                0,
                b["template_card"]["task_id"],
            )
            for b in self._group()
            if b.get("msgtype") == "template_card"
        ]

    async def group_messages(self) -> list[str]:
        return [dump(b) for b in self._group()]

    async def group_said(self) -> str:
        return dump(self._group())

    async def texts_to(self, user: str) -> str:
        updates = self._updates()
        out = []
        for b in self.fake.of("send"):
            if user not in b.get("touser", "").split("|"):
                continue
            if b.get("msgtype") == "text":
                out.append(b["text"]["content"])
            elif b.get("msgtype") == "template_card":
                out.append(self._state(b, user, updates).words)
        return "\n".join(out)

    async def check(self) -> None:
        fake = self.fake
        # every click's response_code changed its card, once (the reply to the click, or a
        # later change of the card clicked); a card never clicked was changed with the
        # code its send returned
        clicked = set(self.clicked)

        def used() -> set[str]:
            return {u["response_code"] for u in fake.of("update")}

        await until(lambda: clicked <= used(), what="for every click's code to be used")
        assert used() & set(fake.card_codes.values())
        # a response_code is used once: no update and no group answer reused one
        assert not fake.of("update-reused") and not fake.of("bot-response-reused")
        # every card sent had a valid, unique task_id
        ids = [b["template_card"]["task_id"] for b in fake.of("send") if b.get("template_card")]
        assert len(ids) == len(set(ids)) and all(
            re.fullmatch(r"[0-9A-Za-z_\-@]{1,128}", i) for i in ids
        )
        # the group hears back through the response_url of the callback it answers (no
        # group webhook is configured): the draw's card through the 抽查 message's, the
        # counts through the confirming click's, the public link through the 公示's
        answers = fake.of("bot-response")
        assert answers and not fake.of("webhook")
        for what, needle in (
            ("抽查", "确认抽取"),
            ("dro:", "共抽取检查对象"),
            ("公示", "/public/"),
        ):
            code = next(c for w, c in self.group_calls if w.startswith(what))
            assert [b["_code"] for b in answers if needle in dump(b)] == [code], what


# ---- DingTalk (Stream mode) ------------------------------------------------------------


class DingTalkChannel(Channel):
    name = "dingtalk"

    async def open(self, bot, aiohttp_client, aiohttp_server) -> None:
        self.fake = fake = FakeDingTalk()
        server = await aiohttp_server(fake.app(), host="127.0.0.1")
        fake.base = str(server.make_url("")).rstrip("/")
        self.client = await aiohttp_client(create_app(dingtalk_settings(bot.settings, fake.base)))
        self.client.app[SENDER].pace_seconds = PACE
        await until(lambda: fake.sockets, what="for the Stream connection")
        self.peer = DingTalkPeer(fake)
        self.frames = itertools.count(1)

    async def close(self) -> None:
        await self.client.close()  # the service first (its Stream task), then the fake
        await self.fake.drop()

    async def text(self, user: str, words: str, group: bool = False) -> None:
        await self.peer.text(user, words, group=CID if group else "")

    async def click(self, user: str, card: Shown, key: str, twice: bool = False) -> None:
        frame = f"click-{next(self.frames)}"
        for _ in range(2 if twice else 1):  # a late ACK: DingTalk redelivers the frame
            await self.peer.click(
                user, key, card.handle, group=CID if card.to == "" else "", frame_id=frame
            )

    def _updates(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for u in self.fake.of("update"):
            out.setdefault(u["outTrackId"], []).append(u)
        return out

    def _state(self, body: dict, to: str, updates: dict[str, list[dict]]) -> Shown:
        track = body["outTrackId"]
        params = dict(body["cardData"]["cardParamMap"])
        for u in updates.get(track, []):  # updateCardDataByKey: the keys sent replace theirs
            params.update(u["cardData"]["cardParamMap"])
        full = json.loads(params["sys_full_json_obj"])
        return Shown(
            to,
            params.get("msgTitle", ""),
            params.get("staticMsgContent", ""),
            [(b["id"], b["text"]) for b in full.get("msgButtons", [])],
            len(updates.get(track, [])),
            track,
        )

    async def cards_to(self, user: str) -> list[Shown]:
        space, updates = f"dtv1.card//IM_ROBOT.{user}", self._updates()
        return [
            self._state(b, user, updates) for b in self.fake.of("card") if b["openSpaceId"] == space
        ]

    def _group_cards(self) -> list[dict]:
        space = f"dtv1.card//IM_GROUP.{CID}"
        return [b for b in self.fake.of("card") if b["openSpaceId"] == space]

    async def group_cards(self) -> list[Shown]:
        updates = self._updates()
        return [self._state(b, "", updates) for b in self._group_cards()]

    async def group_messages(self) -> list[str]:
        return [b["msgParam"] for b in self.fake.of("group")] + [
            c.words for c in await self.group_cards()
        ]

    async def group_said(self) -> str:
        tracks = {b["outTrackId"] for b in self._group_cards()}
        return dump(
            self.fake.of("group")
            + self._group_cards()
            + [u for u in self.fake.of("update") if u["outTrackId"] in tracks]
        )

    async def texts_to(self, user: str) -> str:
        texts = [json.loads(b["msgParam"]) for b in self.fake.of("send") if user in b["userIds"]]
        return "\n".join([dump(texts), *(c.words for c in await self.cards_to(user))])

    async def check(self) -> None:
        fake = self.fake
        # every card had a unique outTrackId; every frame was acknowledged
        tracks = [b["outTrackId"] for b in fake.of("card")]
        assert len(tracks) == len(set(tracks))
        assert fake.acks and all(a["code"] == 200 for a in fake.acks.values())
        assert not fake.of("update-unknown") and not fake.of("card-duplicate")
        # the group's cards come from our robot
        assert all(b["imGroupOpenDeliverModel"]["robotCode"] == ROBOT for b in self._group_cards())


# ---- Feishu (event callbacks over HTTP) ------------------------------------------------


class FeishuChannel(Channel):
    name = "feishu"

    async def open(self, bot, aiohttp_client, aiohttp_server) -> None:
        self.fake = FakeFeishu(APP_ID, FS_SECRET)
        server = await aiohttp_server(self.fake.app())
        url = str(server.make_url("")).rstrip("/")
        self.client = await aiohttp_client(create_app(feishu_settings(bot.settings, url)))
        self.client.app[SENDER].pace_seconds = PACE
        self.peer = FeishuPeer(self.client)

    async def text(self, user: str, words: str, group: bool = False) -> None:
        assert await self.peer.text(user, words, chat=FS_GROUP if group else "") == 200

    async def click(self, user: str, card: Shown, key: str, twice: bool = False) -> None:
        sent = dict(self.fake.messages[card.handle], message_id=card.handle)
        doc = self.peer.click_doc(user, sent, key)
        for _ in range(2 if twice else 1):  # a retry carries the same event_id
            assert await self.peer.send(doc) == 200

    def _state(self, body: dict, to: str, patches: dict[str, int]) -> Shown:
        doc = content(body)
        body_text = "\n".join(
            e["text"]["content"] for e in doc.get("elements", []) if e["tag"] == "div"
        )
        return Shown(
            to,
            doc["header"]["title"]["content"],
            body_text,
            [(v["k"], text) for text, v in buttons(body)],
            patches.get(body["message_id"], 0),
            body["message_id"],
        )

    def _cards(self, receive_id: str) -> list[Shown]:
        """Cards that arrived with buttons, as they are now (PATCH keeps ``messages``
        fresh; ``first_content`` holds each as sent)."""
        patches: dict[str, int] = {}
        for p in self.fake.of("patch"):
            patches[p["message_id"]] = patches.get(p["message_id"], 0) + 1
        return [
            self._state(dict(b, message_id=m), receive_id, patches)
            for m, b in self.fake.messages.items()
            if b["receive_id"] == receive_id
            and b["msg_type"] == "interactive"
            and '"tag": "action"' in self.fake.first_content[m]
        ]

    async def cards_to(self, user: str) -> list[Shown]:
        return self._cards(user)

    async def group_cards(self) -> list[Shown]:
        return [replace(c, to="") for c in self._cards(FS_GROUP)]

    async def group_messages(self) -> list[str]:
        return [b["content"] for b in self.fake.messages.values() if b["receive_id"] == FS_GROUP]

    async def group_said(self) -> str:
        group_ids = {m for m, b in self.fake.messages.items() if b["receive_id"] == FS_GROUP}
        return dump(
            [self.fake.first_content[m] for m in sorted(group_ids)]
            + [p for p in self.fake.of("patch") if p["message_id"] in group_ids]
            + [
                b
                for k, b in self.fake.calls
                if k.startswith("send") and b["receive_id"] == FS_GROUP
            ]
        )

    async def texts_to(self, user: str) -> str:
        return "\n".join(
            b["content"] for b in self.fake.messages.values() if b["receive_id"] == user
        )

    async def check(self) -> None:
        fake = self.fake
        # private messages go by user_id, the group's by chat_id
        assert {b["receive_id_type"] for b in fake.of("send") if b["receive_id"] == FS_GROUP} == {
            "chat_id"
        }
        assert {b["receive_id_type"] for b in fake.of("send") if b["receive_id"] != FS_GROUP} == {
            "user_id"
        }
        # every message carried its own uuid; no PATCH missed its card
        uuids = [b["uuid"] for b in fake.of("send")]
        assert len(uuids) == len(set(uuids)) and all(0 < len(u) <= 50 for u in uuids)
        assert not fake.of("patch-missing") and not fake.of("send-dup")


CHANNELS = {c.name: c for c in (WebChatChannel, WeComChannel, DingTalkChannel, FeishuChannel)}
