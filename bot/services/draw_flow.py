"""Drawing and telling: the one path every draw takes (chat, scheduler, command line).

The draw and the private assignment cards are written in one transaction; a running
service's outbox relay delivers the cards. A redraw first tells each member of the voided
draw, once, that their assignments of that task are void.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.config import Settings
from bot.domain.model import Selection
from bot.domain.status import DrawStatus
from bot.messages import Outbound
from bot.text import t
from storage.models import DrawRow
from storage.repos import draws as draws_repo
from storage.uow import Session

from . import draws, notify, outbox, people
from .draws import Progress


async def run_and_notify(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    now: datetime,
    entropy: str = "",
    redraw: bool = False,
    reason: str = "",
    progress: Progress | None = None,
) -> DrawRow:
    """Run the draw at ``now`` (see ``draws.run``) and queue what it tells."""
    voided = None
    if redraw:
        task = await draws_repo.task(session, (task_id or "").strip().upper())
        voided = (
            await draws_repo.draw_with_status(session, task.id, DrawStatus.VALID) if task else None
        )
    row = await draws.run(session, settings, task_id, actor, now, entropy, redraw, reason, progress)
    told = await void_notices(session, voided, reason) if voided is not None else []
    dead = await void_cards(session, voided) if voided is not None else []
    await outbox.enqueue(session, told + dead + await notify.draw_messages(session, row.id))
    return row


async def void_notices(session: Session, voided: DrawRow, reason: str) -> list[Outbound]:
    """One private message per member of the voided draw (as its teams stood, officers
    and 辅助人员 alike) naming their void 编号."""
    refs: dict[str, list[int]] = {}
    for ref, sel in await draws.current_selections(session, voided):
        for team in sel.teams:
            for cert in team.members + team.auxiliary:
                refs.setdefault(cert, []).append(ref)
    rows = await people.by_certs(session, refs)
    out = []
    for cert, mine in sorted(refs.items()):
        account = rows[cert].msg_account if cert in rows else None
        if account:
            out.append(
                Outbound(
                    account,
                    text=t(
                        "admin.redraw_void_notice",
                        task=voided.task_id,
                        refs=sorted(set(mine)),
                        reason=(reason or "").strip(),
                    ),
                    dedupe_key=f"void{voided.id}:{cert}",
                )
            )
    return out


async def void_cards(session: Session, voided: DrawRow) -> list[Outbound]:
    """Every card of the voided draw, updated in place: no buttons left on it."""
    out = []
    for ref, sel in await draws.current_selections(session, voided):
        certs = [c for team in sel.teams for c in team.members + team.auxiliary]
        for cert, row in (await people.by_certs(session, certs)).items():
            if row.msg_account:
                out.append(notify.refresh_gone(row.msg_account, ref, cert, sel.name))
    return out


def counts(selections: Iterable[Selection]) -> dict[str, int]:
    """Objects per category: what a group chat may see before publication."""
    out: dict[str, int] = {}
    for s in selections:
        cat = getattr(s.category, "value", s.category)
        out[cat] = out.get(cat, 0) + 1
    return out
