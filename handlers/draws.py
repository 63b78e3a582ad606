"""抽查: a supervisor prepares a draw (commitment), may add public entropy, confirms."""
from __future__ import annotations

from bot import keys
from bot.messages import Button, Card
from bot.services import draw_flow, draws
from bot.text import render, t
from storage import audit

from .router import Ctx, Router

router = Router("draws")


def _actor(ctx: Ctx) -> str:
    return f"{ctx.person.name}({ctx.person.cert})"


@router.command("抽查", "抽取", admin=True)
async def prepare(ctx: Ctx, rest: str) -> None:
    if not rest:
        ctx.reply(t("chat.draw_usage"))
        return
    task_id = rest.split()[0].upper()
    row = await draws.prepare(ctx.session, ctx.settings, task_id, _actor(ctx))
    ctx.reply(card=_confirm_card(task_id, row))


def _confirm_card(task_id: str, row) -> Card:
    return Card(t("chat.draw_card_title", task=task_id),
                render("chat/draw_confirm.j2", task=task_id, row=row).strip(),
                (Button(keys.make(keys.DRAW_OK, row.id), t("chat.btn_draw_ok")),
                 Button(keys.make(keys.DRAW_NO, row.id), t("chat.btn_draw_no"))))


@router.command("随机数", "公开随机数", admin=True)
async def entropy(ctx: Ctx, rest: str) -> None:
    """Public entropy, given after the commitment was shown: ``随机数 [任务] 内容``."""
    parts = rest.split(maxsplit=1)
    prepared = await draws.prepared_draws(ctx.session)
    if parts and len(parts) == 2 and any(r.task_id == parts[0].upper() for r in prepared):
        task_id, text = parts[0].upper(), parts[1]
    elif len(prepared) == 1 and rest:
        task_id, text = prepared[0].task_id, rest
    else:
        ctx.reply(t("chat.entropy_usage"))
        return
    row = await draws.set_entropy(ctx.session, task_id, text, _actor(ctx))
    ctx.reply(t("chat.entropy_recorded", task=task_id, entropy=row.entropy))


@router.button(keys.DRAW_OK, admin=True)
async def confirm(ctx: Ctx, key: str) -> None:
    _, draw_id = keys.parse(key)
    row = await draws.draw_by_id(ctx.session, draw_id)
    if row.status != "prepared":
        ctx.reply(t("chat.draw_already_handled", task=row.task_id), update=False)
        return
    done = await draw_flow.run_and_notify(ctx.session, ctx.settings, row.task_id, _actor(ctx),
                                          ctx.today, row.entropy)
    sels = [s for _, s in await draws.current_selections(ctx.session, done)]
    counts = draw_flow.counts(sels)
    # one group message: the confirmation card becomes the result (counts only, no names);
    # messengers whose group replies are single-use (WeCom's 智能机器人) need no second one
    ctx.reply(card=Card(t("chat.draw_card_title", task=row.task_id),
                        render("chat/draw_counts.j2", task=row.task_id, counts=counts,
                               total=len(sels), commitment=done.commitment).strip()),
              update=True)


@router.button(keys.DRAW_NO, admin=True)
async def cancel(ctx: Ctx, key: str) -> None:
    _, draw_id = keys.parse(key)
    row = await draws.draw_by_id(ctx.session, draw_id)
    if row.status != "prepared":
        ctx.reply(t("chat.draw_already_handled", task=row.task_id))
        return
    await audit.append(ctx.session, _actor(ctx), "draw.cancel", row.task_id, {"draw_id": row.id})
    ctx.reply(card=Card(t("chat.draw_card_title", task=row.task_id),
                        t("chat.draw_cancelled", task=row.task_id)), update=True)
