"""The annual plan (第十六条): planned objects (家) and visits (家次) per quarter and category.

The plan is the quota rule of ``quotas.quota`` run forward through the four quarters of
the year under an assumed perfect execution: every quarterly task draws exactly its
quota, the draw takes the objects with the fewest draws this year first (as
``draw.select_objects`` does), and the library does not change during the year.

Definitions, per category and quarter:

- **家次 (visits)** = the planned visits: the quota of that quarter's task,
  ``min(N, max(⌈ratio·N⌉, coverage need))``. One visit is one drawn object of one task
  (an object is drawn at most once per task).
- **家 (objects)** = the distinct objects *newly* covered this year by that quarter's
  visits: objects visited that quarter that had no visit earlier in the year. The
  year's 家 is therefore the number of distinct objects visited in the year, and the
  four quarters' 家 add up to it.

Example (defaults, key ratio 25 %, key objects once a year): N = 60 gives 家次 15, 15,
15, 15 and 家 15, 15, 15, 15; N = 5 gives 家次 2, 2, 2, 2 (⌈25 %·5⌉ = 2 every quarter)
but 家 2, 2, 1, 0 — the later visits go to objects already visited.

Coverage under perfect execution: key objects are all visited ``key_per_year`` times,
special objects ``special_per_year`` times (twice by default). General objects follow
the ratio only: the 3-year rule needs each object's draw history and adds, at draw
time, any general object whose last draw would otherwise be 3 years old.

Risk classes (信用风险分类): given the number of objects of each class per category,
each quarter runs the draw's own three steps (``draw.take_stratified``: coverage, the
strata D, C, B, A, the ratio floor) over stand-in objects whose tickets come from a
fixed seed, and the plan gives 家 and 家次 per class as well. Which classes the
coverage step happens to take depends on the tickets, so a real draw may differ from
the plan by a few objects per class (and so per category); without classes (all B) the
plan is exactly the quota rule above.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from .model import STRATA_ORDER, Category, Enterprise, History, Rules, TaskSpec
from .periods import quarter_start
from .quotas import coverage_need, quota
from .tickets import Tickets

QUARTERS = (1, 2, 3, 4)
_NEVER = date.min


@dataclass(frozen=True, slots=True)
class ClassCell:
    """One risk class of a category in one quarter (or the whole year)."""

    risk_class: str
    eligible: int  # N_k
    visits: int  # 家次
    objects: int  # 家

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.risk_class,
            "eligible": self.eligible,
            "visits": self.visits,
            "objects": self.objects,
        }


@dataclass(frozen=True, slots=True)
class Cell:
    """One category in one quarter (or in the whole year)."""

    category: Category
    eligible: int  # N: objects of the category not 关闭
    by_ratio: int  # ⌈ratio·N⌉ (per quarter; for the year: the four quarters' sum)
    visits: int  # 家次
    objects: int  # 家
    least: int = 0  # the year: fewest visits any one object gets (perfect execution)
    classes: tuple[ClassCell, ...] = ()  # per risk class, D, C, B, A (when given)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "category": self.category.value,
            "eligible": self.eligible,
            "by_ratio": self.by_ratio,
            "visits": self.visits,
            "objects": self.objects,
            "least_visits_per_object": self.least,
        }
        if self.classes:
            d["classes"] = [c.to_json() for c in self.classes]
        return d


@dataclass(frozen=True, slots=True)
class QuarterPlan:
    quarter: int
    cells: tuple[Cell, ...]

    @property
    def visits(self) -> int:
        return sum(c.visits for c in self.cells)

    @property
    def objects(self) -> int:
        return sum(c.objects for c in self.cells)


@dataclass(frozen=True, slots=True)
class YearPlan:
    year: int
    quarters: tuple[QuarterPlan, ...]
    totals: tuple[Cell, ...]  # per category, the whole year

    @property
    def visits(self) -> int:
        return sum(c.visits for c in self.totals)

    @property
    def objects(self) -> int:
        return sum(c.objects for c in self.totals)

    def cell(self, quarter: int, category: Category) -> Cell:
        return next(c for c in self.quarters[quarter - 1].cells if c.category is category)

    def total(self, category: Category) -> Cell:
        return next(c for c in self.totals if c.category is category)


def per_year(category: Category, rules: Rules) -> int:
    """How many visits a year coverage asks of each object (general: none within a year)."""
    return {
        Category.KEY: rules.key_per_year,
        Category.SPECIAL: rules.special_per_year,
        Category.GENERAL: 0,
    }[category]


def _simulate(category: Category, n: int, rules: Rules, year: int) -> list[tuple[int, int, int]]:
    """(by_ratio, visits, newly covered) per quarter, and the fewest visits per object."""
    objs = [Enterprise(f"{i:09d}", "", category) for i in range(n)]
    draws = [0] * n
    last: list[date | None] = [None] * n
    out = []
    for q in QUARTERS:
        on = quarter_start(year, q)
        history = {o.uscc: History(draws[i], last[i]) for i, o in enumerate(objs) if draws[i]}
        spec = TaskSpec(task_id=f"{year}Q{q}", year=year, quarter=q, on=on)
        qa = quota(category, objs, history, rules, spec)
        # perfect execution: the draw's order (fewest draws this year, oldest draw first)
        order = sorted(range(n), key=lambda i: (draws[i], last[i] or _NEVER, i))[: qa.quota]
        new = sum(1 for i in order if draws[i] == 0)
        for i in order:
            draws[i] += 1
            last[i] = on
        out.append((qa.by_ratio, qa.quota, new))
    out.append((0, 0, min(draws) if draws else 0))
    return out


_QuarterSim = tuple[int, int, int, dict[str, tuple[int, ...]]]


def _simulate_classes(
    category: Category, per_class: Mapping[str, int], rules: Rules, year: int
) -> tuple[list[_QuarterSim], int]:
    """The draw's three steps over stand-in objects of each class, four quarters of
    perfect execution: per quarter (by_ratio, visits, newly covered, {class: (visits,
    newly covered)}), then the fewest visits per object and per class the year's 家."""
    from .draw import standard_key, take_stratified  # draw imports this module's users

    tickets = Tickets(f"plan:{year}:{category.name}")
    objs: list[Enterprise] = []
    classes: dict[str, str] = {}
    for cls in STRATA_ORDER:
        for i in range(max(0, int(per_class.get(cls, 0)))):
            o = Enterprise(f"{cls}{i:09d}", "", category)
            objs.append(o)
            classes[o.uscc] = cls
    ticket = dict(zip((o.uscc for o in objs), tickets.many([o.uscc for o in objs]), strict=True))
    draws = {o.uscc: 0 for o in objs}
    last: dict[str, tuple[int, int]] = {}
    out: list[_QuarterSim] = []
    for q in QUARTERS:
        spec = TaskSpec(task_id=f"{year}Q{q}", year=year, quarter=q, on=quarter_start(year, q))
        history = {u: History(draws[u], last_period=last[u]) for u in last}
        need = coverage_need(category, objs, history, rules, spec)
        keyed = [
            (
                *standard_key(history.get(o.uscc, History()), ticket[o.uscc], o.uscc, False, rules),
                classes[o.uscc],
                o.uscc,
            )
            for o in objs
        ]
        picked, _strata, floor = take_stratified(keyed, need, rules.ratio(category), rules)
        per: dict[str, list[int]] = {cls: [0, 0] for cls in STRATA_ORDER}
        for u, _why in picked:
            per[classes[u]][0] += 1
            per[classes[u]][1] += draws[u] == 0
        for u, _why in picked:
            draws[u] += 1
            last[u] = (year, q)
        out.append(
            (
                floor,
                len(picked),
                sum(v[1] for v in per.values()),
                {k: tuple(v) for k, v in per.items()},
            )
        )
    least = min(draws.values()) if draws else 0
    return out, least


