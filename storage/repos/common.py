"""Small helpers the repositories share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, TypeVar, overload

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

T = TypeVar("T")


async def by_keys(
    session: AsyncSession, model: type[T], column: InstrumentedAttribute[Any], keys: Iterable[Any]
) -> dict[Any, T]:
    """{key: row} of ``model`` whose ``column`` is one of ``keys`` (in batches of 500)."""
    keys = list(keys)
    out: dict[Any, T] = {}
    for i in range(0, len(keys), 500):
        rows = await session.execute(select(model).where(column.in_(keys[i : i + 500])))
        for r in rows.scalars():
            out[getattr(r, column.key)] = r
    return out


@overload
def as_date(d: None) -> None: ...
@overload
def as_date(d: date) -> date: ...
@overload
def as_date(d: date | None) -> date | None: ...
def as_date(d: date | datetime | None) -> date | None:
    """A stored date or datetime as a date (SQLite may hand back either)."""
    if d is None:
        return None
    return d.date() if isinstance(d, datetime) else d
