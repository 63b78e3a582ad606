"""回避 (第十二条): withdraw takes the next eligible inspector in the object's pairing-ticket
order; swap exchanges objects between two members of the same draw. Both replay exactly."""

from __future__ import annotations

from collections import Counter
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from bot.domain.draw import draw
from bot.domain.model import (
    Category,
    DomainError,
    Enterprise,
    History,
    Inspector,
    Rules,
    Selection,
    TaskSpec,
    Team,
)
from bot.domain.recusal import Recusal, apply, replay, resolved

from .strategies import (
    RAD,
    RULES,
    Library,
    RefTickets,
    assert_team_invariants,
    examples,
    libraries,
    make_uscc,
    seeds,
)

K = Category.KEY
DEPT = RULES.own_department
SEED = "5eed" * 16 + ":42"
SPEC = TaskSpec("2027Q1")


def expected_replacement(
    sels,
    uscc: str,
    cert: str,
    lib: Library,
    conflicts: frozenset,
    history,
    seed: str,
    rules: Rules = RULES,
) -> str | None:
    """The spec's replacement, computed independently: the next drawable officer in the
    object's pairing-ticket order who is not on the team, not conflicted, under the
    workload cap, preferring people not on the object's previous team, and an expert if
    the recused person took the team's only expertise with them."""
    sel = next(s for s in sels if s.uscc == uscc)
    people = lib.by_cert
    remaining = [m for m in sel.inspectors if m != cert]
    pool = [p.cert for p in lib.drawable(rules)]
    cap = -(-len(sels) * rules.min_team // len(pool)) + rules.workload_extra
    load = Counter(m for s in sels for m in s.inspectors)
    need_expert = RAD in lib.by_uscc[uscc].pollutants and not any(
        RAD in people[m].expertise for m in remaining
    )
    tk = RefTickets(seed)
    order = sorted(pool, key=lambda c: (tk.pairing(uscc, c), c))
    cands = [
        c for c in order if c not in sel.inspectors and (c, uscc) not in conflicts and load[c] < cap
    ]
    previous = history.get(uscc, History()).last_team
    for group in ([c for c in cands if c not in previous], cands):
        for c in group:
            if not need_expert or RAD in people[c].expertise:
                return c
    return None


def officers(n: int, experts=()) -> list[Inspector]:
    return [
        Inspector(f"P{i:02d}", f"员{i}", expertise=(RAD,) if i in experts else ()) for i in range(n)
    ]


def enterprises(n: int, radiating=()) -> list[Enterprise]:
    return [
        Enterprise(
            make_uscc(f"9141072410000{i:04d}"), f"企业{i}", K, (RAD,) if i in radiating else ()
        )
        for i in range(n)
    ]


def library(n_obj=6, n_people=10, experts=(0, 1), radiating=(), conflicts=()) -> Library:
    return Library(
        tuple(enterprises(n_obj, radiating)),
        tuple(officers(n_people, experts)),
        frozenset(conflicts),
    )


ALL_KEY = Rules(ratio_key=Fraction(1))


def drawn(lib: Library, history=None, rules: Rules = ALL_KEY):
    return draw(
        lib.objects, lib.inspectors, lib.conflicts, history or {}, rules, SPEC, SEED
    ).selections


def recuse(sels, req: Recusal, lib: Library, conflicts=None, history=None):
    conflicts = (lib.conflicts if conflicts is None else conflicts) | {(req.cert, req.uscc)}
    return apply(
        sels, req, lib.by_uscc, lib.inspectors, conflicts, history or {}, RULES, SPEC, SEED
    ), conflicts


def hand_made(members: list[tuple[str, ...]], lib: Library) -> tuple[Selection, ...]:
    return tuple(
        Selection(o.uscc, o.name, o.category, "0.5", (Team(DEPT, m),))
        for o, m in zip(lib.objects, members, strict=False)
    )  # the first objects


# ---------------------------------------------------------------- withdraw


def test_withdraw_takes_the_next_in_pairing_ticket_order():
    lib = library()
    sels = drawn(lib)
    for sel in sels:
        for cert in sel.inspectors:
            after, conflicts = recuse(sels, Recusal(sel.uscc, cert), lib)
            new = next(s for s in after if s.uscc == sel.uscc)
            rep = expected_replacement(sels, sel.uscc, cert, lib, conflicts, {}, SEED)
            assert rep is not None
            assert new.inspectors == tuple(m for m in sel.inspectors if m != cert) + (rep,)
            # nothing else changed
            assert [s for s in after if s.uscc != sel.uscc] == [
                s for s in sels if s.uscc != sel.uscc
            ]


def test_withdraw_skips_conflicted_and_team_members():
    lib = library(n_obj=1, n_people=8, experts=())
    sels = drawn(lib)
    uscc = sels[0].uscc
    tk = RefTickets(SEED)
    order = sorted((p.cert for p in lib.inspectors), key=lambda c: (tk.pairing(uscc, c), c))
    assert list(sels[0].inspectors) == order[:2]
    # the next in order (order[2]) has a declared conflict: order[3] replaces order[0]
    conflicts = frozenset({(order[2], uscc)})
    after, _ = recuse(sels, Recusal(uscc, order[0]), lib, conflicts)
    assert after[0].inspectors == (order[1], order[3])
    # a second recusal on the same object continues down the list
    after2, _ = recuse(after, Recusal(uscc, order[1]), lib, conflicts | {(order[0], uscc)})
    assert after2[0].inspectors == (order[3], order[4])


def test_withdraw_skips_people_at_the_workload_cap():
    lib = library(n_obj=4, n_people=4, experts=())  # cap ⌈8/4⌉+1 = 3
    uscc = lib.objects[0].uscc
    tk = RefTickets(SEED)
    a, b, c, d = sorted((p.cert for p in lib.inspectors), key=lambda x: (tk.pairing(uscc, x), x))
    # c (next in order) already staffs 3 objects: d replaces a on object 0
    sels = hand_made([(a, b), (c, a), (c, b), (c, d)], lib)
    after, conflicts = recuse(sels, Recusal(uscc, a), lib)
    assert after[0].inspectors == (b, d)
    assert expected_replacement(sels, uscc, a, lib, conflicts, {}, SEED) == d
    # with c below the cap, c is the one
    sels = hand_made([(a, b), (c, a), (c, b), (b, d)], lib)
    after, _ = recuse(sels, Recusal(uscc, a), lib)
    assert after[0].inspectors == (b, c)


def test_withdraw_prefers_people_not_on_the_previous_team():
    lib = library(n_obj=1, n_people=6, experts=())
    uscc = lib.objects[0].uscc
    tk = RefTickets(SEED)
    order = sorted((p.cert for p in lib.inspectors), key=lambda c: (tk.pairing(uscc, c), c))
    hist = {uscc: History(1, date(2026, 10, 1), (order[0], order[1], order[2]))}
    sels = hand_made([(order[3], order[4])], lib)
    after, conflicts = recuse(sels, Recusal(uscc, order[3]), lib, history=hist)
    assert after[0].inspectors == (order[4], order[5])
    assert expected_replacement(sels, uscc, order[3], lib, conflicts, hist, SEED) == order[5]
    # nobody else left: the previous team is used after all, in ticket order
    after2, _ = recuse(after, Recusal(uscc, order[4]), lib, conflicts, history=hist)
    assert after2[0].inspectors == (order[5], order[0])


def test_withdraw_of_the_only_expert_brings_an_expert():
    lib = library(n_obj=1, n_people=10, experts=(7, 8), radiating=(0,))
    uscc = lib.objects[0].uscc
    tk = RefTickets(SEED)
    order = sorted((p.cert for p in lib.inspectors), key=lambda c: (tk.pairing(uscc, c), c))
    experts = [c for c in order if c in ("P07", "P08")]
    others = [c for c in order if c not in experts]
    sels = hand_made([(experts[0], others[0])], lib)
    after, _ = recuse(sels, Recusal(uscc, experts[0]), lib)
    assert after[0].inspectors == (others[0], experts[1])
    # recusing the non-expert: anyone next in order
    after, conflicts = recuse(sels, Recusal(uscc, others[0]), lib)
    nxt = next(c for c in order if c not in (experts[0], others[0]))
    assert after[0].inspectors == (experts[0], nxt)
    # no expert left: refused, naming the expertise
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(uscc, experts[0]), lib, frozenset({(experts[1], uscc)}))
    assert err.value.code == "no_replacement"
    assert (err.value.params["reason"], err.value.params["expertise"]) == ("expert", RAD)


