"""信用风险分类 on the cards: a class-A object's card suggests 非现场检查 (第十五条) and its
team may record one, whatever its 环境信用评级; other classes keep the earlier rule. The
supervisor's review card says why the object was drawn."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.domain import results as rules
from bot.domain.model import DomainError
from bot.services import assignments, draws, notify
from bot.services import results as results_svc
from storage.models import EnterpriseRow

SUGGESTION = "建议采用非现场检查"


async def test_class_a_cards_suggest_offsite_and_allow_it(bot):
    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        await draws.run(s, bot.settings, "2027Q1", "test", now)
        _, row = await draws.valid_draw(s, "2027Q1")
        sels = await draws.current_selections(s, row)
    a_ref, a_sel = next((ref, sel) for ref, sel in sels if sel.risk_class == "A")
    b_ref, b_sel = next((ref, sel) for ref, sel in sels if sel.risk_class in "BCD")
    # the library no longer gives the class-A object anything that allows 非现场 itself
    async with bot.sf() as s, s.begin():
        await s.execute(
            update(EnterpriseRow)
            .where(EnterpriseRow.uscc.in_([a_sel.uscc, b_sel.uscc]))
            .values(credit_rating="", performance_grade="", positive_list=False)
        )
    async with bot.sf() as s:
        a = await assignments.load(s, a_ref)
        b = await assignments.load(s, b_ref)
    assert (a.risk_class, a.offsite_ok) == ("A", True)
    assert not b.offsite_ok
    card = notify.assignment_card(a, a_sel.inspectors[0])
    assert SUGGESTION in card.body and "A 类" in card.body and "也可选择现场检查" in card.body
    lines = card.body.splitlines()
    assert lines[lines.index(next(x for x in lines if x.startswith(SUGGESTION))) + 1].startswith(
        "完成期限"
    )
    assert SUGGESTION not in notify.assignment_card(b, b_sel.inspectors[0]).body

    offsite = rules.Draft(rules.Conclusion.NONE_FOUND, now.date(), rules.Mode.OFFSITE)
    async with bot.sf() as s, s.begin():
        row = await results_svc.submit(s, a_ref, a_sel.inspectors[0], offsite, now, "t")
        assert row.mode == "非现场检查"
    with pytest.raises(DomainError) as err:
        async with bot.sf() as s, s.begin():
            await results_svc.submit(s, b_ref, b_sel.inspectors[0], offsite, now, "t")
    assert err.value.code == "offsite_not_allowed"
    # an on-site inspection of a class-A object stays possible
    onsite = rules.Draft(rules.Conclusion.NONE_FOUND, now.date(), rules.Mode.ONSITE)
    c_ref, c_sel = next(
        ((ref, sel) for ref, sel in sels if sel.risk_class == "A" and ref != a_ref), (None, None)
    )
    if c_ref is not None:
        async with bot.sf() as s, s.begin():
            assert (
                await results_svc.submit(s, c_ref, c_sel.inspectors[0], onsite, now, "t")
            ).mode == "现场检查"


async def test_the_review_card_says_why_the_object_was_drawn(bot):
    from bot.text import render

    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        await draws.run(s, bot.settings, "2027Q1", "test", now)
        _, row = await draws.valid_draw(s, "2027Q1")
        ref, sel = (await draws.current_selections(s, row))[0]
        a = await assignments.load(s, ref)
        draft = rules.Draft(rules.Conclusion.NONE_FOUND, now.date())
        r = await results_svc.submit(s, ref, sel.inspectors[0], draft, now, "t")
    body = render("chat/review.j2", a=a, r=r, who="某", position=1, count=1, joint=False, note="")
    assert f"信用风险分类：{sel.risk_class} 类，抽取依据：" in body
    assert {"coverage": "覆盖要求", "stratum": "风险分层", "floor": "抽查比例下限"}[
        sel.reason
    ] in body
