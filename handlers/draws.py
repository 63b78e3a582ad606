"""抽查: a supervisor prepares a draw (commitment), may add public entropy, confirms.

重抽 <任务> <理由> is the same for a task already drawn: the commitment of the new draw is
recorded and shown on a card with what the redraw would void (确认重抽 / 取消); 确认重抽
runs the one draw path with ``redraw=True`` (the earlier draw stays, marked void). The
card's buttons name the audit entry of the request (``draw.redraw_request``, which holds
the reason), so each card is decided once: 取消 is recorded as ``draw.redraw_cancel``,
and a card whose draw was since voided or replaced is answered "already handled".
"""

from __future__ import annotations

from bot import keys
from bot.domain.status import DrawStatus
from bot.messages import Button, Card
from bot.services import draw_cards, draw_flow, draws
from bot.text import render, t

from .router import Ctx, Router

router = Router("draws")
REDRAW_OK, REDRAW_NO = "rdo", "rdn"  # redraw confirmation (id = the request's audit id)
REASON_LIMIT = 200


def _actor(ctx: Ctx) -> str:
    return f"{ctx.me.name}({ctx.me.cert})"


@router.command("抽查", "抽取", admin=True)
async def prepare(ctx: Ctx, rest: str) -> None:
    if not rest:
        ctx.reply(t("chat.draw_usage"))
        return
    task_id = rest.split()[0].upper()
    row = await draws.prepare(ctx.session, ctx.settings, task_id, _actor(ctx), ctx.today)
    ctx.reply(card=_confirm_card(task_id, row))


def _confirm_card(task_id: str, row) -> Card:
    return Card(
        t("chat.draw_card_title", task=task_id),
        render("chat/draw_confirm.j2", task=task_id, row=row).strip(),
        (
            Button(keys.make(keys.DRAW_OK, row.id), t("chat.btn_draw_ok")),
            Button(keys.make(keys.DRAW_NO, row.id), t("chat.btn_draw_no")),
        ),
    )


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
    redraw = await draw_cards.has_valid_draw(ctx.session, task_id)
    ctx.reply(
        t(
            "admin.entropy_recorded_redraw" if redraw else "chat.entropy_recorded",
            task=task_id,
            entropy=row.entropy,
        )
    )


@router.button(keys.DRAW_OK, admin=True)
async def confirm(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, run=True)


@router.button(keys.DRAW_NO, admin=True)
async def cancel(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, run=False)


async def _decide(ctx: Ctx, key: str, run: bool) -> None:
    """确认 runs the prepared draw, 取消 records that it was not run; a card decided
    already is answered so."""
    _, draw_id = keys.parse(key)
    row = await draws.draw_by_id(ctx.session, draw_id)
    if row.status != DrawStatus.PREPARED:
        ctx.reply(t("chat.draw_already_handled", task=row.task_id), update=False)
        return
    if not run:
        await draw_cards.cancel(ctx.session, row, _actor(ctx))
        body = t("chat.draw_cancelled", task=row.task_id)
    else:
        done = await draw_flow.run_and_notify(
            ctx.session, ctx.settings, row.task_id, _actor(ctx), ctx.now, row.entropy
        )
        sels = [s for _, s in await draws.current_selections(ctx.session, done)]
        # one group message: the confirmation card becomes the result (counts only, no
        # names); messengers whose group replies are single-use (WeCom's 智能机器人) need
        # no second one
        body = render(
            "chat/draw_counts.j2",
            task=row.task_id,
            counts=draw_flow.counts(sels),
            total=len(sels),
            commitment=done.commitment,
        ).strip()
    ctx.reply(card=Card(t("chat.draw_card_title", task=row.task_id), body), update=True)


# --- 重抽 -----------------------------------------------------------------------------------


@router.command("重抽", "重新抽取", admin=True)
async def redraw(ctx: Ctx, rest: str) -> None:
    parts = rest.split(maxsplit=1)
    if not parts:
        ctx.reply(t("admin.redraw_usage"))
        return
    task_id, reason = parts[0].upper(), (parts[1] if len(parts) > 1 else "").strip()
    if len(reason) > REASON_LIMIT:
        ctx.reply(t("admin.redraw_reason_too_long", limit=REASON_LIMIT))
        return
    req = await draw_cards.request_redraw(ctx.session, task_id, reason, _actor(ctx))
    valid = req.valid
    body = render(
        "chat/redraw_confirm.j2",
        task=valid.task_id,
        valid=valid,
        row=req.row,
        total=req.total,
        drawn_on=req.drawn_on,
        reason=reason,
    )
    ctx.reply(
        card=Card(
            t("admin.redraw_card_title", task=valid.task_id),
            body.strip(),
            (
                Button(keys.make(REDRAW_OK, req.request_id), t("admin.btn_redraw_ok")),
                Button(keys.make(REDRAW_NO, req.request_id), t("admin.btn_redraw_no")),
            ),
        )
    )


@router.button(REDRAW_OK, admin=True)
async def confirm_redraw(ctx: Ctx, key: str) -> None:
    await _decide_redraw(ctx, key, run=True)


@router.button(REDRAW_NO, admin=True)
async def cancel_redraw(ctx: Ctx, key: str) -> None:
    await _decide_redraw(ctx, key, run=False)


async def _decide_redraw(ctx: Ctx, key: str, run: bool) -> None:
    """确认重抽 runs the redraw, 取消 records the request as cancelled; either only while
    the request behind the card is still to be decided (else it is answered)."""
    _, request_id = keys.parse(key)
    req = await draw_cards.open_request(ctx.session, request_id)
    if req.stale:
        ctx.reply(t("chat.stale_button"))
        return
    task_id = req.task_id
    if req.handled:
        ctx.reply(t("admin.redraw_already_handled", task=task_id))
        return
    if not run:
        await draw_cards.cancel_redraw(ctx.session, req, _actor(ctx))
        body = t("admin.redraw_cancelled", task=task_id)
    else:
        prepared = await draws.draw_by_id(ctx.session, req.draw_id)
        voided = await draws.draw_by_id(ctx.session, req.void_draw_id)
        done = await draw_flow.run_and_notify(
            ctx.session,
            ctx.settings,
            task_id,
            _actor(ctx),
            ctx.now,
            prepared.entropy,
            redraw=True,
            reason=req.reason,
        )
        told = len(await draw_flow.void_notices(ctx.session, voided, req.reason))
        sels = [s for _, s in await draws.current_selections(ctx.session, done)]
        # counts only, in a group or not: before publication the drawn objects are secret
        body = render(
            "chat/redraw_done.j2",
            task=task_id,
            counts=draw_flow.counts(sels),
            total=len(sels),
            void_id=voided.id,
            reason=req.reason,
            told=told,
            commitment=done.commitment,
        ).strip()
    ctx.reply(card=Card(t("admin.redraw_card_title", task=task_id), body), update=True)
