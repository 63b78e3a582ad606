"""A busy quarter through the real handlers and the real outbox relay into the web chat's
store, on SQLite and PostgreSQL: ≥ 100 objects, ≥ 12 inspectors, two 管理员.

What each person receives is counted as the web chat shows it: a new message is a new
chat_messages row; an update of a card already held is a new version of that row
(``replaces``), shown in the original's place, not a new message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.dispatch import Dispatcher
from bot.messages import GROUP, PRIVATE, Inbound
from bot.messengers.webchat.adapter import WebChatSender
from bot.services import assignments, outbox
from bot.services.webchat_store import WebChatStore
from scheduler.runner import run_due
from storage.models import RecusalRow, SelectionRow, TeamMemberRow
from storage.models_chat import ChatMessage, ResultRow

from .harness import BOT

BEIJING = ZoneInfo("Asia/Shanghai")

TASK = "2027Q1"
# keys that act on something: after publication no card may still offer one
ACTIONS = {
    "acc",
    "res",
    "rec",
    "wdr",
    "eok",
    "eno",
    "edt",
    "edf",
    "rro",
    "rrb",
    "rnx",
    "rso",
    "rsb",
    "rvo",
    "rvn",
    "rv1",
    "rva",
    "rvy",
    "rvx",
    "dro",
    "drn",
}


class Quarter:
    """The harness plus delivery: every reply goes through the outbox relay into the web
    chat's store, and clicks press buttons of the cards people actually hold."""

    def __init__(self, bot):
        self.bot = bot
        bot.settings = replace(
            bot.settings, ratio_key=Fraction(1, 2), ratio_general=Fraction(35, 100)
        )
        bot.dispatcher = Dispatcher(bot.sf, bot.settings, clock=bot.clock)
        self.relay = outbox.Relay(bot.sf, WebChatSender(WebChatStore(bot.sf)))

    async def deliver(self) -> None:
        for _ in range(1000):
            stats = await self.relay.run_once(limit=500)
            if stats.sent == 0 and stats.failed == 0:
                return
        raise AssertionError("the outbox does not drain")

    async def handle(self, ib: Inbound) -> None:
        await self.bot.dispatcher.handle(ib)
        await self.deliver()

    async def say(self, user: str, text: str, room: str = PRIVATE) -> None:
        await self.handle(
            Inbound("text", user, room, "", f"{BOT} {text}" if room == GROUP else text)
        )

    async def press(self, user: str, anchor: int, key: str, room: str = PRIVATE) -> None:
        await self.handle(Inbound("click", user, room, "", key=key, message_id=str(anchor)))

    async def rows(self, owner: str | None = None, room: str = PRIVATE) -> list[ChatMessage]:
        q = select(ChatMessage).where(ChatMessage.room == room).order_by(ChatMessage.id)
        if owner is not None:
            q = q.where(ChatMessage.owner == owner)
        async with self.bot.sf() as s:
            return list((await s.execute(q)).scalars())

    async def inbox(self, owner: str, room: str = PRIVATE) -> dict[int, ChatMessage]:
        """What the person sees: each message (by its original id) in its newest version."""
        view: dict[int, ChatMessage] = {}
        for r in await self.rows(owner, room):
            view[r.replaces or r.id] = r
        return view

    async def received(self) -> Counter:
        """New messages per person so far (not counting updates of held cards)."""
        return Counter(r.owner for r in await self.rows() if r.replaces is None)

    async def cards(self, owner: str, prefix: str, room: str = PRIVATE):
        """(anchor, key) of every button with this prefix on the cards the person holds."""
        out = []
        for anchor, r in (await self.inbox(owner, room)).items():
            for b in (r.card or {}).get("buttons", []):
                if b["key"].split(":")[0] == prefix:
                    out.append((anchor, b["key"]))
        return out

    async def last_text(self, owner: str) -> str:
        rows = [r for r in await self.rows(owner) if r.replaces is None]
        return rows[-1].text + (rows[-1].card or {}).get("body", "") if rows else ""

    async def state(self) -> tuple:
        """Everything a late action must not change."""
        async with self.bot.sf() as s:
            results = sorted(
                (r.id, r.status, r.conclusion, r.entered_by, r.reviewed_by)
                for r in (await s.execute(select(ResultRow))).scalars()
            )
            teams = sorted(
                (m.selection_id, m.cert, m.active)
                for m in (await s.execute(select(TeamMemberRow))).scalars()
            )
            recusals = await s.scalar(select(func.count(RecusalRow.id)))
        return results, teams, recusals


