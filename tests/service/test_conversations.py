"""The whole quarter by chat, through the real handlers (harness, both databases)."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import GROUP
from storage.models import EnterpriseRow
from storage.models_chat import OutboxMessage, ResultRow

from .harness import button, cards, refreshed, reviewer_for, texts


async def _roles(bot):
    people = await bot.people()
    admins = [a for a, p in people.items() if p.role == "管理员"]
    inspectors = [
        a
        for a, p in people.items()
        if p.role != "管理员"
        and p.kind == "执法人员"
        and p.department == "生态环境"
        and p.duty == "在岗"
    ]
    return people, admins, inspectors


async def _draw(bot, admin):
    out = await bot.group(admin, "抽查 2027Q1")
    card = cards(out)[0]
    assert "承诺值" in card.body and len(card.buttons) == 2
    return await bot.click(admin, button(card, "确认抽取"), room=GROUP)


async def _checker(bot, people, ref):
    """The 消息账号 of a 管理员 the four-eyes rule lets review object ``ref``."""
    async with bot.sf() as s:
        cert = await reviewer_for(s, ref)
    return next(a for a, p in people.items() if p.cert == cert)


async def _first_assignment(bot, inspectors):
    for a in inspectors:
        got = await bot.refs(a)
        if got:
            return a, got[0]
    raise AssertionError("nobody was assigned")


async def test_group_ignores_chatter_and_refuses_non_admins(bot):
    people, admins, inspectors = await _roles(bot)
    assert await bot.say(admins[0], "大家好", room=GROUP) == []
    out = await bot.group(inspectors[0], "抽查 2027Q1")
    assert "只有管理员" in texts(out)
    out = await bot.group(admins[0], "不存在的命令")
    assert "没有看懂" in texts(out) and "抽查" in texts(out)


async def test_draw_by_chat_group_sees_counts_only(bot):
    people, admins, inspectors = await _roles(bot)
    out = await _draw(bot, admins[0])
    group = [r for r in out if r.room == GROUP]
    assert group and "共抽取检查对象" in texts(group)
    assert "重点监管" in texts(group) and "Category" not in texts(group)
    async with bot.sf() as s:
        names = [n for (n,) in (await s.execute(select(EnterpriseRow.name))).all()]
        usccs = [u for (u,) in (await s.execute(select(EnterpriseRow.uscc))).all()]
        queued = (await s.execute(select(OutboxMessage))).scalars().all()
    group_text = texts(group) + "".join(str(q.payload) for q in queued if q.room == GROUP)
    assert not any(n in group_text for n in names)
    assert not any(u in group_text for u in usccs)
    private = [q for q in queued if q.room == "private" and q.payload.get("card")]
    assert private, "assignment cards are queued for the team members"
    assert all(q.recipient in people for q in private)
    assert any(n in private[0].payload["card"]["body"] for n in names)
    # confirming twice draws once
    again = await bot.click(admins[0], "dro:1", room=GROUP)
    assert "已经处理过" in texts(again)


async def test_inspector_sees_and_acts_only_on_own_assignments(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    mine = {a: await bot.refs(a) for a in inspectors}
    someone = next(a for a in inspectors if mine[a])
    other = next(a for a in inspectors if a != someone)
    ref = next(r for r in mine[someone] if r not in mine[other])
    out = await bot.say(other, f"回避 {ref} 不想去")
    assert "不是您的检查任务" in texts(out)
    out = await bot.click(other, f"acc:{ref}")
    assert "不是您的检查任务" in texts(out)
    out = await bot.say(other, f"结果 {ref} 1")
    assert "不是您的检查任务" in texts(out)
    # the same click twice acts once
    first = await bot.click(someone, f"acc:{ref}")
    second = await bot.click(someone, f"acc:{ref}")
    assert "已接收编号" in texts(first) and "已失效" in texts(second)
    assert "已接收" in refreshed(second, someone)[0].body


async def test_recusal_request_approve_and_replacement(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    asker, ref = await _first_assignment(bot, inspectors)
    out = await bot.click(asker, f"rec:{ref}")
    assert "理由" in texts(out)
    out = await bot.say(asker, "其配偶在该企业任职")
    assert "已提交" in texts(out)
    admin_cards = [r for r in out if r.card and r.to in admins]
    assert {r.to for r in admin_cards} == set(admins)
    key = button(admin_cards[0].card, "同意")
    out = await bot.click(admins[0], key)
    told = texts([r for r in out if r.to == asker])
    assert "已同意" in told
    new_cards = [
        r for r in out if r.card and not r.refresh and r.to != asker and "检查任务" in r.card.title
    ]
    assert len(new_cards) == 1 and new_cards[0].card.ref == ref
    replacement = people[new_cards[0].to]
    assert replacement.cert != people[asker].cert
    # the asker no longer has it; a second decision is refused
    assert ref not in await bot.refs(asker)
    assert "您已回避" in refreshed(out, asker)[0].title
    again = await bot.click(admins[1], key)  # the other 管理员's copy: already decided
    assert "已由" in texts(again) and "同意" in texts(again)
    assert not refreshed(again, admins[1])[0].buttons


async def test_guided_result_entry_survives_restart_and_review(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    a, ref = await _first_assignment(bot, inspectors)
    out = await bot.click(a, f"res:{ref}")
    assert "1. 未发现问题" in texts(out)
    assert "2027-01" not in texts(await bot.say(a, "2"))  # asks the date next
    bot = await bot.restart()  # the process restarts mid-entry
    out = await bot.say(a, "今天")
    assert "检查方式" in texts(out)
    await bot.say(a, "1")
    out = await bot.say(a, "废气收集设施未正常运行")
    assert "整改要求" in texts(out)
    await bot.say(a, "立即修复收集设施并提交整改报告")
    out = await bot.say(a, "2027-01-01")  # not after the inspection date
    assert "须晚于检查日期" in texts(out)
    out = await bot.say(a, "2027-02-15")
    confirm = cards(out)[0]
    assert "发现问题已责令整改" in confirm.body and "2027-02-15" in confirm.body
    out = await bot.click(a, button(confirm, "提交"))
    assert "等待管理员审核" in texts(out)
    assert not [r for r in out if r.to in admins and not r.refresh], [
        (r.to, r.text, r.card and r.card.title) for r in out
    ]
    mine = refreshed(out, a)[0]
    assert "待审核" in mine.body and [b.text for b in mine.buttons] == ["撤回"]
    checker = await _checker(bot, people, ref)
    listing = cards(await bot.say(checker, "审核"))[0]
    review = cards(await bot.click(checker, button(listing, "逐条审核")))[0]
    out = await bot.click(checker, button(review, "通过"))
    assert "已审核" in refreshed(out, a)[0].body and not refreshed(out, a)[0].buttons
    async with bot.sf() as s:
        row = (await s.execute(select(ResultRow))).scalars().one()
    assert (row.status, row.conclusion) == ("已审核", "发现问题已责令整改")
    assert row.followup["rectify_by"] == "2027-02-15"
    await bot.close()


async def test_quick_result_return_and_cancel_and_timeout(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    a, ref = await _first_assignment(bot, inspectors)
    out = await bot.say(a, f"结果 {ref} 未发现问题 现场检查未见异常")
    confirm = cards(out)[0]  # nothing submitted without a look
    assert "未发现问题" in confirm.body and "修改" in [b.text for b in confirm.buttons]
    out = await bot.click(a, button(confirm, "提交"))
    assert "等待管理员审核" in texts(out)
    checker = await _checker(bot, people, ref)
    listing = cards(await bot.say(checker, "审核"))[0]
    review = cards(await bot.click(checker, button(listing, "逐条审核")))[0]
    out = await bot.click(checker, button(review, "退回"))
    assert "理由" in texts(out)
    out = await bot.say(checker, "检查日期有误")
    assert "检查日期有误" in texts([r for r in out if r.to == a])
    # re-entry, cancelled, then a timed-out dialogue falls back to help
    await bot.click(a, f"res:{ref}")
    assert "已取消" in texts(await bot.say(a, "取消"))
    await bot.click(a, f"res:{ref}")
    bot.clock.advance(minutes=31)
    out = await bot.say(a, "1")
    assert "没有看懂" in texts(out)


async def test_unknown_user_and_help(bot):
    out = await bot.say("nobody", "帮助")
    assert "未在检查人员名录库中找到" in texts(out)
    people, admins, inspectors = await _roles(bot)
    assert "抽查 任务编号" not in texts(await bot.say(inspectors[0], "帮助"))
    assert "抽查 任务编号" in texts(await bot.say(admins[0], "帮助"))


async def test_recusal_by_swap_in_chat(bot):
    """对调: recusal by exchanging objects with a member of another team of the same draw."""
    from storage.models import ConflictRow, InspectorRow, RecusalRow, SelectionRow

    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    mine = {a: await bot.refs(a) for a in inspectors}
    teams: dict[int, set[str]] = {}
    for a, refs in mine.items():
        for r in refs:
            teams.setdefault(r, set()).add(a)
    pairs = [
        (a, b, ra, rb)
        for a in inspectors
        for ra in mine[a]
        for b in inspectors
        for rb in mine[b]
        if ra != rb and b not in teams[ra] and a not in teams[rb]
    ]
    asker, _, ref_a, _ = pairs[0]
    name_a = people[asker].name

    async def recusals() -> int:
        async with bot.sf() as s:
            return len((await s.execute(select(RecusalRow.id))).all())

    # refused at once, nothing recorded: usage, unknown person, oneself, not on another team
    assert "用法" in texts(await bot.say(asker, f"对调 {ref_a}"))
    assert "名录中没有" in texts(await bot.say(asker, f"对调 {ref_a} 查无此人 理由"))
    assert "不能与自己对调" in texts(await bot.say(asker, f"对调 {ref_a} {name_a} 理由"))
    idle = [
        a
        for a in people
        if a not in mine  # on no team of this draw
        and not await bot.refs(a)
    ]
    assert idle, "someone in the library (另一部门, 辅助人员, 不在岗) is on no team"
    out = await bot.say(asker, f"对调 {ref_a} {people[idle[0]].cert} 理由")
    assert "无法对调" in texts(out)
    assert "不是您的检查任务" in texts(await bot.say(pairs[0][1], f"对调 {ref_a} {name_a} 理由"))
    # a name two members of other teams share: asked for the 执法证号
    partner0 = pairs[0][1]
    other = next(
        b
        for a, b, ra, _ in pairs
        if a == asker and ra == ref_a and people[b].cert != people[partner0].cert
    )
    async with bot.sf() as s, s.begin():
        row = await s.scalar(select(InspectorRow).where(InspectorRow.cert == people[other].cert))
        row.name, own_name = people[partner0].name, row.name
    out = texts(await bot.say(asker, f"对调 {ref_a} {people[partner0].name} 理由"))
    assert "同名人员不止一位" in out and people[partner0].cert in out and people[other].cert in out
    async with bot.sf() as s, s.begin():
        row = await s.scalar(select(InspectorRow).where(InspectorRow.cert == people[other].cert))
        row.name = own_name
    # a partner with a registered conflict with the asker's object: refused when asked
    async with bot.sf() as s, s.begin():
        uscc_a = (await s.get(SelectionRow, ref_a)).uscc
        s.add(ConflictRow(cert=people[pairs[0][1]].cert, uscc=uscc_a, note="测试", source="import"))
    out = await bot.say(asker, f"对调 {ref_a} {people[pairs[0][1]].cert} 理由")
    assert "无法交换" in texts(out) and not [r for r in out if r.to in admins]
    assert await recusals() == 0

    # the first pair the rules allow (the draw is random; a refusal is a Chinese message)
    for asker, partner, ref_a, ref_b in pairs[1:]:  # noqa: B007 - the pair found is used below
        out = await bot.say(asker, f"对调 {ref_a} {people[partner].cert} 其配偶在该企业任职")
        if "已提交" in texts(out):
            break
        assert "无法交换" in texts(out), texts(out)
    else:
        raise AssertionError("no pair of this draw can swap")
    name_a, name_b = people[asker].name, people[partner].name
    assert name_b in texts(out) and await recusals() == 1
    admin_cards = [r for r in out if r.card and r.to in admins]
    assert {r.to for r in admin_cards} == set(admins)
    assert "对调" in admin_cards[0].card.body and people[partner].cert in admin_cards[0].card.body
    out = await bot.click(admins[0], button(admin_cards[0].card, "同意"))
    assert "已对调" in texts([r for r in out if r.to == asker]), texts(out)
    assert {c.ref for c in cards(out, asker)} == {ref_b}
    assert {c.ref for c in cards(out, partner)} == {ref_a}
    assert {c.ref for c in refreshed(out, asker) if not c.buttons} == {ref_a}  # left it
    moved = texts([r for r in out if r.to == partner and not r.card])
    assert f"不再负责编号 {ref_b}" in moved and name_a in moved
    now_a = await bot.refs(asker)
    now_b = await bot.refs(partner)
    assert ref_b in now_a and ref_a not in now_a
    assert ref_a in now_b and ref_b not in now_b


async def test_a_task_of_a_far_year_is_refused(bot):
    people, admins, inspectors = await _roles(bot)
    out = texts(await bot.group(admins[0], "抽查 2099Q1"))
    assert "不在可办理的范围内" in out and "上一年度、本年度或下一年度" in out
    async with bot.sf() as s:
        from storage.models import TaskRow

        assert await s.get(TaskRow, "2099Q1") is None
