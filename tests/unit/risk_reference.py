"""An independent reference of domain.md's risk-based quarterly draw, written from the
text of ``shared/spec/domain.md`` alone ("The quarterly draw", "Risk-based draws",
"History from before the system"), for the property tests.

It reads an object's past as plain records — every valid draw and imported inspection
(year, quarter, conclusion or None) — never ``bot.domain``'s History, quota, order or
class code, and takes every ticket from ``consistent_sampler`` (the published reference
implementation of Rivest's consistent sampling, via ``strategies.RefTickets``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from bot.domain.model import Category, Enterprise, Status

from .strategies import RefTickets

# "D if 环境信用评级 is 警示 or 不良"; "A if 环境信用评级 is 环保诚信". A rating "is" a
# grade when its grade word is that one: the official wordings 环保诚信企业, 环保警示企业
# (and 警示企业) carry the word between 环保 and 企业.
LOW_CREDIT = ("警示", "不良")
HIGH_CREDIT = "诚信"


def grade_word(rating: str) -> str:
    word = rating.strip()
    if word.startswith("环保"):
        word = word[2:]
    if word.endswith("企业"):
        word = word[:-2]
    return word


# conclusions by their number 1–6: 2 责令整改, 3 立案调查, 4 移送其他部门, 5 涉嫌犯罪
RECTIFIED = 2
SERIOUS = (3, 4, 5)
FACTORS = {"A": Fraction(1, 2), "B": Fraction(1), "C": Fraction(3, 2), "D": Fraction(2)}
RATIOS = {
    Category.KEY: Fraction(25, 100),
    Category.GENERAL: Fraction(10, 100),
    Category.SPECIAL: Fraction(50, 100),
}


@dataclass(frozen=True)
class Record:
    """One past draw of an object (a task of the system, or an imported inspection)."""

    year: int
    quarter: int
    conclusion: int | None = None  # 1–6 once its result is approved; None before
    imported: bool = False
    team: tuple[str, ...] = ()  # who went (the rotation rule; not used here)


def ceil(x: Fraction) -> int:
    return -(-x.numerator // x.denominator)


def risk_class(obj: Enterprise, records: Sequence[Record], year: int) -> str:
    """ "the library column 信用风险分类 if filled; otherwise derived, first rule that
    matches" — with the results of the previous or current calendar year."""
    if obj.risk:
        return obj.risk
    recent = [
        r.conclusion for r in records if r.conclusion is not None and r.year in (year - 1, year)
    ]
    if grade_word(obj.credit) in LOW_CREDIT or any(c in SERIOUS for c in recent):
        return "D"
    if RECTIFIED in recent or obj.grade == "D":
        return "C"
    if (grade_word(obj.credit) == HIGH_CREDIT or obj.grade == "A" or obj.positive) and not any(
        c in SERIOUS + (RECTIFIED,) for c in recent
    ):
        return "A"
    return "B"


def quarter_number(year: int, quarter: int) -> int:
    return year * 4 + quarter


def select(
    objects: Sequence[Enterprise],
    past: Mapping[str, Sequence[Record]],
    year: int,
    quarter: int,
    seed: str,
    since: Mapping[str, tuple[int, int]] | None = None,
) -> list[tuple[str, str, str]]:
    """(USCC, class, why) of every object a quarterly draw of ``year``/``quarter`` takes, in
    category order, each category in the order its three steps take them."""
    tk = RefTickets(seed)
    since = since or {}
    out = []
    now = quarter_number(year, quarter)
    quarters_left = 4 - quarter + 1
    for cat in (Category.KEY, Category.GENERAL, Category.SPECIAL):
        pool = [o for o in objects if o.category is cat and o.status is not Status.CLOSED]
        r = RATIOS[cat]

        def this_year(o):
            return sum(1 for rec in past.get(o.uscc, ()) if rec.year == year)

        def last(o):
            periods = [(rec.year, rec.quarter) for rec in past.get(o.uscc, ())]
            return max(periods) if periods else None

        def due(o, cat=cat):
            """general: its last draw (never drawn: its entry) would be 3 years old by
            the next quarter unless drawn now"""
            ref = last(o) or since.get(o.uscc)
            return (
                cat is Category.GENERAL
                and ref is not None
                and now - quarter_number(*ref) >= 3 * 4 - 1
            )

        def order_key(o):
            lst = last(o)
            return (
                0 if due(o) else 1,
                this_year(o),
                (0, 0) if lst is None else (1, lst),
                tk(o.uscc),
                o.uscc,
            )

        order = sorted(pool, key=order_key)
        if cat is Category.KEY:
            need = ceil(Fraction(sum(max(0, 1 - this_year(o)) for o in pool), quarters_left))
        elif cat is Category.SPECIAL:
            need = ceil(Fraction(sum(max(0, 2 - this_year(o)) for o in pool), quarters_left))
        else:
            need = sum(1 for o in pool if due(o))
        cls = {o.uscc: risk_class(o, past.get(o.uscc, ()), year) for o in pool}
        taken: list[tuple[str, str]] = [(o.uscc, "coverage") for o in order[:need]]
        for k in ("D", "C", "B", "A"):
            members = [o for o in order if cls[o.uscc] == k]
            target = min(len(members), ceil(r * FACTORS[k] * len(members)))
            have = sum(1 for u, _ in taken if cls[u] == k)
            chosen = {u for u, _ in taken}
            extra = [o.uscc for o in members if o.uscc not in chosen][: max(0, target - have)]
            taken += [(u, "stratum") for u in extra]
        chosen = {u for u, _ in taken}
        floor = ceil(r * len(pool))
        rest = [o.uscc for o in order if o.uscc not in chosen]
        taken += [(u, "floor") for u in rest[: max(0, floor - len(taken))]]
        out += [(u, cls[u], why) for u, why in taken]
    return out