def test_withdraw_with_nobody_left():
    lib = library(n_obj=1, n_people=2, experts=())
    sels = drawn(lib)
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(sels[0].uscc, sels[0].inspectors[0]), lib)
    assert err.value.code == "no_replacement"
    assert err.value.params["uscc"] == sels[0].uscc


def test_recusal_of_unknown_object_or_person():
    lib = library()
    sels = drawn(lib)
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(make_uscc("91410724XXXXXXXXX"), "P00"), lib)
    assert err.value.code == "not_drawn"
    outsider = next(p.cert for p in lib.inspectors if p.cert not in sels[0].inspectors)
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(sels[0].uscc, outsider), lib)
    assert err.value.code == "not_on_team"


# ---------------------------------------------------------------- swap


def swap_setup():
    lib = library(n_obj=3, n_people=8, experts=(0,), radiating=(2,))
    o = [x.uscc for x in lib.objects]
    sels = hand_made([("P01", "P02"), ("P03", "P04"), ("P00", "P05")], lib)
    return lib, o, sels


def test_swap_exchanges_members():
    lib, o, sels = swap_setup()
    req = Recusal(o[0], "P01", swap_with="P03")
    after, _ = recuse(sels, req, lib)
    assert after[0].inspectors == ("P03", "P02")
    assert after[1].inspectors == ("P01", "P04")
    assert after[2] == sels[2]
    assert resolved(sels, after, req) == Recusal(o[0], "P01", "P03", o[1])
    # loads unchanged by a swap
    assert Counter(m for s in after for m in s.inspectors) == Counter(
        m for s in sels for m in s.inspectors
    )


