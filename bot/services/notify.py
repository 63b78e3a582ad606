"""Messages about assignments, built from templates, ready for the outbox."""

from __future__ import annotations

import re

from bot import keys
from bot.domain.results import State, can_enter
from bot.messages import Button, Card, Outbound
from bot.text import render, t
from storage.uow import Session

from . import assignments, people

COMPANY_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "分公司", "公司")
SHORT_LIMIT = 12


def short_name(name: str, region: str = "", limit: int = SHORT_LIMIT) -> str:
    """An enterprise's name as people say it: without the county in front and the company
    form behind (获嘉县宏达化工有限公司 → 宏达化工), at most 12 characters."""
    full = (name or "").strip()
    short = full
    for prefix in (region, "新乡市"):
        if prefix and short.startswith(prefix) and len(short) > len(prefix) + 1:
            short = short[len(prefix) :]
    for form in COMPANY_FORMS:  # the longest form that fits, if any name is left
        if short.endswith(form):
            if len(short) > len(form) + 1:
                short = short[: -len(form)]
            break
    short = re.sub(r"[（(][^）)]*[）)]$", "", short) or short
    return short if len(short) <= limit else short[: limit - 1] + "…"


def subject(ref: int, cert: str) -> str:
    """What an assignment card shows: one member's view of assignment ``ref``."""
    return f"a:{ref}:{cert}"


def member_state(a: assignments.Assignment, cert: str) -> tuple[str, str]:
    """(state, label) of the assignment as ``cert`` sees it."""
    status = State.PUBLISHED.value if a.published else a.status_for(cert)
    row = a.result_for(cert)
    reason = row.return_reason if row is not None and status == State.RETURNED.value else ""
    return status, t("card.label", status=status, accepted=a.accepted_by(cert), reason=reason)


def assignment_buttons(a: assignments.Assignment, cert: str) -> tuple[Button, ...]:
    """Only what ``cert`` may do now: 接收 until accepted; 录入结果 while the result may
    be entered; 申请回避 until a result is entered; 撤回 while it awaits review; nothing
    once it is approved or the task is published."""
    status, _ = member_state(a, cert)
    if a.published or status in (State.APPROVED.value, State.PUBLISHED.value):
        return ()
    if status == State.PENDING.value:
        return (Button(keys.make(keys.WITHDRAW, a.ref), t("card.btn_withdraw")),)
    buttons = []
    if not a.accepted_by(cert) and status == State.NOT_ENTERED.value:
        buttons.append(Button(keys.make(keys.ACCEPT, a.ref), t("chat.btn_accept")))
    if can_enter(State(status)):
        buttons.append(
            Button(
                keys.make(keys.RESULT, a.ref),
                t("card.btn_reenter") if status == State.RETURNED.value else t("chat.btn_result"),
            )
        )
    if status == State.NOT_ENTERED.value:
        buttons.append(Button(keys.make(keys.RECUSE, a.ref), t("chat.btn_recuse")))
    return tuple(buttons)


def assignment_card(a: assignments.Assignment, for_cert: str) -> Card:
    """The card as ``for_cert`` should see it now: their own acceptance, their own
    department's result (a joint task's departments each record their own), the task's
    life (已公示 ends it), and only the buttons valid now."""
    status, label = member_state(a, for_cert)
    mates = [name for cert, name, _ in a.team if cert != for_cert]
    body = render(
        "chat/assignment.j2",
        a=a,
        mates=mates,
        status=status,
        label=label,
        result=a.result_for(for_cert),
    )
    return Card(
        t("chat.assignment_title", ref=a.ref, task=a.task_id),
        body.strip(),
        assignment_buttons(a, for_cert),
        a.ref,
    )


def gone_card(ref: int, name: str = "") -> Card:
    """A card of someone no longer on the team (recused, swapped, a void draw)."""
    return Card(t("card.recused_title", ref=ref), t("card.recused_body", name=name or "—"), (), ref)


async def assignment_messages(
    session: Session, ref: int, certs=None, tag: str = "assign"
) -> list[Outbound]:
    """A new card to each (or each given) team member who has a 消息账号; none once the
    task is published (its life has ended)."""
    a = await assignments.load(session, ref)
    if a.published:
        return []
    out = []
    for cert, _name, account in a.team:
        if certs is not None and cert not in certs:
            continue
        if account:
            out.append(
                Outbound(
                    account,
                    card=assignment_card(a, cert),
                    dedupe_key=f"{tag}:{ref}:{cert}",
                    subject=subject(ref, cert),
                )
            )
    return out


async def refresh_assignment(
    session: Session, ref: int, certs=None, status_text: dict[str, str] | None = None
) -> list[Outbound]:
    """Update, in place, the card of ``ref`` every (or each given) member holds, to its
    state now. ``status_text``: per cert, the short message a messenger that cannot
    update the card sends instead ("" or absent: nothing)."""
    a = await assignments.load(session, ref)
    status_text = status_text or {}
    return [
        Outbound(
            account,
            card=assignment_card(a, cert),
            subject=subject(ref, cert),
            refresh=True,
            text=status_text.get(cert, ""),
        )
        for cert, _name, account in a.team
        if account and (certs is None or cert in certs)
    ]


def refresh_gone(account: str, ref: int, cert: str, name: str = "") -> Outbound:
    """The card of someone who left the team becomes a card without buttons."""
    return Outbound(account, card=gone_card(ref, name), subject=subject(ref, cert), refresh=True)


async def draw_messages(session: Session, draw_id: int) -> list[Outbound]:
    """Every team member's assignment cards for a new draw (deduplicated per draw)."""
    out = []
    for ref in await assignments.draw_members(session, draw_id):
        out.extend(await assignment_messages(session, ref, tag=f"draw{draw_id}"))
    return out


async def to_admins(
    session: Session,
    text: str = "",
    card: Card | None = None,
    dedupe: str | None = None,
    subject: str | None = None,
    refresh: bool = False,
) -> list[Outbound]:
    return [
        Outbound(
            p.account,
            text=text,
            card=card,
            dedupe_key=f"{dedupe}:{p.account}" if dedupe else None,
            subject=subject,
            refresh=refresh,
        )
        for p in await people.admins(session)
    ]


async def admins_messages(session: Session, text: str, outbox_id: int) -> list[Outbound]:
    """A delivery-failure notice to every 管理员 (once per failed message)."""
    return await to_admins(session, text, dedupe=f"parked{outbox_id}")
