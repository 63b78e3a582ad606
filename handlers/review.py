"""审核: one list card of the results awaiting review; 逐条审核 walks one review card
through the queue, 全部通过 approves every result the four-eyes rule lets the 管理员
approve, 退回 asks for the reason.
"""

from __future__ import annotations

from bot import keys
from bot.domain import results as rules
from bot.messages import PRIVATE, Button, Card, Outbound, Person
from bot.services import assignments, dialogues, notify, people
from bot.services import results as svc
from bot.text import render, t

from .results import actor, ttl
from .router import Ctx, Router

router = Router("review")
RETURN = "result_return"
OLDEST = 5


async def _list_card(ctx: Ctx, reviewer: Person) -> Card | None:
    """The list card of results awaiting review, as ``reviewer`` sees it."""
    rows = await svc.pending_review(ctx.session)
    if not rows:
        return None
    mine, others = await svc.split_for(ctx.session, rows, reviewer.cert)
    items = []
    for r in mine[:OLDEST]:
        a = await assignments.load(ctx.session, r.selection_id)
        who = (await people.by_certs(ctx.session, [r.entered_by])).get(r.entered_by)
        items.append(
            {
                "ref": r.selection_id,
                "name": notify.short_name(a.name, ctx.settings.region, 8),
                "who": who.name if who else r.entered_by,
                "since": r.entered_at.strftime("%m-%d") if r.entered_at else "—",
            }
        )
    oldest = rows[0].entered_at.date() if rows[0].entered_at else None
    buttons: tuple[Button, ...] = ()
    if mine:
        buttons = (
            Button(keys.make(keys.REVIEW_LIST_ONE, 0), t("card.btn_review_one")),
            Button(keys.make(keys.REVIEW_LIST_ALL, 0), t("card.btn_review_all")),
        )
    body = render(
        "chat/review_list.j2",
        total=len(rows),
        mine=len(mine),
        others=len(others),
        items=items,
        oldest=oldest,
    ).strip()
    return Card(t("card.review_list_title", count=len(rows)), body, buttons)


def _list_subject(account: str) -> str:
    return f"rl:{account}"


def _queue_subject(account: str) -> str:
    return f"rq:{account}"


@router.command("审核", admin=True)
async def review_list(ctx: Ctx, _rest: str) -> None:
    card = await _list_card(ctx, ctx.me)
    if card is None:
        ctx.reply(t("chat.nothing_to_review"))
        return
    if ctx.inbound.room != PRIVATE:
        ctx.reply(t("chat.review_sent_privately", count=len(await svc.pending_review(ctx.session))))
    ctx.send(ctx.me.account, card=card, subject=_list_subject(ctx.me.account))


async def _queue_card(ctx: Ctx, after_id: int = 0, note: str = "") -> Card:
    """The review card of the oldest result this 管理员 may approve (after ``after_id``
    in the queue's order, wrapping round), or a card saying none is left."""
    rows = await svc.pending_review(ctx.session)
    mine, others = await svc.split_for(ctx.session, rows, ctx.me.cert)
    if not mine:
        return Card(
            t("card.queue_done_title"),
            "\n".join(x for x in (note, t("card.queue_done", others=len(others))) if x),
        )
    ids = [r.id for r in mine]
    pos = next((i for i, r in enumerate(mine) if r.id == after_id), None)
    r = mine[(pos + 1) % len(mine)] if pos is not None else mine[0]
    a = await assignments.load(ctx.session, r.selection_id)
    entered = (await people.by_certs(ctx.session, [r.entered_by])).get(r.entered_by)
    body = render(
        "chat/review.j2",
        a=a,
        r=r,
        who=entered.name if entered else r.entered_by,
        joint=len(a.departments) > 1,
        note=note,
        position=ids.index(r.id) + 1,
        count=len(mine),
    ).strip()
    buttons = [
        Button(keys.make(keys.RESULT_OK, r.id), t("chat.btn_pass")),
        Button(keys.make(keys.RESULT_BACK, r.id), t("chat.btn_return")),
    ]
    if len(mine) > 1:
        buttons.append(Button(keys.make(keys.REVIEW_NEXT, r.id), t("card.btn_next")))
    return Card(t("chat.review_title", ref=r.selection_id), body, tuple(buttons), r.selection_id)


async def _refresh_review_cards(ctx: Ctx, note: str = "") -> None:
    """Every 管理员's list card and the acting one's review card, as they stand now."""
    me = ctx.me.account
    ctx.replies.append(
        Outbound(
            me, card=await _queue_card(ctx, note=note), subject=_queue_subject(me), refresh=True
        )
    )
    for admin in await people.admins(ctx.session):
        account = admin.account
        card = await _list_card(ctx, admin) or Card(
            t("card.review_list_title", count=0), t("chat.nothing_to_review")
        )
        ctx.replies.append(
            Outbound(account, card=card, subject=_list_subject(account), refresh=True)
        )


@router.button(keys.REVIEW_LIST_ONE, admin=True)
async def review_one(ctx: Ctx, _key: str) -> None:
    ctx.send(ctx.me.account, card=await _queue_card(ctx), subject=_queue_subject(ctx.me.account))