def test_swap_refuses_conflicts():
    lib, o, sels = swap_setup()
    # the partner has a conflict with the recusing member's object
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[0], "P01", swap_with="P03"), lib, frozenset({("P03", o[0])}))
    assert err.value.code == "swap_conflict"
    assert (err.value.params["cert_a"], err.value.params["cert_b"]) == ("P01", "P03")
    # the recusing member has a conflict with the partner's object too
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[0], "P01", swap_with="P03"), lib, frozenset({("P01", o[1])}))
    assert err.value.code == "swap_conflict"


def test_swap_refuses_to_break_the_expert_rule():
    lib, o, sels = swap_setup()
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[2], "P00", swap_with="P03"), lib)
    assert err.value.code == "swap_expertise"
    # the non-expert member of the 辐射 object may swap
    after, _ = recuse(sels, Recusal(o[2], "P05", swap_with="P03"), lib)
    assert after[2].inspectors == ("P00", "P03")


def test_swap_with_someone_already_on_the_team_or_absent():
    lib, o, sels = swap_setup()
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[0], "P01", swap_with="P02"), lib)
    assert err.value.code in ("swap_same_team", "swap_partner_absent")
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[0], "P01", swap_with="P07"), lib)
    assert err.value.code == "swap_partner_absent"


def test_swap_takes_the_first_workable_object_or_the_named_one():
    lib = library(n_obj=4, n_people=8, experts=())
    o = [x.uscc for x in lib.objects]
    sels = hand_made([("P01", "P02"), ("P03", "P04"), ("P05", "P03"), ("P03", "P06")], lib)
    conflicts = frozenset({("P01", o[1])})
    req = Recusal(o[0], "P01", swap_with="P03")
    after, cf = recuse(sels, req, lib, conflicts)
    assert after[1] == sels[1]  # o[1] conflicts: skipped
    assert after[2].inspectors == ("P05", "P01")  # the first that works
    assert resolved(sels, after, req).swap_uscc == o[2]
    named = Recusal(o[0], "P01", swap_with="P03", swap_uscc=o[3])
    after, _ = recuse(sels, named, lib, conflicts)
    assert after[3].inspectors == ("P01", "P06") and after[2] == sels[2]
    assert resolved(sels, after, named) == named
    with pytest.raises(DomainError) as err:
        recuse(sels, Recusal(o[0], "P01", swap_with="P03", swap_uscc=o[1]), lib, conflicts)
    assert err.value.code == "swap_conflict"


