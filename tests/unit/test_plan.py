"""The annual plan (bot/domain/plan.py): quarters × categories, 家 and 家次.

Properties over the number of objects per category: each quarter plans at least the
ratio; key objects are all covered within the year, special objects twice; the totals
add up. And the plan agrees with the real draw run through the year under perfect
execution (every drawn object inspected, the library unchanged).
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.draw import select_objects
from bot.domain.model import Category, Enterprise, History, Rules, TaskSpec
from bot.domain.periods import quarter_start
from bot.domain.plan import make_plan, percent
from bot.domain.quotas import ceil_ratio
from bot.domain.tickets import Tickets

from .strategies import examples

K, G, S = Category.KEY, Category.GENERAL, Category.SPECIAL
counts = st.fixed_dictionaries(
    {K: st.integers(0, 400), G: st.integers(0, 1500), S: st.integers(0, 200)}
)
ratios = st.sampled_from([Fraction(p, 100) for p in (2, 5, 10, 15, 25, 50, 100)])
rule_sets = st.builds(
    lambda k, g, s, kp, sp: Rules(
        ratio_key=k, ratio_general=g, ratio_special=s, key_per_year=kp, special_per_year=sp
    ),
    ratios,
    ratios,
    ratios,
    st.integers(1, 2),
    st.integers(1, 4),
)


@settings(max_examples=examples(150), deadline=None)
@given(counts, st.one_of(st.just(Rules()), rule_sets))
def test_plan_properties(n, rules):
    plan = make_plan(2027, n, rules)
    assert [q.quarter for q in plan.quarters] == [1, 2, 3, 4]
    for cat in Category:
        cells = [plan.cell(q, cat) for q in (1, 2, 3, 4)]
        for c in cells:
            assert c.eligible == n[cat]
            assert c.by_ratio == ceil_ratio(rules.ratio(cat), n[cat])
            assert min(n[cat], ceil_ratio(rules.ratio(cat), n[cat])) <= c.visits <= n[cat]
            assert 0 <= c.objects <= c.visits
        year = plan.total(cat)
        assert year.visits == sum(c.visits for c in cells)
        assert year.objects == sum(c.objects for c in cells) <= n[cat]
        if cat is K:  # every key object within the year, key_per_year times
            assert year.objects == n[cat]
            assert n[cat] == 0 or year.least >= rules.key_per_year
        if cat is S:  # special objects twice a year (special_per_year)
            assert year.objects == n[cat]
            assert n[cat] == 0 or year.least >= rules.special_per_year
            assert year.visits >= rules.special_per_year * n[cat]
    for q in plan.quarters:
        assert q.visits == sum(c.visits for c in q.cells)
        assert q.objects == sum(c.objects for c in q.cells)
    assert plan.visits == sum(q.visits for q in plan.quarters)
    assert plan.objects == sum(q.objects for q in plan.quarters)


@pytest.mark.parametrize(
    "n, visits, objects",
    [
        (60, [15, 15, 15, 15], [15, 15, 15, 15]),
        (5, [2, 2, 2, 2], [2, 2, 1, 0]),
        (1, [1, 1, 1, 1], [1, 0, 0, 0]),
        (0, [0, 0, 0, 0], [0, 0, 0, 0]),
        (61, [16, 16, 16, 16], [16, 16, 16, 13]),
    ],
)
def test_key_examples(n, visits, objects):
    plan = make_plan(2027, {K: n}, Rules())
    assert [plan.cell(q, K).visits for q in (1, 2, 3, 4)] == visits
    assert [plan.cell(q, K).objects for q in (1, 2, 3, 4)] == objects


def test_key_with_a_small_ratio_q4_takes_what_remains():
    plan = make_plan(2027, {K: 100}, Rules(ratio_key=Fraction(5, 100)))
    # the coverage need wins: ⌈100/4⌉, ⌈75/3⌉, ⌈50/2⌉, then all 25 that remain
    assert [plan.cell(q, K).visits for q in (1, 2, 3, 4)] == [25, 25, 25, 25]
    plan = make_plan(2027, {K: 10}, Rules(ratio_key=Fraction(5, 100)))
    assert [plan.cell(q, K).visits for q in (1, 2, 3, 4)] == [3, 3, 2, 2]
    assert plan.total(K).objects == 10


def test_special_twice_and_general_by_ratio():
    plan = make_plan(2027, {S: 18, G: 170}, Rules())
    assert [plan.cell(q, S).visits for q in (1, 2, 3, 4)] == [9, 9, 9, 9]
    assert [plan.cell(q, S).objects for q in (1, 2, 3, 4)] == [9, 9, 0, 0]
    assert plan.total(S).least == 2
    assert [plan.cell(q, G).visits for q in (1, 2, 3, 4)] == [17] * 4  # 10 % of 170: 17
    assert plan.total(G).objects == 68 and plan.total(G).least == 0
    odd = make_plan(2027, {S: 3}, Rules())
    assert [odd.cell(q, S).visits for q in (1, 2, 3, 4)] == [2, 2, 2, 2]
    assert odd.total(S).least == 2 and odd.total(S).visits == 8


def test_json_and_percent():
    plan = make_plan(2027, {K: 5, G: 7, S: 3}, Rules())
    assert plan.cell(1, K).to_json() == {
        "category": "重点监管",
        "eligible": 5,
        "by_ratio": 2,
        "visits": 2,
        "objects": 2,
        "least_visits_per_object": 0,
    }
    assert [percent(Fraction(p)) for p in ("1/4", "1/10", "1/2", "1/8", "1/3", "1", "0")] == [
        "25",
        "10",
        "50",
        "12.5",
        "33.33",
        "100",
        "0",
    ]


def _draw_year(n: dict, rules: Rules, year: int = 2027):
    """The real object selection, four quarters, every drawn object inspected."""
    pool = [
        Enterprise(f"{cat.name[0]}{i:05d}", "", cat)
        for cat in Category
        for i in range(n.get(cat, 0))
    ]
    draws: dict[str, int] = {}
    last: dict[str, date] = {}
    out = []
    for q in (1, 2, 3, 4):
        on = quarter_start(year, q)
        spec = TaskSpec(f"{year}Q{q}", year=year, quarter=q, on=on)
        history = {u: History(draws[u], last[u]) for u in draws}
        chosen, quotas = select_objects(pool, history, rules, spec, Tickets(f"seed{q}:"))
        per = {}
        for cat in Category:
            picked = [o.uscc for o, _ in chosen if o.category is cat]
            per[cat] = (len(picked), sum(1 for u in picked if u not in draws))
        for o, _ in chosen:
            draws[o.uscc] = draws.get(o.uscc, 0) + 1
            last[o.uscc] = on
        out.append(per)
    return out, draws


@settings(max_examples=examples(40), deadline=None)
@given(
    st.fixed_dictionaries({K: st.integers(0, 70), G: st.integers(0, 90), S: st.integers(0, 30)}),
    st.one_of(st.just(Rules()), rule_sets),
)
def test_the_plan_is_what_the_draw_does_under_perfect_execution(n, rules):
    plan = make_plan(2027, n, rules)
    drawn, draws = _draw_year(n, rules)
    for q in (1, 2, 3, 4):
        for cat in Category:
            cell = plan.cell(q, cat)
            assert (cell.visits, cell.objects) == drawn[q - 1][cat], (q, cat)
    for cat in (K, S):
        ids = [u for u in draws if u[0] == cat.name[0]]
        assert len(ids) == n[cat]
        assert all(draws[u] >= plan.total(cat).least for u in ids)


# ---------------------------------------------------------------- risk classes

class_counts = st.fixed_dictionaries(
    {
        c: st.fixed_dictionaries({k: st.integers(0, hi) for k in "ABCD"})
        for c, hi in ((K, 60), (G, 200), (S, 20))
    }
)


@settings(max_examples=examples(60), deadline=None)
@given(class_counts, st.one_of(st.just(Rules()), rule_sets))
def test_plan_by_risk_class(classes, rules):
    n = {c: sum(v.values()) for c, v in classes.items()}
    plan = make_plan(2027, n, rules, classes)
    for cat in Category:
        r = rules.ratio(cat)
        for q in (1, 2, 3, 4):
            cell = plan.cell(q, cat)
            assert [k.risk_class for k in cell.classes] == ["D", "C", "B", "A"]
            assert sum(k.visits for k in cell.classes) == cell.visits
            assert sum(k.objects for k in cell.classes) == cell.objects
            assert cell.visits >= min(n[cat], ceil_ratio(r, n[cat]))
            for k in cell.classes:  # each stratum at least ⌈r·m_k·N_k⌉ every quarter
                assert k.eligible == classes[cat][k.risk_class]
                target = min(k.eligible, ceil_ratio(r * rules.factor(k.risk_class), k.eligible))
                assert target <= k.visits <= k.eligible
        year = plan.total(cat)
        assert year.visits == sum(plan.cell(q, cat).visits for q in (1, 2, 3, 4))
        if cat is K:
            assert year.objects == n[cat]
            assert n[cat] == 0 or year.least >= rules.key_per_year
        if cat is S:
            assert year.objects == n[cat]
            assert n[cat] == 0 or year.least >= rules.special_per_year
    # all of class B: the plan of the quota rule (家 and 家次 per quarter and category)
    plain = make_plan(2027, n, rules)
    all_b = make_plan(2027, n, rules, {c: {"B": n[c]} for c in Category})
    for a, b in zip(plain.quarters, all_b.quarters, strict=True):
        assert [(c.visits, c.objects) for c in a.cells] == [(c.visits, c.objects) for c in b.cells]
    assert [(c.visits, c.objects, c.least) for c in plain.totals] == [
        (c.visits, c.objects, c.least) for c in all_b.totals
    ]
