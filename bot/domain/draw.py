"""The draw: pure, deterministic for a seed. ``draw(...)`` decides; the shell applies.

Objects: per category, the eligible pool (not 关闭, matching the task's filters) in the
standard order (general objects due under the 3-year rule first; draws this year ↑;
last draw ↑ with never first; ticket ↑). Method 3 (``Rules.method``, 信用风险分级分类)
builds each category's quota in three steps, each taking the first objects in that order
of those not yet taken: (1) coverage: what the coverage rules still need; (2) strata:
for each risk class k, processed D, C, B, A, top up to s_k = min(N_k, ⌈r·m_k·N_k⌉)
objects of class k; (3) floor: top up to ⌈r·N⌉. "Last draw" is the period of the task
that drew the object. Method 2 (draws made before risk classes, replayed as they were)
takes the first max(⌈r·N⌉, coverage) and orders by the wall-clock day of the last draw.
Special campaigns and joint tasks with a fixed ``count`` take the lowest tickets of the
filtered pool. Then each drawn object is staffed (teams.py).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from fractions import Fraction
from typing import Any, TypeVar

from .model import (
    STRATA_ORDER,
    Category,
    DrawResult,
    Enterprise,
    History,
    Inspector,
    Quota,
    Rules,
    Selection,
    Status,
    Stratum,
    TaskSpec,
    Team,
)
from .quotas import ceil_ratio, coverage_need, general_due, last_index, period_index, quota
from .risk import classify, parse_class, tag_key
from .teams import staff
from .tickets import ALGORITHM, ALGORITHM_V2, Tickets

_NO_HISTORY = History()
_NEVER = date.min


def campaign_count(spec: TaskSpec, eligible: int) -> int | None:
    """A campaign's fixed count, or ⌈ratio · eligible⌉ in exact arithmetic; None for the
    quarterly quota rules."""
    if spec.ratio is not None:
        return ceil_ratio(spec.ratio, eligible)
    return spec.count


YES, NO = "是", "否"  # the values of the 正面清单 filter
ANY = "|"  # several values of one filter: 行业类别=化工|制药
DATE_FIELDS = frozenset({"started_on"})  # 投产时间
NUMBER_FIELDS = frozenset({"lng", "lat"})  # 经度, 纬度
_DATE_RE = re.compile(r"(\d{4})(?:\s*[-/.年]\s*(\d{1,2})(?:\s*[-/.月]\s*(\d{1,2}))?)?")


# filter fields the pure Enterprise carries itself; any other library column a campaign
# filters on travels in Enterprise.attrs (see attr_keys)
DIRECT_FIELDS = frozenset(
    {
        "region",
        "industry",
        "pollutant",
        "category",
        "credit",
        "grade",
        "positive",
        "risk_class",
        "status",
        "name",
        "uscc",
    }
)


def attr_keys(filters: Iterable[Sequence[str]]) -> list[str]:
    """The library columns (EnterpriseRow attributes) the shell must put in ``attrs``."""
    return sorted({filter_parts(f)[0] for f in filters} - DIRECT_FIELDS)


def filter_parts(f: Sequence[str]) -> tuple[str, str, str]:
    """A stored campaign filter as (field, operator, value): ``[field, value]`` (exact,
    as stored before ranges existed) or ``[field, op, value]``."""
    return (f[0], "=", f[1]) if len(f) == 2 else (f[0], f[1], f[2])


def as_date(text: str) -> date | None:
    """投产时间 as a date: 2015-06-01, 2015/6/1, 2015年6月1日, 2015-06 (its first day),
    2015 (1 January); None when it is not one."""
    m = _DATE_RE.fullmatch((text or "").strip().rstrip("日号月年"))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        return None


def as_number(text: str) -> float | None:
    try:
        return float((text or "").strip())
    except ValueError:
        return None


def _compare(left: Any, op: str, right: Any) -> bool:  # two dates or two numbers
    return bool(
        {">=": left >= right, "<=": left <= right, ">": left > right, "<": left < right}[op]
    )


def _one(obj: Enterprise, field_name: str, value: str, risk_class: str) -> bool:
    if field_name in ("credit", "grade"):
        return tag_key(getattr(obj, field_name)) == tag_key(value)
    if field_name == "positive":
        return obj.positive == (value == YES)
    if field_name == "pollutant":
        return value in obj.pollutants
    if field_name == "region":
        return obj.region.startswith(value)
    if field_name == "industry":
        return obj.industry == value
    if field_name == "risk_class":
        return risk_class == parse_class(value)
    if field_name == "category":
        return obj.category.value == value
    if field_name == "status":
        return obj.status.value == value
    if field_name in ("name", "uscc"):
        return bool(getattr(obj, field_name) == value)
    return obj.attr(field_name).strip() == value


def matches(obj: Enterprise, filters: Iterable[Sequence[str]], risk_class: str = "") -> bool:
    """Does the object pass every campaign filter? Exact filters pass when any of their
    ``|``-separated values matches; ranges compare 投产时间 as dates and 经度/纬度 as
    numbers (an object without a readable value fails them)."""
    for f in filters:
        field_name, op, value = filter_parts(f)
        if op == "=":
            if not any(
                _one(obj, field_name, v.strip(), risk_class) for v in value.split(ANY) if v.strip()
            ):
                return False
            continue
        parse = as_date if field_name in DATE_FIELDS else as_number
        mine, bound = parse(obj.attr(field_name)), parse(value)
        if mine is None or bound is None or not _compare(mine, op, bound):
            return False
    return True


def eligible_pool(
    pool: Iterable[Enterprise], spec: TaskSpec, classes: Mapping[str, str] | None = None
) -> list[Enterprise]:
    cats = spec.categories
    if not spec.object_filter:
        return [o for o in pool if o.status is not Status.CLOSED and o.category in cats]
    classes = classes or {}
    return [
        o
        for o in pool
        if o.status is not Status.CLOSED
        and o.category in cats
        and matches(o, spec.object_filter, classes.get(o.uscc, ""))
    ]


Chosen = tuple[Enterprise, str, str]  # (object, ticket, reason)


def select_objects(
    pool: Sequence[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    tickets: Tickets,
) -> tuple[list[tuple[Enterprise, str]], list[Quota]]:
    """The drawn objects with their tickets, in category then selection order."""
    chosen, quotas = select_with_reasons(pool, history, rules, spec, tickets)
    return [(o, t) for o, t, _ in chosen], quotas


def select_with_reasons(
    pool: Sequence[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    tickets: Tickets,
    classes: Mapping[str, str] | None = None,
) -> tuple[list[Chosen], list[Quota]]:
    """The drawn objects with their tickets and why each was drawn ("" in method 2)."""
    method3 = rules.method >= 3
    if method3 and classes is None:
        classes = classify(pool, history, spec.year, rules)
    classes = classes or {}
    objs = eligible_pool(pool, spec, classes)
    ticket_list = tickets.many([o.uscc for o in objs])
    quotas: list[Quota] = []
    count = campaign_count(spec, len(objs))
    if count is not None:
        ranked = sorted(zip(ticket_list, objs, strict=True), key=lambda t: (t[0], t[1].uscc))
        reason = "count" if method3 else ""
        return [(o, t, reason) for t, o in ranked[:count]], quotas
    by_cat: dict[Category, list[tuple[str, Enterprise]]] = {c: [] for c in spec.categories}
    for t, o in zip(ticket_list, objs, strict=True):
        by_cat[o.category].append((t, o))
    chosen: list[Chosen] = []
    for cat in spec.categories:
        entries = by_cat[cat]
        if method3:
            picked, q = _stratified(cat, entries, history, rules, spec, classes)
        else:
            picked, q = _legacy(cat, entries, history, rules, spec)
        quotas.append(q)
        chosen.extend(picked)
    return chosen, quotas


_Entries = Sequence[tuple[str, Enterprise]]  # (ticket, object)


def _legacy(
    cat: Category, entries: _Entries, history: Mapping[str, History], rules: Rules, spec: TaskSpec
) -> tuple[list[Chosen], Quota]:
    """Method 2, exactly as draws before risk classes were made."""
    q = quota(cat, [o for _, o in entries], history, rules, spec)

    def key(
        entry: tuple[str, Enterprise],
        _h: Mapping[str, History] = history,
        _general: bool = cat is Category.GENERAL,
    ) -> tuple[bool, int, date, str, str]:
        t, o = entry
        h = _h.get(o.uscc, _NO_HISTORY)
        # a general object that is due (3-year rule) goes before a never-drawn newcomer
        due = _general and general_due(h, spec.on, rules)
        return (not due, h.draws_this_year, h.last_drawn or _NEVER, t, o.uscc)

    if q.quota < len(entries):
        top = heapq.nsmallest(q.quota, entries, key=key)
    else:
        top = sorted(entries, key=key)
    return [(o, t, "") for t, o in top], q


def standard_key(
    h: History, ticket: str, uscc: str, due: bool, rules: Rules
) -> tuple[int, str, str]:
    """An object's place in the standard order (method 3): due general objects first,
    then draws this year, last draw by period (never first), ticket, USCC. The first
    three are packed into one integer (a due flag, then the draws this year, then the
    quarter index of the last draw plus one, 0 for never), which orders exactly as the
    three would: comparing one integer and a ticket is what makes large draws fast."""
    last = last_index(h, rules) if (h.last_period or h.last_drawn) else None
    return (_pack(due, h.draws_this_year, 0 if last is None else last + 1), ticket, uscc)


def _pack(due: bool, draws: int, last_plus_one: int) -> int:
    # draws and quarter indexes are far below 2**32: the fields never overlap
    return ((0 if due else 1) << 96) | (draws << 48) | last_plus_one


_NEVER_DRAWN = _pack(False, 0, 0)


_P = TypeVar("_P")


def take_stratified(
    keyed: Sequence[tuple[int, str, str, str, _P]], coverage: int, ratio: Fraction, rules: Rules
) -> tuple[list[tuple[_P, str]], tuple[Stratum, ...], int]:
    """The three steps of a category's quota over ``keyed`` = [(*standard_key, risk class,
    payload)] — flat tuples, so that ordering them compares an integer and a ticket:
    returns ([(payload, reason)] in the order taken, the strata, the floor ⌈r·N⌉).
    Shared by the draw and the annual plan's simulation."""
    n = len(keyed)
    out: list[tuple[_P, str]] = []
    taken: set[str] = set()  # USCCs (unique in a pool)
    per_class: dict[str, int] = {}
    for entry in heapq.nsmallest(min(n, coverage), keyed):
        out.append((entry[4], "coverage"))
        taken.add(entry[2])
        per_class[entry[3]] = per_class.get(entry[3], 0) + 1
    by_class: dict[str, list[tuple[int, str, str, str, _P]]] = {}
    for entry in keyed:
        by_class.setdefault(entry[3], []).append(entry)
    strata: list[Stratum] = []
    for cls in STRATA_ORDER:
        members = by_class.get(cls, [])
        target = min(len(members), ceil_ratio(ratio * rules.factor(cls), len(members)))
        have = per_class.get(cls, 0)
        added = 0
        if target > have:
            for entry in heapq.nsmallest(target, members):
                if entry[2] not in taken and have + added < target:
                    out.append((entry[4], "stratum"))
                    taken.add(entry[2])
                    added += 1
        strata.append(Stratum(cls, len(members), target, have, added))
    floor = ceil_ratio(ratio, n)
    need = floor - len(out)
    if need > 0:
        for entry in heapq.nsmallest(need + len(taken), keyed):
            if entry[2] not in taken:
                out.append((entry[4], "floor"))
                taken.add(entry[2])
                need -= 1
                if not need:
                    break
    return out, tuple(strata), floor


