"""回避: an inspector asks (text or button), every 管理员 decides, everyone affected is told."""
from __future__ import annotations

from bot import keys
from bot.messages import Button, Card
from bot.services import assignments, dialogues, notify, people, recusals
from bot.text import render, t

from .router import Ctx, Router

router = Router("recusal")
REASON = "recusal_reason"


@router.command("回避", private_only=True)
async def ask(ctx: Ctx, rest: str) -> None:
    ref_text, _, reason = rest.partition(" ")
    if not ref_text.strip().isdigit():
        ctx.reply(t("chat.recusal_usage"))
        return
    ref = int(ref_text)
    await assignments.load(ctx.session, ref, ctx.person.cert)
    if not reason.strip():
        await _ask_reason(ctx, ref)
        return
    await _submit(ctx, ref, reason.strip())


@router.button(keys.RECUSE)
async def button(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    await assignments.load(ctx.session, ref, ctx.person.cert)
    await _ask_reason(ctx, ref)


async def _ask_reason(ctx: Ctx, ref: int) -> None:
    await dialogues.save(ctx.session, ctx.inbound.user, REASON, {"ref": ref}, ctx.now)
    ctx.reply(t("chat.recusal_ask_reason", ref=ref))


async def reason_step(ctx: Ctx, state: dict, text: str) -> None:
    await dialogues.clear(ctx.session, ctx.inbound.user)
    if not text.strip():
        ctx.reply(t("chat.recusal_ask_reason", ref=state["ref"]))
        return
    await _submit(ctx, state["ref"], text.strip())


async def _submit(ctx: Ctx, ref: int, reason: str) -> None:
    a = await assignments.load(ctx.session, ref, ctx.person.cert)
    rec = await recusals.request(ctx.session, a.task_id, a.uscc, ctx.person.cert, reason,
                                 f"{ctx.person.name}({ctx.person.cert})")
    body = render("chat/recusal_request.j2", a=a, who=ctx.person, reason=reason).strip()
    card = Card(t("chat.recusal_card_title", id=rec.id), body,
                (Button(keys.make(keys.RECUSAL_OK, rec.id), t("chat.btn_approve")),
                 Button(keys.make(keys.RECUSAL_NO, rec.id), t("chat.btn_reject"))), ref)
    ctx.replies.extend(await notify.to_admins(ctx.session, card=card, dedupe=f"rec{rec.id}"))
    ctx.reply(t("chat.recusal_submitted", ref=ref))


@router.button(keys.RECUSAL_OK, admin=True)
async def approve(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, True)


@router.button(keys.RECUSAL_NO, admin=True)
async def reject(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, False)


async def _decide(ctx: Ctx, key: str, approve_it: bool) -> None:
    _, rec_id = keys.parse(key)
    before = await recusals.pending_team(ctx.session, rec_id)
    rec, changed = await recusals.decide(ctx.session, rec_id, approve_it,
                                         f"{ctx.person.name}({ctx.person.cert})")
    requester = (await people.by_certs(ctx.session, [rec.cert])).get(rec.cert)
    ref = before["ref"]
    verdict = "chat.recusal_approved" if approve_it else "chat.recusal_rejected"
    if requester and requester.msg_account:
        ctx.send(requester.msg_account, t(verdict, ref=ref, reason=rec.reason))
    ctx.reply(card=Card(t("chat.recusal_card_title", id=rec.id),
                        t("chat.recusal_decided", id=rec.id, approved=approve_it,
                          by=ctx.person.name), ref=ref), update=True)
    if not approve_it:
        return
    for ref_changed, old in (await recusals.affected(ctx.session, rec, before)).items():
        a = await assignments.load(ctx.session, ref_changed)
        now_certs = {c for c, _, _ in a.team}
        new_members = now_certs - set(old)
        ctx.replies.extend(await notify.assignment_messages(
            ctx.session, ref_changed, certs=new_members, tag=f"rec{rec.id}"))
        for cert, _name, account in a.team:
            if cert in old and account and cert != rec.cert:
                ctx.send(account, t("chat.team_changed", ref=ref_changed))


DIALOGUES = {REASON: reason_step}
