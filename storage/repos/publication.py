"""Published task results (一公开): one row per task."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import TaskRow
from storage.models_publication import PublicationRow


async def publication(session: AsyncSession, task_id: str) -> PublicationRow | None:
    return await session.get(PublicationRow, task_id)


async def publications(session: AsyncSession) -> list[PublicationRow]:
    """Every publication, by task id."""
    q = select(PublicationRow).order_by(PublicationRow.task_id)
    return list((await session.execute(q)).scalars())


async def newest_first(session: AsyncSession) -> list[PublicationRow]:
    """Every publication, the newest first."""
    q = select(PublicationRow).order_by(
        PublicationRow.published_at.desc(), PublicationRow.task_id.desc()
    )
    return list((await session.execute(q)).scalars())


async def published_years(session: AsyncSession) -> list[int]:
    """The years of the tasks that have a publication (each once, in no order)."""
    q = select(TaskRow.year).join(PublicationRow, PublicationRow.task_id == TaskRow.id).distinct()
    return [y for (y,) in (await session.execute(q)).all()]