def _stratified(
    cat: Category,
    entries: _Entries,
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    classes: Mapping[str, str],
) -> tuple[list[Chosen], Quota]:
    """Method 3: coverage, then the risk strata D, C, B, A, then the ratio floor."""
    general = cat is Category.GENERAL
    now = period_index(spec.year, spec.quarter)
    span = rules.general_years * 4 - 1  # general_due, inlined: the hot loop
    get = history.get
    keyed: list[tuple[int, str, str, str, tuple[Enterprise, str]]] = []
    append = keyed.append
    n_due = 0
    for t, o in entries:
        h = get(o.uscc)
        if h is None:  # no history: never due, never drawn
            append((_NEVER_DRAWN, t, o.uscc, classes[o.uscc], (o, t)))
            continue
        last = last_index(h, rules) if (h.last_period or h.last_drawn) else None
        due = False
        if general:
            ref = last if last is not None else last_index(h, rules)
            due = ref is not None and now - ref >= span
            n_due += due
        append(
            (
                _pack(due, h.draws_this_year, 0 if last is None else last + 1),
                t,
                o.uscc,
                classes[o.uscc],
                (o, t),
            )
        )
    need = n_due if general else coverage_need(cat, [o for _, o in entries], history, rules, spec)
    picked, strata, floor = take_stratified(keyed, need, rules.ratio(cat), rules)
    q = Quota(cat, len(entries), floor, need, len(picked), strata)
    return [(o, t, reason) for (o, t), reason in picked], q


def draw(
    pool: Sequence[Enterprise],
    inspectors: Sequence[Inspector],
    conflicts: frozenset[tuple[str, str]],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    seed: str,
) -> DrawResult:
    """Select objects and staff their teams. Raises DomainError if a team can't be staffed.

    ``conflicts`` is a frozenset of (执法证号, USCC) pairs.
    """
    tickets = Tickets(seed)
    classes = classify(pool, history, spec.year, rules) if rules.method >= 3 else {}
    chosen, quotas = select_with_reasons(pool, history, rules, spec, tickets, classes)
    teams, caps = staff(
        [(o, t) for o, t, _ in chosen], inspectors, conflicts, history, rules, spec, tickets
    )
    selections = tuple(
        Selection(
            o.uscc,
            o.name,
            o.category,
            t,
            tuple(Team(d, tuple(m), tuple(a)) for d, m, a in teams[o.uscc]),
            classes.get(o.uscc, ""),
            reason,
        )
        for o, t, reason in chosen
    )
    cap = max(caps.values()) if caps else 0
    return DrawResult(
        selections,
        tuple(quotas),
        cap,
        ALGORITHM if rules.method >= 3 else ALGORITHM_V2,
        tuple(sorted(classes.items())),
    )
