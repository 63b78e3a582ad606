"""Hypothesis strategies and independent reference checks for the pure draw tests.

The reference functions here re-derive what the spec (shared/spec/domain.md, "The
quarterly draw", "Teams") says a draw must produce, using ``consistent_sampler`` (the
published reference implementation of Rivest's consistent sampling) for every ticket and
none of ``bot.domain``'s ordering, quota or staffing code. Tests compare the real draw
against them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction

import consistent_sampler as cs
from hypothesis import strategies as st

from bot.domain.model import (
    Category,
    DrawResult,
    Duty,
    Enterprise,
    History,
    Inspector,
    PersonKind,
    Rules,
    Selection,
    Status,
    TaskSpec,
)
from bot.domain.uscc import ALPHABET, check_char

RULES = Rules()
RAD = "辐射"
OWN_DEPTS = ("", "生态环境")
FOREIGN_DEPT = "市场监管"
BASE_POLLUTANTS = ("废水", "废气", "固体废物", "危险废物", "噪声", "土壤")
OTHER_SKILLS = ("危险废物", "水", "大气", "自动监控")
USCC_PREFIXES = ("91", "92", "12", "52", "N1", "Y1", "93", "11")
START = date(2027, 1, 1)
REGION = "410724"

# Scale every property test's example count with SSJ_HYPOTHESIS_SCALE (default 1) for a
# longer local soak; the normal run stays within the time budget. `make test-fast` sets
# SSJ_HYPOTHESIS_FAST=1: an eighth of the examples (at least 10), the same properties.
SCALE = max(1, int(os.environ.get("SSJ_HYPOTHESIS_SCALE", "1") or 1))
FAST = os.environ.get("SSJ_HYPOTHESIS_FAST") == "1"


def examples(n: int) -> int:
    return max(10, n // 8) if FAST else n * SCALE


# ---------------------------------------------------------------- identities


def make_uscc(body17: str) -> str:
    """A valid 统一社会信用代码 from its first 17 characters."""
    return body17 + check_char(body17)


uscc_bodies = st.builds(
    lambda p, r, o: p + r + o,
    st.sampled_from(USCC_PREFIXES),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=ALPHABET, min_size=9, max_size=9),
)
usccs = uscc_bodies.map(make_uscc)


def object_uscc(prefix: str, category: Category, index: int, salt: str) -> str:
    cat_char = {Category.KEY: "K", Category.GENERAL: "G", Category.SPECIAL: "T"}[category]
    return make_uscc(f"{prefix}{REGION}{cat_char}{index:07d}{salt}")


# ---------------------------------------------------------------- libraries


@dataclass(frozen=True)
class Library:
    objects: tuple[Enterprise, ...]
    inspectors: tuple[Inspector, ...]
    conflicts: frozenset  # of (cert, uscc)
    start: date = START

    @property
    def by_uscc(self) -> dict[str, Enterprise]:
        return {o.uscc: o for o in self.objects}

    @property
    def by_cert(self) -> dict[str, Inspector]:
        return {p.cert: p for p in self.inspectors}

    def drawable(self, rules: Rules = RULES) -> list[Inspector]:
        """Independent statement of who may staff the bureau's own teams."""
        return [
            p
            for p in self.inspectors
            if p.kind == PersonKind.OFFICER
            and p.duty == Duty.ON
            and p.department in ("", rules.own_department)
        ]


# one object: (status roll, radiation roll, prefix, salt char, other pollutants)
_object_rows = st.tuples(
    st.integers(0, 19),
    st.integers(0, 11),
    st.sampled_from(USCC_PREFIXES),
    st.sampled_from(ALPHABET),
    st.lists(st.sampled_from(BASE_POLLUTANTS), max_size=3, unique=True),
)


def _status(roll: int) -> Status:
    # the simplest example (0) is a running object
    return Status.CLOSED if roll == 19 else Status.STOPPED if roll >= 17 else Status.RUNNING


def _objects(category: Category, rows) -> list[Enterprise]:
    out = []
    for i, (s, r, prefix, salt, polls) in enumerate(rows):
        pollutants = tuple(polls) + ((RAD,) if r == 11 else ())
        out.append(
            Enterprise(
                object_uscc(prefix, category, i, salt),
                f"{category.value[:2]}企业{i}号",
                category,
                pollutants,
                _status(s),
                REGION,
            )
        )
    return out


