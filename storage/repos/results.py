"""Inspection results: per object and department, awaiting review, and reviewed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Row, select

from bot.domain.results import State
from bot.domain.status import DrawStatus, TaskStatus
from storage.models import (
    DrawRow,
    SelectionRow,
    TaskRow,
)
from storage.models_chat import ResultRow
from storage.repos.common import as_date
from storage.uow import Session

REVIEWED = (State.APPROVED.value, State.PUBLISHED.value)  # counted once a supervisor approved it
CHUNK = 500  # bounded IN lists


async def get(session: Session, result_id: int) -> ResultRow | None:
    return await session.get(ResultRow, result_id)


async def of_department(session: Session, ref: int, department: str) -> ResultRow | None:
    q = select(ResultRow).where(ResultRow.selection_id == ref, ResultRow.department == department)
    return await session.scalar(q)


async def of_object(session: Session, ref: int) -> list[ResultRow]:
    """Every department's result of object ``ref``, oldest first."""
    q = select(ResultRow).where(ResultRow.selection_id == ref).order_by(ResultRow.id)
    return list((await session.execute(q)).scalars())


async def of_objects(session: Session, refs: list[int] | None) -> list[ResultRow]:
    """The results of the objects ``refs`` (None: of every object)."""
    if refs is None:
        return list((await session.execute(select(ResultRow))).scalars())
    out: list[ResultRow] = []
    for i in range(0, len(refs), CHUNK):
        q = select(ResultRow).where(ResultRow.selection_id.in_(refs[i : i + CHUNK]))
        out.extend((await session.execute(q)).scalars())
    return out


async def pending_review(session: Session) -> list[ResultRow]:
    """Results awaiting review, oldest submission first, of unpublished tasks' valid draws
    (a redraw leaves the void draw's results behind)."""
    q = (
        select(ResultRow)
        .join(TaskRow, TaskRow.id == ResultRow.task_id)
        .join(SelectionRow, SelectionRow.id == ResultRow.selection_id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .where(
            ResultRow.status == State.PENDING.value,
            TaskRow.status != TaskStatus.PUBLISHED,
            DrawRow.status == DrawStatus.VALID,
        )
        .order_by(ResultRow.entered_at, ResultRow.id)
    )
    return list((await session.execute(q)).scalars())


Reviewed = Row[str, date | None, str, int, str]  # uscc, inspected_on, conclusion, ref, dept


async def reviewed_results(session: Session, since_year: int | None = None) -> list[Reviewed]:
    """Approved results of valid draws: (uscc, inspected_on, conclusion, selection id,
    department), inspected in ``since_year`` or later (all when None)."""
    q = (
        select(
            SelectionRow.uscc,
            ResultRow.inspected_on,
            ResultRow.conclusion,
            SelectionRow.id,
            ResultRow.department,
        )
        .join(SelectionRow, SelectionRow.id == ResultRow.selection_id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .where(DrawRow.status == DrawStatus.VALID, ResultRow.status.in_(REVIEWED))
    )
    rows = (await session.execute(q)).all()
    out: list[Reviewed] = []
    for r in rows:
        day = as_date(r.inspected_on)
        if day is not None and (since_year is None or day.year >= since_year):
            out.append(r)
    return out
