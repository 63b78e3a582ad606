"""随机选派检查人员: staffing each drawn object with a team.

Eligibility: an on-duty officer of the team's department, no declared conflict with the
object, below the workload cap, and (rotation) not on the object's previous team unless
leaving those out makes the team impossible. Choice: ascending pairing ticket of
``USCC/执法证号``, the lowest-ticket eligible expert first where the object needs one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .model import (Category, DomainError, Duty, Enterprise, History, Inspector,
                    PersonKind, Rules, TaskSpec)
from .quotas import ceil_div
from .tickets import Tickets

_NO_HISTORY = History()


def department_label(dept: str, rules: Rules) -> str:
    return dept or rules.own_department


def department_pool(inspectors: Iterable[Inspector], dept: str, rules: Rules,
                    spec: TaskSpec) -> list[Inspector]:
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


def needed_expertise(obj: Enterprise, dept: str, rules: Rules) -> str | None:
    """The expertise one member must have (the 辐射 rule), for the bureau's own team."""
    if dept not in ("", rules.own_department):
        return None
    for pollutant, skill in rules.expert_rules:
        if pollutant in obj.pollutants:
            return skill
    return None


def workload_cap(objects: int, pool_size: int, rules: Rules) -> int:
    """⌈team slots / eligible inspectors⌉ + 1 objects per inspector in one draw."""
    return ceil_div(objects * rules.min_team, pool_size) + rules.workload_extra


@dataclass(frozen=True, slots=True)
class Candidate:
    ticket: str
    cert: str
    expert: bool


def ranked(obj: Enterprise, pool: Sequence[Inspector], skill: str | None,
           tickets: Tickets) -> list[Candidate]:
    """Every pool member in ascending pairing-ticket order."""
    cands = [Candidate(tickets.pairing(obj.uscc, p.cert), p.cert,
                       bool(skill) and skill in p.expertise) for p in pool]
    cands.sort(key=lambda c: (c.ticket, c.cert))
    return cands


def pick(cands: Sequence[Candidate], need: int, skill: str | None,
         previous: frozenset[str] | set[str] | tuple[str, ...]) -> tuple[list[str], str | None]:
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


def staff(objects: Sequence[tuple[Enterprise, str]], inspectors: Sequence[Inspector],
          conflicts: frozenset, history: Mapping[str, History], rules: Rules,
          spec: TaskSpec, tickets: Tickets) -> tuple[dict[str, list[tuple[str, list[str]]]], dict[str, int]]:
    """Teams for drawn (object, ticket) pairs. Returns ({uscc: [(dept, members)]}, caps)."""
    teams: dict[str, list[tuple[str, list[str]]]] = {o.uscc: [] for o, _ in objects}
    caps: dict[str, int] = {}
    for dept in spec.departments:
        pool = department_pool(inspectors, dept, rules, spec)
        label = department_label(dept, rules)
        if not pool:
            raise DomainError("no_inspectors", department=label)
        cap = caps[label] = workload_cap(len(objects), len(pool), rules)
        load = {p.cert: 0 for p in pool}
        skills = {o.uscc: needed_expertise(o, dept, rules) for o, _ in objects}
        order = sorted(objects, key=lambda ot: (skills[ot[0].uscc] is None, ot[1], ot[0].uscc))
        for obj, _ticket in order:
            skill = skills[obj.uscc]
            cands = [c for c in ranked(obj, pool, skill, tickets)
                     if (c.cert, obj.uscc) not in conflicts and load[c.cert] < cap]
            previous = history.get(obj.uscc, _NO_HISTORY).last_team
            members, failure = pick(cands, rules.min_team, skill, previous)
            if failure:
                raise DomainError("team_unstaffable", uscc=obj.uscc, name=obj.name,
                                  reason=failure, need=rules.min_team, have=len(cands),
                                  expertise=skill or "")
            for m in members:
                load[m] += 1
            teams[obj.uscc].append((label, members))
    return teams, caps


