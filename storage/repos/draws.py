"""Tasks and their draws: selections, teams, approved recusals, draw history."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    DrawRow,
    RecusalRow,
    SelectionRow,
    TaskRow,
    TeamMemberRow,
)


async def task(session: AsyncSession, task_id: str) -> TaskRow | None:
    return await session.get(TaskRow, task_id)


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


async def valid_draw_history(session: AsyncSession):
    """Every selection of every valid draw:
    (uscc, drawn_at, task year, task quarter, selection id)."""
    q = (select(SelectionRow.uscc, DrawRow.drawn_at, TaskRow.year, TaskRow.quarter,
                SelectionRow.id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .join(TaskRow, TaskRow.id == SelectionRow.task_id)
         .where(DrawRow.status == "valid"))
    return (await session.execute(q)).all()


async def inspections_per_inspector(session: AsyncSession, year: int) -> dict[str, int]:
    """第十条: objects each inspector was (and still is) assigned to in valid draws of a year."""
    q = (select(TeamMemberRow.cert, func.count())
         .join(SelectionRow, SelectionRow.id == TeamMemberRow.selection_id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .join(TaskRow, TaskRow.id == SelectionRow.task_id)
         .where(DrawRow.status == "valid", TaskRow.year == year, TeamMemberRow.active.is_(True))
         .group_by(TeamMemberRow.cert))
    return {cert: n for cert, n in (await session.execute(q)).all()}


async def approved_recusals(session: AsyncSession, draw_id: int) -> list[RecusalRow]:
    q = (select(RecusalRow).where(RecusalRow.draw_id == draw_id, RecusalRow.status == "approved")
         .order_by(RecusalRow.seq))
    return list((await session.execute(q)).scalars())


async def next_recusal_seq(session: AsyncSession, draw_id: int) -> int:
    q = select(func.coalesce(func.max(RecusalRow.seq), 0)).where(RecusalRow.draw_id == draw_id)
    return int((await session.execute(q)).scalar_one()) + 1
