"""Inspection results: entered by a team member, reviewed by a supervisor (谁检查、谁录入)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import results as rules
from bot.domain.model import DomainError, Role
from storage import audit
from storage.models import DrawRow, InspectorRow, SelectionRow, TaskRow, TeamMemberRow
from storage.models_chat import ResultRow

from . import assignments

PUBLISHED = "published"


async def ensure_open(session: AsyncSession, task_id: str, action: str) -> TaskRow:
    """Refuse ``action`` on a published task: publication ends a task's life."""
    task = await session.get(TaskRow, task_id)
    if task is not None and task.status == PUBLISHED:
        raise DomainError("task_published", task=task_id, action=action)
    return task


async def check_entry(session: AsyncSession, ref: int, cert: str) -> assignments.Assignment:
    """May ``cert`` enter the result of ``ref`` now? Asked before the first question."""
    a = await assignments.load(session, ref, cert)
    await ensure_open(session, a.task_id, "enter")
    state = rules.State(a.status_for(cert))
    if not rules.can_enter(state):
        raise DomainError("result_not_enterable", ref=ref, status=state.value)
    return a


async def row_for(session: AsyncSession, ref: int, task_id: str,
                  department: str) -> ResultRow:
    row = await session.scalar(select(ResultRow).where(
        ResultRow.selection_id == ref, ResultRow.department == department))
    if row is None:
        row = ResultRow(selection_id=ref, task_id=task_id, department=department,
                        status=rules.State.NOT_ENTERED.value)
        session.add(row)
        await session.flush()
    return row


async def member_department(session: AsyncSession, ref: int, cert: str) -> str:
    """The department of the team ``cert`` is on for object ``ref`` (its own results)."""
    dept = await session.scalar(select(TeamMemberRow.department).where(
        TeamMemberRow.selection_id == ref, TeamMemberRow.cert == cert,
        TeamMemberRow.active.is_(True)))
    if dept is None:
        raise DomainError("not_your_assignment", ref=ref)
    return dept


async def submit(session: AsyncSession, ref: int, cert: str, draft: rules.Draft,
                 now: datetime, actor: str) -> ResultRow:
    """A team member enters (or corrects) the result of their own department's team."""
    a = await check_entry(session, ref, cert)
    rules.validate(draft, drawn_on=a.drawn_on or now.date(), today=now.date(),
                   offsite_ok=a.offsite_ok)
    department = await member_department(session, ref, cert)
    row = await row_for(session, ref, a.task_id, department)
    new_state = rules.transition(rules.State(row.status), "submit")
    s = rules.summary(draft)
    row.status, row.conclusion = new_state.value, draft.conclusion.value
    row.inspected_on, row.mode = draft.inspected_on, draft.mode.value
    row.findings, row.followup = draft.findings, s.get("followup", {})
    row.entered_by, row.entered_at = cert, now
    await session.flush()
    await audit.append(session, actor, "result.submit", a.uscc,
                       {"ref": ref, "task": a.task_id, "department": department, "by": cert,
                        **s}, now=None)
    return row


async def pick(session: AsyncSession, ref: int, department: str | None = None) -> ResultRow:
    """The result of object ``ref`` a supervisor means: the given department's, else the
    only one awaiting review (or the only one there is)."""
    rows = list((await session.execute(select(ResultRow).where(
        ResultRow.selection_id == ref).order_by(ResultRow.id))).scalars())
    if department:
        row = next((r for r in rows if r.department == department.strip()), None)
        if row is None:
            raise DomainError("no_result_of_department", ref=ref, department=department.strip())
        return row
    pending = [r for r in rows if r.status == rules.State.PENDING.value]
    if len(pending) == 1:
        return pending[0]
    if len(pending) > 1 or len(rows) > 1:
        raise DomainError("result_which_department", ref=ref,
                          departments="、".join(r.department for r in (pending or rows)))
    if not rows:
        raise DomainError("no_result", ref=ref)
    return rows[0]


