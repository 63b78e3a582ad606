"""The queries of the deadline jobs and the digest: tasks with a valid draw, and when a
draw's results were last reviewed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from bot.domain.status import DrawStatus
from storage.models import DrawRow, TaskRow
from storage.models_chat import ResultRow


async def valid_tasks(session: AsyncSession) -> list[tuple[TaskRow, DrawRow]]:
    """Tasks with their valid draw (without the draw's large snapshot and result)."""
    q = (
        select(TaskRow, DrawRow)
        .join(DrawRow, DrawRow.task_id == TaskRow.id)
        .options(load_only(DrawRow.id, DrawRow.task_id, DrawRow.status, DrawRow.drawn_at))
        .where(DrawRow.status == DrawStatus.VALID.value)
        .order_by(TaskRow.id)
    )
    return [(task, draw) for task, draw in (await session.execute(q)).all()]


async def last_reviewed_at(session: AsyncSession, selection_ids: Iterable[int]) -> datetime | None:
    """The latest review time among the results of these selections."""
    return await session.scalar(
        select(func.max(ResultRow.reviewed_at)).where(
            ResultRow.selection_id.in_(sorted(set(selection_ids)))
        )
    )
