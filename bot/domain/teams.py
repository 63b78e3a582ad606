"""随机选派检查人员: staffing each drawn object with a team.

Eligibility: an on-duty officer of the team's department, no declared conflict with the
object, below the workload cap, and (rotation) not on the object's previous team unless
leaving those out makes the team impossible. Choice: ascending pairing ticket of
``USCC/执法证号``, the lowest-ticket eligible expert first where the object needs one.

Special campaigns may add ``spec.auxiliary`` 辅助人员 (监测机构, 专家) to the bureau's own
team of each object, chosen the same way from their own pool under their own workload
cap. They come on top of the ≥ min_team officers, so a team is never only auxiliary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from .model import DomainError, Duty, Enterprise, History, Inspector, PersonKind, Rules, TaskSpec
from .quotas import ceil_div
from .tickets import Tickets

_NO_HISTORY = History()


def department_label(dept: str, rules: Rules) -> str:
    return dept or rules.own_department


def department_pool(
    inspectors: Iterable[Inspector], dept: str, rules: Rules, spec: TaskSpec
) -> list[Inspector]:
    """On-duty officers who may staff ``dept``'s teams ("" = the bureau's own people)."""
    own = ("", rules.own_department)
    out = []
    for p in inspectors:
        if p.kind is not PersonKind.OFFICER or p.duty is not Duty.ON:
            continue
        if (p.department not in own) if dept in own else (p.department != dept):
            continue
        if spec.inspector_expertise and not set(spec.inspector_expertise) & set(p.expertise):
            continue
        if spec.inspector_region and p.region != spec.inspector_region:
            continue
        out.append(p)
    return out


def auxiliary_pool(
    inspectors: Iterable[Inspector], rules: Rules, spec: TaskSpec
) -> list[Inspector]:
    """On-duty 辅助人员 who may join the bureau's own teams.

    The campaign's 业务专长 filter applies to them as it does to officers: an expert is
    added for that expertise. Its 所在区域 filter does not: monitoring centres and expert
    panels sit outside the county's squads (所在区域 is e.g. 新乡市 or 河南省), and the
    filter is about which local officers go.
    """
    own = ("", rules.own_department)
    return [
        p
        for p in inspectors
        if p.kind is PersonKind.AUXILIARY
        and p.duty is Duty.ON
        and p.department in own
        and (not spec.inspector_expertise or set(spec.inspector_expertise) & set(p.expertise))
    ]


def needed_expertise(obj: Enterprise, dept: str, rules: Rules) -> str | None:
    """The expertise one member must have (the 辐射 rule), for the bureau's own team."""
    if dept not in ("", rules.own_department):
        return None
    for pollutant, skill in rules.expert_rules:
        if pollutant in obj.pollutants:
            return skill
    return None


def workload_cap(objects: int, pool_size: int, rules: Rules, per_team: int | None = None) -> int:
    """⌈team slots / eligible inspectors⌉ + 1 objects per inspector in one draw.

    Team slots are objects × ``per_team`` (default the minimum team size; for 辅助人员
    the campaign's number per team).
    """
    per_team = rules.min_team if per_team is None else per_team
    return ceil_div(objects * per_team, pool_size) + rules.workload_extra


class Candidate(NamedTuple):  # a tuple: made for every pool member of every drawn object
    ticket: str
    cert: str
    expert: bool


def ranked(
    obj: Enterprise, pool: Sequence[Inspector], skill: str | None, tickets: Tickets
) -> list[Candidate]:
    """Every pool member in ascending pairing-ticket order (then 执法证号)."""
    prefix = obj.uscc + "/"
    certs = [p.cert for p in pool]
    tks = tickets.many([prefix + c for c in certs])
    order = sorted(zip(tks, certs, range(len(certs)), strict=True))
    new = tuple.__new__  # Candidate(…) without the keyword-parsing constructor
    if not skill:
        return [new(Candidate, (t, c, False)) for t, c, _i in order]
    return [new(Candidate, (t, c, skill in pool[i].expertise)) for t, c, i in order]


def pick(
    cands: Sequence[Candidate],
    need: int,
    skill: str | None,
    previous: frozenset[str] | set[str] | tuple[str, ...],
) -> tuple[list[str], str | None]:
    """Choose ``need`` members from already-eligible ranked candidates.

    Returns (members, failure) where failure is None, "size" or "expert".
    Rotation: leave out the previous team unless that makes the team impossible.
    """
    preferred = [c for c in cands if c.cert not in previous]
    for group in (preferred, list(cands)) if previous else (list(cands),):
        chosen = _choose(group, need, skill)
        if chosen is not None:
            return chosen, None
    if len(cands) < need:
        return [], "size"
    return [], "expert"


def _choose(group: Sequence[Candidate], need: int, skill: str | None) -> list[str] | None:
    if len(group) < need:
        return None
    if not skill:
        return [c.cert for c in group[:need]]
    expert = next((c for c in group if c.expert), None)
    if expert is None:
        return None
    rest = [c.cert for c in group if c is not expert][: need - 1]
    return [expert.cert] + rest


