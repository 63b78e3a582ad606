"""Risk classes (信用风险分级分类) and the three-step quota, by example; snapshots of both
draw methods; campaign filters on any library column."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from bot.domain import snapshot as snap
from bot.domain.draw import as_date, draw, matches, select_with_reasons
from bot.domain.model import Category, Enterprise, History, Inspector, Rules, Selection, TaskSpec
from bot.domain.results import offsite_allowed
from bot.domain.risk import classify, credit_word, derive, parse_class
from bot.domain.tickets import ALGORITHM, ALGORITHM_V2, Tickets

from .strategies import make_uscc

K, G, S = Category.KEY, Category.GENERAL, Category.SPECIAL
RULES = Rules()
SEED = "be11" * 16 + ":"
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_draw_2027Q2.json"


def obj(i: int = 0, cat: Category = G, **kw) -> Enterprise:
    c = {K: "1", G: "2", S: "3"}[cat]
    return Enterprise(make_uscc(f"91410724{c}{i:08d}"), f"企业{i}", cat, **kw)


def people(n: int = 12) -> list[Inspector]:
    return [Inspector(f"410700{i:02d}", f"员{i}") for i in range(n)]


# ---------------------------------------------------------------- the class of an object


@pytest.mark.parametrize(
    "kw, problems, expected",
    [
        ({}, (), "B"),
        ({"risk": "A"}, ((2027, 3),), "A"),  # the column wins
        ({"risk": "D", "credit": "环保诚信"}, (), "D"),
        ({"credit": "警示"}, (), "D"),
        ({"credit": "不良"}, (), "D"),
        ({"credit": "环保警示企业"}, (), "D"),
        ({"credit": "不良企业"}, (), "D"),
        ({"credit": "警示", "positive": True}, (), "D"),  # first rule that matches
        ({}, ((2027, 3),), "D"),
        ({}, ((2026, 4),), "D"),
        ({}, ((2026, 5),), "D"),
        ({}, ((2025, 3),), "B"),  # older than last year
        ({}, ((2028, 3),), "B"),  # after the task's year
        ({}, ((2026, 2),), "C"),
        ({"grade": "D"}, (), "C"),
        ({"grade": "ｄ级"}, (), "C"),
        ({"grade": "D", "positive": True}, (), "C"),
        ({}, ((2026, 2), (2027, 4)), "D"),
        ({"credit": "环保诚信"}, (), "A"),
        ({"credit": "环保诚信企业"}, (), "A"),
        ({"grade": "A"}, (), "A"),
        ({"positive": True}, (), "A"),
        ({"positive": True}, ((2027, 2),), "C"),  # A only without such results
        ({"credit": "环保良好企业", "grade": "B"}, (), "B"),
    ],
)
def test_derived_class(kw, problems, expected):
    o = obj(**kw)
    h = History(problems=tuple(problems))
    assert derive(o, h, 2027, RULES) == expected
    assert classify([o], {o.uscc: h}, 2027, RULES) == {o.uscc: expected}


def test_low_credit_wordings_are_configurable():
    o = obj(credit="重点关注")
    assert derive(o, History(), 2027, RULES) == "B"
    rules = replace(RULES, low_credit=("警示", "不良", "重点关注"))
    assert derive(o, History(), 2027, rules) == "D"
    assert credit_word("环保警示企业") == credit_word(" 警示 ") == "警示"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A", "A"),
        ("a", "A"),
        ("Ａ", "A"),
        (" D ", "D"),
        ("C类", "C"),
        ("B级", "B"),
        ("", ""),
        ("E", None),
        ("AB", None),
        ("高", None),
    ],
)
def test_parse_class(text, expected):
    assert parse_class(text) == expected


def test_class_a_may_be_inspected_offsite():
    assert not offsite_allowed("", "", False)
    assert offsite_allowed("", "", False, "A")
    assert not offsite_allowed("", "", False, "B")


# ---------------------------------------------------------------- the three steps


def general_pool(a: int, b: int, c: int, d: int) -> list[Enterprise]:
    out, i = [], 0
    for cls, n in (("A", a), ("B", b), ("C", c), ("D", d)):
        for _ in range(n):
            out.append(obj(i, G, risk=cls))
            i += 1
    return out


def test_readme_example_general_objects_of_a_county():
    """README: 200 general objects (A 40, B 120, C 30, D 10), ratio 10 %, first quarter:
    no coverage due, strata D 2 (⌈10 %·2·10⌉), C 5 (⌈10 %·1½·30⌉ = ⌈4.5⌉), B 12, A 2
    (⌈10 %·½·40⌉); 21 ≥ the floor ⌈10 %·200⌉ = 20, so nothing is added."""
    pool = general_pool(40, 120, 30, 10)
    chosen, (q,) = select_with_reasons(
        pool, {}, RULES, TaskSpec("2027Q1", categories=(G,)), Tickets(SEED)
    )
    by = {}
    for o, _t, why in chosen:
        by.setdefault((o.risk, why), 0)
        by[(o.risk, why)] += 1
    assert by == {
        ("D", "stratum"): 2,
        ("C", "stratum"): 5,
        ("B", "stratum"): 12,
        ("A", "stratum"): 2,
    }
    assert (q.eligible, q.by_ratio, q.by_coverage, q.quota) == (200, 20, 0, 21)
    assert [(s.risk_class, s.eligible, s.target, s.covered, s.added) for s in q.strata] == [
        ("D", 10, 2, 0, 2),
        ("C", 30, 5, 0, 5),
        ("B", 120, 12, 0, 12),
        ("A", 40, 2, 0, 2),
    ]
    # strata are taken D, C, B, A, each in the standard order (here: ticket order)
    assert [o.risk for o, _, _ in chosen] == ["D"] * 2 + ["C"] * 5 + ["B"] * 12 + ["A"] * 2
    tk = Tickets(SEED)
    for cls in "DCBA":
        got = [o.uscc for o, _, _ in chosen if o.risk == cls]
        assert got == sorted((o.uscc for o in pool if o.risk == cls), key=tk)[: len(got)]


def test_floor_tops_up_a_low_risk_library():
    pool = general_pool(100, 0, 0, 0)  # all A: stratum ⌈5 %·100⌉ = 5, floor 10
    chosen, (q,) = select_with_reasons(
        pool, {}, RULES, TaskSpec("2027Q1", categories=(G,)), Tickets(SEED)
    )
    assert [why for _, _, why in chosen] == ["stratum"] * 5 + ["floor"] * 5
    assert q.quota == 10


def test_coverage_counts_toward_the_strata():
    """Key objects in the fourth quarter: all not yet drawn are taken by coverage; a
    stratum only tops up what coverage left short of its target."""
    pool = [obj(i, K, risk="D") for i in range(4)] + [obj(10 + i, K) for i in range(8)]
    drawn = {o.uscc for o in pool[:2]} | {o.uscc for o in pool[4:10]}
    hist = {u: History(1, last_period=(2027, 2)) for u in drawn}
    spec = TaskSpec("2027Q4", quarter=4, on=date(2027, 10, 1), categories=(K,))
    chosen, (q,) = select_with_reasons(pool, hist, RULES, spec, Tickets(SEED))
    why = {o.uscc: w for o, _, w in chosen}
    # coverage: the 4 not drawn this year (2 D, 2 B); D target ⌈25 %·2·4⌉ = 2: covered
    assert q.by_coverage == 4
    assert [w for w in why.values()].count("coverage") == 4
    d = next(s for s in q.strata if s.risk_class == "D")
    assert (d.target, d.covered, d.added) == (2, 2, 0)
    b = next(s for s in q.strata if s.risk_class == "B")
    assert (b.target, b.covered, b.added) == (2, 2, 0)
    assert q.quota == 4 == q.by_ratio + 1


def test_configured_factors():
    pool = general_pool(0, 0, 0, 10)
    rules = replace(
        RULES,
        risk_factors=(
            ("A", Fraction(1, 2)),
            ("B", Fraction(1)),
            ("C", Fraction(3, 2)),
            ("D", Fraction(5)),
        ),
    )
    chosen, (q,) = select_with_reasons(
        pool, {}, rules, TaskSpec("2027Q1", categories=(G,)), Tickets(SEED)
    )
    assert q.strata[0].target == 5 and q.quota == 5  # ⌈10 %·5·10⌉
    chosen, (q,) = select_with_reasons(
        pool, {}, RULES, TaskSpec("2027Q1", categories=(G,)), Tickets(SEED)
    )
    assert q.quota == 2


def test_untagged_library_draws_what_the_ratio_and_coverage_drew_before():
    pool = [obj(i, G) for i in range(170)] + [obj(i, K) for i in range(30)]
    spec = TaskSpec("2027Q1")
    new = draw(pool, people(), frozenset(), {}, RULES, spec, SEED)
    old = draw(pool, people(), frozenset(), {}, replace(RULES, method=2), spec, SEED)
    assert sorted(s.uscc for s in new.selections) == sorted(s.uscc for s in old.selections)
    assert {s.risk_class for s in new.selections} == {"B"}
    assert {s.risk_class for s in old.selections} == {""}
    assert (new.algorithm, old.algorithm) == (ALGORITHM, ALGORITHM_V2)


# ---------------------------------------------------------------- last draw by period


def test_last_draw_is_the_period_of_the_task_not_the_day():
    """2027Q1–Q3 drawn on one day: an object drawn by Q2 (first, on 5 January) is still
    later than one drawn by Q1 (on 6 January)."""
    q1, q2 = obj(1, S), obj(2, S)
    hist = {
        q1.uscc: History(1, date(2027, 1, 6), last_period=(2027, 1)),
        q2.uscc: History(1, date(2027, 1, 5), last_period=(2027, 2)),
    }
    spec = TaskSpec("2027Q3", quarter=3, on=date(2027, 7, 1), categories=(S,), count=None)
    rules = replace(RULES, ratio_special=Fraction(1, 2))
    # one of two: coverage ⌈(1 + 1) / 2⌉ = 1, floor ⌈50 %·2⌉ = 1
    chosen, _ = select_with_reasons([q1, q2], hist, rules, spec, Tickets(SEED))
    assert [o.uscc for o, _, _ in chosen] == [q1.uscc]
    # method 2 (draws made before risk classes) went by the day
    old, _ = select_with_reasons([q1, q2], hist, replace(rules, method=2), spec, Tickets(SEED))
    assert [o.uscc for o, _, _ in old] == [q2.uscc]


def test_three_year_rule_counts_from_the_imported_period():
    o = obj(1, G)
    spec = TaskSpec("2027Q3", quarter=3, on=date(2027, 12, 31), categories=(G,))
    due = {o.uscc: History(0, last_period=(2024, 4))}  # 11 quarters before 2027Q3
    not_due = {o.uscc: History(0, last_period=(2025, 1))}
    pool = [o] + [obj(100 + i, G) for i in range(20)]
    chosen, (q,) = select_with_reasons(pool, due, RULES, spec, Tickets(SEED))
    assert q.by_coverage == 1 and (chosen[0][0], chosen[0][2]) == (o, "coverage")
    _, (q,) = select_with_reasons(pool, not_due, RULES, spec, Tickets(SEED))
    assert q.by_coverage == 0


# ---------------------------------------------------------------- snapshots


def test_snapshot_records_every_class_and_reads_them_back():
    pool = [obj(0, risk="D"), obj(1, credit="不良"), obj(2, grade="A"), obj(3)]
    hist = {pool[3].uscc: History(0, problems=((2026, 2),), last_period=(2026, 3))}
    spec = TaskSpec("2027Q1")
    doc = snap.make(pool, people(), frozenset(), hist, RULES, spec)
    assert doc["format"] == snap.FORMAT == "ssj-snapshot/2"
    assert snap.recorded_classes(doc) == dict(zip([o.uscc for o in pool], "DDAC", strict=True))
    inp = snap.inputs(json.loads(snap.canonical(doc)))
    assert snap.derived_classes(inp) == snap.recorded_classes(doc)
    assert inp.rules == RULES and inp.history == hist
    res = draw(inp.pool, inp.inspectors, inp.conflicts, inp.history, inp.rules, inp.spec, SEED)
    assert dict(res.classes) == snap.recorded_classes(doc)
    # a tampered class no longer matches what the inputs give
    doc["pool"][0]["risk_class"] = "A"
    assert snap.derived_classes(snap.inputs(doc)) != snap.recorded_classes(doc)


def test_a_draw_made_before_risk_classes_replays_as_it_was():
    old = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert old["snapshot"]["format"] == "ssj-snapshot/1"
    assert snap.digest(old["snapshot"]) == old["pool_digest"]
    inp = snap.inputs(old["snapshot"])
    assert inp.rules.method == 2 and snap.recorded_classes(old["snapshot"]) == {}
    res = draw(
        inp.pool, inp.inspectors, inp.conflicts, inp.history, inp.rules, inp.spec, old["seed"]
    )
    assert res.algorithm == old["algorithm"] == ALGORITHM_V2
    assert [s.to_json() for s in res.selections] == old["result"]
    assert list(res.selections) == [Selection.from_json(s) for s in old["result"]]
    # the same inputs under today's rules draw differently (last draw by period)
    now = draw(
        inp.pool,
        inp.inspectors,
        inp.conflicts,
        inp.history,
        replace(inp.rules, method=3),
        inp.spec,
        old["seed"],
    )
    assert [s.uscc for s in now.selections] != [s["uscc"] for s in old["result"]]


def test_rules_round_trip_and_old_rules_mean_method_2():
    rules = replace(
        RULES,
        risk_factors=(
            ("A", Fraction(1, 3)),
            ("B", Fraction(1)),
            ("C", Fraction(2)),
            ("D", Fraction(3)),
        ),
        low_credit=("警示",),
    )
    assert Rules.from_json(rules.to_json()) == rules
    assert rules.to_json()["risk_factors"] == {"A": "1/3", "B": "1", "C": "2", "D": "3"}
    legacy = {
        k: v
        for k, v in RULES.to_json().items()
        if k not in ("method", "risk_factors", "low_credit")
    }
    assert Rules.from_json(legacy).method == 2
    assert "method" not in Rules.from_json(legacy).to_json()


# ---------------------------------------------------------------- campaign filters


def test_filters_on_any_column_several_values_and_ranges():
    o = obj(
        1,
        credit="良好",
        attrs=(
            ("authority", "获嘉县生态环境局"),
            ("basin", "海河流域"),
            ("lat", "35.26"),
            ("started_on", "2019-06"),
        ),
    )
    assert matches(o, [["basin", "海河流域"]])
    assert not matches(o, [["basin", "黄河流域"]])
    assert matches(o, [["basin", "黄河流域|海河流域"]])
    assert matches(o, [["authority", "获嘉县生态环境局"], ["category", "一般监管|重点监管"]])
    assert matches(o, [["started_on", ">=", "2019-01-01"]])
    assert not matches(o, [["started_on", ">", "2019-06-01"]])
    assert matches(o, [["started_on", "<", "2020"]])
    assert matches(o, [["lat", ">=", "35"], ["lat", "<=", "35.3"]])
    assert not matches(o, [["lng", ">=", "113"]])  # no value: fails a range
    assert matches(o, [["risk_class", "C|D"]], "D")
    assert not matches(o, [["risk_class", "C|D"]], "B")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2015-06-01", date(2015, 6, 1)),
        ("2015/6/1", date(2015, 6, 1)),
        ("2015年6月1日", date(2015, 6, 1)),
        ("2015-06", date(2015, 6, 1)),
        ("2015", date(2015, 1, 1)),
        ("2015年6月", date(2015, 6, 1)),
        ("", None),
        ("六月", None),
        ("2015-13-01", None),
    ],
)
def test_dates_of_started_on(text, expected):
    assert as_date(text) == expected


def test_a_campaign_on_class_d_takes_class_d_only():
    pool = general_pool(5, 20, 5, 6)
    spec = TaskSpec(
        "ZX01", kind="special", categories=(K, G, S), count=4, object_filter=(("risk_class", "D"),)
    )
    res = draw(pool, people(), frozenset(), {}, RULES, spec, SEED)
    assert [s.risk_class for s in res.selections] == ["D"] * 4
    assert {s.reason for s in res.selections} == {"count"}
