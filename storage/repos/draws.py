"""Tasks and their draws: selections, teams, approved recusals, draw history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import DrawStatus, RecusalStatus
from storage.models import (
    DrawRow,
    RecusalRow,
    SelectionRow,
    TaskRow,
    TeamMemberRow,
)


async def task(session: AsyncSession, task_id: str) -> TaskRow | None:
    return await session.get(TaskRow, task_id)


async def tasks(session: AsyncSession) -> list[TaskRow]:
    """Every task, by period then id."""
    q = select(TaskRow).order_by(TaskRow.year, TaskRow.quarter, TaskRow.id)
    return list((await session.execute(q)).scalars())


async def tasks_by_id(session: AsyncSession) -> list[TaskRow]:
    """Every task, by id."""
    return list((await session.execute(select(TaskRow).order_by(TaskRow.id))).scalars())


async def tasks_of_year(session: AsyncSession, year: int) -> list[TaskRow]:
    return list((await session.execute(select(TaskRow).where(TaskRow.year == year))).scalars())


async def draw(session: AsyncSession, draw_id: int) -> DrawRow | None:
    return await session.get(DrawRow, draw_id)


async def draw_with_status(
    session: AsyncSession, task_id: str, status: DrawStatus
) -> DrawRow | None:
    q = select(DrawRow).where(DrawRow.task_id == task_id, DrawRow.status == status)
    return (await session.execute(q)).scalars().first()


async def draws_of(session: AsyncSession, task_id: str) -> list[DrawRow]:
    q = select(DrawRow).where(DrawRow.task_id == task_id).order_by(DrawRow.id)
    return list((await session.execute(q)).scalars())


async def draws_with_status(session: AsyncSession, status: DrawStatus) -> list[DrawRow]:
    q = select(DrawRow).where(DrawRow.status == status).order_by(DrawRow.id)
    return list((await session.execute(q)).scalars())


async def selections(session: AsyncSession, draw_id: int) -> list[SelectionRow]:
    q = select(SelectionRow).where(SelectionRow.draw_id == draw_id).order_by(SelectionRow.position)
    return list((await session.execute(q)).scalars())


async def valid_selections(session: AsyncSession) -> Sequence[Row[int, str, str, str, str]]:
    """Every selection of a valid draw: (id, task_id, uscc, category, risk_class)."""
    q = (
        select(
            SelectionRow.id,
            SelectionRow.task_id,
            SelectionRow.uscc,
            SelectionRow.category,
            SelectionRow.risk_class,
        )
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .where(DrawRow.status == DrawStatus.VALID)
    )
    return (await session.execute(q)).all()


async def valid_selections_with_tasks(
    session: AsyncSession, uscc: str | None = None
) -> list[tuple[SelectionRow, TaskRow]]:
    """Every selection of a valid draw with its task (of one object when ``uscc``)."""
    q = (
        select(SelectionRow, TaskRow)
        .join(TaskRow, TaskRow.id == SelectionRow.task_id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .where(DrawRow.status == DrawStatus.VALID)
    )
    if uscc:
        q = q.where(SelectionRow.uscc == uscc)
    return [(s, tk) for s, tk in (await session.execute(q)).all()]


async def active_members(
    session: AsyncSession, selection_ids: Iterable[int]
) -> dict[int, list[TeamMemberRow]]:
    out: dict[int, list[TeamMemberRow]] = defaultdict(list)
    ids = list(selection_ids)
    for i in range(0, len(ids), 500):
        q = (
            select(TeamMemberRow)
            .where(TeamMemberRow.selection_id.in_(ids[i : i + 500]), TeamMemberRow.active.is_(True))
            .order_by(TeamMemberRow.selection_id, TeamMemberRow.seq)
        )
        for m in (await session.execute(q)).scalars():
            out[m.selection_id].append(m)
    return out


async def valid_draw_history(
    session: AsyncSession,
) -> Sequence[Row[str, datetime | None, int, int | None, int]]:
    """Every selection of every valid draw:
    (uscc, drawn_at, task year, task quarter, selection id)."""
    q = (
        select(SelectionRow.uscc, DrawRow.drawn_at, TaskRow.year, TaskRow.quarter, SelectionRow.id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .join(TaskRow, TaskRow.id == SelectionRow.task_id)
        .where(DrawRow.status == DrawStatus.VALID)
    )
    return (await session.execute(q)).all()


async def inspections_per_inspector(session: AsyncSession, year: int) -> dict[str, int]:
    """第十条: objects each inspector was (and still is) assigned to in valid draws of a year."""
    q = (
        select(TeamMemberRow.cert, func.count())
        .join(SelectionRow, SelectionRow.id == TeamMemberRow.selection_id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .join(TaskRow, TaskRow.id == SelectionRow.task_id)
        .where(
            DrawRow.status == DrawStatus.VALID, TaskRow.year == year, TeamMemberRow.active.is_(True)
        )
        .group_by(TeamMemberRow.cert)
    )
    return {cert: n for cert, n in (await session.execute(q)).all()}


async def approved_recusals(session: AsyncSession, draw_id: int) -> list[RecusalRow]:
    q = (
        select(RecusalRow)
        .where(RecusalRow.draw_id == draw_id, RecusalRow.status == RecusalStatus.APPROVED)
        .order_by(RecusalRow.seq)
    )
    return list((await session.execute(q)).scalars())


async def next_recusal_seq(session: AsyncSession, draw_id: int) -> int:
    q = select(func.coalesce(func.max(RecusalRow.seq), 0)).where(RecusalRow.draw_id == draw_id)
    return int((await session.execute(q)).scalar_one() or 0) + 1
