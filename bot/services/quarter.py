"""A quarter's opening (the ``quarter_open`` job): its draw, automatic or reminded.

On the quarter's first working day, if the quarter has no valid draw yet, either the draw
is run (``SSJ_AUTO_DRAW=1`` and no draw prepared by hand) with the same service as the
chat command 抽查, or every 管理员 is reminded to run it. ``open_quarter`` returns what the
管理员 are told and what the job records; the caller sends it. ``now`` is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.config import Settings
from bot.domain.model import DomainError
from bot.domain.status import DrawStatus
from bot.services import draw_flow, draws
from bot.text import domain_message, render, t
from storage.repos import draws as draws_repo
from storage.uow import Session


@dataclass(frozen=True)
class Opening:
    text: str | None  # for every 管理员; None: nothing
    detail: dict[str, Any] = field(default_factory=dict)  # recorded on the job's claim
    told_as: str = "told"  # the detail's key of how many heard


async def open_quarter(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    now: datetime,
    due_day: date,
    fallback: bool,
) -> Opening:
    """Open the quarter ``task_id`` (e.g. ``2027Q1``) due on ``due_day`` (``fallback``: the
    calendar did not know that day, the quarter's first day was taken); ``now`` is the
    scheduler's clock, which dates the draw."""
    today = now.date()
    valid = await draws_repo.draw_with_status(session, task_id, DrawStatus.VALID)
    if valid is not None:
        return Opening(None, {"already_drawn": valid.id})
    prepared = await draws_repo.draw_with_status(session, task_id, DrawStatus.PREPARED)
    year, quarter = int(task_id[:4]), int(task_id[-1])
    name = t("task.quarterly_name", org=settings.bureau_name, year=year, quarter=quarter)
    info = dict(task=task_id, task_name=name, day=due_day.isoformat(), fallback=fallback, year=year)
    if settings.auto_draw and prepared is None:
        try:
            async with session.begin_nested():  # a refused draw writes nothing
                row = await draw_flow.run_and_notify(session, settings, task_id, actor, now)
        except DomainError as exc:
            return Opening(
                t(
                    "jobs.auto_draw_failed",
                    error=domain_message(exc, channel="chat"),
                    bot=settings.bot_name,
                    **info,
                ),
                {"draw_error": exc.code},
            )
        sels = [sel for _, sel in await draws.current_selections(session, row)]
        counts = draw_flow.counts(sels)
        text = render(
            "chat/jobs_drawn.j2",
            counts=counts,
            total=len(sels),
            commitment=row.commitment,
            drawn_on=today.isoformat(),
            **info,
        )
        return Opening(
            text, {"draw_id": row.id, "selected": len(sels), "counts": counts, "fallback": fallback}
        )
    return Opening(
        t("jobs.quarter_open", bot=settings.bot_name, prepared=prepared is not None, **info),
        {"fallback": fallback},
        told_as="reminded",
    )
