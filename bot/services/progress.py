"""How far a task has got: counts only (no names), so it may go to a group."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.repos import assignments as assignments_repo
from storage.repos import draws as draws_repo
from storage.uow import Session

from .draws import current_selections, valid_draw
from .results import unit_state, units


@dataclass
class Report:
    task: str
    name: str
    deadline: object
    objects: int = 0
    by_category: dict = field(default_factory=dict)
    members: int = 0
    accepted: int = 0
    results: dict = field(default_factory=dict)
    pending_recusals: int = 0


async def latest_task(session: Session) -> str | None:
    return await assignments_repo.latest_drawn_task(session)


async def report(session: Session, task_id: str) -> Report:
    task, row = await valid_draw(session, task_id)
    sels = await current_selections(session, row)
    members = await draws_repo.active_members(session, [ref for ref, _ in sels])
    r = Report(task.id, task.name, task.deadline, len(sels))
    for _, s in sels:
        r.by_category[s.category.value] = r.by_category.get(s.category.value, 0) + 1
    for ms in members.values():
        r.members += len(ms)
        r.accepted += sum(1 for m in ms if m.accepted_at is not None)
    # per object; a joint task's object counts as approved only when every department's is
    for results in (await units(session, [ref for ref, _ in sels])).values():
        state = unit_state(results).value
        r.results[state] = r.results.get(state, 0) + 1
    return r


__all__ = ["Report", "latest_task", "report"]
