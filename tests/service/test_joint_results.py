"""Joint tasks end to end (both databases): one draw, every department's team records its
own result, the supervisor approves each department's separately, and the task is
published once, only after every department's results are approved. The public task
page and the public yearly statistics then show the joint inspection."""

from __future__ import annotations

import html
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from bot import localtime
from bot.app import create_app
from bot.domain import results as rules
from bot.domain.model import DomainError
from bot.services import draws, publication, tasks
from bot.services import results as results_svc
from bot.services import stats as stats_svc
from storage.models import InspectorRow
from storage.models_chat import ResultRow
from storage.models_publication import PublicationRow
from storage.models_push import PushMessage

from .harness import reviewer_for, texts

TASK = "2027LH01"
OWN, PARTNER = "生态环境", "市场监管"


async def _joint_draw(bot, count=2):
    async with bot.sf() as s, s.begin():
        await tasks.create_task(
            s,
            bot.settings,
            task_id=TASK,
            kind="joint",
            name="获嘉县2027年第一季度生态环境与市场监管联合抽查",
            year=2027,
            quarter=1,
            departments=PARTNER,
            count=count,
            actor="test",
            today=localtime.today(),
        )
        await draws.run(s, bot.settings, TASK, "test", bot.clock.now)
        admin = await s.scalar(select(InspectorRow.cert).where(InspectorRow.role == "管理员"))
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, TASK)
        return await draws.current_selections(s, row), admin


def _team(sel, dept):
    return next(t.members for t in sel.teams if t.department == dept)


def _draft(conclusion: rules.Conclusion, on: date) -> rules.Draft:
    if conclusion is rules.Conclusion.RECTIFY:
        return rules.Draft(
            conclusion,
            on,
            rules.Mode.ONSITE,
            "未公示食品经营许可信息",
            {"rectification": "公示许可信息", "rectify_by": date(2027, 3, 31)},
        )
    return rules.Draft(conclusion, on, rules.Mode.ONSITE, "", {})


async def _submit(bot, ref, cert, conclusion):
    async with bot.sf() as s, s.begin():
        return await results_svc.submit(
            s, ref, cert, _draft(conclusion, bot.clock.now.date()), bot.clock.now, "t"
        )


async def _approve(bot, ref, admin, department=None):
    async with bot.sf() as s, s.begin():
        return await results_svc.review(
            s, ref, True, await reviewer_for(s, ref), bot.clock.now, "t", department=department
        )


async def _publish(bot):
    async with bot.sf() as s, s.begin():
        return await publication.publish(s, bot.settings, TASK, "管理员甲", bot.clock.now)


async def _result_rows(bot):
    async with bot.sf() as s:
        rows = (await s.execute(select(ResultRow).where(ResultRow.task_id == TASK))).scalars()
        return {
            (r.selection_id, r.department): (r.status, r.conclusion, r.entered_by) for r in rows
        }


