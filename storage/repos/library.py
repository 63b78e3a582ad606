"""The library (一单两库): items, enterprises, inspectors, conflicts, imported history."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    ConflictRow,
    EnterpriseRow,
    HistoryRow,
    InspectorRow,
    Item,
)
from storage.repos.common import by_keys


async def items(session: AsyncSession) -> list[Item]:
    return list((await session.execute(select(Item).order_by(Item.seq))).scalars())


async def enterprises(session: AsyncSession) -> list[EnterpriseRow]:
    return list(
        (await session.execute(select(EnterpriseRow).order_by(EnterpriseRow.uscc))).scalars()
    )


async def inspectors(session: AsyncSession) -> list[InspectorRow]:
    return list((await session.execute(select(InspectorRow).order_by(InspectorRow.cert))).scalars())


async def conflicts(session: AsyncSession) -> list[ConflictRow]:
    return list((await session.execute(select(ConflictRow).order_by(ConflictRow.id))).scalars())


async def enterprises_by_uscc(
    session: AsyncSession, usccs: Iterable[str]
) -> dict[str, EnterpriseRow]:
    return await by_keys(session, EnterpriseRow, EnterpriseRow.uscc, usccs)


async def inspectors_by_cert(
    session: AsyncSession, certs: Iterable[str]
) -> dict[str, InspectorRow]:
    return await by_keys(session, InspectorRow, InspectorRow.cert, certs)


async def inspectors_by_account(
    session: AsyncSession, accounts: Iterable[str]
) -> dict[str, InspectorRow]:
    return await by_keys(session, InspectorRow, InspectorRow.msg_account, accounts)


async def inspector_names(session: AsyncSession) -> dict[str, str]:
    """{执法证号: name} of every inspector."""
    q = select(InspectorRow.cert, InspectorRow.name)
    return {cert: name for cert, name in (await session.execute(q)).all()}


async def enterprise_tags(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(uscc, category, 生产状态) of every enterprise."""
    q = select(EnterpriseRow.uscc, EnterpriseRow.category, EnterpriseRow.status)
    return [(u, c, s) for u, c, s in (await session.execute(q)).all()]


async def category_counts(session: AsyncSession, excluding_status: str) -> dict[str, int]:
    """{category: enterprises} of those whose 生产状态 is not ``excluding_status``."""
    q = (
        select(EnterpriseRow.category, func.count())
        .where(EnterpriseRow.status != excluding_status)
        .group_by(EnterpriseRow.category)
    )
    return {name: n for name, n in (await session.execute(q)).all()}


async def imported_history(session: AsyncSession, uscc: str | None = None) -> list[HistoryRow]:
    """Imported inspections, oldest period first."""
    q = select(HistoryRow).order_by(
        HistoryRow.year, HistoryRow.quarter, HistoryRow.uscc, HistoryRow.task_name
    )
    if uscc:
        q = q.where(HistoryRow.uscc == uscc)
    return list((await session.execute(q)).scalars())