@pytest.mark.slow
async def test_busy_quarter(bot):
    q = Quarter(bot)
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    cert = {a: p.cert for a, p in people.items()}
    account = {p.cert: a for a, p in people.items()}
    assert len(admins) == 2

    # ---- the draw, by chat in the group ----
    await q.say(admins[0], f"抽查 {TASK}", GROUP)
    ((anchor, key),) = await q.cards("", "dro", GROUP)
    await q.press(admins[0], anchor, key, GROUP)
    async with bot.sf() as s:
        refs = list(
            (await s.execute(select(SelectionRow.id).where(SelectionRow.task_id == TASK))).scalars()
        )
    assert len(refs) >= 100
    team_of = {}
    async with bot.sf() as s:
        for ref in refs:
            a = await assignments.load(s, ref)
            team_of[ref] = [c for c, _, acc in a.team if acc]
    holders = {account[c] for certs in team_of.values() for c in certs}
    inspectors = sorted(holders - set(admins))
    assert len(inspectors) >= 12
    after_draw = await q.received()

    # ---- 我的任务: one compact list; its pages turn in place ----
    busiest = max(inspectors, key=lambda a: len([r for r in refs if cert[a] in team_of[r]]))
    for a in inspectors:
        before = await q.received()
        await q.say(a, "我的任务")
        assert (await q.received())[a] - before[a] == 1, a
    list_card = [
        r
        for r in (await q.inbox(busiest)).values()
        if r.card and r.card["title"].startswith("我的检查任务")
    ][-1]
    assert len([r for r in refs if cert[busiest] in team_of[r]]) > 10  # two pages
    before = await q.received()
    page2 = next(b["key"] for b in list_card.card["buttons"] if b["text"] == "下一页")
    await q.press(busiest, list_card.id, page2)
    assert (await q.received())[busiest] == before[busiest]  # same message, page 2
    assert "第 2/" in (await q.inbox(busiest))[list_card.id].card["title"]

    # ---- everyone accepts; a second tap on an old 接收 answers the state, changes nothing
    for a in inspectors + admins:
        for anchor, key in await q.cards(a, "acc"):
            await q.press(a, anchor, key)
    assert not [k for a in inspectors + admins for k in await q.cards(a, "acc")]

    # ---- one recusal, decided by the other 管理员 ----
    asker = inspectors[0]
    ref_r = next(r for r in refs if cert[asker] in team_of[r])
    anchor, key = next((an, k) for an, k in await q.cards(asker, "rec") if k == f"rec:{ref_r}")
    await q.press(asker, anchor, key)
    await q.say(asker, "其配偶在该企业任职")
    ((anchor, key),) = [(an, k) for an, k in await q.cards(admins[1], "rvo")]
    await q.press(admins[1], anchor, key)
    async with bot.sf() as s:
        team_of[ref_r] = [c for c, _, acc in (await assignments.load(s, ref_r)).team if acc]
    assert cert[asker] not in team_of[ref_r]
    held = [r for r in (await q.inbox(asker)).values() if r.card and r.card.get("ref") == ref_r]
    assert held and all(not r.card["buttons"] for r in held)  # the old card is dead
    for a in {account[c] for c in team_of[ref_r]}:  # the replacement accepts
        for anchor, key in await q.cards(a, "acc"):
            await q.press(a, anchor, key)

    # ---- results come in: no message to the 管理员 per result ----
    window = await q.received()
    entered_by = {}
    for ref in refs:
        who = next((account[c] for c in team_of[ref] if account[c] not in admins), None)
        if who is None:
            continue  # only 管理员 on this team: they enter it later
        await q.say(who, f"结果 {ref} 1 现场检查未见异常")
        ((anchor, key),) = [(an, k) for an, k in await q.cards(who, "eok") if k == f"eok:{ref}"]
        await q.press(who, anchor, key)
        entered_by[ref] = who
    assert len(entered_by) >= 100
    # the day's scheduled jobs at 17:00: each 管理员 gets the one digest
    ran = await run_due(bot.sf, bot.settings, datetime(2027, 1, 4, 17, 0, tzinfo=BEIJING), "t")
    await q.deliver()
    assert "digest" in [r["job"] for r in ran["ran"]], ran
    now = await q.received()
    assert all(now[a] - window[a] <= 3 for a in admins), {a: now[a] - window[a] for a in admins}
    for a in admins:
        digest = [r for r in await q.rows(a) if r.replaces is None][-1].text
        assert "待审核" in digest and "操作日志锚点" in digest, digest
    # every submitted card now offers 撤回 only, on every copy its holders have
    for ref, who in list(entered_by.items())[:10]:
        held = [
            r
            for r in (await q.inbox(who)).values()
            if r.card and r.card.get("ref") == ref and r.card["buttons"]
        ]
        assert held and all([b["text"] for b in r.card["buttons"]] == ["撤回"] for r in held)

    # ---- a 管理员 cannot approve a result he entered himself ----
    own = (
        next(r for r in refs if r not in entered_by and cert[admins[0]] in team_of[r])
        if any(r not in entered_by and cert[admins[0]] in team_of[r] for r in refs)
        else next(r for r in refs if cert[admins[0]] in team_of[r])
    )
    if own in entered_by:  # entered already by a teammate: withdraw, re-enter
        who = entered_by[own]
        ((anchor, key),) = [(an, k) for an, k in await q.cards(who, "wdr") if k == f"wdr:{own}"][:1]
        await q.press(who, anchor, key)
    await q.say(admins[0], f"结果 {own} 1 现场检查未见异常")
    ((anchor, key),) = [(an, k) for an, k in await q.cards(admins[0], "eok") if k == f"eok:{own}"]
    await q.press(admins[0], anchor, key)
    entered_by[own] = admins[0]
    async with bot.sf() as s:
        own_row = await s.scalar(select(ResultRow).where(ResultRow.selection_id == own))
    before = await q.state()
    await q.press(admins[0], 1, f"rro:{own_row.id}")
    assert "本人录入" in await q.last_text(admins[0])
    assert await q.state() == before
    for ref in refs:  # the teams of 管理员 only
        if ref not in entered_by:
            who = account[team_of[ref][0]]
            await q.say(who, f"结果 {ref} 1 现场检查未见异常")
            ((anchor, key),) = [(an, k) for an, k in await q.cards(who, "eok") if k == f"eok:{ref}"]
            await q.press(who, anchor, key)
            entered_by[ref] = who

    # ---- the other 管理员 returns one, then reviews: one list card, then approves all ----
    before = await q.received()
    await q.say(admins[1], "审核")
    assert (await q.received())[admins[1]] - before[admins[1]] == 1
    ((anchor, key),) = await q.cards(admins[1], "rv1")
    await q.press(admins[1], anchor, key)  # 逐条审核: one review card
    ((anchor, key),) = await q.cards(admins[1], "rrb")
    await q.press(admins[1], anchor, key)
    await q.say(admins[1], "检查日期有误，请核对")
    assert (await q.received())[admins[1]] - before[admins[1]] <= 4
    async with bot.sf() as s:
        back = await s.scalar(select(ResultRow).where(ResultRow.status == "已退回"))
    returned_to = entered_by[back.selection_id]
    card = [
        r
        for r in (await q.inbox(returned_to)).values()
        if r.card and r.card.get("ref") == back.selection_id
    ][-1].card
    assert "检查日期有误" in card["body"] and [b["text"] for b in card["buttons"]] == ["重新录入"]
    await q.say(returned_to, f"结果 {back.selection_id} 1 现场检查未见异常")
    ((anchor, key),) = [
        (an, k) for an, k in await q.cards(returned_to, "eok") if k == f"eok:{back.selection_id}"
    ]
    await q.press(returned_to, anchor, key)

    for admin in admins + admins:  # 全部通过, each 管理员 what the four eyes allow
        await q.say(admin, "审核")
        for anchor, key in await q.cards(admin, "rva"):
            await q.press(admin, anchor, key)
            for anchor2, key2 in await q.cards(admin, "rvy"):
                await q.press(admin, anchor2, key2)
    async with bot.sf() as s:
        statuses = Counter((await s.execute(select(ResultRow.status))).scalars())
        own_row = await s.get(ResultRow, own_row.id)
    assert statuses == Counter({"已审核": len(refs)}), statuses
    assert own_row.reviewed_by != cert[admins[0]]

    # ---- publication ends the quarter: later actions change nothing ----
    await q.say(admins[0], f"公示 {TASK}", GROUP)
    total = await q.received()  # the quarter as people lived it (before the probes)
    frozen = await q.state()
    some = inspectors[1]
    ref_s = next(r for r in refs if cert[some] in team_of[r])
    await q.say(some, f"回避 {ref_s} 亲属在该企业任职")
    assert "已公示" in await q.last_text(some)
    await q.say(some, f"结果 {ref_s} 2 新发现问题")
    assert "已公示" in await q.last_text(some)
    for k in (f"acc:{ref_s}", f"res:{ref_s}", f"rec:{ref_s}", f"wdr:{ref_s}"):
        await q.press(some, 1, k)
    assert await q.state() == frozen

    # ---- every card in every inbox offers only what is valid now: nothing that acts ----
    for a in set(people):
        for r in (await q.inbox(a)).values():
            keys = [b["key"].split(":")[0] for b in (r.card or {}).get("buttons", [])]
            assert not set(keys) & ACTIONS, (a, r.card["title"], keys)
            if r.card and r.card["title"].startswith("检查任务"):
                assert "状态：已公示" in r.card["body"]
    for r in (await q.inbox("", GROUP)).values():
        assert not (r.card or {}).get("buttons")
    group = [r for r in await q.rows("", GROUP) if r.sender == "bot" and r.replaces is None]
    assert len(group) == 2, [r.text or r.card["title"] for r in group]  # draw card, 公示

    # ---- what each role received over the quarter ----
    per_inspector = sorted(total[a] for a in inspectors)
    tasks = {a: len([r for r in refs if cert[a] in team_of[r]]) for a in inspectors}
    print(
        f"\nbusy quarter: {len(refs)} objects, {len(inspectors)} inspectors, "
        f"tasks per inspector {min(tasks.values())}-{max(tasks.values())}; "
        f"messages per inspector {per_inspector[0]}-{per_inspector[-1]} "
        f"(after the draw {min(after_draw[a] for a in inspectors)}-"
        f"{max(after_draw[a] for a in inspectors)}); "
        f"管理员 {[total[a] for a in admins]}"
    )
    # the draw brings one card per task; a result entered, its confirmation card; the rest
    # of the quarter a handful more (我的任务, the recusal's question and answer, a return,
    # the publication)
    entered = Counter(entered_by.values())
    entered[returned_to] += 1  # the returned result, entered again
    for a in inspectors:
        got = [
            (r.text or (r.card or {}).get("title", ""))[:30]
            for r in await q.rows(a)
            if r.replaces is None
        ][after_draw[a] :]
        assert total[a] - after_draw[a] <= entered[a] + 6, (a, entered[a], got[entered[a] :])
