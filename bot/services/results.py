"""Inspection results: entered by a team member, reviewed by a supervisor (谁检查、谁录入)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain import results as rules
from bot.domain.model import DomainError, Role
from bot.domain.status import TaskStatus
from storage import audit
from storage.models import TaskRow
from storage.models_chat import ResultRow
from storage.repos import assignments as assignments_repo
from storage.repos import draws as draws_repo
from storage.repos import people as people_repo
from storage.repos import results as results_repo
from storage.uow import Session

from . import assignments


async def ensure_open(session: Session, task_id: str, action: str) -> TaskRow | None:
    """Refuse ``action`` on a published task: publication ends a task's life."""
    task = await draws_repo.task(session, task_id)
    if task is not None and task.status == TaskStatus.PUBLISHED:
        raise DomainError("task_published", task=task_id, action=action)
    return task


async def check_entry(session: Session, ref: int, cert: str) -> assignments.Assignment:
    """May ``cert`` enter the result of ``ref`` now? Asked before the first question."""
    a = await assignments.load(session, ref, cert)
    await ensure_open(session, a.task_id, "enter")
    state = rules.State(a.status_for(cert))
    if not rules.can_enter(state):
        raise DomainError("result_not_enterable", ref=ref, status=state.value)
    return a


async def row_for(session: Session, ref: int, task_id: str, department: str) -> ResultRow:
    row = await results_repo.of_department(session, ref, department)
    if row is None:
        row = ResultRow(
            selection_id=ref,
            task_id=task_id,
            department=department,
            status=rules.State.NOT_ENTERED.value,
        )
        session.add(row)
        await session.flush()
    return row


async def member_department(session: Session, ref: int, cert: str) -> str:
    """The department of the team ``cert`` is on for object ``ref`` (its own results)."""
    member = await assignments_repo.active_member(session, ref, cert)
    if member is None:
        raise DomainError("not_your_assignment", ref=ref)
    return member.department


async def submit(
    session: Session, ref: int, cert: str, draft: rules.Draft, now: datetime, actor: str
) -> ResultRow:
    """A team member enters (or corrects) the result of their own department's team."""
    a = await check_entry(session, ref, cert)
    rules.validate(
        draft, drawn_on=a.drawn_on or now.date(), today=now.date(), offsite_ok=a.offsite_ok
    )
    department = await member_department(session, ref, cert)
    row = await row_for(session, ref, a.task_id, department)
    new_state = rules.transition(rules.State(row.status), "submit")
    s = rules.summary(draft)
    row.status, row.conclusion = new_state.value, draft.conclusion.value
    row.inspected_on, row.mode = draft.inspected_on, draft.mode.value
    row.findings, row.followup = draft.findings, s.get("followup", {})
    row.entered_by, row.entered_at = cert, now
    await session.flush()
    await audit.append(
        session,
        actor,
        "result.submit",
        a.uscc,
        {"ref": ref, "task": a.task_id, "department": department, "by": cert, **s},
        now=None,
    )
    return row


async def pick(session: Session, ref: int, department: str | None = None) -> ResultRow:
    """The result of object ``ref`` a supervisor means: the given department's, else the
    only one awaiting review (or the only one there is)."""
    rows = await results_repo.of_object(session, ref)
    if department:
        row = next((r for r in rows if r.department == department.strip()), None)
        if row is None:
            raise DomainError("no_result_of_department", ref=ref, department=department.strip())
        return row
    pending = [r for r in rows if r.status == rules.State.PENDING.value]
    if len(pending) == 1:
        return pending[0]
    if len(pending) > 1 or len(rows) > 1:
        raise DomainError(
            "result_which_department",
            ref=ref,
            departments="、".join(r.department for r in (pending or rows)),
        )
    if not rows:
        raise DomainError("no_result", ref=ref)
    return rows[0]


async def review(
    session: Session,
    ref: int,
    approve: bool,
    reviewer: str,
    now: datetime,
    actor: str,
    reason: str = "",
    department: str | None = None,
) -> ResultRow:
    return await review_row(
        session, await pick(session, ref, department), approve, reviewer, now, actor, reason
    )


async def review_by_id(
    session: Session,
    result_id: int,
    approve: bool,
    reviewer: str,
    now: datetime,
    actor: str,
    reason: str = "",
) -> ResultRow:
    return await review_row(
        session, await result(session, result_id), approve, reviewer, now, actor, reason
    )


async def result(session: Session, result_id: int) -> ResultRow:
    row = await results_repo.get(session, result_id)
    if row is None:
        raise DomainError("stale_button")
    return row


async def four_eyes(session: Session, row: ResultRow, reviewer: str) -> str:
    """Who may review a result (四眼原则): never the person who entered it; a 管理员 on the
    object's team only when no 管理员 outside the team exists. Returns a note for the
    audit ("" normally, "team_member_only_admin" in that exception)."""
    ref = row.selection_id
    if row.entered_by and row.entered_by == reviewer:
        raise DomainError("four_eyes_own", ref=ref)
    team = await assignments_repo.team_certs(session, ref)
    if reviewer not in team:
        return ""
    others = [p.name for p in await people_repo.admins(session) if p.cert not in team]
    if others:
        raise DomainError("four_eyes_team", ref=ref, others="、".join(others))
    return "team_member_only_admin"


