"""Results: ``结果 <编号> <结论> [说明]``, the guided entry behind 录入结果, and 审核."""
from __future__ import annotations

from datetime import date

from bot import keys
from bot.domain import results as rules
from bot.domain.model import DomainError
from bot.messages import Button, Card
from bot.services import assignments, dialogues, notify, people
from bot.services import results as svc
from bot.text import domain_message, render, t

from .router import Ctx, Router

router = Router("results")
ENTRY, RETURN = "result_entry", "result_return"
SKIP = ("跳过", "无", "没有")


def _actor(ctx: Ctx) -> str:
    return f"{ctx.person.name}({ctx.person.cert})"


@router.command("结果", private_only=True)
async def quick(ctx: Ctx, rest: str) -> None:
    parts = rest.split(maxsplit=2)
    if len(parts) < 2 or not parts[0].isdigit():
        ctx.reply(t("chat.result_usage"))
        return
    ref = int(parts[0])
    a = await assignments.load(ctx.session, ref, ctx.person.cert)
    c = rules.parse_conclusion(parts[1])
    state = {"ref": ref, "conclusion": c.value, "date": ctx.today.isoformat(),
             "mode": rules.Mode.ONSITE.value, "findings": parts[2] if len(parts) > 2 else "",
             "followup": {}}
    if _next_step(state) == "confirm":
        await _submit(ctx, a, state)
    else:
        await _ask(ctx, state)


@router.button(keys.RESULT)
async def start(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    a = await assignments.load(ctx.session, ref, ctx.person.cert)
    if not rules.can_enter(rules.State(a.result_status)):
        ctx.reply(t("chat.result_not_enterable", ref=ref, status=a.result_status))
        return
    await _ask(ctx, {"ref": ref, "followup": {}})


def _next_step(st: dict) -> str:
    for step in ("conclusion", "date", "mode", "findings"):
        if step not in st:
            return step
    c = rules.Conclusion(st["conclusion"])
    for name in rules.followup_fields(c):
        if name not in st["followup"]:
            return name
    return "confirm"


async def _ask(ctx: Ctx, st: dict) -> None:
    await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now,
                         ttl=_ttl(ctx))
    step = _next_step(st)
    if step == "confirm":
        ctx.reply(card=Card(t("chat.result_confirm_title", ref=st["ref"]),
                            render("chat/result_confirm.j2", st=st).strip(),
                            (Button(keys.make(keys.ENTRY_OK, st["ref"]), t("chat.btn_submit")),
                             Button(keys.make(keys.ENTRY_NO, st["ref"]), t("chat.btn_discard"))),
                            st["ref"]))
    else:
        ctx.reply(t("chat.result_ask", step=step, ref=st["ref"],
                    choices=rules.choices() if step == "conclusion" else []))


def _ttl(ctx: Ctx):
    from datetime import timedelta
    return timedelta(minutes=ctx.settings.dialogue_minutes)


async def entry_step(ctx: Ctx, st: dict, text: str) -> None:
    step, text = _next_step(st), text.strip()
    if step == "confirm":
        if text in ("确认", "提交"):
            a = await assignments.load(ctx.session, st["ref"], ctx.person.cert)
            await _submit(ctx, a, st)
        else:
            ctx.reply(t("chat.result_confirm_hint"))
        return
    try:
        _take(st, step, text, ctx.today)
        if _next_step(st) == "confirm":
            a = await assignments.load(ctx.session, st["ref"], ctx.person.cert)
            rules.validate(_draft(st), drawn_on=a.drawn_on or ctx.today, today=ctx.today,
                           offsite_ok=a.offsite_ok)
    except DomainError as exc:
        _forget(st, exc)
        await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now, ttl=_ttl(ctx))
        ctx.reply(domain_message(exc))
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


def _take(st: dict, step: str, text: str, today: date) -> None:
    if step == "conclusion":
        st["conclusion"] = rules.parse_conclusion(text).value
    elif step == "date":
        st["date"] = rules.parse_date(text, today).isoformat()
    elif step == "mode":
        mode = {"1": rules.Mode.ONSITE, "2": rules.Mode.OFFSITE}.get(text) or rules.Mode.parse(text)
        if mode is None:
            raise DomainError("bad_mode", text=text)
        st["mode"] = mode.value
    elif step == "findings":
        st["findings"] = "" if text in SKIP else text
    elif step == "rectify_by":
        st["followup"][step] = rules.parse_date(text, today).isoformat()
    else:
        optional = step in rules.optional_followups(rules.Conclusion(st["conclusion"]))
        st["followup"][step] = "" if (optional and text in SKIP) else text


