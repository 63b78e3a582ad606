"""重抽 and 发布计划 by chat, through the real handlers (harness, both databases)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from bot import localtime
from bot.domain.model import DomainError
from bot.messages import GROUP
from bot.services import draw_flow, draws
from bot.services import plan as plan_svc
from storage.models import AuditRow, DrawRow, EnterpriseRow, TaskRow
from storage.models_chat import OutboxMessage
from storage.models_plan import PlanRow

from .harness import button, cards, texts


async def _roles(bot):
    people = await bot.people()
    admins = sorted(a for a, p in people.items() if p.role == "管理员")
    inspectors = sorted(a for a, p in people.items() if p.role != "管理员")
    return people, admins, inspectors


async def _draw(bot, admin, task="2027Q1"):
    card = cards(await bot.group(admin, f"抽查 {task}"))[0]
    return await bot.click(admin, button(card, "确认抽取"), room=GROUP)


async def _state(bot) -> dict:
    """What a refused command must leave as it was (the outbox: messages to others, not the
    replies to the asker)."""
    async with bot.sf() as s:
        draws_ = (
            await s.execute(
                select(DrawRow.id, DrawRow.task_id, DrawRow.status).order_by(DrawRow.id)
            )
        ).all()
        return {
            "draws": [tuple(d) for d in draws_],
            "tasks": (
                await s.execute(select(TaskRow.id, TaskRow.status).order_by(TaskRow.id))
            ).all(),
            "audit": await s.scalar(select(func.count()).select_from(AuditRow)),
            "outbox": await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.dedupe_key.is_not(None))
            ),
        }


async def _members(bot, draw_id: int) -> dict[str, set[int]]:
    """Per 执法证号, the 编号 of that draw the person is on."""
    out: dict[str, set[int]] = {}
    async with bot.sf() as s:
        row = await s.get(DrawRow, draw_id)
        for ref, sel in await draws.current_selections(s, row):
            for team in sel.teams:
                for cert in team.members + team.auxiliary:
                    out.setdefault(cert, set()).add(ref)
    return out


async def _outbox(bot, prefix: str) -> list[OutboxMessage]:
    async with bot.sf() as s:
        return list(
            (
                await s.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.dedupe_key.like(prefix + "%"))
                    .order_by(OutboxMessage.id)
                )
            ).scalars()
        )


# --- 重抽 -----------------------------------------------------------------------------------


async def test_redraw_in_the_group_voids_the_draw_and_tells_everyone_once(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    async with bot.sf() as s:
        first = await s.scalar(select(DrawRow).where(DrawRow.status == "valid"))
        drawn = await s.scalar(
            select(func.count())
            .select_from(draws.SelectionRow)
            .where(draws.SelectionRow.draw_id == first.id)
        )
    old = await _members(bot, first.id)

    # 抽查 on a drawn task points to 重抽, not to command-line options
    said = texts(await bot.group(admins[0], "抽查 2027Q1"))
    assert "重抽 2027Q1 理由" in said and "--" not in said and "ssj" not in said

    out = await bot.group(admins[0], "重抽 2027Q1 企业名录有误")
    card = cards(out)[0]
    assert card.title == "重新抽取 2027Q1"
    assert f"{first.drawn_at.date().isoformat()} 抽取，检查对象 {drawn} 家" in card.body
    assert f"抽取号 {first.id}" in card.body and "重抽理由：企业名录有误" in card.body
    assert "作废并保留" in card.body
    assert [b.text for b in card.buttons] == ["确认重抽", "取消"]
    async with bot.sf() as s:
        rows = (await s.execute(select(DrawRow).order_by(DrawRow.id))).scalars().all()
        request = await s.scalar(select(AuditRow).where(AuditRow.action == "draw.redraw_request"))
    # a fresh commitment is recorded and shown first; nothing is voided yet
    assert [(r.id, r.status) for r in rows] == [(first.id, "valid"), (rows[1].id, "prepared")]
    assert rows[1].commitment in card.body and rows[1].commitment != first.commitment
    assert json.loads(request.data) == {
        "draw_id": rows[1].id,
        "commitment": rows[1].commitment,
        "void_draw_id": first.id,
        "reason": "企业名录有误",
    }
    assert people[admins[0]].name in request.actor

    out = await bot.click(admins[0], button(card, "确认重抽"), room=GROUP)
    result = [r for r in out if r.room == GROUP]
    assert len(result) == 1 and result[0].update_of and result[0].card.title == "重新抽取 2027Q1"
    body = result[0].card.body
    assert "已重新抽取" in body and f"抽取号 {first.id}）已作废" in body and "企业名录有误" in body
    async with bot.sf() as s:
        names = [n for (n,) in (await s.execute(select(EnterpriseRow.name))).all()]
        usccs = [u for (u,) in (await s.execute(select(EnterpriseRow.uscc))).all()]
        rows = (await s.execute(select(DrawRow).order_by(DrawRow.id))).scalars().all()
        actions = (
            await s.execute(
                select(AuditRow.action, AuditRow.data)
                .where(AuditRow.id > request.id)
                .order_by(AuditRow.id)
            )
        ).all()
    assert not any(n in body for n in names) and not any(u in body for u in usccs)
    assert [(r.id, r.status) for r in rows] == [(first.id, "void"), (rows[1].id, "valid")]
    assert rows[0].void_reason == "企业名录有误" and rows[0].voided_at is not None
    assert [a for a, _ in actions] == ["draw.void", "draw.run"]
    assert json.loads(actions[1].data)["redraw"] is True

    # each member of the voided draw is told once, naming all their void 编号
    accounts = {p.cert: acc for acc, p in people.items()}
    notices = await _outbox(bot, f"void{first.id}:")
    assert sorted(n.recipient for n in notices) == sorted(accounts[c] for c in old if c in accounts)
    for n in notices:
        cert = people[n.recipient].cert
        text = n.payload["text"]
        assert "企业名录有误" in text and "作废" in text
        assert {int(x) for x in text.split("编号 ")[1].split("）")[0].split("、")} == old[cert]
    assert f"原检查组 {len(notices)} 人已收到作废通知" in body
    # the new teams get their cards through the outbox, after the notices
    new_cards = await _outbox(bot, f"draw{rows[1].id}:")
    assert new_cards and all(c.payload["card"] for c in new_cards)
    assert max(n.id for n in notices) < min(c.id for c in new_cards)
    assert {c.recipient for c in new_cards} <= set(people)

    # the same card again: refused, nothing changes
    before = await _state(bot)
    for label in ("确认重抽", "取消"):
        again = await bot.click(admins[1], button(card, label), room=GROUP)
        assert "已经处理过" in texts(again)
    assert await _state(bot) == before


async def test_redraw_refusals_change_nothing(bot):
    people, admins, inspectors = await _roles(bot)
    before = await _state(bot)
    said = texts(await bot.group(admins[0], "重抽 2027Q1 理由"))  # never drawn
    assert "还没有有效的抽取结果" in said and "请发送“抽查 2027Q1”" in said
    assert await _state(bot) == before  # no task was created
    assert "用法：重抽" in texts(await bot.say(admins[0], "重抽"))
    assert "只有管理员" in texts(await bot.say(inspectors[0], "重抽 2027Q1 理由"))

    await _draw(bot, admins[0])
    before = await _state(bot)
    said = texts(await bot.say(admins[0], "重抽 2027Q1"))  # no reason
    assert "必须说明理由" in said and "重抽 2027Q1 企业名录有误" in said and "--" not in said
    assert "过长" in texts(await bot.say(admins[0], "重抽 2027Q1 " + "长" * 201))
    assert await _state(bot) == before

    # a card issued, then the task published: confirming is refused
    card = cards(await bot.say(admins[0], "重抽 2027Q1 名录有误"))[0]
    async with bot.sf() as s, s.begin():
        await s.execute(update(TaskRow).where(TaskRow.id == "2027Q1").values(status="published"))
    before = await _state(bot)
    out = texts(await bot.click(admins[0], button(card, "确认重抽")))
    assert "已公示" in out and "不能重新抽取" in out
    assert await _state(bot) == before
    assert "已公示" in texts(await bot.say(admins[0], "重抽 2027Q1 名录有误"))
    assert await _state(bot) == before
    async with bot.sf() as s, s.begin():  # the command line's path refuses it as well
        with pytest.raises(DomainError) as exc:
            await draws.run(
                s, bot.settings, "2027Q1", "test", bot.clock.now, redraw=True, reason="名录有误"
            )
    assert exc.value.code == "redraw_published"


async def test_cancel_then_a_new_request_with_public_entropy(bot):
    people, admins, inspectors = await _roles(bot)
    await _draw(bot, admins[0])
    async with bot.sf() as s:
        first = await s.scalar(select(DrawRow).where(DrawRow.status == "valid"))
    card = cards(await bot.say(admins[0], "重抽 2027Q1 名录有误"))[0]
    out = await bot.click(admins[0], button(card, "取消"))
    assert "已取消，未重新抽取" in texts(out) and out[0].update_of
    before = await _state(bot)
    assert "已经处理过" in texts(await bot.click(admins[0], button(card, "确认重抽")))
    assert await _state(bot) == before
    async with bot.sf() as s:
        assert (await s.get(DrawRow, first.id)).status == "valid"

    # asked again: a new card (the commitment recorded earlier is still the one to use)
    card = cards(await bot.group(admins[1], "重抽 2027Q1 名录有误，重新核对后再抽"))[0]
    said = texts(await bot.group(admins[1], "随机数 2027Q1 3-5-2-6"))
    assert "请点击“确认重抽”" in said
    await bot.click(admins[1], button(card, "确认重抽"), room=GROUP)
    async with bot.sf() as s:
        rows = (await s.execute(select(DrawRow).order_by(DrawRow.id))).scalars().all()
    assert [r.status for r in rows] == ["void", "valid"]
    assert rows[1].entropy == "3-5-2-6" and rows[1].commitment in card.body
    assert rows[0].void_reason == "名录有误，重新核对后再抽"
    async with bot.sf() as s:
        actions = (
            (
                await s.execute(
                    select(AuditRow.action)
                    .where(AuditRow.subject == "2027Q1")
                    .order_by(AuditRow.id)
                )
            )
            .scalars()
            .all()
        )
    assert actions.count("draw.redraw_request") == 2 and "draw.redraw_cancel" in actions


async def test_the_command_line_redraw_tells_the_voided_teams_too(bot):
    people, admins, _ = await _roles(bot)
    await _draw(bot, admins[0])
    async with bot.sf() as s:
        first = await s.scalar(select(DrawRow).where(DrawRow.status == "valid"))
    old = await _members(bot, first.id)
    async with bot.sf() as s, s.begin():  # what `ssj draw run --redraw --reason` calls
        await draw_flow.run_and_notify(
            s, bot.settings, "2027q1", "cli", bot.clock.now, redraw=True, reason="名录有误"
        )
    accounts = {p.cert for p in people.values()}
    notices = await _outbox(bot, f"void{first.id}:")
    assert len(notices) == len([c for c in old if c in accounts])


# --- 发布计划 -------------------------------------------------------------------------------


async def test_publish_the_plan_by_chat(bot):
    people, admins, inspectors = await _roles(bot)
    for bad in ("发布计划", "发布计划 明年", "发布计划 27", "发布计划 2027 2028"):
        assert "用法：发布计划 年份" in texts(await bot.say(admins[0], bad))
    said = texts(await bot.say(admins[0], "发布计划 2027"))
    assert "还没有 2027 年的计划草案" in said and "ssj" not in said and "--" not in said
    assert "只有管理员" in texts(await bot.say(inspectors[0], "发布计划 2027"))
    async with bot.sf() as s, s.begin():
        draft = await plan_svc.make(s, bot.settings, 2027, "test", now=localtime.now())

    out = texts(await bot.group(admins[0], "发布计划 2027年"))
    assert "2027 年计划已发布" in out and people[admins[0]].name in out
    assert f"全年计划抽查 {draft['totals']['objects']} 家、{draft['totals']['visits']} 家次" in out
    assert "第1季度" in out and "第4季度" in out and "/public/plans/2027" in out
    async with bot.sf() as s:
        row = await s.get(PlanRow, 2027)
        audit = (
            (await s.execute(select(AuditRow).where(AuditRow.action == "plan.publish")))
            .scalars()
            .all()
        )
    assert row.status == "published" and people[admins[0]].cert in row.published_by
    assert len(audit) == 1 and people[admins[0]].cert in audit[0].actor
    before = await _state(bot)
    assert "已经发布" in texts(await bot.say(admins[1], "发布计划 2027"))
    assert await _state(bot) == before


async def test_help_lists_the_new_commands_for_supervisors_only(bot):
    _, admins, inspectors = await _roles(bot)
    mine = texts(await bot.say(admins[0], "帮助"))
    assert "重抽 任务编号 理由" in mine and "发布计划 年份" in mine and "17:00 汇总" in mine
    theirs = texts(await bot.say(inspectors[0], "帮助"))
    assert "重抽" not in theirs and "发布计划" not in theirs
