"""进度: counts of a task's draw, acceptance and results. Counts only: safe in a group."""

from __future__ import annotations

from bot.services import progress as progress_svc
from bot.text import render, t

from .router import Ctx, Router

router = Router("progress")


@router.command("进度", admin=True)
async def show(ctx: Ctx, rest: str) -> None:
    task_id = (
        rest.split()[0].upper() if rest.strip() else await progress_svc.latest_task(ctx.session)
    )
    if not task_id:
        ctx.reply(t("chat.no_draws_yet"))
        return
    report = await progress_svc.report(ctx.session, task_id)
    ctx.reply(render("chat/progress.j2", r=report).strip())
