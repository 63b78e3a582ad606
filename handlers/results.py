"""Results: ``结果 <编号> <结论> [说明]``, the guided entry behind 录入结果, and 审核.

Every answer is checked when it is given; nothing is submitted before the person has seen
the confirmation card (提交 / 修改 / 放弃). After 提交 the card is the assignment card in
its new state (待审核, with 撤回). Supervisors get no message per submitted result (the
daily digest tells them); ``审核`` answers with one list card: 逐条审核 walks one review
card through the queue, 全部通过 approves every result the four-eyes rule lets them.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot import keys
from bot.domain import results as rules
from bot.domain.model import DomainError
from bot.messages import PRIVATE, Button, Card, Outbound, Person
from bot.services import assignments, dialogues, notify, people
from bot.services import results as svc
from bot.text import domain_message, render, t

from .assignments import current
from .router import Ctx, Router

router = Router("results")
ENTRY, RETURN = "result_entry", "result_return"
SKIP = ("跳过", "无", "没有")
OLDEST = 5
STEPS = ("conclusion", "date", "mode", "findings")


def _actor(ctx: Ctx) -> str:
    return f"{ctx.me.name}({ctx.me.cert})"


def _ttl(ctx: Ctx) -> timedelta:
    return timedelta(minutes=ctx.settings.dialogue_minutes)


# ---- entering a result -------------------------------------------------------------

@router.command("结果", private_only=True)
async def quick(ctx: Ctx, rest: str) -> None:
    parts = rest.split(maxsplit=2)
    ref = keys.chat_ref(parts[0]) if parts else None
    if len(parts) < 2 or ref is None:
        ctx.reply(t("chat.result_usage"))
        return
    await svc.check_entry(ctx.session, ref, ctx.me.cert)   # before anything is asked
    c = rules.parse_conclusion(parts[1])
    st: dict[str, Any] = {"ref": ref, "conclusion": c.value, "date": ctx.today.isoformat(),
          "mode": rules.Mode.ONSITE.value, "findings": parts[2] if len(parts) > 2 else "",
          "followup": {}}
    if st["findings"] == "" and c in (rules.Conclusion.RECTIFY, rules.Conclusion.CASE,
                                      rules.Conclusion.DEPARTMENT, rules.Conclusion.JUDICIAL):
        del st["findings"]   # ask for it rather than refuse at the end
    await _ask(ctx, st)


@router.button(keys.RESULT)
async def start(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    if await current(ctx, ref, key) is None:
        return
    await svc.check_entry(ctx.session, ref, ctx.me.cert)
    await _ask(ctx, {"ref": ref, "followup": {}})


def _next_step(st: dict) -> str:
    for step in STEPS:
        if step not in st:
            return step
    c = rules.Conclusion(st["conclusion"])
    for name in rules.followup_fields(c):
        if name not in st["followup"]:
            return name
    return "confirm"


def _confirm_card(ctx: Ctx, st: dict) -> Card:
    ref = st["ref"]
    return Card(t("chat.result_confirm_title", ref=ref),
                render("chat/result_confirm.j2", st=st).strip(),
                (Button(keys.make(keys.ENTRY_OK, ref), t("chat.btn_submit")),
                 Button(keys.make(keys.ENTRY_EDIT, ref), t("card.btn_edit")),
                 Button(keys.make(keys.ENTRY_NO, ref), t("chat.btn_discard"))), ref)


async def _ask(ctx: Ctx, st: dict) -> None:
    await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now, ttl=_ttl(ctx))
    step = _next_step(st)
    if step == "confirm":
        # a view of the assignment: a later change of the assignment updates it too
        ctx.reply(card=_confirm_card(ctx, st), subject=notify.subject(st["ref"], ctx.me.cert))
    else:
        ctx.reply(t("chat.result_ask", step=step, ref=st["ref"],
                    choices=rules.choices() if step == "conclusion" else []))


async def entry_step(ctx: Ctx, st: dict, text: str) -> None:
    step, text = _next_step(st), text.strip()
    if step == "confirm":
        if text in ("确认", "提交"):
            await _submit(ctx, st)
        else:
            ctx.reply(t("chat.result_confirm_hint"))
        return
    try:
        a = await svc.check_entry(ctx.session, st["ref"], ctx.me.cert)
        _take(st, step, text, ctx.today, a.drawn_on or ctx.today, a.offsite_ok)
        if _next_step(st) == "confirm":   # the whole draft, as the service will check it
            rules.validate(_draft(st), drawn_on=a.drawn_on or ctx.today, today=ctx.today,
                           offsite_ok=a.offsite_ok)
    except DomainError as exc:
        _forget(st, exc)
        await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now, ttl=_ttl(ctx))
        ctx.reply(domain_message(exc, channel="chat"))
        return
    await _ask(ctx, st)


# which answer to ask again when the whole draft fails a rule
_REASK = {"date_in_future": "date", "date_before_draw": "date", "offsite_not_allowed": "mode",
          "rectify_by_not_after": "rectify_by", "findings_required": "findings",
          "findings_too_long": "findings"}


def _forget(st: dict, exc: DomainError) -> None:
    step = exc.params.get("field") if exc.code == "missing_followup" else _REASK.get(exc.code)
    if step in ("date", "mode", "findings"):
        st.pop(step, None)
    elif step:
        st["followup"].pop(step, None)


def _take(st: dict, step: str, text: str, today: date, drawn_on: date,
          offsite_ok: bool) -> None:
    """Record one answer, refusing it at once if it breaks a rule of its own."""
    if step == "conclusion":
        new = rules.parse_conclusion(text).value
        if st.get("conclusion") != new:
            st["followup"] = {}      # another conclusion asks for other follow-ups
        st["conclusion"] = new
    elif step == "date":
        day = rules.parse_date(text, today)
        if day > today:
            raise DomainError("date_in_future", inspected_on=day.isoformat(),
                              today=today.isoformat())
        if day < drawn_on:
            raise DomainError("date_before_draw", inspected_on=day.isoformat(),
                              drawn_on=drawn_on.isoformat())
        st["date"] = day.isoformat()
        by = st["followup"].get("rectify_by")
        if by and date.fromisoformat(by) <= day:
            st["followup"].pop("rectify_by")   # asked again: it must follow the new date
    elif step == "mode":
        mode = {"1": rules.Mode.ONSITE, "2": rules.Mode.OFFSITE}.get(text) or rules.Mode.parse(text)
        if mode is None:
            raise DomainError("bad_mode", text=text)
        if mode is rules.Mode.OFFSITE and not offsite_ok:
            raise DomainError("offsite_not_allowed")
        st["mode"] = mode.value
    elif step == "findings":
        findings = "" if text in SKIP else text
        if len(findings) > rules.FINDINGS_LIMIT:
            raise DomainError("findings_too_long", length=len(findings),
                              limit=rules.FINDINGS_LIMIT)
        if not findings and rules.Conclusion(st["conclusion"]) in (
                rules.Conclusion.RECTIFY, rules.Conclusion.CASE, rules.Conclusion.DEPARTMENT,
                rules.Conclusion.JUDICIAL):
            raise DomainError("findings_required", conclusion=st["conclusion"])
        st["findings"] = findings
    elif step == "rectify_by":
        by = rules.parse_date(text, today)
        if "date" in st and by <= date.fromisoformat(st["date"]):
            raise DomainError("rectify_by_not_after", rectify_by=by.isoformat(),
                              inspected_on=st["date"])
        st["followup"][step] = by.isoformat()
    else:
        optional = step in rules.optional_followups(rules.Conclusion(st["conclusion"]))
        st["followup"][step] = "" if (optional and text in SKIP) else text


def _draft(st: dict) -> rules.Draft:
    fu = {k: (date.fromisoformat(v) if k == "rectify_by" and v else v)
          for k, v in st["followup"].items() if v}
    return rules.Draft(rules.Conclusion(st["conclusion"]), date.fromisoformat(st["date"]),
                       rules.Mode(st["mode"]), st.get("findings", ""), fu)


async def _submit(ctx: Ctx, st: dict) -> None:
    ref, cert = st["ref"], ctx.me.cert
    await svc.submit(ctx.session, ref, cert, _draft(st), ctx.now, _actor(ctx))
    await dialogues.clear(ctx.session, ctx.inbound.user)
    a = await assignments.load(ctx.session, ref, cert)
    team = a.department_certs(cert)
    # the confirmation card (a view of the assignment) and every teammate's card: 待审核
    status = {c: t("card.status_submitted", ref=ref, who=ctx.me.name) for c in team}
    status[cert] = t("chat.result_submitted", ref=ref)
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, set(team), status))
    if ctx.inbound.kind != "click":   # typed 确认: say so; a click sees its card change
        ctx.reply(t("chat.result_submitted", ref=ref))


async def _entry_for(ctx: Ctx, ref: int) -> dict | None:
    dlg = await dialogues.current(ctx.session, ctx.inbound.user, ctx.now)
    if dlg is None or dlg.kind != ENTRY or dlg.state.get("ref") != ref:
        return None
    return dlg.state


async def _no_entry(ctx: Ctx, ref: int) -> None:
    """A confirmation card's button with no entry behind it: say where things stand."""
    try:
        a = await assignments.load(ctx.session, ref, ctx.me.cert)
    except DomainError:
        ctx.reply(t("chat.result_entry_gone", ref=ref))
        return
    _, label = notify.member_state(a, ctx.me.cert)
    ctx.reply(t("card.no_entry", ref=ref, label=label))
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, {ctx.me.cert}))


