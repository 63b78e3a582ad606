"""Property tests of the pure draw: three simulated years of quarterly draws over random
libraries, checked against the spec's coverage and team rules and against an independent
re-derivation with ``consistent_sampler``'s tickets (tests/unit/strategies.py)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from fractions import Fraction

import consistent_sampler as cs
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from bot.domain.draw import draw
from bot.domain.model import (
    Category,
    DomainError,
    Duty,
    Enterprise,
    History,
    Inspector,
    PersonKind,
    Rules,
    Status,
    TaskSpec,
)

from .strategies import (
    RAD,
    RULES,
    START,
    Library,
    Quarter,
    RefTickets,
    after_draw,
    assert_team_invariants,
    ceil_fraction,
    examples,
    libraries,
    make_uscc,
    new_year,
    quarter_spec,
    reference_objects,
    reference_staff,
    seeds,
)

K, G, S = Category.KEY, Category.GENERAL, Category.SPECIAL
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
YEARS = (2027, 2028, 2029)


class DeadEnd(Exception):
    """The spec's own staffing procedure could not staff an object (see the bug test)."""


def check_quarter(lib: Library, spec: TaskSpec, seed: str, history, rules: Rules = RULES):
    """Run one quarterly draw and check it against the spec; returns the DrawResult."""
    tk = RefTickets(seed)
    expected_objects = reference_objects(lib.objects, history, rules, spec, tk)
    try:
        res = draw(lib.objects, lib.inspectors, lib.conflicts, history, rules, spec, seed)
    except DomainError as e:
        # Only acceptable where the procedure of the spec itself dead-ends on the same
        # object (greedy staffing under the workload cap; reported as a bug separately).
        assert e.code == "team_unstaffable", e
        with pytest.raises(LookupError) as ref_err:
            reference_staff(expected_objects, lib, history, rules, tk)
        assert ref_err.value.args[0] == e.params["uscc"]
        assert e.params["name"] == lib.by_uscc[e.params["uscc"]].name
        raise DeadEnd(e.params) from e

    sels = res.selections
    uss = [s.uscc for s in sels]
    # Objects: exactly the spec's ordering, quota and tickets.
    assert uss == expected_objects
    assert len(set(uss)) == len(uss)  # never twice in one task
    objs = lib.by_uscc
    for s in sels:
        o = objs[s.uscc]
        assert o.status is not Status.CLOSED
        assert (s.name, s.category) == (o.name, o.category)
        assert s.ticket == tk(s.uscc)
    for cat in spec.categories:
        n = sum(1 for o in lib.objects if o.category is cat and o.status is not Status.CLOSED)
        drawn = sum(1 for s in sels if s.category is cat)
        assert ceil_fraction(rules.ratio(cat), n) <= drawn <= n, (cat, n, drawn)
        q = next(q for q in res.quotas if q.category is cat)
        assert (q.eligible, q.quota) == (n, drawn)

    # Teams: invariants, then the exact teams the spec's procedure gives.
    pool = lib.drawable(rules)
    base_cap = -(-len(sels) * rules.min_team // len(pool)) + rules.workload_extra
    teams, steps, cap = reference_staff(uss, lib, history, rules, tk)
    assert res.workload_cap == cap >= base_cap
    if cap > base_cap:
        event("greedy staffing dead-ended under the cap; cap raised")
    assert_team_invariants(sels, lib, lib.conflicts, cap, rules)
    assert {s.uscc: list(s.inspectors) for s in sels} == teams
    for step in steps:
        if step.rotation_possible:
            assert not set(step.members) & set(step.previous), step
        elif step.previous:
            event("rotation impossible: previous team members reused")
        if step.capped:
            event("workload cap excluded someone")
    if any(step.previous for step in steps):
        event("objects with a previous team")
    return res


def simulate(lib: Library, seed_list, rules: Rules = RULES) -> list[Quarter]:
    history = {o.uscc: History(since=lib.start) for o in lib.objects}
    out: list[Quarter] = []
    seeds_iter = iter(seed_list)
    for y in YEARS:
        history = new_year(history)
        for q in range(1, 5):
            spec = quarter_spec(y, q)
            seed = next(seeds_iter)
            res = check_quarter(lib, spec, seed, history, rules)
            out.append(Quarter(spec, seed, history, res))
            history = after_draw(history, res, spec.on)
    return out


@settings(max_examples=examples(200), deadline=None, suppress_health_check=SLOW)
@given(libraries(), st.lists(seeds(), min_size=12, max_size=12), st.randoms(use_true_random=False))
def test_three_years_of_quarterly_draws(lib, seed_list, rnd):
    note(
        f"{len(lib.objects)} objects, {len(lib.drawable())} drawable, "
        f"{len(lib.conflicts)} conflicts"
    )
    try:
        quarters = simulate(lib, seed_list)
    except DeadEnd as e:
        event("greedy staffing dead end (spec-conformant; see bug test)")
        note(f"dead end: {e}")
        return
    live = [o for o in lib.objects if o.status is not Status.CLOSED]

    # Coverage per calendar year.
    for yi in range(len(YEARS)):
        year = quarters[4 * yi : 4 * yi + 4]
        counts = Counter(s.uscc for qr in year for s in qr.result.selections)
        key = [o for o in live if o.category is K]
        assert all(counts[o.uscc] >= 1 for o in key), "a key object not drawn this year"
        key_quotas = sum(q.quota for qr in year for q in qr.result.quotas if q.category is K)
        if key_quotas <= len(key):
            assert all(counts[o.uscc] == 1 for o in key)
        special = [o for o in live if o.category is S]
        assert all(counts[o.uscc] >= 2 for o in special), "a special object drawn < 2 times"
    # General: at least once in the 12 quarters from their entry.
    ever = {s.uscc for qr in quarters for s in qr.result.selections}
    assert all(o.uscc in ever for o in live if o.category is G)

    # Determinism: the same inputs give the identical result, whatever the input order.
    qr = quarters[rnd.randrange(len(quarters))]
    again = draw(lib.objects, lib.inspectors, lib.conflicts, qr.history, RULES, qr.spec, qr.seed)
    assert again == qr.result
    objs, people = list(lib.objects), list(lib.inspectors)
    rnd.shuffle(objs)
    rnd.shuffle(people)
    shuffled = draw(
        objs,
        people,
        frozenset(lib.conflicts),
        dict(reversed(qr.history.items())),
        RULES,
        qr.spec,
        qr.seed,
    )
    assert shuffled == qr.result


# ---------------------------------------------------------------- agreement with the reference


@settings(max_examples=examples(60), deadline=None, suppress_health_check=SLOW)
@given(
    libraries(max_conflicts=0, min_on_duty=8),
    seeds(),
    st.sampled_from([K, G, S]),
    st.integers(1, 4),
)
def test_chosen_objects_are_the_first_ids_of_the_reference_sampler(lib, seed, cat, quarter):
    spec = TaskSpec(
        f"2027Q{quarter}",
        year=2027,
        quarter=quarter,
        on=date(2027, 3 * quarter - 2, 1),
        categories=(cat,),
    )
    try:
        res = draw(lib.objects, lib.inspectors, lib.conflicts, {}, RULES, spec, seed)
    except DomainError as e:
        assert e.code == "team_unstaffable"
        event("greedy staffing dead end")
        return
    ids = [o.uscc for o in lib.objects if o.category is cat and o.status is not Status.CLOSED]
    q = res.quotas[0].quota
    assert [s.uscc for s in res.selections] == list(cs.sampler(ids, seed, output="id"))[:q]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=SLOW)
