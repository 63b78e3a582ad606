"""Working days on the Chinese statutory calendar (法定节假日 and 调休), failing closed.

Standard library only. A ``Calendar`` decides a date in this order:

1. an override entered by the deployment (True = 班 working day, False = 休 day off);
2. otherwise the oracle (in the shell: chinese-calendar), which returns None for a year
   whose State Council notice it does not know.

A date neither source decides is *undecided*, and every function that needs it raises
``DomainError("calendar_unknown_year", year=…, day=…)``: a deadline is never guessed
from the weekday rule. Overrides decide only the dates entered: entering some dates of an
unknown year does not make the rest of that year known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.domain.model import DomainError

Oracle = Callable[[date], "bool | None"]
ONE = timedelta(days=1)
MAX_GAP = 366  # days without a single working day: the data must be wrong


@dataclass(frozen=True)
class Calendar:
    oracle: Oracle
    overrides: Mapping[date, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", dict(self.overrides))

    def decided(self, d: date) -> bool | None:
        """True/False when known, None when undecided (no override, year unknown)."""
        if d in self.overrides:
            return bool(self.overrides[d])
        value = self.oracle(d)
        return None if value is None else bool(value)

    def is_workday(self, d: date) -> bool:
        value = self.decided(d)
        if value is None:
            raise DomainError("calendar_unknown_year", year=d.year, day=d.isoformat())
        return value

    def add_workdays(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself is not counted), n >= 1."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DomainError("calendar_bad_count", n=n)
        d, found, gap = start, 0, 0
        while found < n:
            d += ONE
            if self.is_workday(d):
                found, gap = found + 1, 0
            else:
                gap = self._gap(gap, start)
        return d

    def workdays_between(self, a: date, b: date) -> int:
        """Working days in (a, b]; negative (−count of (b, a]) when b is before a."""
        if b < a:
            return -self.workdays_between(b, a)
        count, d = 0, a
        while d < b:
            d += ONE
            count += self.is_workday(d)
        return count

    def first_workday_of(self, year: int, quarter: int) -> date:
        return self._scan(*quarter_bounds(year, quarter), ONE)

    def last_workday_of(self, year: int, quarter: int) -> date:
        return self._scan(*quarter_bounds(year, quarter), -ONE)

    def _scan(self, first: date, last: date, step: timedelta) -> date:
        """The first working day of [first, last] walking in ``step``'s direction."""
        d = first if step > timedelta(0) else last
        for _ in range((last - first).days + 1):
            if self.is_workday(d):
                return d
            d += step
        raise DomainError(
            "calendar_no_workday", start=first.isoformat(), days=(last - first).days + 1
        )

    def _gap(self, gap: int, start: date) -> int:
        gap += 1
        if gap > MAX_GAP:
            raise DomainError("calendar_no_workday", start=start.isoformat(), days=gap)
        return gap


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """First and last day of a calendar quarter (1-4)."""
    if isinstance(quarter, bool) or quarter not in (1, 2, 3, 4):
        raise DomainError("calendar_bad_quarter", quarter=quarter)
    first = date(year, 3 * quarter - 2, 1)
    nxt = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, nxt - ONE


def year_days(year: int) -> list[date]:
    d, out = date(year, 1, 1), []
    while d.year == year:
        out.append(d)
        d += ONE
    return out