async def reviewable(session: Session, row: ResultRow, reviewer: str) -> bool:
    """Whether ``reviewer`` may approve ``row`` now (for lists: who is left for whom)."""
    if row.status != rules.State.PENDING.value:
        return False
    try:
        await four_eyes(session, row, reviewer)
    except DomainError:
        return False
    return True


async def review_row(
    session: Session,
    row: ResultRow,
    approve: bool,
    reviewer: str,
    now: datetime,
    actor: str,
    reason: str = "",
) -> ResultRow:
    ref = row.selection_id
    await ensure_open(session, row.task_id, "review")
    await assignments.load(session, ref)  # refused for an object of a void draw
    if not approve and not reason.strip():
        raise DomainError("return_needs_reason", ref=ref)
    new_state = rules.transition(rules.State(row.status), "approve" if approve else "return")
    note = await four_eyes(session, row, reviewer) if approve else ""
    row.status = new_state.value
    row.reviewed_by, row.reviewed_at = reviewer, now
    row.return_reason = "" if approve else reason.strip()
    await session.flush()
    await audit.append(
        session,
        actor,
        "result.approve" if approve else "result.return",
        str(ref),
        {
            "ref": ref,
            "department": row.department,
            "by": reviewer,
            "reason": row.return_reason,
            **({"four_eyes": note} if note else {}),
        },
    )
    return row


async def withdraw(session: Session, ref: int, cert: str, now: datetime, actor: str) -> ResultRow:
    """A team member takes back their department's result while it awaits review; it
    returns to 未录入 (or 已退回 if a reviewer had returned it before)."""
    a = await assignments.load(session, ref, cert)
    await ensure_open(session, a.task_id, "withdraw")
    department = await member_department(session, ref, cert)
    row = await results_repo.of_department(session, ref, department)
    if row is None or row.status != rules.State.PENDING.value:
        status = row.status if row is not None else rules.State.NOT_ENTERED.value
        raise DomainError("not_withdrawable", ref=ref, status=status)
    row.status = (
        rules.State.RETURNED if row.reviewed_at is not None else rules.State.NOT_ENTERED
    ).value
    await session.flush()
    await audit.append(
        session,
        actor,
        "result.withdraw",
        str(ref),
        {"ref": ref, "task": a.task_id, "department": department, "by": cert},
    )
    return row


async def units(
    session: Session, refs: Iterable[int] | None = None
) -> dict[int, dict[str, ResultRow | None]]:
    """Per drawn object, its result per department with a team on it now (None: nothing
    entered yet). ``refs`` None: every object of every draw."""
    ids = None if refs is None else list(refs)
    out: dict[int, dict[str, ResultRow | None]] = {ref: {} for ref in ids or ()}
    for ref, dept in await assignments_repo.team_departments(session, ids):
        out.setdefault(ref, {})[dept] = None
    for row in await results_repo.of_objects(session, ids):
        # a result stays counted even if its team was since recused away entirely
        out.setdefault(row.selection_id, {})[row.department] = row
    return out


def unit_state(results: dict[str, ResultRow | None]) -> rules.State:
    """An object's state across its departments' results (see rules.least_advanced)."""
    return rules.least_advanced(
        [
            rules.State(r.status) if r is not None else rules.State.NOT_ENTERED
            for r in results.values()
        ]
    )


async def pending_review(session: Session) -> list[ResultRow]:
    """Results awaiting review, oldest submission first (of tasks not yet published)."""
    return await results_repo.pending_review(session)


async def split_for(
    session: Session, rows: list[ResultRow], reviewer: str
) -> tuple[list[ResultRow], list[ResultRow]]:
    """(those ``reviewer`` may approve, those left for another 管理员) under the four-eyes
    rule, in a fixed number of queries whatever the number of rows."""
    teams = await assignments_repo.teams_of(session, {r.selection_id for r in rows})
    admins = {p.cert for p in await people_repo.admins(session)}
    mine: list[ResultRow] = []
    others: list[ResultRow] = []
    for r in rows:
        team = teams.get(r.selection_id, set())
        ok = r.entered_by != reviewer and (reviewer not in team or not (admins - team))
        (mine if ok else others).append(r)
    return mine, others


async def ref_of(session: Session, task_id: str, uscc: str) -> int:
    """The 编号 of an object in a task's valid draw."""
    from .draws import current_selections, valid_draw

    _, row = await valid_draw(session, task_id)
    for ref, sel in await current_selections(session, row):
        if sel.uscc == uscc:
            return ref
    raise DomainError("not_drawn", uscc=uscc)


async def require_admin(session: Session, cert: str) -> None:
    row = await people_repo.by_cert(session, cert)
    if row is None:
        raise DomainError("no_inspector", cert=cert)
    if row.role != Role.ADMIN.value:
        raise DomainError("not_admin", cert=cert)