def staff(
    objects: Sequence[tuple[Enterprise, str]],
    inspectors: Sequence[Inspector],
    conflicts: frozenset[tuple[str, str]],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    tickets: Tickets,
) -> tuple[dict[str, list[tuple[str, list[str], list[str]]]], dict[str, int]]:
    """Teams for drawn (object, ticket) pairs.

    Returns ({uscc: [(dept, officers, auxiliary)]}, caps) with the officers' cap per
    department. Staffing is greedy in ticket order under the workload cap. If that
    dead-ends on an object only because the cap left someone out, the cap is raised by one
    and staffing of that department starts again (deterministic; the cap used is returned).
    """
    teams: dict[str, list[tuple[str, list[str], list[str]]]] = {o.uscc: [] for o, _ in objects}
    caps: dict[str, int] = {}
    for dept in spec.departments:
        pool = department_pool(inspectors, dept, rules, spec)
        label = department_label(dept, rules)
        if not pool:
            raise DomainError("no_inspectors", department=label)
        skills = {o.uscc: needed_expertise(o, dept, rules) for o, _ in objects}
        order = sorted(objects, key=lambda ot: (skills[ot[0].uscc] is None, ot[1], ot[0].uscc))
        ranks = {o.uscc: ranked(o, pool, skills[o.uscc], tickets) for o, _ in order}
        cap = workload_cap(len(objects), len(pool), rules)
        chosen, cap = _staff_capped(
            order, ranks, skills, conflicts, history, rules.min_team, cap, "team_unstaffable"
        )
        caps[label] = cap
        extra: dict[str, list[str]] = {}
        if spec.auxiliary and dept in ("", rules.own_department):
            extra = staff_auxiliary(objects, inspectors, conflicts, history, rules, spec, tickets)
        for uscc, members in chosen.items():
            teams[uscc].append((label, members, extra.get(uscc, [])))
    return teams, caps


def staff_auxiliary(
    objects: Sequence[tuple[Enterprise, str]],
    inspectors: Sequence[Inspector],
    conflicts: frozenset[tuple[str, str]],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    tickets: Tickets,
) -> dict[str, list[str]]:
    """``spec.auxiliary`` 辅助人员 for each object's own team: {uscc: [cert, …]}.

    Objects in ascending ticket order; for each, the auxiliary pool in ascending
    pairing-ticket order (``USCC/cert``) without declared conflicts, below their own cap
    ⌈objects · auxiliary / pool⌉ + workload_extra, with the same rotation rule as
    officers and the same cap raising on a dead end. No expertise rule: the expert rules
    (辐射) are met by officers.
    """
    need = spec.auxiliary
    pool = auxiliary_pool(inspectors, rules, spec)
    if len(pool) < need:
        raise DomainError("auxiliary_short", need=need, have=len(pool))
    order = sorted(objects, key=lambda ot: (ot[1], ot[0].uscc))
    skills = {o.uscc: None for o, _ in order}
    ranks = {o.uscc: ranked(o, pool, None, tickets) for o, _ in order}
    cap = workload_cap(len(objects), len(pool), rules, need)
    chosen, _cap = _staff_capped(
        order, ranks, skills, conflicts, history, need, cap, "auxiliary_unstaffable"
    )
    return chosen


_Order = Sequence[tuple[Enterprise, str]]
_Ranks = Mapping[str, Sequence[Candidate]]
_Skills = Mapping[str, str | None]
_Failure = dict[str, object]


def _staff_capped(
    order: _Order,
    ranks: _Ranks,
    skills: _Skills,
    conflicts: Iterable[tuple[str, str]],
    history: Mapping[str, History],
    need: int,
    cap: int,
    code: str,
) -> tuple[dict[str, list[str]], int]:
    """Greedy staffing, raising the cap by one while only the cap stands in the way."""
    while True:
        chosen, failure = _staff_once(order, ranks, skills, conflicts, history, need, cap)
        if failure is None:
            return chosen, cap
        if not failure.pop("capped"):
            raise DomainError(code, **failure)
        cap += 1


def _staff_once(
    order: _Order,
    ranks: _Ranks,
    skills: _Skills,
    conflicts: Iterable[tuple[str, str]],
    history: Mapping[str, History],
    need: int,
    cap: int,
) -> tuple[dict[str, list[str]], _Failure | None]:
    load: dict[str, int] = {}
    chosen: dict[str, list[str]] = {}
    barred: dict[str, set[str]] = {}  # USCC -> the 执法证号 in a declared conflict with it
    for cert, uscc in conflicts:
        barred.setdefault(uscc, set()).add(cert)
    none: set[str] = set()
    get = load.get
    for obj, _ticket in order:
        skill = skills[obj.uscc]
        bad = barred.get(obj.uscc, none)
        free = [c for c in ranks[obj.uscc] if c.cert not in bad] if bad else ranks[obj.uscc]
        cands = [c for c in free if get(c.cert, 0) < cap]
        previous = history.get(obj.uscc, _NO_HISTORY).last_team
        members, failure = pick(cands, need, skill, previous)
        if failure:
            return chosen, {
                "uscc": obj.uscc,
                "name": obj.name,
                "reason": failure,
                "need": need,
                "have": len(cands),
                "expertise": skill or "",
                "capped": _staffable(free, need, skill),
            }
        for m in members:
            load[m] = load.get(m, 0) + 1
        chosen[obj.uscc] = members
    return chosen, None


def _staffable(cands: Sequence[Candidate], need: int, skill: str | None) -> bool:
    """Could these candidates staff the team if nobody were at the cap?"""
    return _choose(cands, need, skill) is not None
