"""The annual plans: one row per year, a draft until it is published."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import PlanStatus
from storage.models_plan import PlanRow


async def plan(session: AsyncSession, year: int, for_update: bool = False) -> PlanRow | None:
    """The year's plan; ``for_update`` locks the row (PostgreSQL) for a publication."""
    return await session.get(PlanRow, year, with_for_update=for_update)


async def published_plans(session: AsyncSession) -> list[PlanRow]:
    """Published plans, newest year first."""
    q = (
        select(PlanRow)
        .where(PlanRow.status == PlanStatus.PUBLISHED, PlanRow.published_at.is_not(None))
        .order_by(PlanRow.year.desc())
    )
    return list((await session.execute(q)).scalars())