def _draft(st: dict) -> rules.Draft:
    fu = {k: (date.fromisoformat(v) if k == "rectify_by" and v else v)
          for k, v in st["followup"].items() if v}
    return rules.Draft(rules.Conclusion(st["conclusion"]), date.fromisoformat(st["date"]),
                       rules.Mode(st["mode"]), st.get("findings", ""), fu)


async def _submit(ctx: Ctx, a, st: dict) -> None:
    await svc.submit(ctx.session, a.ref, ctx.person.cert, _draft(st), ctx.now, _actor(ctx))
    await dialogues.clear(ctx.session, ctx.inbound.user)
    ctx.reply(t("chat.result_submitted", ref=a.ref))
    ctx.replies.extend(await notify.to_admins(
        ctx.session, t("chat.result_awaits_review", ref=a.ref, who=ctx.person.name)))


@router.button(keys.ENTRY_OK)
async def confirm(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    dlg = await dialogues.current(ctx.session, ctx.inbound.user, ctx.now)
    if dlg is None or dlg.kind != ENTRY or dlg.state.get("ref") != ref:
        ctx.reply(t("chat.result_entry_gone", ref=ref))
        return
    a = await assignments.load(ctx.session, ref, ctx.person.cert)
    await _submit(ctx, a, dlg.state)


@router.button(keys.ENTRY_NO)
async def discard(ctx: Ctx, key: str) -> None:
    await dialogues.clear(ctx.session, ctx.inbound.user)
    ctx.reply(t("chat.cancelled"))


@router.command("审核", admin=True)
async def review_list(ctx: Ctx, _rest: str) -> None:
    rows = await svc.pending_review(ctx.session)
    if not rows:
        ctx.reply(t("chat.nothing_to_review"))
        return
    if ctx.inbound.room != "private":
        ctx.reply(t("chat.review_sent_privately", count=len(rows)))
    for r in rows:
        a = await assignments.load(ctx.session, r.selection_id)
        entered = (await people.by_certs(ctx.session, [r.entered_by])).get(r.entered_by)
        ctx.send(ctx.person.account, card=Card(
            t("chat.review_title", ref=r.selection_id),
            render("chat/review.j2", a=a, r=r, who=entered.name if entered else r.entered_by,
                   joint=len(a.departments) > 1).strip(),
            (Button(keys.make(keys.RESULT_OK, r.id), t("chat.btn_pass")),
             Button(keys.make(keys.RESULT_BACK, r.id), t("chat.btn_return"))),
            r.selection_id))


async def _approved(ctx: Ctx, row) -> None:
    ref = row.selection_id
    ctx.reply(card=Card(t("chat.review_title", ref=ref),
                        t("chat.review_done", ref=ref, approved=True), ref=ref), update=True)
    await _tell_enterer(ctx, row, t("chat.result_approved", ref=ref))


@router.button(keys.RESULT_OK, admin=True)
async def approve(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    await _approved(ctx, await svc.review_by_id(ctx.session, result_id, True, ctx.person.cert,
                                                ctx.now, _actor(ctx)))


@router.button(keys.REVIEW_OK, admin=True)
async def approve_by_ref(ctx: Ctx, key: str) -> None:
    """A card sent before results were kept per department: 编号 names the object."""
    _, ref = keys.parse(key)
    await _approved(ctx, await svc.review(ctx.session, ref, True, ctx.person.cert, ctx.now,
                                          _actor(ctx)))


@router.button(keys.RESULT_BACK, admin=True)
async def back(ctx: Ctx, key: str) -> None:
    _, result_id = keys.parse(key)
    row = await svc.result(ctx.session, result_id)
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
    if st.get("result"):
        row = await svc.review_by_id(ctx.session, st["result"], False, ctx.person.cert,
                                     ctx.now, _actor(ctx), reason=text)
    else:   # a dialogue saved before results were kept per department
        row = await svc.review(ctx.session, st["ref"], False, ctx.person.cert, ctx.now,
                               _actor(ctx), reason=text)
    await dialogues.clear(ctx.session, ctx.inbound.user)
    ctx.reply(t("chat.review_done", ref=st["ref"], approved=False))
    await _tell_enterer(ctx, row, t("chat.result_returned", ref=st["ref"], reason=text.strip()))
    ctx.replies.extend(await notify.assignment_messages(
        ctx.session, st["ref"], certs={row.entered_by}, tag=f"ret{row.id}-{ctx.now.timestamp()}"))


async def _tell_enterer(ctx: Ctx, row, text: str) -> None:
    p = (await people.by_certs(ctx.session, [row.entered_by])).get(row.entered_by)
    if p and p.msg_account:
        ctx.send(p.msg_account, text)


DIALOGUES = {ENTRY: entry_step, RETURN: return_step}
