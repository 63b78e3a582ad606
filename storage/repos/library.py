"""The library (一单两库): items, enterprises, inspectors, conflicts, imported history."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ConflictRow,
    EnterpriseRow,
    HistoryRow,
    InspectorRow,
    Item,
)


async def items(session: AsyncSession) -> list[Item]:
    return list((await session.execute(select(Item).order_by(Item.seq))).scalars())


async def enterprises(session: AsyncSession) -> list[EnterpriseRow]:
    return list((await session.execute(select(EnterpriseRow).order_by(EnterpriseRow.uscc))).scalars())


async def inspectors(session: AsyncSession) -> list[InspectorRow]:
    return list((await session.execute(select(InspectorRow).order_by(InspectorRow.cert))).scalars())


async def conflicts(session: AsyncSession) -> list[ConflictRow]:
    return list((await session.execute(select(ConflictRow).order_by(ConflictRow.id))).scalars())


async def imported_history(session: AsyncSession, uscc: str | None = None) -> list[HistoryRow]:
    """Imported inspections, oldest period first."""
    q = select(HistoryRow).order_by(HistoryRow.year, HistoryRow.quarter, HistoryRow.uscc,
                                    HistoryRow.task_name)
    if uscc:
        q = q.where(HistoryRow.uscc == uscc)
    return list((await session.execute(q)).scalars())
