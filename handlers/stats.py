"""统计 [year]: the year's statistics for 管理员. Counts only in a group."""

from __future__ import annotations

from bot.messages import GROUP
from bot.services import stats as stats_svc
from bot.text import render, t

from .router import Ctx, Router

router = Router("stats")


@router.command("统计", admin=True)
async def show(ctx: Ctx, rest: str) -> None:
    word = rest.split()[0] if rest.strip() else ""
    if word and not (word.isascii() and word.isdigit() and len(word) == 4):
        ctx.reply(t("stats.bad_year", text=word))
        return
    year = int(word) if word else ctx.now.year
    doc = await stats_svc.stats(ctx.session, ctx.settings, year)
    ctx.reply(render("chat/stats.j2", s=doc, group=ctx.inbound.room == GROUP).strip())
