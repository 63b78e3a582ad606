"""Small helpers the repositories share."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


async def by_keys(session: AsyncSession, model, column, keys) -> dict:
    keys = list(keys)
    out = {}
    for i in range(0, len(keys), 500):
        rows = await session.execute(select(model).where(column.in_(keys[i:i + 500])))
        for r in rows.scalars():
            out[getattr(r, column.key)] = r
    return out


def as_date(d) -> date | None:
    if d is None:
        return None
    return d.date() if hasattr(d, "date") else d
