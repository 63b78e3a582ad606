"""回避: an inspector asks (text or button), every 管理员 decides, everyone affected is told."""

from __future__ import annotations

from bot import keys
from bot.domain.status import RecusalStatus
from bot.messages import Button, Card, Outbound
from bot.services import assignments, dialogues, notify, people, recusals
from bot.text import render, t

from .router import Ctx, Router

router = Router("recusal")
REASON = "recusal_reason"


@router.command("回避", private_only=True)
async def ask(ctx: Ctx, rest: str) -> None:
    ref_text, _, reason = rest.partition(" ")
    ref = keys.chat_ref(ref_text)
    if ref is None:
        ctx.reply(t("chat.recusal_usage"))
        return
    await assignments.load(ctx.session, ref, ctx.me.cert)
    if not reason.strip():
        await _ask_reason(ctx, ref)
        return
    await _submit(ctx, ref, reason.strip())


@router.command("对调", private_only=True)
async def ask_swap(ctx: Ctx, rest: str) -> None:
    """对调 编号 对方（姓名或执法证号） 理由: recusal by exchanging objects with a member
    of another team of the same draw (第十二条); the 管理员 decide as for any recusal."""
    parts = rest.split(None, 2)
    ref = keys.chat_ref(parts[0]) if parts else None
    if len(parts) < 3 or ref is None:
        ctx.reply(t("chat.swap_usage"))
        return
    who, reason = parts[1], parts[2].strip()
    await assignments.load(ctx.session, ref, ctx.me.cert)  # refused unless on its team
    partner = await _partner(ctx, ref, who)
    if partner is None:
        return
    await _submit(ctx, ref, reason, partner)


async def _partner(ctx: Ctx, ref: int, who: str) -> recusals.Partner | None:
    """The named member of another team of this draw, or None (the asker is told why)."""
    found = await recusals.swap_partner(ctx.session, ref, who, ctx.me.cert)
    if found.refusal:
        ctx.reply(t(found.refusal, **found.params))
        return None
    return found


@router.button(keys.RECUSE)
async def button(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    from .assignments import current

    if await current(ctx, ref, key) is None:
        return
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


async def _submit(ctx: Ctx, ref: int, reason: str, partner: recusals.Partner | None = None) -> None:
    a = await assignments.load(ctx.session, ref, ctx.me.cert)
    rec = await recusals.request(
        ctx.session,
        a.task_id,
        a.uscc,
        ctx.me.cert,
        reason,
        f"{ctx.me.name}({ctx.me.cert})",
        partner.cert if partner else None,
    )
    body = render(
        "chat/recusal_request.j2", a=a, who=ctx.me, reason=reason, partner=partner
    ).strip()
    card = Card(
        t("chat.recusal_card_title", id=rec.id),
        body,
        (
            Button(keys.make(keys.RECUSAL_OK, rec.id), t("chat.btn_approve")),
            Button(keys.make(keys.RECUSAL_NO, rec.id), t("chat.btn_reject")),
        ),
        ref,
    )
    ctx.replies.extend(
        await notify.to_admins(
            ctx.session, card=card, dedupe=f"rec{rec.id}", subject=f"rec:{rec.id}"
        )
    )
    ctx.reply(
        t("chat.swap_submitted", ref=ref, name=partner.name)
        if partner
        else t("chat.recusal_submitted", ref=ref)
    )


@router.button(keys.RECUSAL_OK, admin=True)
async def approve(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, True)


@router.button(keys.RECUSAL_NO, admin=True)
async def reject(ctx: Ctx, key: str) -> None:
    await _decide(ctx, key, False)


async def _decide(ctx: Ctx, key: str, approve_it: bool) -> None:
    _, rec_id = keys.parse(key)
    before = await recusals.pending_team(ctx.session, rec_id)
    done = await recusals.get(ctx.session, rec_id)
    if done is not None and done.status != RecusalStatus.PENDING:
        # decided already (by another 管理员): say how, bring the card up to date
        by = (done.decided_by or "").split("(")[0]
        approved = done.status == RecusalStatus.APPROVED
        ctx.reply(t("chat.recusal_decided", id=rec_id, approved=approved, by=by))
        ctx.replies.append(
            Outbound(
                ctx.me.account,
                card=Card(
                    t("chat.recusal_card_title", id=rec_id),
                    t("chat.recusal_decided", id=rec_id, approved=approved, by=by),
                    ref=before["ref"],
                ),
                subject=f"rec:{rec_id}",
                refresh=True,
            )
        )
        return
    rec, _changed = await recusals.decide(
        ctx.session, rec_id, approve_it, f"{ctx.me.name}({ctx.me.cert})", ctx.now
    )
    requester = (await people.by_certs(ctx.session, [rec.cert])).get(rec.cert)
    ref = before["ref"]
    if approve_it and rec.swap_with:
        verdict = "chat.swap_approved"
    else:
        verdict = "chat.recusal_approved" if approve_it else "chat.recusal_rejected"
    if requester and requester.msg_account:
        ctx.send(requester.msg_account, t(verdict, ref=ref, reason=rec.reason))
    # every 管理员's copy of the request card shows the decision, without buttons
    decided = Card(
        t("chat.recusal_card_title", id=rec.id),
        t("chat.recusal_decided", id=rec.id, approved=approve_it, by=ctx.me.name),
        ref=ref,
    )
    ctx.replies.extend(
        await notify.to_admins(ctx.session, card=decided, subject=f"rec:{rec.id}", refresh=True)
    )
    if not approve_it:
        return
    for ref_changed, old in (await recusals.affected(ctx.session, rec, before)).items():
        a = await assignments.load(ctx.session, ref_changed)
        now_certs = {c for c, _, _ in a.team}
        new_members = now_certs - set(old)
        ctx.replies.extend(
            await notify.assignment_messages(
                ctx.session, ref_changed, certs=new_members, tag=f"rec{rec.id}"
            )
        )
        stayed = {c for c in old if c in now_certs}
        ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref_changed, stayed))
        for cert, _name, account in a.team:
            if cert in old and account and cert != rec.cert:
                ctx.send(account, t("chat.team_changed", ref=ref_changed))
        gone = [c for c in old if c not in now_certs]
        for cert, row in (await people.by_certs(ctx.session, gone)).items():
            if row.msg_account:  # the card of whoever left the team loses its buttons
                ctx.replies.append(notify.refresh_gone(row.msg_account, ref_changed, cert, a.name))
            if cert != rec.cert and row.msg_account:  # a swap partner
                ctx.send(
                    row.msg_account,
                    t(
                        "chat.swap_moved",
                        ref=ref_changed,
                        name=requester.name if requester else rec.cert,
                    ),
                )


DIALOGUES = {REASON: reason_step}