def make_plan(
    year: int,
    counts: Mapping[Category, int],
    rules: Rules,
    classes: Mapping[Category, Mapping[str, int]] | None = None,
) -> YearPlan:
    """The year's plan from the number of non-关闭 objects per category; with
    ``classes`` ({category: {risk class: objects}}) per risk class as well."""
    cats = tuple(Category)
    if classes is not None:
        return _plan_by_class(year, counts, rules, classes)
    sims = {c: _simulate(c, max(0, int(counts.get(c, 0))), rules, year) for c in cats}
    quarters = tuple(
        QuarterPlan(q, tuple(Cell(c, counts.get(c, 0), *sims[c][q - 1]) for c in cats))
        for q in QUARTERS
    )
    totals = tuple(
        Cell(
            c,
            counts.get(c, 0),
            sum(s[0] for s in sims[c][:4]),
            sum(s[1] for s in sims[c][:4]),
            sum(s[2] for s in sims[c][:4]),
            sims[c][4][2],
        )
        for c in cats
    )
    return YearPlan(year, quarters, totals)


def _plan_by_class(
    year: int,
    counts: Mapping[Category, int],
    rules: Rules,
    classes: Mapping[Category, Mapping[str, int]],
) -> YearPlan:
    cats = tuple(Category)
    sims = {c: _simulate_classes(c, classes.get(c, {}), rules, year) for c in cats}

    def class_cells(c: Category, rows: list[_QuarterSim]) -> tuple[ClassCell, ...]:
        n = classes.get(c, {})
        return tuple(
            ClassCell(
                k, int(n.get(k, 0)), sum(r[3][k][0] for r in rows), sum(r[3][k][1] for r in rows)
            )
            for k in STRATA_ORDER
        )

    quarters = tuple(
        QuarterPlan(
            q,
            tuple(
                Cell(
                    c,
                    counts.get(c, 0),
                    *sims[c][0][q - 1][:3],
                    0,
                    class_cells(c, [sims[c][0][q - 1]]),
                )
                for c in cats
            ),
        )
        for q in QUARTERS
    )
    totals = tuple(
        Cell(
            c,
            counts.get(c, 0),
            sum(r[0] for r in sims[c][0]),
            sum(r[1] for r in sims[c][0]),
            sum(r[2] for r in sims[c][0]),
            sims[c][1],
            class_cells(c, sims[c][0]),
        )
        for c in cats
    )
    return YearPlan(year, quarters, totals)


def percent(ratio: Fraction) -> str:
    """A ratio as a percentage number without the sign: 1/4 -> "25", 1/8 -> "12.5"."""
    x = Fraction(ratio) * 100
    if x.denominator == 1:
        return str(x.numerator)
    return f"{float(x):.2f}".rstrip("0").rstrip(".")


__all__ = ["Cell", "ClassCell", "QuarterPlan", "YearPlan", "make_plan", "per_year", "percent"]
