"""Tasks: a quarterly task id (``2027Q1``) needs no setup; the plan rules create it."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain.model import DomainError, TaskSpec
from bot.domain.periods import parse_task_id, plan_number, quarter_end, quarter_start
from bot.text import t
from storage import audit, repo
from storage.models import TaskRow


async def ensure_task(session: AsyncSession, settings: Settings, task_id: str,
                      actor: str) -> TaskRow:
    task_id = (task_id or "").strip().upper()
    row = await repo.task(session, task_id)
    if row is not None:
        return row
    year, quarter = parse_task_id(task_id)
    items = [i.seq for i in await repo.items(session)]
    row = TaskRow(
        id=task_id, bureau=settings.region_code, kind="quarterly",
        name=t("task.quarterly_name", org=settings.bureau_name, year=year, quarter=quarter),
        year=year, quarter=quarter, plan_no=plan_number(year, quarter),
        scope=t("task.scope", region=settings.region), items=items, departments=[""],
        spec={}, starts_on=quarter_start(year, quarter), deadline=quarter_end(year, quarter),
        status="open")
    session.add(row)
    await session.flush()
    await audit.append(session, actor, "task.create", task_id,
                       {"name": row.name, "kind": row.kind, "items": items,
                        "deadline": row.deadline.isoformat()})
    return row


async def existing_task(session: AsyncSession, task_id: str) -> TaskRow:
    row = await repo.task(session, (task_id or "").strip().upper())
    if row is None:
        parse_task_id(task_id)  # a malformed id gets its own message
        raise DomainError("no_task", task=task_id)
    return row


def spec_for(task: TaskRow, on) -> TaskSpec:
    """The pure rules' view of a task on the day it is drawn."""
    extra = task.spec or {}
    start = task.starts_on
    on = max(on, start) if start else on
    return TaskSpec(
        task_id=task.id, kind=task.kind, year=task.year, quarter=task.quarter or 1, on=on,
        departments=tuple(task.departments or [""]),
        count=extra.get("count"),
        object_filter=tuple(tuple(f) for f in extra.get("object_filter", [])),
        inspector_expertise=tuple(extra.get("inspector_expertise", [])),
        inspector_region=extra.get("inspector_region", ""),
    )