async def review(session: AsyncSession, ref: int, approve: bool, reviewer: str, now: datetime,
                 actor: str, reason: str = "", department: str | None = None) -> ResultRow:
    return await review_row(session, await pick(session, ref, department), approve, reviewer,
                            now, actor, reason)


async def review_by_id(session: AsyncSession, result_id: int, approve: bool, reviewer: str,
                       now: datetime, actor: str, reason: str = "") -> ResultRow:
    return await review_row(session, await result(session, result_id), approve, reviewer,
                            now, actor, reason)


async def result(session: AsyncSession, result_id: int) -> ResultRow:
    row = await session.get(ResultRow, result_id)
    if row is None:
        raise DomainError("stale_button")
    return row


async def four_eyes(session: AsyncSession, row: ResultRow, reviewer: str) -> str:
    """Who may review a result (四眼原则): never the person who entered it; a 管理员 on the
    object's team only when no 管理员 outside the team exists. Returns a note for the
    audit ("" normally, "team_member_only_admin" in that exception)."""
    ref = row.selection_id
    if row.entered_by and row.entered_by == reviewer:
        raise DomainError("four_eyes_own", ref=ref)
    team = set((await session.execute(select(TeamMemberRow.cert).where(
        TeamMemberRow.selection_id == ref, TeamMemberRow.active.is_(True)))).scalars())
    if reviewer not in team:
        return ""
    admins = (await session.execute(select(InspectorRow.cert, InspectorRow.name).where(
        InspectorRow.role == Role.ADMIN.value))).all()
    others = [f"{name}" for cert, name in admins if cert not in team]
    if others:
        raise DomainError("four_eyes_team", ref=ref, others="、".join(others))
    return "team_member_only_admin"


async def reviewable(session: AsyncSession, row: ResultRow, reviewer: str) -> bool:
    """Whether ``reviewer`` may approve ``row`` now (for lists: who is left for whom)."""
    if row.status != rules.State.PENDING.value:
        return False
    try:
        await four_eyes(session, row, reviewer)
    except DomainError:
        return False
    return True


async def review_row(session: AsyncSession, row: ResultRow, approve: bool, reviewer: str,
                     now: datetime, actor: str, reason: str = "") -> ResultRow:
    ref = row.selection_id
    await ensure_open(session, row.task_id, "review")
    await assignments.load(session, ref)     # refused for an object of a void draw
    if not approve and not reason.strip():
        raise DomainError("return_needs_reason", ref=ref)
    new_state = rules.transition(rules.State(row.status), "approve" if approve else "return")
    note = await four_eyes(session, row, reviewer) if approve else ""
    row.status = new_state.value
    row.reviewed_by, row.reviewed_at = reviewer, now
    row.return_reason = "" if approve else reason.strip()
    await session.flush()
    await audit.append(session, actor, "result.approve" if approve else "result.return",
                       str(ref), {"ref": ref, "department": row.department, "by": reviewer,
                                  "reason": row.return_reason,
                                  **({"four_eyes": note} if note else {})})
    return row


async def withdraw(session: AsyncSession, ref: int, cert: str, now: datetime,
                   actor: str) -> ResultRow:
    """A team member takes back their department's result while it awaits review; it
    returns to 未录入 (or 已退回 if a reviewer had returned it before)."""
    a = await assignments.load(session, ref, cert)
    await ensure_open(session, a.task_id, "withdraw")
    department = await member_department(session, ref, cert)
    row = await session.scalar(select(ResultRow).where(
        ResultRow.selection_id == ref, ResultRow.department == department))
    status = row.status if row is not None else rules.State.NOT_ENTERED.value
    if status != rules.State.PENDING.value:
        raise DomainError("not_withdrawable", ref=ref, status=status)
    row.status = (rules.State.RETURNED if row.reviewed_at is not None
                  else rules.State.NOT_ENTERED).value
    await session.flush()
    await audit.append(session, actor, "result.withdraw", str(ref),
                       {"ref": ref, "task": a.task_id, "department": department, "by": cert})
    return row


