"""回避 (第十二条): a team member with an interest in the object leaves its team.

Two ways, both deterministic so a recusal can be replayed and verified:
- swap: exchange objects with another inspector of the same draw, if neither has a
  conflict with the other's object and expertise needs stay met;
- withdraw: the replacement is the next eligible inspector in that object's
  pairing-ticket order (never a fresh random run).

A 辅助人员 of a special campaign recuses the same way among the 辅助人员: a swap is with
another auxiliary member of the draw, a replacement comes from the auxiliary pool under
the auxiliary workload cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .model import DomainError, Enterprise, History, Inspector, Rules, Selection, TaskSpec, Team
from .teams import (
    auxiliary_pool,
    department_label,
    department_pool,
    needed_expertise,
    pick,
    ranked,
    workload_cap,
)
from .tickets import Tickets

_NO_HISTORY = History()


@dataclass(frozen=True, slots=True)
class Recusal:
    uscc: str
    cert: str
    swap_with: str | None = None
    swap_uscc: str | None = None  # the partner's object; None: the first that works

    def to_json(self) -> dict[str, Any]:
        return {
            "uscc": self.uscc,
            "cert": self.cert,
            "swap_with": self.swap_with,
            "swap_uscc": self.swap_uscc,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Recusal:
        return cls(d["uscc"], d["cert"], d.get("swap_with"), d.get("swap_uscc"))


def _find(selections: Sequence[Selection], uscc: str) -> int:
    for i, s in enumerate(selections):
        if s.uscc == uscc:
            return i
    raise DomainError("not_drawn", uscc=uscc)


def _team_of(sel: Selection, cert: str) -> tuple[int, bool]:
    """(team index, whether ``cert`` is one of its 辅助人员)."""
    for i, t in enumerate(sel.teams):
        if cert in t.members:
            return i, False
        if cert in t.auxiliary:
            return i, True
    raise DomainError("not_on_team", uscc=sel.uscc, name=sel.name, cert=cert)


def _group(team: Team, aux: bool) -> tuple[str, ...]:
    return team.auxiliary if aux else team.members


def _with_members(
    sel: Selection, ti: int, members: tuple[str, ...], aux: bool = False
) -> Selection:
    teams = list(sel.teams)
    old = teams[ti]
    teams[ti] = replace(old, auxiliary=members) if aux else replace(old, members=members)
    return replace(sel, teams=tuple(teams))


def _has_skill(members: Iterable[str], skill: str, people: Mapping[str, Inspector]) -> bool:
    return any(skill in people[m].expertise for m in members if m in people)


def apply(
    selections: Sequence[Selection],
    req: Recusal,
    pool_objects: Mapping[str, Enterprise],
    inspectors: Sequence[Inspector],
    conflicts: frozenset[tuple[str, str]],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    seed: str,
) -> tuple[Selection, ...]:
    """The selections after the recusal; raises DomainError if it can't be done.

    ``pool_objects`` maps USCC -> Enterprise for the drawn objects; ``conflicts`` must
    already contain (req.cert, req.uscc).
    """
    sels = list(selections)
    i = _find(sels, req.uscc)
    sel = sels[i]
    ti, aux = _team_of(sel, req.cert)
    people = {p.cert: p for p in inspectors}
    obj = pool_objects[req.uscc]
    dept_label = sel.teams[ti].department
    dept = "" if dept_label == rules.own_department else dept_label
    # the expertise rule is the officers' (teams.staff_auxiliary): none for 辅助人员
    skill = None if aux else needed_expertise(obj, dept, rules)

    if req.swap_with:
        return _swap(sels, i, ti, req, pool_objects, people, conflicts, dept, skill, rules, aux)

    team = _group(sel.teams[ti], aux)
    remaining = tuple(m for m in team if m != req.cert)
    pool = (
        auxiliary_pool(inspectors, rules, spec)
        if aux
        else department_pool(inspectors, dept, rules, spec)
    )
    load: dict[str, int] = {}
    for s in sels:
        for t in s.teams:
            if t.department == dept_label:
                for m in _group(t, aux):
                    load[m] = load.get(m, 0) + 1
    # the draw may have had to raise the cap (teams.staff); never go below what it used
    base = workload_cap(len(sels), len(pool), rules, spec.auxiliary if aux else None) if pool else 0
    cap = max(base, max(load.values(), default=0))
    need_skill = skill if skill and not _has_skill(remaining, skill, people) else None
    cands = [
        c
        for c in ranked(obj, pool, need_skill, Tickets(seed))
        if c.cert not in team and (c.cert, obj.uscc) not in conflicts and load.get(c.cert, 0) < cap
    ]
    previous = history.get(obj.uscc, _NO_HISTORY).last_team
    members, failure = pick(cands, 1, need_skill, previous)
    if failure:
        raise DomainError(
            "no_replacement",
            uscc=obj.uscc,
            name=obj.name,
            cert=req.cert,
            reason=failure,
            expertise=need_skill or "",
        )
    sels[i] = _with_members(sel, ti, remaining + (members[0],), aux)
    return tuple(sels)


def _swap(
    sels: list[Selection],
    i: int,
    ti: int,
    req: Recusal,
    pool_objects: Mapping[str, Enterprise],
    people: Mapping[str, Inspector],
    conflicts: frozenset[tuple[str, str]],
    dept: str,
    skill: str | None,
    rules: Rules,
    aux: bool = False,
) -> tuple[Selection, ...]:
    """Exchange objects with ``req.swap_with`` on the first of the partner's objects (in
    selection order, or the one named) where neither has a conflict and skills hold.
    A 辅助人员 swaps only with another 辅助人员 (``aux``)."""
    sel, a, b = sels[i], req.cert, req.swap_with
    assert b is not None  # only a swap request comes here
    label = sel.teams[ti].department
    first_error: DomainError | None = None
    for j, other in enumerate(sels):
        if j == i or (req.swap_uscc and other.uscc != req.swap_uscc):
            continue
        tj = next(
            (k for k, t in enumerate(other.teams) if t.department == label and b in _group(t, aux)),
            None,
        )
        if tj is None:
            continue
        new_i = tuple(b if m == a else m for m in _group(sel.teams[ti], aux))
        new_j = tuple(a if m == b else m for m in _group(other.teams[tj], aux))
        other_skill = None if aux else needed_expertise(pool_objects[other.uscc], dept, rules)
        if (a, other.uscc) in conflicts or (b, sel.uscc) in conflicts:
            err = DomainError("swap_conflict", cert_a=a, cert_b=b)
        elif a in other.inspectors + other.auxiliary or b in sel.inspectors + sel.auxiliary:
            err = DomainError("swap_same_team", cert_a=a, cert_b=b)
        elif (skill and not _has_skill(new_i, skill, people)) or (
            other_skill and not _has_skill(new_j, other_skill, people)
        ):
            err = DomainError("swap_expertise", cert_a=a, cert_b=b)
        else:
            sels[i] = _with_members(sel, ti, new_i, aux)
            sels[j] = _with_members(other, tj, new_j, aux)
            return tuple(sels)
        first_error = first_error or err
    raise first_error or DomainError("swap_partner_absent", cert=b)


def resolved(before: Sequence[Selection], after: Sequence[Selection], req: Recusal) -> Recusal:
    """The request with the partner's object filled in, for an exact replay."""
    if not req.swap_with or req.swap_uscc:
        return req
    for s0, s1 in zip(before, after, strict=True):
        if s0.uscc != req.uscc and s0 != s1:
            return replace(req, swap_uscc=s0.uscc)
    return req


def replay(
    selections: Sequence[Selection],
    requests: Sequence[tuple[Recusal, frozenset[tuple[str, str]]]],
    pool_objects: Mapping[str, Enterprise],
    inspectors: Sequence[Inspector],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    seed: str,
) -> tuple[Selection, ...]:
    """Apply recorded recusals in order, each with the conflict set it was decided under."""
    sels = tuple(selections)
    for req, conflicts in requests:
        sels = apply(sels, req, pool_objects, inspectors, conflicts, history, rules, spec, seed)
    return sels


__all__ = ["Recusal", "apply", "replay", "resolved", "department_label"]