@router.button(keys.REVIEW_NEXT, admin=True)
async def review_next(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    ctx.replies.append(
        Outbound(
            ctx.me.account,
            card=await _queue_card(ctx, result_id),
            subject=_queue_subject(ctx.me.account),
            refresh=True,
        )
    )


async def _still_pending(ctx: Ctx, result_id: int):
    """The result, if it still awaits review; otherwise the 管理员 hears its state."""
    row = await svc.result(ctx.session, result_id)
    if row.status == rules.State.PENDING.value:
        return row
    ctx.reply(t("card.review_stale", ref=row.selection_id, status=row.status))
    await _refresh_review_cards(ctx)
    return None


async def _after_review(ctx: Ctx, row, approved: bool, reason: str = "") -> None:
    ref = row.selection_id
    a = await assignments.load(ctx.session, ref)
    dept = [c for c, d in a.member_department.items() if d == row.department]
    enterer = row.entered_by
    texts = {enterer: t("card.status_approved", ref=ref)} if approved else {}
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, set(dept), texts))
    if not approved:  # a return asks the enterer to act: a message of its own
        p = (await people.by_certs(ctx.session, [enterer])).get(enterer)
        if p and p.msg_account:
            ctx.send(p.msg_account, t("chat.result_returned", ref=ref, reason=reason))


@router.button(keys.RESULT_OK, admin=True)
async def approve(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    row = await _still_pending(ctx, result_id)
    if row is None:
        return
    row = await svc.review_row(ctx.session, row, True, ctx.me.cert, ctx.now, actor(ctx))
    await _after_review(ctx, row, True)
    await _refresh_review_cards(ctx, t("chat.review_done", ref=row.selection_id, approved=True))


@router.button(keys.REVIEW_OK, admin=True)
async def approve_by_ref(ctx: Ctx, key: str) -> None:
    """A card sent before results were kept per department: 编号 names the object."""
    _, ref = keys.parse(key)
    row = await svc.review(ctx.session, ref, True, ctx.me.cert, ctx.now, actor(ctx))
    await _after_review(ctx, row, True)
    await _refresh_review_cards(ctx, t("chat.review_done", ref=ref, approved=True))


@router.button(keys.RESULT_BACK, admin=True)
async def back(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    row = await _still_pending(ctx, result_id)
    if row is None:
        return
    await svc.four_eyes(ctx.session, row, ctx.me.cert)
    await dialogues.save(
        ctx.session,
        ctx.inbound.user,
        RETURN,
        {"ref": row.selection_id, "result": row.id},
        ctx.now,
        ttl(ctx),
    )
    ctx.reply(t("chat.return_ask_reason", ref=row.selection_id))


@router.button(keys.REVIEW_BACK, admin=True)
async def back_by_ref(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    row = await svc.pick(ctx.session, ref)
    await dialogues.save(
        ctx.session, ctx.inbound.user, RETURN, {"ref": ref, "result": row.id}, ctx.now, ttl(ctx)
    )
    ctx.reply(t("chat.return_ask_reason", ref=ref))


async def return_step(ctx: Ctx, st: dict, text: str) -> None:
    if not text.strip():
        ctx.reply(t("chat.return_ask_reason", ref=st["ref"]))
        return
    if st.get("result"):
        row = await svc.review_by_id(
            ctx.session, st["result"], False, ctx.me.cert, ctx.now, actor(ctx), reason=text
        )
    else:  # a dialogue saved before results were kept per department
        row = await svc.review(
            ctx.session, st["ref"], False, ctx.me.cert, ctx.now, actor(ctx), reason=text
        )
    await dialogues.clear(ctx.session, ctx.inbound.user)
    ctx.reply(t("chat.review_done", ref=st["ref"], approved=False))
    await _after_review(ctx, row, False, text.strip())
    await _refresh_review_cards(ctx, t("chat.review_done", ref=st["ref"], approved=False))


@router.button(keys.REVIEW_LIST_ALL, admin=True)
async def approve_all_ask(ctx: Ctx, _key: str) -> None:
    rows = await svc.pending_review(ctx.session)
    mine, others = await svc.split_for(ctx.session, rows, ctx.me.cert)
    if not mine:
        ctx.reply(t("card.queue_done", others=len(others)))
        return
    top = max(r.id for r in mine)
    ctx.reply(
        card=Card(
            t("card.all_title", count=len(mine)),
            t("card.all_body", count=len(mine), others=len(others)),
            (
                Button(
                    keys.make_parts(keys.REVIEW_ALL_OK, len(mine), top),
                    t("card.btn_all_ok", count=len(mine)),
                ),
                Button(keys.make(keys.REVIEW_ALL_NO, 0), t("chat.btn_draw_no")),
            ),
        ),
        update=True,
    )


@router.button(keys.REVIEW_ALL_OK, admin=True)
async def approve_all(ctx: Ctx, key: str) -> None:
    _count, top = (keys.parse_int(p) for p in keys.parse_parts(key, 2))
    rows = [r for r in await svc.pending_review(ctx.session) if r.id <= top]
    mine, others = await svc.split_for(ctx.session, rows, ctx.me.cert)
    done = []
    for r in mine:  # each approval checked and audited on its own
        row = await svc.review_row(ctx.session, r, True, ctx.me.cert, ctx.now, actor(ctx))
        await _after_review(ctx, row, True)
        done.append(row.selection_id)
    left = [r.selection_id for r in others]
    ctx.reply(
        card=Card(
            t("card.all_done_title", count=len(done)),
            t("card.all_done", count=len(done), left=left),
        ),
        update=True,
    )
    await _refresh_review_cards(ctx)


@router.button(keys.REVIEW_ALL_NO, admin=True)
async def approve_all_cancel(ctx: Ctx, _key: str) -> None:
    ctx.reply(card=Card(t("card.all_title_cancelled"), t("card.all_cancelled")), update=True)


DIALOGUES = {RETURN: return_step}