@given(st.integers(1, 12), st.integers(3, 15), st.integers(0, 3), seeds())
def test_team_order_is_ascending_pairing_ticket(n_objects, n_people, n_experts, seed):
    """With the cap not binding and no history, each team is the lowest-ticket expert
    (where 辐射 needs one) then the lowest pairing tickets of first_ticket(USCC/cert)."""
    n_experts = min(n_experts, n_people)
    objs = [
        Enterprise(
            make_uscc(f"9141072400000{i:04d}"),
            f"企业{i}",
            S,
            (RAD,) if n_experts and i % 3 == 0 else (),
        )
        for i in range(n_objects)
    ]
    people = [
        Inspector(f"C{i:03d}", f"员{i}", expertise=(RAD,) if i < n_experts else ())
        for i in range(n_people)
    ]
    rules = Rules(ratio_special=Fraction(1), workload_extra=n_objects)  # no cap in play
    res = draw(objs, people, frozenset(), {}, rules, TaskSpec("2027Q1", categories=(S,)), seed)
    seed_hash = cs.sha256_hex(seed)
    for s in res.selections:
        order = sorted(
            people,
            key=lambda p: (
                cs.first_ticket(f"{s.uscc}/{p.cert}", seed, seed_hash).ticket_number,
                p.cert,
            ),
        )
        if RAD in next(o for o in objs if o.uscc == s.uscc).pollutants:
            expert = next(p for p in order if RAD in p.expertise)
            expected = [expert.cert] + [p.cert for p in order if p is not expert][:1]
        else:
            expected = [p.cert for p in order[:2]]
        assert list(s.inspectors) == expected


