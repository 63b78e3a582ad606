"""Regression: a draw made in the chat was dated by the server's wall clock even when the
dispatcher's clock is injected. Its time (``drawn_at``) and the void time of the draw a
redraw replaces (``voided_at``) are now the dispatcher's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.messages import GROUP
from storage.models import DrawRow

from .harness import button, cards


async def _admin(bot) -> str:
    people = await bot.people()
    return sorted(a for a, p in people.items() if p.role == "管理员")[0]


async def test_a_chat_draw_and_its_redraw_are_dated_by_the_dispatcher_clock(bot):
    admin = await _admin(bot)
    drawn = bot.clock.now
    card = cards(await bot.group(admin, "抽查 2027Q1"))[0]
    await bot.click(admin, button(card, "确认抽取"), room=GROUP)
    async with bot.sf() as s:
        first = await s.scalar(select(DrawRow).where(DrawRow.status == "valid"))
    assert first.drawn_at == drawn

    bot.clock.advance(days=3, hours=2)
    card = cards(await bot.group(admin, "重抽 2027Q1 企业名录有误"))[0]
    await bot.click(admin, button(card, "确认重抽"), room=GROUP)
    async with bot.sf() as s:
        rows = (await s.execute(select(DrawRow).order_by(DrawRow.id))).scalars().all()
    assert [r.status for r in rows] == ["void", "valid"]
    assert rows[0].drawn_at == drawn
    assert rows[0].voided_at == rows[1].drawn_at == drawn + timedelta(days=3, hours=2)
