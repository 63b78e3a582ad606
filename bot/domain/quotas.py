"""How many objects of each category a quarterly task draws (第十四条), exactly."""
from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Iterable, Mapping

from .model import Category, Enterprise, History, Quota, Rules, TaskSpec
from .periods import quarter_index

_NO_HISTORY = History()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def ceil_ratio(ratio: Fraction, n: int) -> int:
    """⌈ratio·n⌉ in exact arithmetic: 10 % of 170 is 17, never 18."""
    x = Fraction(ratio) * n
    return -(-x.numerator // x.denominator)


def general_due(h: History, on: date, rules: Rules) -> bool:
    """True if a general object's last draw (or, never drawn, its entry into the library)
    would be ``general_years`` old or more by the next quarter unless drawn now."""
    ref = h.last_drawn or h.since
    if ref is None:
        return False
    return quarter_index(on) - quarter_index(ref) >= rules.general_years * 4 - 1


def coverage_need(category: Category, objs: Iterable[Enterprise],
                  history: Mapping[str, History], rules: Rules, spec: TaskSpec) -> int:
    quarters_left = 4 - spec.quarter + 1
    if category is Category.KEY:
        owed = sum(max(0, rules.key_per_year - history.get(o.uscc, _NO_HISTORY).draws_this_year)
                   for o in objs)
        return ceil_div(owed, quarters_left)
    if category is Category.SPECIAL:
        owed = sum(max(0, rules.special_per_year
                       - history.get(o.uscc, _NO_HISTORY).draws_this_year) for o in objs)
        return ceil_div(owed, quarters_left)
    return sum(1 for o in objs if general_due(history.get(o.uscc, _NO_HISTORY), spec.on, rules))


def quota(category: Category, objs: list[Enterprise], history: Mapping[str, History],
          rules: Rules, spec: TaskSpec) -> Quota:
    n = len(objs)
    by_ratio = ceil_ratio(rules.ratio(category), n)
    by_cov = coverage_need(category, objs, history, rules, spec)
    return Quota(category, n, by_ratio, by_cov, min(n, max(by_ratio, by_cov)))