async def units(session: AsyncSession, refs=None) -> dict[int, dict[str, ResultRow | None]]:
    """Per drawn object, its result per department with a team on it now (None: nothing
    entered yet). ``refs`` None: every object of every draw."""
    teams = select(TeamMemberRow.selection_id, TeamMemberRow.department).where(
        TeamMemberRow.active.is_(True)).distinct()
    rows = select(ResultRow)
    refs = None if refs is None else list(refs)
    out: dict[int, dict[str, ResultRow | None]] = {ref: {} for ref in refs or ()}
    for i in range(0, 1 if refs is None else len(refs), 500):   # bounded IN lists
        chunk = None if refs is None else refs[i:i + 500]
        if chunk is not None:
            teams_q = teams.where(TeamMemberRow.selection_id.in_(chunk))
            rows_q = rows.where(ResultRow.selection_id.in_(chunk))
        else:
            teams_q, rows_q = teams, rows
        for ref, dept in (await session.execute(teams_q)).all():
            out.setdefault(ref, {})[dept] = None
        for row in (await session.execute(rows_q)).scalars():
            # a result stays counted even if its team was since recused away entirely
            out.setdefault(row.selection_id, {})[row.department] = row
    return out


def unit_state(results: dict[str, ResultRow | None]) -> rules.State:
    """An object's state across its departments' results (see rules.least_advanced)."""
    return rules.least_advanced(
        [rules.State(r.status) if r is not None else rules.State.NOT_ENTERED
         for r in results.values()])


async def pending_review(session: AsyncSession) -> list[ResultRow]:
    """Results awaiting review, oldest submission first (of tasks not yet published)."""
    q = (select(ResultRow).join(TaskRow, TaskRow.id == ResultRow.task_id)
         .join(SelectionRow, SelectionRow.id == ResultRow.selection_id)
         .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
         .where(ResultRow.status == rules.State.PENDING.value, TaskRow.status != PUBLISHED,
                DrawRow.status == "valid")     # a redraw leaves the void draw's results
         .order_by(ResultRow.entered_at, ResultRow.id))
    return list((await session.execute(q)).scalars())


async def split_for(session: AsyncSession, rows: list[ResultRow],
                    reviewer: str) -> tuple[list[ResultRow], list[ResultRow]]:
    """(those ``reviewer`` may approve, those left for another 管理员) under the four-eyes
    rule, in a fixed number of queries whatever the number of rows."""
    refs = list({r.selection_id for r in rows})
    teams: dict[int, set[str]] = {}
    for i in range(0, len(refs), 500):
        for ref, cert in (await session.execute(select(
                TeamMemberRow.selection_id, TeamMemberRow.cert).where(
                TeamMemberRow.selection_id.in_(refs[i:i + 500]),
                TeamMemberRow.active.is_(True)))).all():
            teams.setdefault(ref, set()).add(cert)
    admins = set((await session.execute(select(InspectorRow.cert).where(
        InspectorRow.role == Role.ADMIN.value))).scalars())
    mine, others = [], []
    for r in rows:
        team = teams.get(r.selection_id, set())
        ok = r.entered_by != reviewer and (reviewer not in team or not (admins - team))
        (mine if ok else others).append(r)
    return mine, others


async def ref_of(session: AsyncSession, task_id: str, uscc: str) -> int:
    """The 编号 of an object in a task's valid draw."""
    from .draws import current_selections, valid_draw
    _, row = await valid_draw(session, task_id)
    for ref, sel in await current_selections(session, row):
        if sel.uscc == uscc:
            return ref
    raise DomainError("not_drawn", uscc=uscc)


async def require_admin(session: AsyncSession, cert: str) -> None:
    from sqlalchemy import select as select_
    from storage.models import InspectorRow
    row = await session.scalar(select_(InspectorRow).where(InspectorRow.cert == cert))
    if row is None:
        raise DomainError("no_inspector", cert=cert)
    if row.role != Role.ADMIN.value:
        raise DomainError("not_admin", cert=cert)
