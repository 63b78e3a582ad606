"""Results: ``结果 <编号> <结论> [说明]`` and the guided entry behind 录入结果.

Every answer is checked when it is given; nothing is submitted before the person has seen
the confirmation card (提交 / 修改 / 放弃). After 提交 the card is the assignment card in
its new state (待审核, with 撤回). Supervisors get no message per submitted result (the
daily digest tells them); reviewing is in ``review.py``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot import keys
from bot.domain import results as rules
from bot.domain.model import DomainError
from bot.messages import Button, Card
from bot.services import assignments, dialogues, notify
from bot.services import results as svc
from bot.text import domain_message, render, t

from .assignments import current
from .router import Ctx, Router

router = Router("results")
ENTRY = "result_entry"
SKIP = ("跳过", "无", "没有")
STEPS = ("conclusion", "date", "mode", "findings")


def actor(ctx: Ctx) -> str:
    """Who acts, as the audit log names them."""
    return f"{ctx.me.name}({ctx.me.cert})"


def ttl(ctx: Ctx) -> timedelta:
    """How long an unfinished dialogue is kept."""
    return timedelta(minutes=ctx.settings.dialogue_minutes)


# ---- entering a result -------------------------------------------------------------


@router.command("结果", private_only=True)
async def quick(ctx: Ctx, rest: str) -> None:
    parts = rest.split(maxsplit=2)
    ref = keys.chat_ref(parts[0]) if parts else None
    if len(parts) < 2 or ref is None:
        ctx.reply(t("chat.result_usage"))
        return
    await svc.check_entry(ctx.session, ref, ctx.me.cert)  # before anything is asked
    c = rules.parse_conclusion(parts[1])
    st: dict[str, Any] = {
        "ref": ref,
        "conclusion": c.value,
        "date": ctx.today.isoformat(),
        "mode": rules.Mode.ONSITE.value,
        "findings": parts[2] if len(parts) > 2 else "",
        "followup": {},
    }
    if st["findings"] == "" and c in (
        rules.Conclusion.RECTIFY,
        rules.Conclusion.CASE,
        rules.Conclusion.DEPARTMENT,
        rules.Conclusion.JUDICIAL,
    ):
        del st["findings"]  # ask for it rather than refuse at the end
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
    return Card(
        t("chat.result_confirm_title", ref=ref),
        render("chat/result_confirm.j2", st=st).strip(),
        (
            Button(keys.make(keys.ENTRY_OK, ref), t("chat.btn_submit")),
            Button(keys.make(keys.ENTRY_EDIT, ref), t("card.btn_edit")),
            Button(keys.make(keys.ENTRY_NO, ref), t("chat.btn_discard")),
        ),
        ref,
    )


async def _ask(ctx: Ctx, st: dict) -> None:
    await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now, ttl=ttl(ctx))
    step = _next_step(st)
    if step == "confirm":
        # a view of the assignment: a later change of the assignment updates it too
        ctx.reply(card=_confirm_card(ctx, st), subject=notify.subject(st["ref"], ctx.me.cert))
    else:
        ctx.reply(
            t(
                "chat.result_ask",
                step=step,
                ref=st["ref"],
                choices=rules.choices() if step == "conclusion" else [],
            )
        )


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
        if _next_step(st) == "confirm":  # the whole draft, as the service will check it
            rules.validate(
                _draft(st),
                drawn_on=a.drawn_on or ctx.today,
                today=ctx.today,
                offsite_ok=a.offsite_ok,
            )
    except DomainError as exc:
        _forget(st, exc)
        await dialogues.save(ctx.session, ctx.inbound.user, ENTRY, st, ctx.now, ttl=ttl(ctx))
        ctx.reply(domain_message(exc, channel="chat"))
        return
    await _ask(ctx, st)


# which answer to ask again when the whole draft fails a rule
_REASK = {
    "date_in_future": "date",
    "date_before_draw": "date",
    "offsite_not_allowed": "mode",
    "rectify_by_not_after": "rectify_by",
    "findings_required": "findings",
    "findings_too_long": "findings",
}


def _forget(st: dict, exc: DomainError) -> None:
    step = exc.params.get("field") if exc.code == "missing_followup" else _REASK.get(exc.code)
    if step in ("date", "mode", "findings"):
        st.pop(step, None)
    elif step:
        st["followup"].pop(step, None)


def _take(st: dict, step: str, text: str, today: date, drawn_on: date, offsite_ok: bool) -> None:
    """Record one answer, refusing it at once if it breaks a rule of its own."""
    if step == "conclusion":
        new = rules.parse_conclusion(text).value
        if st.get("conclusion") != new:
            st["followup"] = {}  # another conclusion asks for other follow-ups
        st["conclusion"] = new
    elif step == "date":
        day = rules.parse_date(text, today)
        if day > today:
            raise DomainError(
                "date_in_future", inspected_on=day.isoformat(), today=today.isoformat()
            )
        if day < drawn_on:
            raise DomainError(
                "date_before_draw", inspected_on=day.isoformat(), drawn_on=drawn_on.isoformat()
            )
        st["date"] = day.isoformat()
        by = st["followup"].get("rectify_by")
        if by and date.fromisoformat(by) <= day:
            st["followup"].pop("rectify_by")  # asked again: it must follow the new date
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
            raise DomainError("findings_too_long", length=len(findings), limit=rules.FINDINGS_LIMIT)
        if not findings and rules.Conclusion(st["conclusion"]) in (
            rules.Conclusion.RECTIFY,
            rules.Conclusion.CASE,
            rules.Conclusion.DEPARTMENT,
            rules.Conclusion.JUDICIAL,
        ):
            raise DomainError("findings_required", conclusion=st["conclusion"])
        st["findings"] = findings
    elif step == "rectify_by":
        by = rules.parse_date(text, today)
        if "date" in st and by <= date.fromisoformat(st["date"]):
            raise DomainError(
                "rectify_by_not_after", rectify_by=by.isoformat(), inspected_on=st["date"]
            )
        st["followup"][step] = by.isoformat()
    else:
        optional = step in rules.optional_followups(rules.Conclusion(st["conclusion"]))
        st["followup"][step] = "" if (optional and text in SKIP) else text


def _draft(st: dict) -> rules.Draft:
    fu = {
        k: (date.fromisoformat(v) if k == "rectify_by" and v else v)
        for k, v in st["followup"].items()
        if v
    }
    return rules.Draft(
        rules.Conclusion(st["conclusion"]),
        date.fromisoformat(st["date"]),
        rules.Mode(st["mode"]),
        st.get("findings", ""),
        fu,
    )


async def _submit(ctx: Ctx, st: dict) -> None:
    ref, cert = st["ref"], ctx.me.cert
    await svc.submit(ctx.session, ref, cert, _draft(st), ctx.now, actor(ctx))
    await dialogues.clear(ctx.session, ctx.inbound.user)
    a = await assignments.load(ctx.session, ref, cert)
    team = a.department_certs(cert)
    # the confirmation card (a view of the assignment) and every teammate's card: 待审核
    status = {c: t("card.status_submitted", ref=ref, who=ctx.me.name) for c in team}
    status[cert] = t("chat.result_submitted", ref=ref)
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, set(team), status))
    if ctx.inbound.kind != "click":  # typed 确认: say so; a click sees its card change
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
    buttons = tuple(
        Button(keys.make_parts(keys.EDIT_FIELD, ref, f), t("card.field", name=f))
        for f in _editable(st)
    )[:6]
    ctx.reply(
        card=Card(t("card.edit_title", ref=ref), t("card.edit_body"), buttons, ref), update=True
    )


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


DIALOGUES = {ENTRY: entry_step}
