"""The whole quarter through DingTalk (Stream mode) against a fake DingTalk on
127.0.0.1, on both databases: the draw in the group, assignment cards, a click, recusal,
the result dialogue, the digest, review and publication; frames acknowledged at once and
a redelivered frame handled once; a token that dies mid-quarter refreshed; throttling
retried."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from dingtalk_stream import CardCallbackMessage
from sqlalchemy import func, select

from bot import localtime
from bot.app import create_app
from bot.services import draws
from bot.services import results as results_svc
from storage.models import EnterpriseRow
from storage.models_chat import InboundEvent, OutboxMessage, ResultRow

from .dingtalk_fake import CARD_TOPIC, ROBOT_TOPIC, FakeDingTalk
from .harness import cycling_draft, reviewer_for

APP_KEY, SECRET, ROBOT = "dingssjtestapp0001", "dt-secret", "dingssjrobot0001"
CID = "cidSupervisors0001=="
TASK = "2027Q1"


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


@pytest.fixture
async def dingtalk(bot, aiohttp_client, aiohttp_server):
    fake = FakeDingTalk()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.base = str(server.make_url("")).rstrip("/")
    settings = replace(
        bot.settings,
        dingtalk_app_key=APP_KEY,
        dingtalk_app_secret=SECRET,
        dingtalk_robot_code=ROBOT,
        dingtalk_api_base=fake.base,
        dingtalk_group=CID,
        wecom_corp_id="",
        wecom_bot_token="",
    )
    client = await aiohttp_client(create_app(settings))
    await until(lambda: fake.sockets)
    yield fake, DingTalkPeer(fake), client
    await client.close()  # the service first (its Stream task), then the fake
    await fake.drop()


async def until(predicate, timeout=20.0):
    end = asyncio.get_running_loop().time() + timeout
    while True:
        got = predicate()
        if got:
            return got
        assert asyncio.get_running_loop().time() < end, "timed out waiting"
        await asyncio.sleep(0.05)


def dump(x) -> str:
    return json.dumps(x, ensure_ascii=False)


def card_keys(body: dict) -> list[str]:
    full = json.loads(body["cardData"]["cardParamMap"]["sys_full_json_obj"])
    return [b["id"] for b in full.get("msgButtons", [])]


def button(body: dict, label: str) -> str:
    full = json.loads(body["cardData"]["cardParamMap"]["sys_full_json_obj"])
    return next(b["id"] for b in full["msgButtons"] if b["text"] == label)


def holder(body: dict) -> str:
    return body["openSpaceId"].split(".", 2)[-1]


def cards_to(fake: FakeDingTalk, user: str) -> list[dict]:
    return [b for b in fake.of("card") if b["openSpaceId"] == f"dtv1.card//IM_ROBOT.{user}"]


def texts_to(fake: FakeDingTalk, user: str) -> str:
    return dump([json.loads(b["msgParam"]) for b in fake.of("send") if user in b["userIds"]])


def updates_of(fake: FakeDingTalk, tracks) -> list[dict]:
    return [u for u in fake.of("update") if u["outTrackId"] in set(tracks)]


async def _recorded(bot) -> int:
    async with bot.sf() as s:
        return await s.scalar(select(func.count()).select_from(InboundEvent))


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_whole_quarter_through_dingtalk(bot, dingtalk):
    fake, peer, client = dingtalk
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    # 1. the supervisor draws in the group; the confirmation card comes to the group
    await peer.text(admins[0], f"抽查 {TASK}", group=CID)
    confirm = await until(
        lambda: [b for b in fake.of("card") if b["openSpaceId"] == f"dtv1.card//IM_GROUP.{CID}"]
    )
    assert confirm[0]["imGroupOpenDeliverModel"]["robotCode"] == ROBOT
    await peer.click(admins[0], button(confirm[0], "确认抽取"), confirm[0]["outTrackId"], group=CID)
    await until(lambda: "共抽取检查对象" in dump(fake.of("group") + fake.of("update")))
    # 2. assignment cards arrive privately; nothing in the group names an object
    assigned = await until(
        lambda: [
            b
            for b in fake.of("card")
            if "IM_ROBOT." in b["openSpaceId"] and any(k.startswith("acc:") for k in card_keys(b))
        ]
    )
    async with bot.sf() as s:
        names = (await s.execute(select(EnterpriseRow.name))).scalars().all()
    group_said = dump(
        fake.of("group") + [b for b in fake.of("card") if "IM_GROUP" in b["openSpaceId"]]
    )
    assert not any(n in group_said for n in names)
    body = assigned[0]
    inspector = holder(body)
    ref = int(card_keys(body)[0].split(":")[1])
    # 3. the inspector asks for recusal from the card, then types the reason
    await peer.click(inspector, f"rec:{ref}", body["outTrackId"])
    await until(lambda: "理由" in texts_to(fake, inspector))
    await peer.text(inspector, "其配偶在该企业任职")
    request = await until(
        lambda: [
            b for b in cards_to(fake, admins[0]) if any(k.startswith("rvo:") for k in card_keys(b))
        ]
    )
    approve = next(k for k in card_keys(request[0]) if k.startswith("rvo:"))
    # 4. the supervisor approves from the card: that card is updated in place, the
    # replacement gets an assignment card, the inspector is told
    before = len(fake.of("card"))
    await peer.click(admins[0], approve, request[0]["outTrackId"])
    await until(lambda: updates_of(fake, [request[0]["outTrackId"]]))
    new_cards = await until(
        lambda: [b for b in fake.of("card")[before:] if f"acc:{ref}" in card_keys(b)]
    )
    member = holder(new_cards[0])
    assert member != inspector
    await until(lambda: "已同意" in texts_to(fake, inspector))
    # 5. the replacement accepts (接收): the card is updated in place
    await peer.click(member, f"acc:{ref}", new_cards[0]["outTrackId"])
    await until(lambda: updates_of(fake, [new_cards[0]["outTrackId"]]))
    # 6. a result by text: nothing is submitted before the confirmation card's 提交
    await peer.text(member, f"结果 {ref} 1 现场检查未见异常")
    confirm_result = await until(
        lambda: [b for b in cards_to(fake, member) if f"eok:{ref}" in card_keys(b)]
    )
    async with bot.sf() as s:
        assert (await s.execute(select(ResultRow))).scalars().all() == []
    await peer.click(member, f"eok:{ref}", confirm_result[0]["outTrackId"])
    mine = [b["outTrackId"] for b in cards_to(fake, member)]
    await until(lambda: any("wdr:" in dump(u) for u in updates_of(fake, mine)))  # 撤回 now
    # 7. the digest tells the 管理员 of the result awaiting review
    await _digest(bot, fake, admins)
    # 8. the review: one list card, then one review card (a 管理员 not on the team)
    async with bot.sf() as s:
        reviewer = await reviewer_for(s, ref)
    checker = next(a for a, p in people.items() if p.cert == reviewer)
    await peer.text(checker, "审核")
    listing = await until(
        lambda: [
            b for b in cards_to(fake, checker) if any(k.startswith("rv1:") for k in card_keys(b))
        ]
    )
    await peer.click(checker, "rv1:0", listing[0]["outTrackId"])
    review = await until(
        lambda: [
            b for b in cards_to(fake, checker) if any(k.startswith("rro:") for k in card_keys(b))
        ]
    )
    assert f"编号{ref}" in dump(review[0]).replace(" ", "")
    before_updates = len(fake.of("update"))
    await peer.click(
        checker,
        next(k for k in card_keys(review[0]) if k.startswith("rro:")),
        review[0]["outTrackId"],
    )
    await until(lambda: updates_of(fake, [review[0]["outTrackId"]]))
    # the member's cards are refreshed in place (no single-use handle on DingTalk)
    await until(lambda: any(u["outTrackId"] in mine for u in fake.of("update")[before_updates:]))
    # 9. publication: every other result entered and approved, then 公示 in the group
    await _complete_others(bot, ref)
    await peer.text(admins[0], f"公示 {TASK}", group=CID)
    await until(lambda: f"/public/tasks/{TASK}" in dump(fake.of("group")))
    # every card had a unique outTrackId; every frame was acknowledged
    tracks = [b["outTrackId"] for b in fake.of("card")]
    assert len(tracks) == len(set(tracks))
    assert all(a["code"] == 200 for a in fake.acks.values())
    assert not fake.of("update-unknown") and not fake.of("card-duplicate")


async def _digest(bot, fake: FakeDingTalk, admins: list[str]) -> None:
    """Run the digest job at 17:00 on the next working day (the job's own calendar)."""
    from scheduler import digest
    from scheduler.jobs import all_jobs
    from scheduler.runner import run_due

    job = [j for j in all_jobs() if j.name == digest.JOB]
    day = localtime.now().replace(hour=17, minute=0, second=0, microsecond=0)
    if day < localtime.now():
        day += timedelta(days=1)
    for _ in range(14):
        report = await run_due(bot.sf, bot.settings, day, "dt", jobs=job)
        if any(r["job"] == digest.JOB for r in report["ran"]):
            break
        day += timedelta(days=1)
    else:
        raise AssertionError("no working day for the digest in two weeks")
    await until(lambda: [a for a in admins if "每日汇总" in texts_to(fake, a)])


async def _complete_others(bot, done: int) -> None:
    now = localtime.now()
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, TASK)
        sels = await draws.current_selections(s, row)
    async with bot.sf() as s, s.begin():
        for i, (ref, sel) in enumerate(sels):
            if ref == done:
                continue
            await results_svc.submit(
                s, ref, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
            )
            await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")


