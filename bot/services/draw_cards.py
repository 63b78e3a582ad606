"""The decisions behind a draw's chat cards: confirm or cancel a prepared draw, and the
redraw request a 重抽 card names (recorded in the audit log, decided once).

The handler shows the cards; this module records what was asked and decided.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.domain.status import DrawStatus
from storage import audit
from storage.models import DrawRow
from storage.repos import assignments as assignments_repo
from storage.repos import draws as draws_repo
from storage.repos import redraws as redraws_repo
from storage.uow import Session

from . import draws


async def has_valid_draw(session: Session, task_id: str) -> bool:
    """Whether the task was drawn already (public entropy then goes to a redraw)."""
    return await draws_repo.draw_with_status(session, task_id, DrawStatus.VALID) is not None


async def cancel(session: Session, row: DrawRow, actor: str) -> None:
    """The prepared draw is not run (its commitment stays recorded)."""
    await audit.append(session, actor, "draw.cancel", row.task_id, {"draw_id": row.id})


@dataclass
class RedrawRequest:
    request_id: int  # the audit entry the card's buttons name
    valid: DrawRow  # the draw a confirmation would void
    row: DrawRow  # the prepared draw it would run
    total: int  # objects of the valid draw
    drawn_on: str  # when the valid draw was run ("—" if unknown)


async def request_redraw(session: Session, task_id: str, reason: str, actor: str) -> RedrawRequest:
    """Prepare a redraw and record the request (with its reason) for the card."""
    valid, row = await draws.prepare_redraw(session, task_id, reason, actor)
    entry = await audit.append(
        session,
        actor,
        redraws_repo.REQUEST,
        valid.task_id,
        {
            "draw_id": row.id,
            "commitment": row.commitment,
            "void_draw_id": valid.id,
            "reason": reason,
        },
    )
    total = len(await draws_repo.selections(session, valid.id))
    drawn_on = valid.drawn_at.date().isoformat() if valid.drawn_at else "—"
    return RedrawRequest(entry.id, valid, row, total, drawn_on)


@dataclass
class OpenRequest:
    """A redraw request as its card's button finds it: ``stale`` (no such request),
    ``handled`` (cancelled, or its draws changed since), else still to be decided."""

    task_id: str = ""
    request_id: int = 0
    draw_id: int = 0  # the prepared draw
    void_draw_id: int = 0  # the valid draw it would void
    reason: str = ""
    stale: bool = False
    handled: bool = False


async def open_request(session: Session, request_id: int) -> OpenRequest:
    req = await redraws_repo.request(session, request_id)
    if req is None:
        return OpenRequest(stale=True)
    data = json.loads(req.data)
    cancelled = await redraws_repo.cancellations(session, req.subject)
    valid = await draws_repo.draw_with_status(session, req.subject, DrawStatus.VALID)
    prepared = await assignments_repo.draw(session, data["draw_id"])
    handled = (
        any(json.loads(c).get("request") == req.id for c in cancelled)
        or valid is None
        or valid.id != data["void_draw_id"]
        or prepared is None
        or prepared.status != DrawStatus.PREPARED
    )
    return OpenRequest(
        req.subject,
        req.id,
        data["draw_id"],
        data["void_draw_id"],
        data.get("reason", ""),
        handled=handled,
    )


async def cancel_redraw(session: Session, req: OpenRequest, actor: str) -> None:
    """The request is not run: recorded, so its card is answered "already handled"."""
    await audit.append(
        session,
        actor,
        redraws_repo.CANCEL,
        req.task_id,
        {"request": req.request_id, "draw_id": req.draw_id},
    )