@st.composite
def libraries(
    draw,
    max_key: int = 60,
    max_general: int = 200,
    max_special: int = 30,
    min_key: int = 0,
    min_general: int = 0,
    min_special: int = 0,
    max_conflicts: int = 40,
    min_on_duty: int = 4,
    max_on_duty: int = 19,
) -> Library:
    """A bureau's libraries: objects of the three categories (some 关闭/停产, some with
    辐射), 6–25 inspectors of the own department (some 离岗, some 辅助人员, enough 辐射
    experts among the on-duty officers), a few people of another department, and random
    declared conflicts that leave every object staffable."""

    def rows(lo: int, hi: int):
        n = draw(st.integers(lo, hi))  # sizes spread over the range, not only small
        return draw(st.lists(_object_rows, min_size=n, max_size=n))

    objects = (
        _objects(Category.KEY, rows(min_key, max_key))
        + _objects(Category.GENERAL, rows(min_general, max_general))
        + _objects(Category.SPECIAL, rows(min_special, max_special))
    )

    n_on = draw(st.integers(min_on_duty, max_on_duty))
    n_off = draw(st.integers(0, 3))
    n_aux = draw(st.integers(0, 3))
    n_on = max(n_on, 6 - n_off - n_aux)
    n_exp = draw(st.integers(max(2, -(-n_on // 4)), n_on))
    people: list[Inspector] = []
    idx = 0

    def person(kind: PersonKind, duty: Duty, expert: bool, dept: str | None = None) -> Inspector:
        nonlocal idx
        idx += 1
        skills = list(draw(st.lists(st.sampled_from(OTHER_SKILLS), max_size=2, unique=True)))
        if expert:
            skills.insert(draw(st.integers(0, len(skills))), RAD)
        department = dept if dept is not None else draw(st.sampled_from(OWN_DEPTS))
        prefix = "A" if kind is PersonKind.AUXILIARY else "4107"
        return Inspector(
            f"{prefix}{idx:05d}", f"检查员{idx}", department, kind, duty, tuple(skills)
        )

    for i in range(n_on):
        people.append(person(PersonKind.OFFICER, Duty.ON, i < n_exp))
    for _ in range(n_off):
        people.append(person(PersonKind.OFFICER, Duty.OFF, draw(st.booleans())))
    for _ in range(n_aux):
        people.append(person(PersonKind.AUXILIARY, Duty.ON, draw(st.booleans())))
    for _ in range(draw(st.integers(0, 3))):
        people.append(person(PersonKind.OFFICER, Duty.ON, draw(st.booleans()), FOREIGN_DEPT))
    people = draw(st.permutations(people))

    conflicts: set[tuple[str, str]] = set()
    if objects:
        n = draw(st.integers(0, max_conflicts))
        raw = draw(
            st.lists(
                st.tuples(st.integers(0, len(people) - 1), st.integers(0, len(objects) - 1)),
                min_size=n,
                max_size=n,
            )
        )
        conflicts = feasible_conflicts(
            [(people[i].cert, objects[j].uscc) for i, j in raw], objects, people
        )
    return Library(tuple(objects), tuple(people), frozenset(conflicts))


def feasible_conflicts(
    pairs: Iterable[tuple[str, str]],
    objects: Sequence[Enterprise],
    people: Sequence[Inspector],
    rules: Rules = RULES,
    spare: int = 2,
) -> set[tuple[str, str]]:
    """Keep declared conflicts while every object keeps at least min_team + ``spare``
    unconflicted drawable officers and, where it has 辐射, one unconflicted expert."""
    drawable = [
        p
        for p in people
        if p.kind is PersonKind.OFFICER
        and p.duty is Duty.ON
        and p.department in ("", rules.own_department)
    ]
    experts = {p.cert for p in drawable if RAD in p.expertise}
    certs = {p.cert for p in drawable}
    objs = {o.uscc: o for o in objects}
    left = {u: set(certs) for u in objs}
    kept: set[tuple[str, str]] = set()
    for cert, uscc in pairs:
        if cert in left[uscc]:
            after = left[uscc] - {cert}
            if len(after) < rules.min_team + spare:
                continue
            if RAD in objs[uscc].pollutants and not (after & experts):
                continue
            left[uscc] = after
        kept.add((cert, uscc))
    return kept


def seeds() -> st.SearchStrategy[str]:
    """A committed secret (32 bytes, hex) and optional public entropy."""
    return st.builds(
        lambda s, e: f"{s.hex()}:{e}",
        st.binary(min_size=32, max_size=32),
        st.one_of(st.just(""), st.text(max_size=12)),
    )


# ---------------------------------------------------------------- simulation


@dataclass(frozen=True)
class Quarter:
    spec: TaskSpec
    seed: str
    history: Mapping[str, History]  # as it stood before the draw
    result: DrawResult


def quarter_spec(year: int, quarter: int) -> TaskSpec:
    return TaskSpec(
        task_id=f"{year}Q{quarter}", year=year, quarter=quarter, on=date(year, 3 * quarter - 2, 1)
    )


def after_draw(history: Mapping[str, History], result: DrawResult, on: date) -> dict[str, History]:
    """The history the shell records after a valid draw."""
    out = dict(history)
    for s in result.selections:
        h = out.get(s.uscc, History())
        out[s.uscc] = replace(
            h, draws_this_year=h.draws_this_year + 1, last_drawn=on, last_team=s.inspectors
        )
    return out


def new_year(history: Mapping[str, History]) -> dict[str, History]:
    return {u: replace(h, draws_this_year=0) for u, h in history.items()}


# ---------------------------------------------------------------- reference tickets


class RefTickets:
    """Tickets from consistent_sampler's own ``first_ticket`` (memoised per seed)."""

    def __init__(self, seed: str):
        self.seed = seed
        self.seed_hash = cs.sha256_hex(seed)
        self._memo: dict[str, str] = {}

    def __call__(self, ident: str) -> str:
        t = self._memo.get(ident)
        if t is None:
            t = self._memo[ident] = cs.first_ticket(ident, self.seed, self.seed_hash).ticket_number
        return t

    def pairing(self, uscc: str, cert: str) -> str:
        return self(f"{uscc}/{cert}")


def ceil_fraction(ratio: Fraction, n: int) -> int:
    num, den = ratio.numerator * n, ratio.denominator
    return (num + den - 1) // den


def reference_quota(
    category: Category,
    objs: Sequence[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
) -> int:
    n = len(objs)
    by_ratio = ceil_fraction(rules.ratio(category), n)
    left = 5 - spec.quarter
    hist = [history.get(o.uscc, History()) for o in objs]
    if category is Category.KEY:
        need = -(-sum(max(0, rules.key_per_year - h.draws_this_year) for h in hist) // left)
    elif category is Category.SPECIAL:
        need = -(-sum(max(0, rules.special_per_year - h.draws_this_year) for h in hist) // left)
    else:
        need = sum(1 for h in hist if _ref_general_due(h, spec, rules))
    return min(n, max(by_ratio, need))


def _ref_general_due(h: History, spec: TaskSpec, rules: Rules) -> bool:
    """Would the last draw (or the entry into the library) be 3 years old by next quarter?"""
    ref = h.last_drawn or h.since
    if ref is None:
        return False
    qi = spec.on.year * 4 + (spec.on.month - 1) // 3
    return qi - (ref.year * 4 + (ref.month - 1) // 3) >= rules.general_years * 4 - 1


def reference_objects(
    objects: Sequence[Enterprise],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    tk: RefTickets,
) -> list[str]:
    """USCCs a quarterly draw must select, in category then selection order."""
    out: list[str] = []
    for cat in spec.categories:
        objs = [o for o in objects if o.category is cat and o.status is not Status.CLOSED]
        q = reference_quota(cat, objs, history, rules, spec)

        def key(o: Enterprise, _cat=cat):
            h = history.get(o.uscc, History())
            due = _cat is Category.GENERAL and _ref_general_due(h, spec, rules)
            return (not due, h.draws_this_year, h.last_drawn or date.min, tk(o.uscc), o.uscc)

        out.extend(o.uscc for o in sorted(objs, key=key)[:q])
    return out


@dataclass
class StaffStep:
    uscc: str
    eligible: list[str]  # in pairing-ticket order, before rotation
    previous: tuple[str, ...]
    rotation_possible: bool  # the eligible minus the previous team could staff it
    members: list[str]
    capped: bool = False  # someone unconflicted was left out by the workload cap


def _can_staff(
    cands: Sequence[str], need: int, skill: str | None, people: Mapping[str, Inspector]
) -> list[str] | None:
    if len(cands) < need:
        return None
    if skill is None:
        return list(cands[:need])
    expert = next((c for c in cands if skill in people[c].expertise), None)
    if expert is None:
        return None
    return [expert] + [c for c in cands if c != expert][: need - 1]


def reference_staff(
    selected: Sequence[str],
    lib: Library,
    history: Mapping[str, History],
    rules: Rules,
    tk: RefTickets,
    conflicts: frozenset | None = None,
) -> tuple[dict[str, list[str]], list[StaffStep], int]:
    """Teams for the selected objects as the spec's "Teams" section describes them."""
    conflicts = lib.conflicts if conflicts is None else conflicts
    objs = lib.by_uscc
    people = lib.by_cert
    pool = [p.cert for p in lib.drawable(rules)]
    cap = -(-len(selected) * rules.min_team // len(pool)) + rules.workload_extra

    def skill_of(u: str) -> str | None:
        for pollutant, skill in rules.expert_rules:
            if pollutant in objs[u].pollutants:
                return skill
        return None

    order = sorted(selected, key=lambda u: (skill_of(u) is None, tk(u), u))
    while True:
        load = {c: 0 for c in pool}
        teams: dict[str, list[str]] = {}
        steps: list[StaffStep] = []
        dead = None
        for u in order:
            skill = skill_of(u)
            ranked = sorted(pool, key=lambda c: (tk.pairing(u, c), c))
            free = [c for c in ranked if (c, u) not in conflicts]
            eligible = [c for c in free if load[c] < cap]
            previous = history.get(u, History()).last_team
            fresh = [c for c in eligible if c not in previous]
            rotated = _can_staff(fresh, rules.min_team, skill, people)
            members = (
                rotated
                if rotated is not None
                else _can_staff(eligible, rules.min_team, skill, people)
            )
            if members is None:
                dead = (u, _can_staff(free, rules.min_team, skill, people) is not None)
                break
            for c in members:
                load[c] += 1
            teams[u] = members
            steps.append(
                StaffStep(
                    u, eligible, previous, rotated is not None, members, len(free) > len(eligible)
                )
            )
        if dead is None:
            return teams, steps, cap
        if not dead[1]:  # even without the cap nobody could staff it
            raise LookupError(dead[0])
        cap += 1  # the cap alone dead-ended staffing: raise it, start again


# ---------------------------------------------------------------- invariants


def assert_team_invariants(
    selections: Sequence[Selection],
    lib: Library,
    conflicts: frozenset,
    cap: int | None,
    rules: Rules = RULES,
) -> None:
    """What every staffed team of the bureau's own task must satisfy."""
    drawable = {p.cert: p for p in lib.drawable(rules)}
    objs = lib.by_uscc
    load: dict[str, int] = {}
    for s in selections:
        assert len(s.teams) == 1, s
        team = s.teams[0]
        assert team.department == rules.own_department
        members = team.members
        assert len(members) >= rules.min_team, s
        assert len(set(members)) == len(members), s
        for m in members:
            assert m in drawable, (s.uscc, m)  # on-duty officer, own department
            assert (m, s.uscc) not in conflicts, (s.uscc, m)
            load[m] = load.get(m, 0) + 1
        for pollutant, skill in rules.expert_rules:
            if pollutant in objs[s.uscc].pollutants:
                assert any(skill in drawable[m].expertise for m in members), s
    if cap is not None:
        assert all(v <= cap for v in load.values()), (cap, load)


# ---------------------------------------------------------------- risk classes and history

CREDIT_TAGS = (
    "",
    "",
    "",
    "良好",
    "环保诚信",
    "警示",
    "不良",
    "环保诚信企业",
    "警示企业",
    "环保不良企业",
    "环保良好企业",
)
GRADE_TAGS = ("", "", "", "A", "B", "C", "D")
COLUMN_CLASSES = ("", "", "", "", "", "A", "B", "C", "D")


@st.composite
def risky_libraries(draw, **kw) -> Library:
    """``libraries(**kw)`` whose objects carry 环境信用评级, 绩效分级, 正面清单 and, for
    some, the 信用风险分类 column: a mix where every class occurs, a library of mostly
    class A (where the ratio floor tops the strata up), or no tags at all."""
    lib = draw(libraries(**kw))
    profile = draw(st.sampled_from(("mixed", "mixed", "mostly_a", "untagged")))
    credit, grade, column = {
        "mixed": (CREDIT_TAGS, GRADE_TAGS, COLUMN_CLASSES),
        "mostly_a": (("环保诚信", "环保诚信", "", "良好"), ("A", ""), ("", "", "A", "A", "B")),
        "untagged": (("",), ("",), ("",)),
    }[profile]
    tags = draw(
        st.lists(
            st.tuples(
                st.sampled_from(credit),
                st.sampled_from(grade),
                st.integers(0, 9),
                st.sampled_from(column),
            ),
            min_size=len(lib.objects),
            max_size=len(lib.objects),
        )
    )
    objects = tuple(
        replace(o, credit=c, grade=g, positive=p == 9 and profile != "untagged", risk=k)
        for o, (c, g, p, k) in zip(lib.objects, tags, strict=True)
    )
    return replace(lib, objects=objects)


@st.composite
def imported_history(
    draw, lib: Library, first: int = 2024, last: int = 2026, max_rows: int = 150
) -> dict[str, list[tuple[int, int, int]]]:
    """Inspections imported from a bureau's old system: per USCC, (年度, 季度, 检查结论
    number 1–6), at most one per object and quarter."""
    if not lib.objects:
        return {}
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, len(lib.objects) - 1),
                st.integers(first, last),
                st.integers(1, 4),
                st.sampled_from((1, 1, 1, 1, 2, 2, 3, 4, 5, 6)),
            ),
            max_size=max_rows,
            unique_by=lambda r: (r[0], r[1], r[2]),
        )
    )
    out: dict[str, list[tuple[int, int, int]]] = {}
    for i, y, q, c in rows:
        out.setdefault(lib.objects[i].uscc, []).append((y, q, c))
    return out
