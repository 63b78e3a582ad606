"""Messages about assignments, built from templates, ready for the outbox."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import keys
from bot.domain.results import State, can_enter
from bot.messages import Button, Card, Outbound
from bot.text import render, t

from . import assignments, people


def assignment_card(a: assignments.Assignment, for_cert: str) -> Card:
    """The card as ``for_cert`` should see it: their own acceptance and their own
    department's result state (a joint task's departments each record their own)."""
    buttons = []
    status = a.status_for(for_cert)
    if not a.accepted_by(for_cert):
        buttons.append(Button(keys.make(keys.ACCEPT, a.ref), t("chat.btn_accept")))
    buttons.append(Button(keys.make(keys.RECUSE, a.ref), t("chat.btn_recuse")))
    if can_enter(State(status)):
        buttons.append(Button(keys.make(keys.RESULT, a.ref), t("chat.btn_result")))
    mates = [name for cert, name, _ in a.team if cert != for_cert]
    body = render("chat/assignment.j2", a=a, mates=mates, status=status)
    return Card(t("chat.assignment_title", ref=a.ref, task=a.task_id), body.strip(),
                tuple(buttons), a.ref)


async def assignment_messages(session: AsyncSession, ref: int, certs=None,
                              tag: str = "assign") -> list[Outbound]:
    """A card to each (or each given) team member who has a 消息账号."""
    a = await assignments.load(session, ref)
    out = []
    for cert, _name, account in a.team:
        if certs is not None and cert not in certs:
            continue
        if account:
            out.append(Outbound(account, card=assignment_card(a, cert),
                                dedupe_key=f"{tag}:{ref}:{cert}"))
    return out


async def draw_messages(session: AsyncSession, draw_id: int) -> list[Outbound]:
    """Every team member's assignment cards for a new draw (deduplicated per draw)."""
    out = []
    for ref in await assignments.draw_members(session, draw_id):
        out.extend(await assignment_messages(session, ref, tag=f"draw{draw_id}"))
    return out


async def to_admins(session: AsyncSession, text: str = "", card: Card | None = None,
                    dedupe: str | None = None) -> list[Outbound]:
    return [Outbound(p.account, text=text, card=card,
                     dedupe_key=f"{dedupe}:{p.account}" if dedupe else None)
            for p in await people.admins(session)]


async def admins_messages(session: AsyncSession, text: str, outbox_id: int) -> list[Outbound]:
    """A delivery-failure notice to every 管理员 (once per failed message)."""
    return await to_admins(session, text, dedupe=f"parked{outbox_id}")
