"""辅助人员 on the teams of special campaigns: exactly ``auxiliary`` of them per team on top
of ≥ min_team officers, never conflicted, the lowest pairing tickets under their own
workload cap (checked against an independent reference with consistent_sampler's
tickets); officers unchanged by them; recusal and JSON round trips."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.domain import snapshot as snap
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
    Selection,
    TaskSpec,
    Team,
)
from bot.domain.recusal import Recusal, apply, replay
from bot.text import domain_message

from .strategies import RAD, RULES, RefTickets, examples, make_uscc, seeds

S = Category.SPECIAL
AUX = PersonKind.AUXILIARY
SEED = "ab" * 32 + ":7"
OWN = RULES.own_department


def objects(n: int, radiating=()) -> list[Enterprise]:
    return [
        Enterprise(
            make_uscc(f"9141072430000{i:04d}"), f"企业{i}", S, (RAD,) if i in radiating else ()
        )
        for i in range(n)
    ]


def officers(n: int) -> list[Inspector]:
    return [
        Inspector(f"4107{i:04d}", f"执法{i}", expertise=(RAD,) if i < 2 else ()) for i in range(n)
    ]


def helpers(n: int, **kw) -> list[Inspector]:
    return [Inspector(f"FZ-{i:04d}", f"辅助{i}", kind=AUX, **kw) for i in range(n)]


def spec(count: int, auxiliary: int, **kw) -> TaskSpec:
    return TaskSpec(
        "2027ZX01",
        kind="special",
        quarter=2,
        on=date(2027, 4, 1),
        count=count,
        auxiliary=auxiliary,
        **kw,
    )


# ---------------------------------------------------------------- reference


def reference_auxiliary(
    drawn: list[str],
    pool: list[Inspector],
    need: int,
    conflicts: frozenset,
    history,
    rules: Rules,
    tk: RefTickets,
):
    """The 辅助人员 per object as the rule reads: objects in ascending ticket order; for
    each, the pool in ascending pairing-ticket order, without conflicts, under the cap
    ⌈objects·need / pool⌉ + workload_extra, leaving out the previous team where enough
    others remain; the cap goes up by one whenever it alone stands in the way."""
    certs = [p.cert for p in pool]
    cap = -(-len(drawn) * need // len(certs)) + rules.workload_extra
    order = sorted(drawn, key=lambda u: (tk(u), u))
    while True:
        load = {c: 0 for c in certs}
        out: dict[str, list[str]] = {}
        for u in order:
            ranked = sorted(certs, key=lambda c: (tk.pairing(u, c), c))
            free = [c for c in ranked if (c, u) not in conflicts]
            ok = [c for c in free if load[c] < cap]
            fresh = [c for c in ok if c not in history.get(u, History()).last_team]
            chosen = fresh[:need] if len(fresh) >= need else ok[:need]
            if len(chosen) < need:
                if len(free) < need:
                    raise LookupError(u)
                break
            for c in chosen:
                load[c] += 1
            out[u] = chosen
        else:
            return out, cap
        cap += 1


@st.composite
def campaigns(draw_):
    n_obj = draw_(st.integers(1, 14))
    objs = objects(n_obj, radiating=draw_(st.sets(st.integers(0, n_obj - 1), max_size=3)))
    people = officers(draw_(st.integers(4, 9)))
    n_aux = draw_(st.integers(1, 6))
    skills = st.lists(st.sampled_from(["水", "大气", RAD, "自动监控"]), max_size=2, unique=True)
    for i in range(n_aux):
        people.append(
            Inspector(
                f"FZ-{i:04d}",
                f"辅助{i}",
                draw_(st.sampled_from(["", OWN])),
                AUX,
                Duty.ON,
                tuple(draw_(skills)),
            )
        )
    # people who must never be picked as 辅助人员
    people.append(Inspector("FZ-OFF", "离岗辅助", kind=AUX, duty=Duty.OFF))
    people.append(Inspector("FZ-EXT", "外部门辅助", "市场监管", AUX))
    people = draw_(st.permutations(people))
    aux_certs = [p.cert for p in people if p.kind is AUX]
    pairs = draw_(
        st.lists(
            st.tuples(st.sampled_from(aux_certs), st.sampled_from([o.uscc for o in objs])),
            max_size=8,
        )
    )
    history = {}
    for o in objs:
        if draw_(st.integers(0, 3)) == 0:
            history[o.uscc] = History(
                1,
                date(2027, 1, 1),
                tuple(draw_(st.lists(st.sampled_from(aux_certs), max_size=2, unique=True))),
            )
    expertise = ("水",) if draw_(st.integers(0, 4)) == 0 else ()
    need = draw_(st.integers(1, 3))
    return objs, people, frozenset(pairs), history, need, expertise


@settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(campaigns(), seeds())
def test_auxiliary_members_follow_the_rule(c, seed):
    objs, people, conflicts, history, need, expertise = c
    by_cert = {p.cert: p for p in people}
    task = spec(len(objs), need, inspector_expertise=expertise)
    # officers are filtered by 业务专长 too; keep them staffable by giving all of them 水
    if expertise:
        people = [
            p if p.kind is AUX else Inspector(p.cert, p.name, expertise=p.expertise + ("水",))
            for p in people
        ]
        by_cert = {p.cert: p for p in people}
    pool = [
        p
        for p in people
        if p.kind is AUX
        and p.duty is Duty.ON
        and p.department in ("", OWN)
        and (not expertise or set(expertise) & set(p.expertise))
    ]
    tk = RefTickets(seed)
    try:
        res = draw(objs, people, conflicts, history, RULES, task, seed)
    except DomainError as e:
        if len(pool) < need:
            assert e.code == "auxiliary_short"
            assert (e.params["need"], e.params["have"]) == (need, len(pool))
            event("too few 辅助人员")
            return
        assert e.code == "auxiliary_unstaffable", e
        with pytest.raises(LookupError) as ref:
            reference_auxiliary([o.uscc for o in objs], pool, need, conflicts, history, RULES, tk)
        assert ref.value.args[0] == e.params["uscc"]
        event("conflicts leave an object without enough 辅助人员")
        return
    assert len(pool) >= need
    expected, cap = reference_auxiliary(
        [s.uscc for s in res.selections], pool, need, conflicts, history, RULES, tk
    )
    plain = draw(
        objs,
        people,
        conflicts,
        history,
        RULES,
        spec(len(objs), 0, inspector_expertise=expertise),
        seed,
    )
    load: dict[str, int] = {}
    for s, s0 in zip(res.selections, plain.selections, strict=True):
        (team,) = s.teams
        assert team.department == OWN
        assert len(team.members) >= RULES.min_team
        assert all(by_cert[m].kind is PersonKind.OFFICER for m in team.members)
        assert len(team.auxiliary) == need == len(set(team.auxiliary))
        for a in team.auxiliary:
            p = by_cert[a]
            assert p.kind is AUX and p.duty is Duty.ON and p.department in ("", OWN)
            assert (a, s.uscc) not in conflicts
            load[a] = load.get(a, 0) + 1
        assert list(team.auxiliary) == expected[s.uscc]
        # the officers are exactly those of the same draw without 辅助人员
        assert s.inspectors == s0.inspectors and (s.uscc, s.ticket) == (s0.uscc, s0.ticket)
        assert s.auxiliary == team.auxiliary
    assert max(load.values()) <= cap
    if cap > -(-len(objs) * need // len(pool)) + RULES.workload_extra:
        event("auxiliary cap raised")
    # recomputable from its snapshot
    doc = snap.make(objs, people, conflicts, history, RULES, task)
    inp = snap.inputs(doc)
    again = draw(inp.pool, inp.inspectors, inp.conflicts, inp.history, inp.rules, inp.spec, seed)
    assert again == res
    assert [Selection.from_json(s.to_json()) for s in res.selections] == list(res.selections)


# ---------------------------------------------------------------- examples


def test_without_auxiliary_nothing_changes_in_json():
    objs, people = objects(4), officers(6) + helpers(3)
    res = draw(objs, people, frozenset(), {}, RULES, spec(4, 0), SEED)
    for s in res.selections:
        d = s.to_json()
        assert "auxiliary" not in d and all("auxiliary" not in t for t in d["teams"])
        assert s.auxiliary == ()
    assert "auxiliary" not in spec(4, 0).to_json()
    assert TaskSpec.from_json(spec(4, 0).to_json()).auxiliary == 0
    assert TaskSpec.from_json(spec(4, 2).to_json()) == spec(4, 2)
    assert spec(4, 2).to_json()["auxiliary"] == 2


def test_each_team_gets_its_auxiliary_in_pairing_ticket_order():
    objs, aux = objects(3), helpers(5)
    res = draw(objs, officers(6) + aux, frozenset(), {}, RULES, spec(3, 1), SEED)
    tk = RefTickets(SEED)
    # 3 objects, 5 helpers: the cap ⌈3/5⌉+1 = 2 never binds, each takes its lowest ticket
    for s in res.selections:
        best = min(aux, key=lambda p: (tk.pairing(s.uscc, p.cert), p.cert))
        assert s.teams[0].auxiliary == (best.cert,)
        d = s.to_json()
        assert d["auxiliary"] == [best.cert] and d["teams"][0]["auxiliary"] == [best.cert]
        assert best.cert not in d["inspectors"]


def test_declared_conflicts_and_off_duty_helpers_are_skipped():
    objs = objects(1)
    aux = helpers(3)
    tk = RefTickets(SEED)
    order = sorted(aux, key=lambda p: (tk.pairing(objs[0].uscc, p.cert), p.cert))
    people = (
        officers(4)
        + [order[0]]
        + [Inspector(order[1].cert, order[1].name, kind=AUX, duty=Duty.OFF), order[2]]
    )
    res = draw(
        objs, people, frozenset({(order[0].cert, objs[0].uscc)}), {}, RULES, spec(1, 1), SEED
    )
    assert res.selections[0].auxiliary == (order[2].cert,)


def test_expertise_filter_applies_to_auxiliary_but_region_does_not():
    objs = objects(2)
    people = [
        Inspector(f"4107{i:04d}", f"执法{i}", expertise=("大气",), region="获嘉县城关镇")
        for i in range(4)
    ]
    people += [
        Inspector("FZ-1", "监测中心甲", kind=AUX, expertise=("水",), region="新乡市"),
        Inspector("FZ-2", "监测中心乙", kind=AUX, expertise=("大气",), region="新乡市"),
    ]
    task = spec(2, 1, inspector_expertise=("大气",), inspector_region="获嘉县城关镇")
    res = draw(objs, people, frozenset(), {}, RULES, task, SEED)
    assert all(s.auxiliary == ("FZ-2",) for s in res.selections)


def test_too_few_auxiliary_is_refused_with_a_chinese_message():
    with pytest.raises(DomainError) as err:
        draw(objects(2), officers(6) + helpers(1), frozenset(), {}, RULES, spec(2, 2), SEED)
    e = err.value
    assert e.code == "auxiliary_short" and (e.params["need"], e.params["have"]) == (2, 1)
    assert "辅助人员不足：需要每组 2 名，可用 1 名" in domain_message(e)


def test_conflicts_that_leave_an_object_without_auxiliary_are_refused():
    objs, aux = objects(2), helpers(2)
    conflicts = frozenset({(aux[0].cert, objs[1].uscc)})
    with pytest.raises(DomainError) as err:
        draw(objs, officers(6) + aux, conflicts, {}, RULES, spec(2, 2), SEED)
    e = err.value
    assert e.code == "auxiliary_unstaffable" and e.params["uscc"] == objs[1].uscc
    text = domain_message(e)
    assert "辅助人员不足" in text and objs[1].name in text


def test_auxiliary_never_count_towards_the_officers():
    # 1 officer and many helpers: still unstaffable, a team is never only auxiliary
    with pytest.raises(DomainError) as err:
        draw(objects(1), officers(1) + helpers(4), frozenset(), {}, RULES, spec(1, 2), SEED)
    assert err.value.code == "team_unstaffable"


# ---------------------------------------------------------------- recusal of a 辅助人员


def test_withdraw_replaces_an_auxiliary_with_the_next_auxiliary():
    objs, aux = objects(2), helpers(4)
    people = officers(6) + aux
    task = spec(2, 1)
    sels = draw(objs, people, frozenset(), {}, RULES, task, SEED).selections
    sel = sels[0]
    gone = sel.auxiliary[0]
    conflicts = frozenset({(gone, sel.uscc)})
    after = apply(
        sels,
        Recusal(sel.uscc, gone),
        {o.uscc: o for o in objs},
        people,
        conflicts,
        {},
        RULES,
        task,
        SEED,
    )
    tk = RefTickets(SEED)
    order = [p.cert for p in sorted(aux, key=lambda p: (tk.pairing(sel.uscc, p.cert), p.cert))]
    assert after[0].auxiliary == (next(c for c in order if c != gone),)
    assert after[0].inspectors == sel.inspectors and after[1:] == sels[1:]
    assert (
        replay(
            sels,
            [(Recusal(sel.uscc, gone), conflicts)],
            {o.uscc: o for o in objs},
            people,
            {},
            RULES,
            task,
            SEED,
        )
        == after
    )


def test_swap_between_two_auxiliary_members():
    objs = objects(2)
    people = officers(6) + helpers(2)
    task = spec(2, 1)
    # two helpers, each on one object (cap ⌈2/2⌉+1 = 2 may put one on both: force apart)
    sels = (
        Selection(
            objs[0].uscc,
            objs[0].name,
            S,
            "0.1",
            (Team(OWN, ("41070000", "41070001"), ("FZ-0000",)),),
        ),
        Selection(
            objs[1].uscc,
            objs[1].name,
            S,
            "0.2",
            (Team(OWN, ("41070002", "41070003"), ("FZ-0001",)),),
        ),
    )
    after = apply(
        sels,
        Recusal(objs[0].uscc, "FZ-0000", swap_with="FZ-0001"),
        {o.uscc: o for o in objs},
        people,
        frozenset({("FZ-0000", objs[0].uscc)}),
        {},
        RULES,
        task,
        SEED,
    )
    assert [s.auxiliary for s in after] == [("FZ-0001",), ("FZ-0000",)]
    assert [s.inspectors for s in after] == [s.inspectors for s in sels]
    # an officer is no swap partner for a 辅助人员
    with pytest.raises(DomainError) as err:
        apply(
            sels,
            Recusal(objs[0].uscc, "FZ-0000", swap_with="41070002"),
            {o.uscc: o for o in objs},
            people,
            frozenset({("FZ-0000", objs[0].uscc)}),
            {},
            RULES,
            task,
            SEED,
        )
    assert err.value.code == "swap_partner_absent"
