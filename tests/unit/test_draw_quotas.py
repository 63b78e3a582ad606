"""Quotas per category and quarter (第十四条), exactly, and which objects fill them."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import consistent_sampler as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.draw import draw, eligible_pool, matches, select_objects
from bot.domain.model import Category, Enterprise, History, Inspector, Rules, Status, TaskSpec
from bot.domain.periods import quarter_index
from bot.domain.quotas import ceil_div, ceil_ratio, coverage_need, general_due, quota
from bot.domain.tickets import Tickets

from .strategies import RAD, examples, make_uscc, quarter_spec, reference_quota

K, G, S = Category.KEY, Category.GENERAL, Category.SPECIAL
RULES = Rules()
SEED = "f00d" * 16 + ":"


def objs(
    cat: Category,
    n: int,
    closed=(),
    pollutants=None,
    start: int = 0,
    region: str = "410724",
    industry: str = "",
) -> list[Enterprise]:
    c = {K: "1", G: "2", S: "3"}[cat]
    out = []
    for i in range(start, start + n):
        out.append(
            Enterprise(
                make_uscc(f"91{region}{c}{i:08d}"),
                f"{cat.value[:2]}{i}",
                cat,
                tuple((pollutants or {}).get(i, ())),
                Status.CLOSED if i in closed else Status.RUNNING,
                region,
                industry,
            )
        )
    return out


def staff_for(n: int = 6, experts: int = 2) -> list[Inspector]:
    return [
        Inspector(f"410700{i:02d}", f"员{i}", expertise=(RAD,) if i < experts else ())
        for i in range(n)
    ]


def only(cat: Category, **kw) -> TaskSpec:
    kw.setdefault("task_id", "2027Q1")
    return TaskSpec(categories=(cat,), **kw)


# ---------------------------------------------------------------- exact ceilings


@pytest.mark.parametrize(
    "ratio,n,expected",
    [
        (Fraction(10, 100), 170, 17),
        (Fraction(7, 100), 100, 7),  # 0.07 * 100 = 7.000000000000001 in floating point
        (Fraction(25, 100), 5, 2),
        (Fraction(50, 100), 3, 2),
        (Fraction(50, 100), 4, 2),
        (Fraction(25, 100), 0, 0),
        (Fraction(15, 100), 20, 3),
        (Fraction(2, 100), 51, 2),
        (Fraction(5, 100), 100, 5),
        (Fraction(1, 3), 9, 3),
        (Fraction(1), 7, 7),
    ],
)
def test_ceil_ratio_exact(ratio, n, expected):
    assert ceil_ratio(ratio, n) == expected


def test_floating_point_would_be_wrong():
    assert math.ceil(0.07 * 100) == 8  # why the code must not use floats
    assert ceil_ratio(Fraction("0.07"), 100) == 7
    assert ceil_ratio(Fraction("0.1"), 170) == 17
    assert ceil_ratio("1/10", 170) == 17


@settings(max_examples=examples(200), deadline=None)
@given(st.integers(0, 1000), st.integers(1, 1000), st.integers(0, 100_000))
def test_ceil_ratio_is_exact_ceiling(num, den, n):
    r = Fraction(num, den)
    c = ceil_ratio(r, n)
    assert c - 1 < r * n <= c
    assert ceil_div(num * n, den) == c


def test_ratio_quota_per_category_in_a_draw():
    pool = objs(K, 5) + objs(G, 170) + objs(S, 3)
    res = draw(pool, staff_for(12), frozenset(), {}, RULES, TaskSpec("2027Q1"), SEED)
    by = {q.category: q for q in res.quotas}
    assert (by[K].eligible, by[K].by_ratio, by[K].quota) == (5, 2, 2)
    assert (by[G].eligible, by[G].by_ratio, by[G].quota) == (170, 17, 17)
    assert (by[S].eligible, by[S].by_ratio, by[S].quota) == (3, 2, 2)
    counts = {c: sum(1 for s in res.selections if s.category is c) for c in (K, G, S)}
    assert counts == {K: 2, G: 17, S: 2}


def test_configured_ratios_are_fractions():
    rules = Rules(
        ratio_key=Fraction(25, 100), ratio_general=Fraction(2, 100), ratio_special=Fraction(15, 100)
    )
    pool = objs(K, 9) + objs(G, 170) + objs(S, 20)
    res = draw(pool, staff_for(12), frozenset(), {}, rules, TaskSpec("2027Q1"), SEED)
    assert [(q.category, q.quota) for q in res.quotas] == [(K, 3), (G, 4), (S, 10)]
    # special: ratio 15 % gives 3, but 2 draws a year over 4 quarters need ⌈40/4⌉ = 10
    assert [q.by_ratio for q in res.quotas] == [3, 4, 3]
    assert Rules.from_json(rules.to_json()) == rules
    assert Rules.from_json({**rules.to_json(), "ratio_general": "0.02"}).ratio_general == Fraction(
        1, 50
    )


# ---------------------------------------------------------------- key: quarters left


def key_history(pool, drawn: int, on=date(2027, 1, 1)) -> dict[str, History]:
    return {o.uscc: History(draws_this_year=1, last_drawn=on) for o in pool[:drawn]}


@pytest.mark.parametrize(
    "quarter,drawn,expected",
    [
        (1, 0, 5),  # ratio 25 % of 20 = 5 = ⌈20/4⌉
        (2, 5, 5),  # ⌈15/3⌉
        (2, 2, 6),  # ⌈18/3⌉ = 6 > 5
        (3, 6, 7),  # ⌈14/2⌉
        (4, 12, 8),  # Q4 takes all 8 not yet drawn
        (4, 19, 5),  # only 1 left: the ratio still takes 5
        (4, 0, 20),  # nothing drawn all year: all of them
    ],
)
def test_key_quota_by_quarters_left(quarter, drawn, expected):
    pool = objs(K, 20)
    hist = key_history(pool, drawn)
    spec = only(K, quarter=quarter, on=date(2027, 3 * quarter - 2, 1))
    q = quota(K, pool, hist, RULES, spec)
    assert q.quota == expected
    assert q.by_coverage == ceil_div(20 - drawn, 5 - quarter)
    assert q == reference_quota_obj(K, pool, hist, spec)


def reference_quota_obj(cat, pool, hist, spec):
    q = quota(cat, pool, hist, RULES, spec)
    assert q.quota == reference_quota(cat, pool, hist, RULES, spec)
    return q


def test_q4_draws_every_key_object_not_yet_drawn():
    pool = objs(K, 20)
    hist = key_history(pool, 12, date(2027, 4, 1))
    spec = only(K, task_id="2027Q4", quarter=4, on=date(2027, 10, 1))
    chosen, quotas = select_objects(pool, hist, RULES, spec, Tickets(SEED))
    assert quotas[0].quota == 8
    assert {o.uscc for o, _ in chosen} == {o.uscc for o in pool[12:]}


def test_key_objects_drawn_this_year_come_last():
    pool = objs(K, 8)
    # drawn twice, once, never: never first, then by last draw, then by ticket
    hist = {
        pool[0].uscc: History(2, date(2027, 4, 1)),
        pool[1].uscc: History(1, date(2027, 4, 1)),
        pool[2].uscc: History(1, date(2027, 1, 1)),
    }
    spec = only(K, quarter=3, on=date(2027, 7, 1))
    rules = Rules(ratio_key=Fraction(1))
    chosen, _ = select_objects(pool, hist, rules, spec, Tickets(SEED))
    order = [o.uscc for o, _ in chosen]
    t = Tickets(SEED)
    never = sorted((o.uscc for o in pool[3:]), key=t)
    assert order == never + [pool[2].uscc, pool[1].uscc, pool[0].uscc]


# ---------------------------------------------------------------- special: owed


@pytest.mark.parametrize(
    "quarter,draws,expected",
    [
        (1, (0, 0, 0, 0), 2),  # ⌈8/4⌉ = 2 = 50 % of 4
        (3, (0, 1, 2, 2), 2),  # owed 3, ⌈3/2⌉ = 2
        (4, (0, 1, 2, 2), 3),  # owed 3 in the last quarter
        (4, (0, 0, 0, 0), 4),  # owed 8, but at most once per object per task
        (2, (2, 2, 2, 2), 2),  # nothing owed: the ratio
        (1, (0, 0, 0, 0, 0, 0, 0), 4),  # ⌈14/4⌉ = 4 = ⌈3.5⌉
    ],
)
def test_special_quota(quarter, draws, expected):
    pool = objs(S, len(draws))
    hist = {
        o.uscc: History(d, date(2027, 1, 1) if d else None)
        for o, d in zip(pool, draws, strict=True)
    }
    spec = only(S, quarter=quarter, on=date(2027, 3 * quarter - 2, 1))
    q = reference_quota_obj(S, pool, hist, spec)
    assert q.quota == expected


def test_special_objects_owed_most_come_first_and_once_per_task():
    pool = objs(S, 4)
    hist = {pool[0].uscc: History(2, date(2027, 7, 1)), pool[1].uscc: History(1, date(2027, 7, 1))}
    spec = only(S, task_id="2027Q3", quarter=3, on=date(2027, 7, 1))
    chosen, quotas = select_objects(pool, hist, RULES, spec, Tickets(SEED))
    assert quotas[0].quota == 3  # owed 0 + 1 + 2 + 2 = 5 over 2 quarters: ⌈5/2⌉
    uss = [o.uscc for o, _ in chosen]
    assert len(set(uss)) == len(uss)
    assert set(uss) == {pool[1].uscc, pool[2].uscc, pool[3].uscc}


# ---------------------------------------------------------------- general: 3 years


@pytest.mark.parametrize(
    "last,on,due",
    [
        (date(2027, 1, 1), date(2029, 10, 1), True),  # 11 quarters later: last chance
        (date(2027, 3, 31), date(2029, 10, 1), True),
        (date(2027, 1, 1), date(2029, 7, 1), False),  # 10 quarters
        (date(2027, 4, 1), date(2029, 10, 1), False),
        (date(2027, 1, 1), date(2030, 4, 1), True),  # overdue stays due
        (date(2026, 12, 31), date(2029, 7, 1), True),
    ],
)
def test_general_due_after_eleven_quarters(last, on, due):
    assert general_due(History(1, last), on, RULES) is due
    # never drawn: counted from the day it entered the library
    assert general_due(History(0, None, (), last), on, RULES) is due


def test_general_never_drawn_without_entry_date_is_not_due():
    assert not general_due(History(), date(2040, 1, 1), RULES)


def test_general_due_rule_follows_configured_years():
    rules = Rules(general_years=2)
    assert general_due(History(1, date(2027, 1, 1)), date(2028, 10, 1), rules)
    assert not general_due(History(1, date(2027, 1, 1)), date(2028, 7, 1), rules)


def test_general_quota_takes_every_due_object():
    pool = objs(G, 30)
    old = date(2027, 1, 1)
    recent = date(2029, 4, 1)
    # 7 due (drawn 2027Q1), the rest drawn recently
    hist = {o.uscc: History(0, old if i < 7 else recent, (), old) for i, o in enumerate(pool)}
    spec = quarter_spec(2029, 4)
    spec = TaskSpec(spec.task_id, year=2029, quarter=4, on=spec.on, categories=(G,))
    assert coverage_need(G, pool, hist, RULES, spec) == 7
    chosen, quotas = select_objects(pool, hist, RULES, spec, Tickets(SEED))
    assert (quotas[0].by_ratio, quotas[0].by_coverage, quotas[0].quota) == (3, 7, 7)
    assert {o.uscc for o, _ in chosen} == {o.uscc for o in pool[:7]}


def test_bug_general_due_object_loses_its_slot_to_a_never_drawn_newcomer():
    """Regression (was a bug, fixed in bot/domain/draw.py select_objects): the quota counts an object whose last
    draw is 11 quarters old as due, but the sort key puts *any* never-drawn object
    first, so a newcomer (entered last quarter, not due) takes the slot and the due
    object goes 3 years without a draw (第十四条: at least once every 3 years)."""
    old = objs(G, 1)[0]
    new = objs(G, 1, start=1)[0]
    hist = {
        old.uscc: History(0, date(2027, 1, 1), ("x", "y"), date(2027, 1, 1)),
        new.uscc: History(0, None, (), date(2029, 7, 1)),
    }
    spec = TaskSpec("2029Q4", year=2029, quarter=4, on=date(2029, 10, 1), categories=(G,))
    assert general_due(hist[old.uscc], spec.on, RULES)
    assert not general_due(hist[new.uscc], spec.on, RULES)
    chosen, quotas = select_objects([old, new], hist, RULES, spec, Tickets(SEED))
    assert quotas[0].quota == 1
    assert [o.uscc for o, _ in chosen] == [old.uscc]


# ---------------------------------------------------------------- pool and filters


@settings(max_examples=examples(150), deadline=None)
@given(
    st.sampled_from([K, G, S]),
    st.integers(0, 40),
    st.integers(1, 4),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 15), st.booleans()), max_size=40),
    st.fractions(0, 1),
)
def test_quota_never_exceeds_the_pool(cat, n, quarter, hist_rows, ratio):
    pool = objs(cat, n)
    hist = {}
    for o, (d, ago, never) in zip(pool, hist_rows, strict=False):  # history for some objects only
        on = date(2030, 3 * quarter - 2, 1)
        qi = quarter_index(on) - ago
        last = date(qi // 4, (qi % 4) * 3 + 1, 1)
        hist[o.uscc] = History(d, None if never else last, (), date(2026, 1, 1))
    rules = Rules(ratio_key=ratio, ratio_general=ratio, ratio_special=ratio)
    spec = TaskSpec(
        "2030Q1", year=2030, quarter=quarter, on=date(2030, 3 * quarter - 2, 1), categories=(cat,)
    )
    q = quota(cat, pool, hist, rules, spec)
    assert q.eligible == n
    assert 0 <= q.quota <= n
    assert q.quota == min(n, max(ceil_ratio(ratio, n), q.by_coverage))
    assert q.quota == reference_quota(cat, pool, hist, rules, spec)
    chosen, _ = select_objects(pool, hist, rules, spec, Tickets(SEED))
    assert len(chosen) == q.quota
    assert len({o.uscc for o, _ in chosen}) == q.quota


def test_closed_objects_leave_the_pool():
    pool = objs(K, 10, closed={0, 1, 2, 3}) + objs(G, 20, closed=set(range(10)))
    # closed objects are excluded even when history says they are owed or due
    hist = {o.uscc: History(0, date(2020, 1, 1), (), date(2020, 1, 1)) for o in pool}
    spec = TaskSpec("2027Q4", year=2027, quarter=4, on=date(2027, 10, 1), categories=(K, G))
    chosen, quotas = select_objects(pool, hist, RULES, spec, Tickets(SEED))
    assert [(q.category, q.eligible, q.quota) for q in quotas] == [(K, 6, 6), (G, 10, 10)]
    assert all(o.status is not Status.CLOSED for o, _ in chosen)
    stopped = [Enterprise(make_uscc("91410724900000001"), "停产厂", K, (), Status.STOPPED)]
    assert eligible_pool(stopped, spec) == stopped


def test_special_campaign_count_and_pollutant_filter():
    polls = {i: ("废气", RAD) if i % 3 == 0 else ("废水",) for i in range(30)}
    pool = objs(G, 30, pollutants=polls, closed={3}) + objs(K, 6, pollutants={0: (RAD,)})
    spec = TaskSpec("2027专项1", kind="special", count=4, object_filter=(("pollutant", RAD),))
    res = draw(pool, staff_for(8, experts=3), frozenset(), {}, RULES, spec, SEED)
    assert res.quotas == ()
    radiating = [o.uscc for o in pool if RAD in o.pollutants and o.status is not Status.CLOSED]
    assert len(radiating) == 10
    expected = list(cs.sampler(radiating, SEED, output="id"))[:4]
    assert [s.uscc for s in res.selections] == expected
    # count larger than the filtered pool: all of it
    spec = TaskSpec("2027专项2", kind="special", count=50, object_filter=(("pollutant", RAD),))
    res = draw(pool, staff_for(8, experts=3), frozenset(), {}, RULES, spec, SEED)
    assert sorted(s.uscc for s in res.selections) == sorted(radiating)


def test_filters_region_prefix_industry_and_fields():
    a = objs(G, 3, region="410724", industry="电镀")
    b = objs(G, 3, region="410781", industry="造纸", start=3)
    assert matches(a[0], (("region", "4107"),)) and matches(b[0], (("region", "4107"),))
    assert not matches(b[0], (("region", "410724"),))
    assert matches(a[0], (("industry", "电镀"),)) and not matches(b[0], (("industry", "电镀"),))
    assert matches(a[0], (("category", G),)) and not matches(a[0], (("category", K),))
    assert matches(a[0], ())
    spec = TaskSpec(
        "专项", kind="special", count=10, object_filter=(("region", "410724"), ("industry", "电镀"))
    )
    chosen, _ = select_objects(a + b, {}, RULES, spec, Tickets(SEED))
    assert sorted(o.uscc for o, _ in chosen) == sorted(o.uscc for o in a)


def test_categories_not_in_the_task_are_not_drawn():
    pool = objs(K, 4) + objs(G, 10) + objs(S, 4)
    res = draw(pool, staff_for(6), frozenset(), {}, RULES, only(S), SEED)
    assert {s.category for s in res.selections} == {S}
    assert [q.category for q in res.quotas] == [S]
