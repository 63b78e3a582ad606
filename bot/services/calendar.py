"""The working-day calendar in the shell: chinese-calendar as the oracle, overrides from
the database, audited changes.

Rules (fail closed):

* chinese-calendar knows a year only inside the range its data covers AND if that year's
  Spring Festival (every State Council notice has one) is in its data; the library itself
  would accept any year once a single date of it appears. Outside, the oracle says None;
  it never falls back to a Monday-to-Friday guess.
* An override decides its own date only. Entering some dates of an unknown year does not
  make that year known: a deadline that crosses an undecided date still fails.
* ``year_known``: a year is known when every date of it is decided, i.e. chinese-calendar
  knows it, or overrides have been entered for all of its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import chinese_calendar as cc
from chinese_calendar.constants import Holiday  # type: ignore[import-untyped]  # no stubs

from bot.domain.workdays import Calendar, year_days
from storage import audit
from storage.models_calendar import CalendarDay
from storage.repos import calendar as calendar_repo
from storage.uow import Session

NAME_LIMIT = 100


@lru_cache(maxsize=1)
def supported_years() -> frozenset[int]:
    """Years chinese-calendar has the State Council's full notice for."""
    if not cc.holidays:
        return frozenset()
    low, high = min(cc.holidays).year, max(cc.holidays).year
    spring = Holiday.spring_festival.value
    return frozenset(
        d.year for d, name in cc.holidays.items() if name == spring and low <= d.year <= high
    )


def oracle(d: date) -> bool | None:
    """chinese-calendar's answer for ``d``, or None for a year it does not know."""
    if d.year not in supported_years():
        return None
    try:
        return bool(cc.is_workday(d))
    except NotImplementedError:  # the library's own range check: unknown year
        return None


def holiday_name(d: date) -> str | None:
    """The Chinese name of the holiday ``d`` belongs to (off, or an adjusted 班 day)."""
    if d.year not in supported_years():
        return None
    try:
        _, name = cc.get_holiday_detail(d)
    except NotImplementedError:
        return None
    if name is None:
        return None
    try:
        return Holiday(name).chinese
    except ValueError:
        return name


async def overrides(session: Session, year: int | None = None) -> list[CalendarDay]:
    return await calendar_repo.overrides(session, year)


async def calendar(session: Session) -> Calendar:
    return Calendar(oracle, {r.day: r.workday for r in await overrides(session)})


async def deadline(session: Session, start: date, n: int) -> date:
    """The n-th working day after ``start`` (20 for publication, 第二十条)."""
    return (await calendar(session)).add_workdays(start, n)


async def set_day(session: Session, day: date, workday: bool, name: str, actor: str) -> CalendarDay:
    """Record (or change) the override of one date, inside the caller's transaction."""
    name = (name or "").strip()[:NAME_LIMIT]
    row = await calendar_repo.override(session, day)
    previous = None if row is None else {"workday": row.workday, "name": row.name}
    if row is None:
        row = CalendarDay(day=day, workday=workday, name=name)
        session.add(row)
    else:
        row.workday, row.name = workday, name
    await session.flush()
    await audit.append(
        session,
        actor,
        "calendar.set",
        day.isoformat(),
        {"workday": workday, "name": name, "previous": previous, "library": oracle(day)},
    )
    return row


async def year_known(session: Session, year: int) -> bool:
    """Whether every date of ``year`` is decided (see the module's rules)."""
    if year in supported_years():
        return True
    entered = {r.day for r in await overrides(session, year)}
    return all(d in entered for d in year_days(year))


@dataclass(frozen=True)
class Special:
    """A date of a year that is not an ordinary weekday/weekend."""

    day: date
    workday: bool
    name: str
    source: str  # "library" (chinese-calendar) | "override"


async def specials(session: Session, year: int) -> list[Special]:
    """Holidays and adjusted working days of ``year`` from chinese-calendar, overrides
    winning, sorted by date. An unknown year yields its overrides only."""
    out: dict[date, Special] = {}
    if year in supported_years():
        for d in year_days(year):
            name = holiday_name(d)
            if name is not None:
                out[d] = Special(d, bool(oracle(d)), name, "library")
    for r in await overrides(session, year):
        out[r.day] = Special(r.day, r.workday, r.name, "override")
    return [out[d] for d in sorted(out)]
