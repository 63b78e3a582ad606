"""What the audit log must account for: the records whose every step is audited.

A draw, a result or a publication written straight into the database, bypassing the
services, leaves no entry in the log; one whose entries were cut off leaves a record
without its history. ``ssj audit verify`` reports both (see ``unaccounted``).

The steps audited today (``storage.audit.append`` callers):

- a draw that was run (``valid``, or ``void`` after a redraw): ``draw.run``; a void one
  also ``draw.void`` (data ``draw_id``);
- a result entered (待审核, 已退回, 已审核, 已公示): ``result.submit``; one returned
  (已退回): ``result.return``; one approved (已审核, 已公示): ``result.approve`` (data
  ``ref`` = the selection, ``department``; entries written before results were kept per
  department have no ``department`` and count for any);
- a publication: ``task.publish`` (subject: the task) whose ``digest`` is the stored
  document's, and the document's ``audit_anchor`` must still hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.domain.results import State
from bot.domain.status import DrawStatus
from storage import audit
from storage.repos import audit as audit_repo
from storage.uow import Session

from .publication import digest

ACTIONS = (
    "draw.run",
    "draw.void",
    "result.submit",
    "result.return",
    "result.approve",
    "task.publish",
)
_ENTERED = {State.PENDING.value, State.RETURNED.value, State.APPROVED.value, State.PUBLISHED.value}
_APPROVED = {State.APPROVED.value, State.PUBLISHED.value}


@dataclass(frozen=True)
class Unaccounted:
    """A record the log does not account for. ``kind``: draw | result | publication |
    publication_changed | anchor; ``action``: the entry it lacks; ``params``: what names
    the record (for templates/text/audit.j2)."""

    kind: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)


Logged = list[tuple[str, dict[str, Any]]]  # (subject, data) of each entry


async def _entries(session: Session) -> dict[str, Logged]:
    out: dict[str, Logged] = {a: [] for a in ACTIONS}
    for action, subject, data in await audit_repo.entries(session, ACTIONS):
        try:
            parsed = json.loads(data or "{}")
        except ValueError:
            parsed = {}
        out[action].append((subject, parsed if isinstance(parsed, dict) else {}))
    return out


def _keys(entries: Logged, *fields: str) -> set[tuple[Any, ...]]:
    return {tuple(data.get(f) for f in fields) for _, data in entries}


async def unaccounted(session: Session) -> list[Unaccounted]:
    """Every record the log does not account for, in the order draws, results,
    publications. The records are read before the log: a record and its entry are
    committed together, so one committed meanwhile is never taken for unaccounted."""
    draws = await audit_repo.draws(session, (DrawStatus.VALID, DrawStatus.VOID))
    results = await audit_repo.results(session, _ENTERED)
    pubs = await audit_repo.publications(session)
    log = await _entries(session)
    out: list[Unaccounted] = []

    have = {a: _keys(log[a], "draw_id") for a in ("draw.run", "draw.void")}
    for id_, task, status in draws:
        for action in ["draw.run"] + (["draw.void"] if status == DrawStatus.VOID else []):
            if (id_,) not in have[action]:
                out.append(
                    Unaccounted("draw", action, {"draw_id": id_, "task": task, "status": status})
                )

    have = {
        a: _keys(log[a], "ref", "department")
        for a in ("result.submit", "result.return", "result.approve")
    }
    for ref, dept, task, status in results:
        needs = ["result.submit"]
        if status == State.RETURNED.value:
            needs.append("result.return")
        if status in _APPROVED:
            needs.append("result.approve")
        for action in needs:
            if (ref, dept) not in have[action] and (ref, None) not in have[action]:
                out.append(
                    Unaccounted(
                        "result",
                        action,
                        {"ref": ref, "department": dept, "task": task, "status": status},
                    )
                )

    published: dict[str, set[str | None]] = {}
    for subject, data in log["task.publish"]:
        published.setdefault(subject, set()).add(data.get("digest"))
    anchors = []
    for task, document in pubs:
        if task not in published:
            out.append(Unaccounted("publication", "task.publish", {"task": task}))
        elif digest(document) not in published[task]:
            out.append(Unaccounted("publication_changed", "task.publish", {"task": task}))
        anchor = document.get("audit_anchor")
        if anchor is None:  # published before publications carried anchors
            continue
        try:
            anchors.append((task, audit.Anchor(int(anchor["seq"]), str(anchor["hash"]))))
        except (KeyError, TypeError, ValueError):
            out.append(
                Unaccounted("anchor", "", {"task": task, "seq": "?", "hash": "", "why": "changed"})
            )
    checked = await audit.check_anchors(session, [a for _, a in anchors])
    failed = {id(a): why for a, why in checked}
    for task, a in anchors:
        if id(a) in failed:
            out.append(
                Unaccounted(
                    "anchor", "", {"task": task, "seq": a.seq, "hash": a.hash, "why": failed[id(a)]}
                )
            )
    return out
