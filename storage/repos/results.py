"""Inspection results: the reviewed ones, for history and statistics."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DrawRow,
    SelectionRow,
)
from storage.models_chat import ResultRow
from storage.repos.common import as_date

REVIEWED = ("已审核", "已公示")   # a result counts once a supervisor approved it


async def reviewed_results(session: AsyncSession, since_year: int | None = None):
    """Approved results of valid draws: (uscc, inspected_on, conclusion, selection id,
    department), inspected in ``since_year`` or later (all when None)."""
    q = (select(SelectionRow.uscc, ResultRow.inspected_on, ResultRow.conclusion,
                SelectionRow.id, ResultRow.department)
         .join(SelectionRow, SelectionRow.id == ResultRow.selection_id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .where(DrawRow.status == "valid", ResultRow.status.in_(REVIEWED)))
    rows = (await session.execute(q)).all()
    return [r for r in rows if r.inspected_on is not None
            and (since_year is None or as_date(r.inspected_on).year >= since_year)]
