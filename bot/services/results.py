"""Inspection results: entered by a team member, reviewed by a supervisor (谁检查、谁录入)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import results as rules
from bot.domain.model import DomainError, Role
from storage import audit
from storage.models_chat import ResultRow

from . import assignments


async def row_for(session: AsyncSession, ref: int, task_id: str) -> ResultRow:
    row = await session.scalar(select(ResultRow).where(ResultRow.selection_id == ref))
    if row is None:
        row = ResultRow(selection_id=ref, task_id=task_id, status=rules.State.NOT_ENTERED.value)
        session.add(row)
        await session.flush()
    return row


async def submit(session: AsyncSession, ref: int, cert: str, draft: rules.Draft,
                 now: datetime, actor: str) -> ResultRow:
    a = await assignments.load(session, ref, cert)
    rules.validate(draft, drawn_on=a.drawn_on or now.date(), today=now.date(),
                   offsite_ok=a.offsite_ok)
    row = await row_for(session, ref, a.task_id)
    new_state = rules.transition(rules.State(row.status), "submit")
    s = rules.summary(draft)
    row.status, row.conclusion = new_state.value, draft.conclusion.value
    row.inspected_on, row.mode = draft.inspected_on, draft.mode.value
    row.findings, row.followup = draft.findings, s.get("followup", {})
    row.entered_by, row.entered_at, row.return_reason = cert, now, ""
    await session.flush()
    await audit.append(session, actor, "result.submit", a.uscc,
                       {"ref": ref, "task": a.task_id, "by": cert, **s}, now=None)
    return row


async def review(session: AsyncSession, ref: int, approve: bool, reviewer: str, now: datetime,
                 actor: str, reason: str = "") -> ResultRow:
    row = await session.scalar(select(ResultRow).where(ResultRow.selection_id == ref))
    if row is None:
        raise DomainError("no_result", ref=ref)
    if not approve and not reason.strip():
        raise DomainError("return_needs_reason", ref=ref)
    row.status = rules.transition(rules.State(row.status), "approve" if approve else "return").value
    row.reviewed_by, row.reviewed_at = reviewer, now
    row.return_reason = "" if approve else reason.strip()
    await session.flush()
    await audit.append(session, actor, "result.approve" if approve else "result.return",
                       str(ref), {"ref": ref, "by": reviewer, "reason": row.return_reason})
    return row


async def pending_review(session: AsyncSession) -> list[ResultRow]:
    q = select(ResultRow).where(ResultRow.status == rules.State.PENDING.value).order_by(ResultRow.id)
    return list((await session.execute(q)).scalars())


async def by_task(session: AsyncSession, task_id: str) -> dict[str, int]:
    rows = await session.execute(select(ResultRow.status).where(ResultRow.task_id == task_id))
    out: dict[str, int] = {}
    for (status,) in rows:
        out[status] = out.get(status, 0) + 1
    return out


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
