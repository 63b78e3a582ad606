"""Queries the services need. No use-case logic here: load and save rows."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .models import (ConflictRow, DrawRow, EnterpriseRow, HistoryRow, InspectorRow, Item,
                     RecusalRow, SelectionRow, TaskRow, TeamMemberRow)
from .models_chat import ResultRow

REVIEWED = ("已审核", "已公示")   # a result counts once a supervisor approved it


async def task(session: AsyncSession, task_id: str) -> TaskRow | None:
    return await session.get(TaskRow, task_id)


async def items(session: AsyncSession) -> list[Item]:
    return list((await session.execute(select(Item).order_by(Item.seq))).scalars())


async def enterprises(session: AsyncSession) -> list[EnterpriseRow]:
    return list((await session.execute(select(EnterpriseRow).order_by(EnterpriseRow.uscc))).scalars())


async def inspectors(session: AsyncSession) -> list[InspectorRow]:
    return list((await session.execute(select(InspectorRow).order_by(InspectorRow.cert))).scalars())


async def conflicts(session: AsyncSession) -> list[ConflictRow]:
    return list((await session.execute(select(ConflictRow).order_by(ConflictRow.id))).scalars())


async def by_keys(session: AsyncSession, model, column, keys) -> dict:
    keys = list(keys)
    out = {}
    for i in range(0, len(keys), 500):
        rows = await session.execute(select(model).where(column.in_(keys[i:i + 500])))
        for r in rows.scalars():
            out[getattr(r, column.key)] = r
    return out


async def draw_with_status(session: AsyncSession, task_id: str, status: str) -> DrawRow | None:
    q = select(DrawRow).where(DrawRow.task_id == task_id, DrawRow.status == status)
    return (await session.execute(q)).scalars().first()


async def draws_of(session: AsyncSession, task_id: str) -> list[DrawRow]:
    q = select(DrawRow).where(DrawRow.task_id == task_id).order_by(DrawRow.id)
    return list((await session.execute(q)).scalars())


async def selections(session: AsyncSession, draw_id: int) -> list[SelectionRow]:
    q = select(SelectionRow).where(SelectionRow.draw_id == draw_id).order_by(SelectionRow.position)
    return list((await session.execute(q)).scalars())


async def active_members(session: AsyncSession, selection_ids) -> dict[int, list[TeamMemberRow]]:
    out: dict[int, list[TeamMemberRow]] = defaultdict(list)
    ids = list(selection_ids)
    for i in range(0, len(ids), 500):
        q = (select(TeamMemberRow).where(TeamMemberRow.selection_id.in_(ids[i:i + 500]),
                                         TeamMemberRow.active.is_(True))
             .order_by(TeamMemberRow.selection_id, TeamMemberRow.seq))
        for m in (await session.execute(q)).scalars():
            out[m.selection_id].append(m)
    return out


async def approved_recusals(session: AsyncSession, draw_id: int) -> list[RecusalRow]:
    q = (select(RecusalRow).where(RecusalRow.draw_id == draw_id, RecusalRow.status == "approved")
         .order_by(RecusalRow.seq))
    return list((await session.execute(q)).scalars())


async def next_recusal_seq(session: AsyncSession, draw_id: int) -> int:
    q = select(func.coalesce(func.max(RecusalRow.seq), 0)).where(RecusalRow.draw_id == draw_id)
    return int((await session.execute(q)).scalar_one()) + 1


async def valid_draw_history(session: AsyncSession):
    """Every selection of every valid draw:
    (uscc, drawn_at, task year, task quarter, selection id)."""
    q = (select(SelectionRow.uscc, DrawRow.drawn_at, TaskRow.year, TaskRow.quarter,
                SelectionRow.id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .join(TaskRow, TaskRow.id == SelectionRow.task_id)
         .where(DrawRow.status == "valid"))
    return (await session.execute(q)).all()


async def imported_history(session: AsyncSession, uscc: str | None = None) -> list[HistoryRow]:
    """Imported inspections, oldest period first."""
    q = select(HistoryRow).order_by(HistoryRow.year, HistoryRow.quarter, HistoryRow.uscc,
                                    HistoryRow.task_name)
    if uscc:
        q = q.where(HistoryRow.uscc == uscc)
    return list((await session.execute(q)).scalars())


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


async def inspections_per_inspector(session: AsyncSession, year: int) -> dict[str, int]:
    """第十条: objects each inspector was (and still is) assigned to in valid draws of a year."""
    q = (select(TeamMemberRow.cert, func.count())
         .join(SelectionRow, SelectionRow.id == TeamMemberRow.selection_id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .join(TaskRow, TaskRow.id == SelectionRow.task_id)
         .where(DrawRow.status == "valid", TaskRow.year == year, TeamMemberRow.active.is_(True))
         .group_by(TeamMemberRow.cert))
    return {cert: n for cert, n in (await session.execute(q)).all()}


def as_date(d) -> date | None:
    if d is None:
        return None
    return d.date() if hasattr(d, "date") else d
