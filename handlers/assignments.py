"""An inspector's own assignments: 我的任务, and 接收 on the card."""
from __future__ import annotations

from bot import keys
from bot.services import assignments, notify
from bot.text import t

from .router import Ctx, Router

router = Router("assignments")


@router.command("我的任务", "任务", private_only=True)
async def my_tasks(ctx: Ctx, _rest: str) -> None:
    refs = await assignments.mine(ctx.session, ctx.person.cert)
    if not refs:
        ctx.reply(t("chat.no_assignments"))
        return
    ctx.reply(t("chat.assignments_intro", count=len(refs)))
    for ref in refs:
        a = await assignments.load(ctx.session, ref, ctx.person.cert)
        ctx.reply(card=notify.assignment_card(a, ctx.person.cert))


@router.button(keys.ACCEPT)
async def accept(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    first = await assignments.accept(ctx.session, ref, ctx.person.cert, ctx.now)
    a = await assignments.load(ctx.session, ref, ctx.person.cert)
    if first:
        ctx.reply(card=notify.assignment_card(a, ctx.person.cert), update=True)
        ctx.reply(t("chat.accepted", ref=ref))
    else:
        ctx.reply(t("chat.already_accepted", ref=ref))