def test_resolved_leaves_withdrawals_alone():
    req = Recusal("u", "c")
    assert resolved((), (), req) is req
    assert Recusal.from_json(req.to_json()) == req
    swap = Recusal("u", "c", "d", "v")
    assert Recusal.from_json(swap.to_json()) == swap


# ---------------------------------------------------------------- replay and invariants


@st.composite
def recusal_scenarios(draw_):
    lib = draw_(
        libraries(
            max_key=25, max_general=40, max_special=10, min_key=2, max_conflicts=15, min_on_duty=6
        )
    )
    seed = draw_(seeds())
    n = draw_(st.integers(1, 12))
    # (which selection, which member, withdraw or swap, which partner)
    steps = draw_(
        st.lists(
            st.tuples(
                st.integers(0, 10**6), st.integers(0, 10), st.booleans(), st.integers(0, 10**6)
            ),
            min_size=n,
            max_size=n,
        )
    )
    return lib, seed, steps


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(recusal_scenarios())
def test_any_sequence_of_recusals_keeps_teams_valid_and_replays(scenario):
    lib, seed, steps = scenario
    spec = TaskSpec("2027Q1")
    try:
        res = draw(lib.objects, lib.inspectors, lib.conflicts, {}, RULES, spec, seed)
    except DomainError:
        event("draw dead end")
        assume(False)
    assume(res.selections)
    sels = res.selections
    conflicts = lib.conflicts
    recorded: list[tuple[Recusal, frozenset]] = []
    for si, mi, swap, pi in steps:
        sel = sels[si % len(sels)]
        cert = sel.inspectors[mi % len(sel.inspectors)]
        if swap:
            others = sorted({m for s in sels if s.uscc != sel.uscc for m in s.inspectors})
            if not others:
                continue
            req = Recusal(sel.uscc, cert, swap_with=others[pi % len(others)])
        else:
            req = Recusal(sel.uscc, cert)
        cf = conflicts | {(cert, sel.uscc)}
        try:
            after = apply(sels, req, lib.by_uscc, lib.inspectors, cf, {}, RULES, spec, seed)
        except DomainError as e:
            assert e.code in (
                "no_replacement",
                "swap_conflict",
                "swap_expertise",
                "swap_same_team",
                "swap_partner_absent",
            ), e
            event(f"refused: {e.code}")
            continue
        if not swap:
            rep = expected_replacement(sels, sel.uscc, cert, lib, cf, {}, seed)
            new = next(s for s in after if s.uscc == sel.uscc)
            assert new.inspectors[-1] == rep
        event("swap" if swap else "withdraw")
        recorded.append((resolved(sels, after, req), cf))
        conflicts = cf
        assert [s.uscc for s in after] == [s.uscc for s in sels]
        assert cert not in next(s for s in after if s.uscc == sel.uscc).inspectors
        sels = after
        assert_team_invariants(sels, lib, conflicts, res.workload_cap)
    replayed = replay(res.selections, recorded, lib.by_uscc, lib.inspectors, {}, RULES, spec, seed)
    assert replayed == sels


def test_replay_reproduces_a_recorded_sequence():
    lib = library(n_obj=5, n_people=9, experts=(0, 1, 2), radiating=(1, 3))
    sels0 = drawn(lib)
    sels, conflicts, recorded = sels0, lib.conflicts, []
    first = sels0[0]
    partner = next(m for s in sels0[1:] for m in s.inspectors if m not in first.inspectors)
    for req in (
        Recusal(first.uscc, first.inspectors[0]),
        Recusal(sels0[1].uscc, sels0[1].inspectors[1]),
        Recusal(first.uscc, first.inspectors[1], swap_with=partner),
    ):
        try:
            after, cf = recuse(sels, req, lib, conflicts)
        except DomainError:
            continue
        recorded.append((resolved(sels, after, req), cf))
        sels, conflicts = after, cf
    assert len(recorded) >= 2
    again = replay(sels0, recorded, lib.by_uscc, lib.inspectors, {}, Rules(), SPEC, SEED)
    assert again == sels
