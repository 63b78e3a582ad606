"""How many objects of each category a quarterly task draws (第十四条), exactly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from fractions import Fraction

from .model import Category, Enterprise, History, Quota, Rules, TaskSpec
from .periods import quarter_index

_NO_HISTORY = History()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def ceil_ratio(ratio: Fraction, n: int) -> int:
    """⌈ratio·n⌉ in exact arithmetic: 10 % of 170 is 17, never 18."""
    x = Fraction(ratio) * n
    return -(-x.numerator // x.denominator)


def period_index(year: int, quarter: int) -> int:
    """Quarters since year 0 of a (year, quarter) period, like ``quarter_index``."""
    return year * 4 + quarter - 1


def last_index(h: History, rules: Rules) -> int | None:
    """The quarter of an object's last draw (never drawn: of its entry into the library).

    Method 3: the period of the task that drew it (``last_period``; given only a day, the
    quarter it falls in). Method 2: the quarter of the wall-clock day of the draw."""
    if rules.method >= 3 and h.last_period:
        return period_index(*h.last_period)
    ref = h.last_drawn or h.since
    return quarter_index(ref) if ref is not None else None


def general_due(h: History, on: date, rules: Rules, period: int | None = None) -> bool:
    """True if a general object's last draw (or, never drawn, its entry into the library)
    would be ``general_years`` old or more by the next quarter unless drawn now.

    ``period``: the quarter index of the task being drawn (method 3); else the quarter
    of the day ``on`` it is drawn (method 2)."""
    ref = last_index(h, rules)
    if ref is None:
        return False
    now = period if period is not None else quarter_index(on)
    return now - ref >= rules.general_years * 4 - 1


def spec_period(spec: TaskSpec, rules: Rules) -> int | None:
    """The period general_due measures from: the task's (method 3), or None (method 2:
    the day it is drawn)."""
    return period_index(spec.year, spec.quarter) if rules.method >= 3 else None


def coverage_need(
    category: Category,
    objs: Iterable[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
) -> int:
    quarters_left = 4 - spec.quarter + 1
    if category is Category.KEY:
        owed = sum(
            max(0, rules.key_per_year - history.get(o.uscc, _NO_HISTORY).draws_this_year)
            for o in objs
        )
        return ceil_div(owed, quarters_left)
    if category is Category.SPECIAL:
        owed = sum(
            max(0, rules.special_per_year - history.get(o.uscc, _NO_HISTORY).draws_this_year)
            for o in objs
        )
        return ceil_div(owed, quarters_left)
    period = spec_period(spec, rules)
    return sum(
        1 for o in objs if general_due(history.get(o.uscc, _NO_HISTORY), spec.on, rules, period)
    )


def quota(
    category: Category,
    objs: list[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
) -> Quota:
    n = len(objs)
    by_ratio = ceil_ratio(rules.ratio(category), n)
    by_cov = coverage_need(category, objs, history, rules, spec)
    return Quota(category, n, by_ratio, by_cov, min(n, max(by_ratio, by_cov)))