@router.button(keys.ENTRY_OK)
async def confirm(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    st = await _entry_for(ctx, ref)
    if st is None or _next_step(st) != "confirm":
        await _no_entry(ctx, ref)
        return
    await _submit(ctx, st)


@router.button(keys.ENTRY_NO)
async def discard(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    if await _entry_for(ctx, ref) is None:
        await _no_entry(ctx, ref)
        return
    await dialogues.clear(ctx.session, ctx.inbound.user)
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, {ctx.me.cert}))
    ctx.reply(t("card.discarded", ref=ref))


def _editable(st: dict) -> list[str]:
    c = rules.Conclusion(st["conclusion"])
    return list(STEPS) + list(rules.followup_fields(c))


@router.button(keys.ENTRY_EDIT)
async def edit(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    st = await _entry_for(ctx, ref)
    if st is None:
        await _no_entry(ctx, ref)
        return
    buttons = tuple(Button(keys.make_parts(keys.EDIT_FIELD, ref, f), t("card.field", name=f))
                    for f in _editable(st))[:6]
    ctx.reply(card=Card(t("card.edit_title", ref=ref), t("card.edit_body"), buttons, ref),
              update=True)


@router.button(keys.EDIT_FIELD)
async def edit_field(ctx: Ctx, key: str) -> None:
    ref_text, field = keys.parse_parts(key, 2)
    ref = keys.parse_int(ref_text)
    st = await _entry_for(ctx, ref)
    if st is None:
        await _no_entry(ctx, ref)
        return
    if field not in _editable(st):
        raise DomainError("stale_button")
    if field in STEPS:
        st.pop(field, None)
    else:
        st["followup"].pop(field, None)
    await _ask(ctx, st)


# ---- reviewing ------------------------------------------------------------------------

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
        items.append({"ref": r.selection_id,
                      "name": notify.short_name(a.name, ctx.settings.region, 8),
                      "who": who.name if who else r.entered_by,
                      "since": r.entered_at.strftime("%m-%d") if r.entered_at else "—"})
    oldest = rows[0].entered_at.date() if rows[0].entered_at else None
    buttons: tuple[Button, ...] = ()
    if mine:
        buttons = (Button(keys.make(keys.REVIEW_LIST_ONE, 0), t("card.btn_review_one")),
                   Button(keys.make(keys.REVIEW_LIST_ALL, 0), t("card.btn_review_all")))
    body = render("chat/review_list.j2", total=len(rows), mine=len(mine), others=len(others),
                  items=items, oldest=oldest).strip()
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
        ctx.reply(t("chat.review_sent_privately",
                    count=len(await svc.pending_review(ctx.session))))
    ctx.send(ctx.me.account, card=card, subject=_list_subject(ctx.me.account))


async def _queue_card(ctx: Ctx, after_id: int = 0, note: str = "") -> Card:
    """The review card of the oldest result this 管理员 may approve (after ``after_id``
    in the queue's order, wrapping round), or a card saying none is left."""
    rows = await svc.pending_review(ctx.session)
    mine, others = await svc.split_for(ctx.session, rows, ctx.me.cert)
    if not mine:
        return Card(t("card.queue_done_title"),
                    "\n".join(x for x in (note, t("card.queue_done", others=len(others))) if x))
    ids = [r.id for r in mine]
    pos = next((i for i, r in enumerate(mine) if r.id == after_id), None)
    r = mine[(pos + 1) % len(mine)] if pos is not None else mine[0]
    a = await assignments.load(ctx.session, r.selection_id)
    entered = (await people.by_certs(ctx.session, [r.entered_by])).get(r.entered_by)
    body = render("chat/review.j2", a=a, r=r, who=entered.name if entered else r.entered_by,
                  joint=len(a.departments) > 1, note=note,
                  position=ids.index(r.id) + 1, count=len(mine)).strip()
    buttons = [Button(keys.make(keys.RESULT_OK, r.id), t("chat.btn_pass")),
               Button(keys.make(keys.RESULT_BACK, r.id), t("chat.btn_return"))]
    if len(mine) > 1:
        buttons.append(Button(keys.make(keys.REVIEW_NEXT, r.id), t("card.btn_next")))
    return Card(t("chat.review_title", ref=r.selection_id), body, tuple(buttons),
                r.selection_id)


async def _refresh_review_cards(ctx: Ctx, note: str = "") -> None:
    """Every 管理员's list card and the acting one's review card, as they stand now."""
    me = ctx.me.account
    ctx.replies.append(Outbound(me, card=await _queue_card(ctx, note=note),
                                subject=_queue_subject(me), refresh=True))
    for admin in await people.admins(ctx.session):
        account = admin.account
        card = await _list_card(ctx, admin) or Card(t("card.review_list_title", count=0),
                                                    t("chat.nothing_to_review"))
        ctx.replies.append(Outbound(account, card=card, subject=_list_subject(account),
                                    refresh=True))


@router.button(keys.REVIEW_LIST_ONE, admin=True)
async def review_one(ctx: Ctx, _key: str) -> None:
    ctx.send(ctx.me.account, card=await _queue_card(ctx),
             subject=_queue_subject(ctx.me.account))


@router.button(keys.REVIEW_NEXT, admin=True)
async def review_next(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    ctx.replies.append(Outbound(ctx.me.account, card=await _queue_card(ctx, result_id),
                                subject=_queue_subject(ctx.me.account), refresh=True))


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
    if not approved:   # a return asks the enterer to act: a message of its own
        p = (await people.by_certs(ctx.session, [enterer])).get(enterer)
        if p and p.msg_account:
            ctx.send(p.msg_account, t("chat.result_returned", ref=ref, reason=reason))


@router.button(keys.RESULT_OK, admin=True)
async def approve(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    row = await _still_pending(ctx, result_id)
    if row is None:
        return
    row = await svc.review_row(ctx.session, row, True, ctx.me.cert, ctx.now, _actor(ctx))
    await _after_review(ctx, row, True)
    await _refresh_review_cards(ctx, t("chat.review_done", ref=row.selection_id, approved=True))


@router.button(keys.REVIEW_OK, admin=True)
async def approve_by_ref(ctx: Ctx, key: str) -> None:
    """A card sent before results were kept per department: 编号 names the object."""
    _, ref = keys.parse(key)
    row = await svc.review(ctx.session, ref, True, ctx.me.cert, ctx.now, _actor(ctx))
    await _after_review(ctx, row, True)
    await _refresh_review_cards(ctx, t("chat.review_done", ref=ref, approved=True))


@router.button(keys.RESULT_BACK, admin=True)
async def back(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    row = await _still_pending(ctx, result_id)
    if row is None:
        return
    await svc.four_eyes(ctx.session, row, ctx.me.cert)
    await dialogues.save(ctx.session, ctx.inbound.user, RETURN,
                         {"ref": row.selection_id, "result": row.id}, ctx.now, _ttl(ctx))
    ctx.reply(t("chat.return_ask_reason", ref=row.selection_id))


@router.button(keys.REVIEW_BACK, admin=True)
async def back_by_ref(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    row = await svc.pick(ctx.session, ref)
    await dialogues.save(ctx.session, ctx.inbound.user, RETURN,
                         {"ref": ref, "result": row.id}, ctx.now, _ttl(ctx))
    ctx.reply(t("chat.return_ask_reason", ref=ref))


async def return_step(ctx: Ctx, st: dict, text: str) -> None:
    if not text.strip():
        ctx.reply(t("chat.return_ask_reason", ref=st["ref"]))
        return
    if st.get("result"):
        row = await svc.review_by_id(ctx.session, st["result"], False, ctx.me.cert,
                                     ctx.now, _actor(ctx), reason=text)
    else:   # a dialogue saved before results were kept per department
        row = await svc.review(ctx.session, st["ref"], False, ctx.me.cert, ctx.now,
                               _actor(ctx), reason=text)
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
    ctx.reply(card=Card(t("card.all_title", count=len(mine)),
                        t("card.all_body", count=len(mine), others=len(others)),
                        (Button(keys.make_parts(keys.REVIEW_ALL_OK, len(mine), top),
                                t("card.btn_all_ok", count=len(mine))),
                         Button(keys.make(keys.REVIEW_ALL_NO, 0), t("chat.btn_draw_no")))),
              update=True)


@router.button(keys.REVIEW_ALL_OK, admin=True)
async def approve_all(ctx: Ctx, key: str) -> None:
    _count, top = (keys.parse_int(p) for p in keys.parse_parts(key, 2))
    rows = [r for r in await svc.pending_review(ctx.session) if r.id <= top]
    mine, others = await svc.split_for(ctx.session, rows, ctx.me.cert)
    done = []
    for r in mine:   # each approval checked and audited on its own
        row = await svc.review_row(ctx.session, r, True, ctx.me.cert, ctx.now, _actor(ctx))
        await _after_review(ctx, row, True)
        done.append(row.selection_id)
    left = [r.selection_id for r in others]
    ctx.reply(card=Card(t("card.all_done_title", count=len(done)),
                        t("card.all_done", count=len(done), left=left)), update=True)
    await _refresh_review_cards(ctx)


@router.button(keys.REVIEW_ALL_NO, admin=True)
async def approve_all_cancel(ctx: Ctx, _key: str) -> None:
    ctx.reply(card=Card(t("card.all_title_cancelled"), t("card.all_cancelled")), update=True)


DIALOGUES = {ENTRY: entry_step, RETURN: return_step}