async def test_redelivered_frame_is_handled_once_and_acked_each_time(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    data = peer.robot_message(user, "帮助", msgid="msgSAME0001")
    first = await fake.push(ROBOT_TOPIC, data)
    second = await fake.push(ROBOT_TOPIC, data)  # a late ACK: DingTalk redelivers
    await until(lambda: first in fake.acks and second in fake.acks)
    await until(lambda: [b for b in fake.of("send") if user in b["userIds"]])
    await asyncio.sleep(0.5)
    assert len([b for b in fake.of("send") if user in b["userIds"]]) == 1
    assert await _recorded(bot) == 1


async def test_malformed_frames_are_acked_and_nothing_recorded(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    bad = [
        {"msgtype": "text"},  # no sender, no msgId
        dict(peer.robot_message(user, "x"), senderStaffId="u" * 500),  # too long
        dict(peer.robot_message(user, "a\x00b")),
    ]  # NUL
    ids = [await fake.push(ROBOT_TOPIC, d) for d in bad]
    ids.append(
        await fake.push(CARD_TOPIC, {"userId": user, "outTrackId": "t", "content": "not json"})
    )
    await fake.sockets[-1].send_str("{not a frame")
    await until(lambda: all(i in fake.acks for i in ids))
    await asyncio.sleep(0.3)
    assert await _recorded(bot) == 0 and fake.of("send") == []
    # the connection survived all of it
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))


