"""Redraw requests: the audit entries a redraw card names (``draw.redraw_request``) and
the cancellations recorded against them (``draw.redraw_cancel``)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import AuditRow
from storage.uow import Session

REQUEST, CANCEL = "draw.redraw_request", "draw.redraw_cancel"


async def request(session: Session, entry_id: int) -> AuditRow | None:
    """The audit entry ``entry_id`` if it is a redraw request."""
    row = await session.get(AuditRow, entry_id)
    return row if row is not None and row.action == REQUEST else None


async def cancellations(session: Session, task_id: str) -> list[str]:
    """The data (JSON text) of every cancelled redraw request of a task."""
    q = select(AuditRow.data).where(AuditRow.action == CANCEL, AuditRow.subject == task_id)
    return list((await session.execute(q)).scalars())
