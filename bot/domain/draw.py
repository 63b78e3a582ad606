"""The draw: pure, deterministic for a seed. ``draw(...)`` decides; the shell applies.

Objects: per category, the eligible pool (not 关闭, matching the task's filters) sorted by
(draws this year ↑, last draw ↑ with never first, ticket ↑); the first ``quota`` are
taken. Special campaigns and joint tasks with a fixed ``count`` take the lowest tickets
of the filtered pool. Then each drawn object is staffed (teams.py).
"""
from __future__ import annotations

import heapq
import unicodedata
from datetime import date
from typing import Iterable, Mapping, Sequence

from .model import (Category, DrawResult, Enterprise, History, Inspector, Quota, Rules,
                    Selection, Status, TaskSpec, Team)
from .quotas import ceil_ratio, general_due, quota
from .teams import staff
from .tickets import ALGORITHM, Tickets

_NO_HISTORY = History()
_NEVER = date.min
def campaign_count(spec: TaskSpec, eligible: int) -> int | None:
    """A campaign's fixed count, or ⌈ratio · eligible⌉ in exact arithmetic; None for the
    quarterly quota rules."""
    if spec.ratio is not None:
        return ceil_ratio(spec.ratio, eligible)
    return spec.count


YES, NO = "是", "否"   # the values of the 正面清单 filter


def tag_key(text: str) -> str:
    """How 环境信用评级 and 绩效分级 compare: full-width forms folded (NFKC), blanks
    removed, letters upper-cased, so "a", " A " and "Ａ" all mean A."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


def matches(obj: Enterprise, filters: Iterable[tuple[str, str]]) -> bool:
    """Does the object pass every (field, value) filter of a campaign?"""
    for field_name, value in filters:
        if field_name in ("credit", "grade"):
            if tag_key(getattr(obj, field_name)) != tag_key(value):
                return False
        elif field_name == "positive":
            if obj.positive != (value == YES):
                return False
        elif field_name == "pollutant":
            if value not in obj.pollutants:
                return False
        elif field_name == "region":
            if not obj.region.startswith(value):
                return False
        elif field_name == "industry":
            if obj.industry != value:
                return False
        elif getattr(obj, field_name, None) != value:
            return False
    return True


def eligible_pool(pool: Iterable[Enterprise], spec: TaskSpec) -> list[Enterprise]:
    return [o for o in pool if o.status is not Status.CLOSED and o.category in spec.categories
            and matches(o, spec.object_filter)]


def select_objects(pool: Sequence[Enterprise], history: Mapping[str, History], rules: Rules,
                   spec: TaskSpec, tickets: Tickets) -> tuple[list[tuple[Enterprise, str]], list[Quota]]:
    """The drawn objects with their tickets, in category then selection order."""
    objs = eligible_pool(pool, spec)
    ticket_list = tickets.many([o.uscc for o in objs])
    chosen: list[tuple[Enterprise, str]] = []
    quotas: list[Quota] = []
    count = campaign_count(spec, len(objs))
    if count is not None:
        ranked = sorted(zip(ticket_list, objs), key=lambda t: (t[0], t[1].uscc))
        chosen = [(o, t) for t, o in ranked[:count]]
        return chosen, quotas
    by_cat: dict[Category, list[tuple[str, Enterprise]]] = {c: [] for c in spec.categories}
    for t, o in zip(ticket_list, objs):
        by_cat[o.category].append((t, o))
    for cat in spec.categories:
        entries = by_cat[cat]
        q = quota(cat, [o for _, o in entries], history, rules, spec)
        quotas.append(q)

        def key(entry, _h=history, _general=cat is Category.GENERAL):
            t, o = entry
            h = _h.get(o.uscc, _NO_HISTORY)
            # a general object that is due (3-year rule) goes before a never-drawn newcomer
            due = _general and general_due(h, spec.on, rules)
            return (not due, h.draws_this_year, h.last_drawn or _NEVER, t, o.uscc)

        if q.quota < len(entries):
            top = heapq.nsmallest(q.quota, entries, key=key)
        else:
            top = sorted(entries, key=key)
        chosen.extend((o, t) for t, o in top)
    return chosen, quotas


def draw(pool: Sequence[Enterprise], inspectors: Sequence[Inspector], conflicts: frozenset,
         history: Mapping[str, History], rules: Rules, spec: TaskSpec, seed: str) -> DrawResult:
    """Select objects and staff their teams. Raises DomainError if a team can't be staffed.

    ``conflicts`` is a frozenset of (执法证号, USCC) pairs.
    """
    tickets = Tickets(seed)
    chosen, quotas = select_objects(pool, history, rules, spec, tickets)
    teams, caps = staff(chosen, inspectors, conflicts, history, rules, spec, tickets)
    selections = tuple(
        Selection(o.uscc, o.name, o.category, t,
                  tuple(Team(d, tuple(m), tuple(a)) for d, m, a in teams[o.uscc]))
        for o, t in chosen)
    cap = max(caps.values()) if caps else 0
    return DrawResult(selections, tuple(quotas), cap, ALGORITHM)
