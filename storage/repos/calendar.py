"""The working-day calendar's overrides: dates entered by hand."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models_calendar import CalendarDay


async def overrides(session: AsyncSession, year: int | None = None) -> list[CalendarDay]:
    """Every override (of ``year`` only, when given), by date."""
    q = select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        q = q.where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    return list((await session.execute(q)).scalars())


async def override(session: AsyncSession, day: date) -> CalendarDay | None:
    return await session.get(CalendarDay, day)