async def test_each_department_records_its_own_and_the_task_is_published_once(bot, aiohttp_client):
    sels, admin = await _joint_draw(bot)
    (r0, s0), (r1, s1) = sels
    assert {t.department for _, s in sels for t in s.teams} == {OWN, PARTNER}

    # each department's member records the result of their own team, independently
    own0, partner0 = _team(s0, OWN)[0], _team(s0, PARTNER)[0]
    await _submit(bot, r0, own0, rules.Conclusion.NONE_FOUND)
    await _submit(bot, r0, partner0, rules.Conclusion.RECTIFY)
    await _submit(bot, r1, _team(s1, OWN)[0], rules.Conclusion.NONE_FOUND)
    await _submit(bot, r1, _team(s1, PARTNER)[0], rules.Conclusion.NONE_FOUND)
    rows = await _result_rows(bot)
    assert rows[(r0, OWN)] == ("待审核", "未发现问题", own0)
    assert rows[(r0, PARTNER)] == ("待审核", "发现问题已责令整改", partner0)
    assert len(rows) == 4

    # the member's correction reaches only their own department's result
    with pytest.raises(DomainError) as err:  # already pending: not a second entry
        await _submit(bot, r0, partner0, rules.Conclusion.NONE_FOUND)
    assert err.value.code == "result_not_enterable"
    assert (await _result_rows(bot)) == rows

    # two pending results of one object: the supervisor must say which department's
    with pytest.raises(DomainError) as err:
        await _approve(bot, r0, admin)
    assert err.value.code == "result_which_department"
    assert OWN in err.value.params["departments"] and PARTNER in err.value.params["departments"]
    with pytest.raises(DomainError) as err:
        await _approve(bot, r0, admin, department="应急管理")
    assert err.value.code == "no_result_of_department"
    assert (await _result_rows(bot)) == rows

    for ref in (r0, r1):
        await _approve(bot, ref, admin, department=OWN)
    # one department approved, the other not: publication is refused, naming it
    with pytest.raises(DomainError) as err:
        await _publish(bot)
    assert err.value.code == "publish_incomplete"
    assert err.value.params["missing"] == [
        {"ref": r0, "name": s0.name, "status": "待审核", "department": PARTNER},
        {"ref": r1, "name": s1.name, "status": "待审核", "department": PARTNER},
    ]
    async with bot.sf() as s:
        assert await s.scalar(select(func.count()).select_from(PublicationRow)) == 0
        assert await s.scalar(select(func.count()).select_from(PushMessage)) == 0

    # the last pending one of an object needs no department
    await _approve(bot, r0, admin)
    await _approve(bot, r1, admin, department=PARTNER)
    doc = await _publish(bot)
    with pytest.raises(DomainError) as err:
        await _publish(bot)
    assert err.value.code == "already_published"

    rows = await _result_rows(bot)
    assert {st for st, _, _ in rows.values()} == {"已公示"}
    by_uscc = {o["uscc"]: o for o in doc["objects"]}
    o0, o1 = by_uscc[s0.uscc], by_uscc[s1.uscc]
    # the most serious conclusion any department reached is the object's
    assert o0["conclusion"] == "发现问题已责令整改" and o1["conclusion"] == "未发现问题"
    assert [(r["department"], r["conclusion"]) for r in o0["results"]] == [
        (OWN, "未发现问题"),
        (PARTNER, "发现问题已责令整改"),
    ]
    assert o0["findings"] == f"{PARTNER}：未公示食品经营许可信息"
    assert PARTNER in o0["outcome"] and "公示许可信息" in o0["outcome"]
    assert {t["department"] for t in o0["teams"]} == {OWN, PARTNER}
    assert doc["summary"]["drawn"] == 2 and doc["summary"]["problems_found"] == 1
    assert doc["summary"]["by_conclusion"]["未发现问题"] == 1
    async with bot.sf() as s:
        assert await s.scalar(select(func.count()).select_from(PublicationRow)) == 1
        kinds = [
            k
            for (k,) in (
                await s.execute(
                    select(PushMessage.kind)
                    .where(PushMessage.task_id == TASK)
                    .order_by(PushMessage.seq)
                )
            ).all()
        ]
    assert len(kinds) == 3  # 发布结果, 基础库推送, 任务推送: once

    # the public task page shows each department's result; the yearly statistics count
    # the joint task (published, initiated by this bureau) against the 35 % goal
    client = await aiohttp_client(create_app(bot.settings))
    page = html.unescape(await (await client.get(f"/public/tasks/{TASK}")).text())
    assert f"{PARTNER}：发现问题已责令整改" in page and f"{OWN}：未发现问题" in page
    async with bot.sf() as s:
        pub = await stats_svc.stats(s, bot.settings, 2027, public=True)
    assert pub["tasks"]["joint_initiated"] == 1 and pub["joint"]["ratio"] == 100.0
    assert pub["results"]["by_conclusion"]["发现问题已责令整改"] == 1
    assert pub["completion"] == {"tasks": 1, "complete": 1, "rate": 100.0}
    resp = await client.get("/public/stats/2027")
    assert resp.status == 200
    text = re.sub(r"\s+", " ", html.unescape(await resp.text()))
    assert "本部门发起的联合抽查 1 个" in text and "已达到" in text


async def test_chat_review_of_a_joint_object_names_each_department(bot):
    sels, admin = await _joint_draw(bot, count=1)
    ((ref, sel),) = sels
    own, partner = _team(sel, OWN)[0], _team(sel, PARTNER)[0]
    people = await bot.people()
    account = {p.cert: a for a, p in people.items()}
    for who in (own, partner):  # quick entry, then the confirmation card's 提交
        card = next(
            o.card
            for o in await bot.say(account[who], f"结果 {ref} 1 现场检查未见异常")
            if o.card is not None
        )
        await bot.click(account[who], next(b.key for b in card.buttons if b.text == "提交"))
    async with bot.sf() as s:
        admin = await reviewer_for(s, ref)
    listing = next(o.card for o in await bot.say(account[admin], "审核") if o.card)
    assert "待审核的检查结果 2 条" in listing.title
    one = next(b.key for b in listing.buttons if b.text == "逐条审核")
    first = next(o.card for o in await bot.click(account[admin], one) if o.card)
    seen = [first.body]
    # approving one department's card approves that department's result only; the same
    # review card then shows the other department's
    dept = PARTNER if f"检查组：{PARTNER}" in first.body else OWN
    ok = first.buttons[0].key
    assert ok.startswith("rro:")
    out = await bot.click(account[admin], ok)
    rows = await _result_rows(bot)
    assert rows[(ref, dept)][0] == "已审核"
    assert rows[(ref, OWN if dept == PARTNER else PARTNER)][0] == "待审核"
    nxt = next(
        o.card
        for o in out
        if o.card and o.refresh and o.to == account[admin] and o.card.title.startswith("待审核")
    )
    seen.append(nxt.body)
    assert any(f"检查组：{OWN}" in b for b in seen) and any(f"检查组：{PARTNER}" in b for b in seen)
    # the same click again changes nothing and says where the result stands
    said = texts(await bot.click(account[admin], ok))
    assert "已失效" in said and "已审核" in said
    assert (await _result_rows(bot)) == rows