def test_objects_needing_an_expert_are_staffed_first():
    # 5 objects, 10 officers: cap ⌈10/10⌉+1 = 2, and the only expert is needed by both
    # 辐射 objects, so they must be staffed before any other object can take him.
    objs = [
        Enterprise(make_uscc(f"9141072400000{i:04d}"), f"企业{i}", S, (RAD,) if i < 2 else ())
        for i in range(5)
    ]
    people = [Inspector(f"C{i}", f"员{i}", expertise=(RAD,) if i == 0 else ()) for i in range(10)]
    rules = Rules(ratio_special=Fraction(1))
    for seed in map(str, range(40)):
        res = draw(objs, people, frozenset(), {}, rules, TaskSpec("2027Q1", categories=(S,)), seed)
        assert res.workload_cap == 2
        for s in res.selections:
            assert ("C0" in s.inspectors) == (s.uscc in (objs[0].uscc, objs[1].uscc))


# ---------------------------------------------------------------- determinism


def small_library() -> tuple[list[Enterprise], list[Inspector]]:
    objs = [Enterprise(make_uscc(f"9141072410000{i:04d}"), f"重点{i}", K) for i in range(12)]
    objs += [
        Enterprise(make_uscc(f"9141072420000{i:04d}"), f"一般{i}", G, (RAD,) if i == 5 else ())
        for i in range(40)
    ]
    people = [
        Inspector(f"P{i:02d}", f"员{i}", expertise=(RAD,) if i < 3 else ()) for i in range(10)
    ]
    return objs, people


def test_same_seed_same_result_and_different_seeds_differ():
    objs, people = small_library()
    spec = TaskSpec("2027Q1")
    first = draw(objs, people, frozenset(), {}, RULES, spec, "abc:")
    assert draw(objs, people, frozenset(), {}, RULES, spec, "abc:") == first
    assert draw(objs[::-1], people[::-1], frozenset(), {}, RULES, spec, "abc:") == first
    others = [draw(objs, people, frozenset(), {}, RULES, spec, f"abc:{e}") for e in range(8)]
    differing = [r for r in others if r.selections != first.selections]
    assert len(differing) >= 7
    assert len({tuple(s.uscc for s in r.selections) for r in others}) >= 7
    assert first.algorithm.startswith("ssj-draw/")


def test_public_entropy_changes_the_draw():
    objs, people = small_library()
    a = draw(objs, people, frozenset(), {}, RULES, TaskSpec("2027Q1"), "s3cr3t:")
    b = draw(objs, people, frozenset(), {}, RULES, TaskSpec("2027Q1"), "s3cr3t:3-1-4")
    assert a.selections != b.selections


def test_draw_recomputes_from_a_json_snapshot():
    objs, people = small_library()
    hist = {objs[0].uscc: History(1, date(2027, 1, 1), ("P01", "P02"), START)}
    spec = TaskSpec("2027Q2", quarter=2, on=date(2027, 4, 1))
    res = draw(objs, people, frozenset({("P03", objs[1].uscc)}), hist, RULES, spec, "x:")
    objs2 = [Enterprise.from_json(o.to_json()) for o in objs]
    people2 = [Inspector.from_json(p.to_json()) for p in people]
    hist2 = {u: History.from_json(h.to_json()) for u, h in hist.items()}
    spec2 = TaskSpec.from_json(spec.to_json())
    rules2 = Rules.from_json(RULES.to_json())
    res2 = draw(objs2, people2, frozenset({("P03", objs[1].uscc)}), hist2, rules2, spec2, "x:")
    assert res2 == res


# ---------------------------------------------------------------- unstaffable


def one_object(pollutants=()) -> Enterprise:
    return Enterprise(make_uscc("91410724MA0000001"), "获嘉县某化工厂", K, tuple(pollutants))


