"""Reading the audit log, and the records whose every step it must account for.

Appending to the log and checking its chain live in ``storage/audit.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.status import DrawStatus
from storage.models import AuditRow, DrawRow
from storage.models_chat import ResultRow
from storage.models_publication import PublicationRow


async def entries(session: AsyncSession, actions: Iterable[str]) -> list[tuple[str, str, str]]:
    """(action, subject, data as stored) of every entry of one of ``actions``, oldest
    first."""
    q = (
        select(AuditRow.action, AuditRow.subject, AuditRow.data)
        .where(AuditRow.action.in_(list(actions)))
        .order_by(AuditRow.id)
    )
    return [(a, s, d) for a, s, d in (await session.execute(q)).all()]


async def newest(session: AsyncSession, limit: int) -> list[AuditRow]:
    """The ``limit`` newest entries, newest first."""
    q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
    return list((await session.execute(q)).scalars().all())


async def draws(
    session: AsyncSession, statuses: Iterable[DrawStatus]
) -> list[tuple[int, str, str]]:
    """(id, task, status) of every draw in one of ``statuses``, by id."""
    q = (
        select(DrawRow.id, DrawRow.task_id, DrawRow.status)
        .where(DrawRow.status.in_(list(statuses)))
        .order_by(DrawRow.id)
    )
    return [(i, tk, st) for i, tk, st in (await session.execute(q)).all()]


async def results(session: AsyncSession, states: Iterable[str]) -> list[tuple[int, str, str, str]]:
    """(selection, department, task, state) of every result in one of ``states``."""
    q = (
        select(ResultRow.selection_id, ResultRow.department, ResultRow.task_id, ResultRow.status)
        .where(ResultRow.status.in_(list(states)))
        .order_by(ResultRow.task_id, ResultRow.selection_id, ResultRow.department)
    )
    return [(r, d, tk, st) for r, d, tk, st in (await session.execute(q)).all()]


async def publications(session: AsyncSession) -> list[tuple[str, dict]]:
    """(task, stored document) of every publication, by task."""
    q = select(PublicationRow).order_by(PublicationRow.task_id)
    return [(r.task_id, r.document or {}) for r in (await session.execute(q)).scalars()]
