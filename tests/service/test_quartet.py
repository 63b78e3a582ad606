"""One conversation, four messengers: the whole quarter — the draw in the group, the
assignment cards, a recusal, the result dialogue, the digest, review and publication —
spoken through the web chat's JSON API, WeCom, DingTalk and Feishu against local fakes
of their networks (tests/service/channels.py), on both databases.

Each messenger's own rules (single-use WeCom codes, DingTalk's acknowledged frames and
unique outTrackIds, Feishu's uuids and PATCHes) are checked by its channel at the end."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot import localtime
from bot.services import draws
from bot.services import results as results_svc
from storage.models import EnterpriseRow
from storage.models_chat import ResultRow

from .channels import CHANNELS, Channel, Shown, until
from .harness import cycling_draft, reviewer_for

TASK = "2027Q1"


@pytest.fixture(params=list(CHANNELS))
async def channel(request, bot, aiohttp_client, aiohttp_server):
    ch = CHANNELS[request.param]()
    await ch.open(bot, aiohttp_client, aiohttp_server)
    yield ch
    await ch.close()


@pytest.fixture
async def background():
    """Tasks running beside the conversation; cancelled if the test ends first."""
    tasks: list[asyncio.Task] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def card_with(ch: Channel, user: str, key_prefix: str) -> Shown | None:
    return next((c for c in await ch.cards_to(user) if c.has(key_prefix)), None)


async def told(ch: Channel, user: str, words: str) -> bool:
    return words in await ch.texts_to(user)


async def now(ch: Channel, card: Shown) -> Shown:
    """The card as its holder sees it now."""
    held = await (ch.group_cards() if card.to == "" else ch.cards_to(card.to))
    return next(c for c in held if c.handle == card.handle)


async def changed(
    ch: Channel, card: Shown, words: str = "", since: int | None = None
) -> Shown | None:
    """The card once changed in place (more often than ``since``, by default than when
    it was looked at) and showing ``words``."""
    got = await now(ch, card)
    more = got.updates > (card.updates if since is None else since)
    return got if more and words in got.words else None


async def test_whole_quarter(bot, channel: Channel, background):
    ch = channel
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    others = sorted(a for a in people if a not in admins)
    async with bot.sf() as s:
        names = (await s.execute(select(EnterpriseRow.name))).scalars().all()

    # 1. a 管理员 draws in the group and confirms on the group's card; the network
    #    delivers that click twice: it acts once (checked at the end)
    await ch.text(admins[0], f"抽查 {TASK}", group=True)
    confirm = (await until(ch.group_cards, what="for the draw's card"))[0]
    assert "承诺值" in confirm.body and len(confirm.buttons) == 2
    await ch.click(admins[0], confirm, confirm.button("确认抽取"), twice=True)

    async def counted() -> bool:
        return any("共抽取检查对象" in m for m in await ch.group_messages())

    await until(counted, what="for the draw's counts in the group")
    if ch.group_cards_change_in_place:  # the card itself now tells the counts
        drawn = await now(ch, confirm)
        assert drawn.updates >= 1 and not drawn.buttons
        assert "已抽取" in drawn.body and "共抽取检查对象" in drawn.body
    # the group sees counts only: no object is named there
    said = await ch.group_said()
    assert "重点监管" in said and not any(n in said for n in names)

    # 2. assignment cards arrive privately, naming the object
    async def first_assignment() -> tuple[str, Shown] | None:
        for a in others + admins:
            card = await card_with(ch, a, "acc:")
            if card:
                return a, card
        return None

    inspector, card = await until(first_assignment, what="for an assignment card")
    assert any(n in card.body for n in names)
    assert not any(c.has("acc:") for c in await ch.group_cards())
    ref = int(card.key("acc:").split(":")[1])
    # meanwhile every other object's result is entered and approved by service calls,
    # each at once (none ever awaits review), ready for publication at the end
    others_done = asyncio.create_task(_complete_others(bot, ref))
    background.append(others_done)

    # 3. the inspector asks for recusal from the card and types the reason; every
    #    管理员 gets the request card
    await ch.click(inspector, card, f"rec:{ref}")
    await until(lambda: told(ch, inspector, "理由"), what="for the question of the reason")
    await ch.text(inspector, "其配偶在该企业任职")
    requests = [
        await until(lambda a=a: card_with(ch, a, "rvo:"), what=f"for the request card of {a}")
        for a in admins
    ]
    held = {(a, c.handle) for a in people for c in await ch.cards_to(a) if f"acc:{ref}" in c.keys()}
    # a 管理员 approves from the card: every copy of the request card changes in place
    # (the other 管理员's as well), so does the inspector's card, and the inspector is told
    await ch.click(admins[0], requests[0], requests[0].key("rvo:"))
    for request in requests:
        decided = await until(lambda r=request: changed(ch, r), what="for the request card")
        assert not decided.has("rvo:")
    left = await until(lambda: changed(ch, card), what="for the inspector's card")
    assert not left.buttons
    await until(lambda: told(ch, inspector, "已同意"), what="for the inspector to be told")
    # the replacement (on the team now, not before) gets an assignment card
    team = {a for a in people if ref in await bot.refs(a)}
    (member,) = team - {a for a, _ in held}
    assert member != inspector

    async def new_card() -> Shown | None:
        mine = await ch.cards_to(member)
        return next(
            (c for c in mine if f"acc:{ref}" in c.keys() and (member, c.handle) not in held),
            None,
        )

    assigned = await until(new_card, what="for the replacement's card")

    # 4. the replacement accepts (接收): the card says so in place
    await ch.click(member, assigned, f"acc:{ref}")
    accepted = await until(lambda: changed(ch, assigned, "已接收"), what="for 已接收")
    assert not accepted.has("acc:")

    # 5. a result by text: nothing is stored before the confirmation card's 提交
    await ch.text(member, f"结果 {ref} 1 现场检查未见异常")
    check = await until(lambda: card_with(ch, member, f"eok:{ref}"), what="for the confirmation")
    async with bot.sf() as s:
        assert await _results(s, ref) == []
    before = {c.handle: c.updates for c in await ch.cards_to(member)}
    await ch.click(member, check, f"eok:{ref}")

    async def withdrawable() -> list[Shown] | None:
        moved = [c for c in await ch.cards_to(member) if c.updates > before.get(c.handle, 0)]
        return moved if any(c.has(f"wdr:{ref}") for c in moved) else None

    # the member's cards change in place: each offers 撤回 now
    await until(withdrawable, what="for 撤回")
    if not ch.single_use_handles:  # the assignment card too (its handle was not spent)

        async def offers_withdrawal() -> bool:
            return (await now(ch, assigned)).has(f"wdr:{ref}")

        await until(offers_withdrawal, what="for 撤回 on the assignment card")
    moved = await withdrawable()
    assert moved and all(c.has(f"wdr:{ref}") for c in moved)
    async with bot.sf() as s:
        assert len(await _results(s, ref)) == 1

    # 6. the digest tells every 管理员 of the result awaiting review
    await _digest(bot, ch, admins)

    # 7. the review: one list card, then one review card, by a 管理员 the four-eyes rule
    #    allows; approved from the card, which changes in place
    async with bot.sf() as s:
        reviewer = await reviewer_for(s, ref)
    checker = next(a for a, p in people.items() if p.cert == reviewer)
    await ch.text(checker, "审核")
    listing = await until(lambda: card_with(ch, checker, "rv1:"), what="for the list card")
    await ch.click(checker, listing, listing.key("rv1:"))
    review = await until(lambda: card_with(ch, checker, "rro:"), what="for the review card")
    assert f"编号{ref}" in review.words.replace(" ", "")
    seen = (await now(ch, assigned)).updates
    await ch.click(checker, review, review.key("rro:"))
    await until(lambda: changed(ch, review), what="for the review card to change")
    if ch.single_use_handles:  # each of the member's codes is spent: told by a text
        await until(lambda: told(ch, member, "审核通过"), what="for 审核通过")
    else:  # the member's card says 已审核 in place
        reviewed = await until(lambda: changed(ch, assigned, "已审核", seen), what="已审核")
        assert not reviewed.buttons

    # 8. with every result approved, 公示 in the group: the public link reaches it
    await others_done
    await ch.text(admins[0], f"公示 {TASK}", group=True)

    async def linked() -> bool:
        return f"/public/tasks/{TASK}" in await ch.group_said()

    await until(linked, what="for the public link in the group")
    if not ch.single_use_handles:  # the assignment card says 已公示 in place
        await until(lambda: changed(ch, assigned, "已公示", seen), what="for 已公示")
    # the draw's click, delivered twice, drew once
    shown = await ch.group_messages()
    assert sum("共抽取检查对象" in m for m in shown) == 1
    assert sum("已抽取" in m for m in shown) == 1
    await ch.check()


async def _results(session, ref: int) -> list[ResultRow]:
    rows = await session.execute(select(ResultRow).where(ResultRow.selection_id == ref))
    return list(rows.scalars())


async def _digest(bot, ch: Channel, admins: list[str]) -> None:
    """Run the digest job at 17:00 on the next working day (the job's own calendar)."""
    from scheduler import digest
    from scheduler.jobs import all_jobs
    from scheduler.runner import run_due

    job = [j for j in all_jobs() if j.name == digest.JOB]
    day = localtime.now().replace(hour=17, minute=0, second=0, microsecond=0)
    if day < localtime.now():
        day += timedelta(days=1)
    for _ in range(14):
        report = await run_due(bot.sf, bot.settings, day, "quartet", jobs=job)
        if any(r["job"] == digest.JOB for r in report["ran"]):
            break
        day += timedelta(days=1)
    else:
        raise AssertionError("no working day for the digest in two weeks")
    ch.wake()
    for a in admins:
        await until(lambda a=a: told(ch, a, "每日汇总"), what=f"for the digest to {a}")


async def _complete_others(bot, done: int) -> None:
    """Every object but ``done``: a result entered and approved in one transaction."""
    now = localtime.now()
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, TASK)
        sels = await draws.current_selections(s, row)
    for i, (ref, sel) in enumerate(sels):
        if ref == done:
            continue
        async with bot.sf() as s, s.begin():
            await results_svc.submit(
                s, ref, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
            )
            await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")