async def test_a_campaigns_auxiliary_staff_appear_on_the_printed_form(bot, aiohttp_client):
    """辅助人员 went on the visit: the published team and the 一表告知 name them apart."""
    async with bot.sf() as s, s.begin():
        await tasks.create_task(
            s,
            bot.settings,
            task_id="2027ZX01",
            kind="special",
            name="获嘉县2027年第一季度危险废物专项检查",
            year=2027,
            quarter=1,
            count=1,
            auxiliary=1,
            actor="test",
            today=localtime.today(),
        )
        await draws.run(s, bot.settings, "2027ZX01", "test", bot.clock.now)
        admin = await s.scalar(select(InspectorRow.cert).where(InspectorRow.role == "管理员"))
        _, row = await draws.valid_draw(s, "2027ZX01")
        ((ref, sel),) = await draws.current_selections(s, row)
        helper = sel.teams[0].auxiliary[0]
        names = {p.cert: p.name for p in (await s.execute(select(InspectorRow))).scalars()}
    assert len(sel.teams) == 1 and len(sel.teams[0].members) >= 2
    await _submit(bot, ref, sel.teams[0].members[0], rules.Conclusion.NONE_FOUND)
    await _approve(bot, ref, admin)
    async with bot.sf() as s, s.begin():
        doc = await publication.publish(s, bot.settings, "2027ZX01", "管理员甲", bot.clock.now)
    (team,) = doc["objects"][0]["teams"]
    assert team["auxiliary"] == [names[helper]]
    assert names[helper] not in team["inspectors"]
    client = await aiohttp_client(create_app(bot.settings))
    page = html.unescape(await (await client.get(f"/public/forms/2027ZX01/{sel.uscc}")).text())
    assert f"辅助人员：{names[helper]}" in page


async def test_records_published_before_per_department_results_still_render(bot, aiohttp_client):
    """Published documents are served as stored: one written before objects carried
    ``results`` (and teams ``auxiliary``) still renders its pages and forms."""
    sels, admin = await _joint_draw(bot, count=1)
    ((ref, sel),) = sels
    for team in sel.teams:
        await _submit(bot, ref, team.members[0], rules.Conclusion.NONE_FOUND)
        await _approve(bot, ref, admin, department=team.department)
    await _publish(bot)
    async with bot.sf() as s, s.begin():
        row = await s.get(PublicationRow, TASK)
        doc = dict(row.document)
        doc["objects"] = [{k: v for k, v in o.items() if k != "results"} for o in doc["objects"]]
        row.document = doc
    client = await aiohttp_client(create_app(bot.settings))
    page = await client.get(f"/public/tasks/{TASK}")
    form = await client.get(f"/public/forms/{TASK}/{sel.uscc}")
    assert page.status == 200 and form.status == 200
    assert "各部门结果" not in await page.text()


async def test_each_members_card_shows_their_own_departments_state(bot):
    """Cards sent to a whole team (e.g. after a return) show each member's own acceptance
    and own department's result: a partner whose result is approved gets no 录入结果
    button while the bureau's member, who has entered nothing, still does."""
    from bot.services import assignments, notify

    sels, admin = await _joint_draw(bot, count=1)
    ((ref, sel),) = sels
    own, partner = _team(sel, OWN)[0], _team(sel, PARTNER)[0]
    await _submit(bot, ref, partner, rules.Conclusion.NONE_FOUND)
    await _approve(bot, ref, admin, department=PARTNER)
    async with bot.sf() as s, s.begin():
        await assignments.accept(s, ref, partner, bot.clock.now)
        a = await assignments.load(s, ref)
    own_card, partner_card = notify.assignment_card(a, own), notify.assignment_card(a, partner)
    own_keys = [b.key.split(":")[0] for b in own_card.buttons]
    partner_keys = [b.key.split(":")[0] for b in partner_card.buttons]
    assert own_keys == ["acc", "res", "rec"]
    assert partner_keys == []  # approved: nothing left to do on it
    assert "状态：待接收" in own_card.body and "状态：已审核" in partner_card.body
    assert a.result_status == "未录入"  # the object as a whole: not done yet