async def test_token_dying_mid_quarter_is_refreshed_and_throttling_retried(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))
    fetched = len(fake.of("token"))
    fake.script = [401]  # the token expires early, mid-quarter
    await peer.text(user, "帮助")
    await until(lambda: len(fake.of("send")) == 2)
    assert len(fake.of("token")) == fetched + 1
    fake.script = [429, 429]  # throttled twice, then through
    await peer.text(user, "帮助")
    await until(lambda: len(fake.of("send")) == 3)
    assert len(fake.of("send-429")) == 2


async def test_reconnects_after_the_gateway_drops(bot, dingtalk):
    fake, peer, client = dingtalk
    user = next(iter(await bot.people()))
    assert fake.connections == 1
    await fake.drop()
    await until(lambda: fake.connections == 2 and fake.sockets, timeout=10)
    await peer.text(user, "帮助")
    await until(lambda: fake.of("send"))


async def test_invalid_user_is_parked_and_reported(bot, dingtalk):
    fake, peer, client = dingtalk
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    user = next(a for a in people if a not in admins)
    fake.invalid_users.add(user)
    await peer.text(user, "帮助")
    await until(lambda: [a for a in admins if "未能送达" in texts_to(fake, a)])
    async with bot.sf() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.recipient == user)))
            .scalars()
            .first()
        )
    assert row is not None and row.status == "parked"