@pytest.mark.parametrize(
    "people",
    [
        [Inspector("A1", "甲")],
        [Inspector("A1", "甲"), Inspector("A2", "乙", duty=Duty.OFF)],
        [Inspector("A1", "甲"), Inspector("A2", "乙", kind=PersonKind.AUXILIARY)],
        [Inspector("A1", "甲"), Inspector("A2", "乙", department="市场监管")],
    ],
    ids=["one", "other-off-duty", "other-auxiliary", "other-department"],
)
def test_unstaffable_with_one_eligible_inspector(people):
    obj = one_object()
    with pytest.raises(DomainError) as err:
        draw([obj], people, frozenset(), {}, RULES, TaskSpec("2027Q1"), "s:")
    e = err.value
    assert e.code == "team_unstaffable"
    assert (e.params["uscc"], e.params["name"], e.params["reason"]) == (obj.uscc, obj.name, "size")


def test_unstaffable_when_conflicts_leave_one():
    obj = one_object()
    people = [Inspector(f"A{i}", f"员{i}") for i in range(4)]
    conflicts = frozenset({("A0", obj.uscc), ("A1", obj.uscc), ("A2", obj.uscc)})
    with pytest.raises(DomainError) as err:
        draw([obj], people, conflicts, {}, RULES, TaskSpec("2027Q1"), "s:")
    assert err.value.code == "team_unstaffable"
    assert err.value.params["uscc"] == obj.uscc
    assert err.value.params["reason"] == "size"


def test_unstaffable_without_a_radiation_expert():
    obj = one_object(("废水", RAD))
    people = [Inspector(f"A{i}", f"员{i}", expertise=("水",)) for i in range(5)]
    # an expert who is off duty, auxiliary, of another department or conflicted doesn't help
    people += [
        Inspector("X1", "离岗专家", duty=Duty.OFF, expertise=(RAD,)),
        Inspector("X2", "辅助专家", kind=PersonKind.AUXILIARY, expertise=(RAD,)),
        Inspector("X3", "外部门专家", department="市场监管", expertise=(RAD,)),
        Inspector("X4", "有利害关系的专家", expertise=(RAD,)),
    ]
    with pytest.raises(DomainError) as err:
        draw([obj], people, frozenset({("X4", obj.uscc)}), {}, RULES, TaskSpec("2027Q1"), "s:")
    e = err.value
    assert e.code == "team_unstaffable"
    assert (e.params["uscc"], e.params["name"], e.params["reason"]) == (
        obj.uscc,
        obj.name,
        "expert",
    )
    assert e.params["expertise"] == RAD


def test_expert_rule_met_by_an_eligible_expert():
    obj = one_object(("废水", RAD))
    people = [Inspector(f"A{i}", f"员{i}") for i in range(5)] + [
        Inspector("X9", "专家", department="生态环境", expertise=("水", RAD))
    ]
    res = draw([obj], people, frozenset(), {}, RULES, TaskSpec("2027Q1"), "s:")
    assert res.selections[0].inspectors[0] == "X9"


def test_bug_workload_cap_dead_end_refuses_a_staffable_draw():
    """Regression (was a bug, fixed in bot/domain/teams.py staff): staffing is greedy in ticket order under a hard
    workload cap. Here 3 officers staff 6 objects (12 slots, cap ⌈12/3⌉+1 = 5): the
    tickets give the first 5 objects to the same two officers, both reach the cap, and
    the 6th object has one eligible officer, so the whole draw raises team_unstaffable
    although an assignment within the cap exists (each officer on 4 objects). With 3-5
    officers and 25-100 objects this happens in 1-40 % of seeds."""
    people = [Inspector(f"4107000{i}", f"检查员{i}") for i in range(3)]
    objs = [Enterprise(make_uscc(f"9141072400000{i:04d}"), f"企业{i}号", K) for i in range(6)]
    rules = Rules(ratio_key=Fraction(1))
    spec = TaskSpec("2027Q1", categories=(K,))
    # a valid staffing within the cap exists:
    pairs = [(0, 1), (1, 2), (2, 0)] * 2
    loads = Counter(i for p in pairs for i in p)
    assert max(loads.values()) <= -(-12 // 3) + 1
    res = draw(objs, people, frozenset(), {}, rules, spec, "seed-70")
    assert all(len(s.inspectors) == 2 for s in res.selections)
