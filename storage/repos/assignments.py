"""Drawn objects as assignments: selections, their enterprises and their teams' members."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bot.domain.status import DrawStatus
from storage.models import DrawRow, EnterpriseRow, SelectionRow, TeamMemberRow
from storage.uow import Session

CHUNK = 500  # bounded IN lists


async def selection(session: Session, ref: int) -> SelectionRow | None:
    return await session.get(SelectionRow, ref)


async def draw(session: Session, draw_id: int) -> DrawRow | None:
    return await session.get(DrawRow, draw_id)


async def enterprise(session: Session, uscc: str) -> EnterpriseRow | None:
    return await session.scalar(select(EnterpriseRow).where(EnterpriseRow.uscc == uscc))


async def refs_of(session: Session, cert: str) -> list[int]:
    """编号 of the person's current assignments in valid draws, newest task first."""
    q = (
        select(SelectionRow.id)
        .join(TeamMemberRow, TeamMemberRow.selection_id == SelectionRow.id)
        .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
        .where(
            TeamMemberRow.cert == cert,
            TeamMemberRow.active.is_(True),
            DrawRow.status == DrawStatus.VALID,
        )
        .order_by(SelectionRow.task_id.desc(), SelectionRow.position)
    )
    return list((await session.execute(q)).scalars())


async def active_member(session: Session, ref: int, cert: str) -> TeamMemberRow | None:
    q = select(TeamMemberRow).where(
        TeamMemberRow.selection_id == ref,
        TeamMemberRow.cert == cert,
        TeamMemberRow.active.is_(True),
    )
    return await session.scalar(q)


async def active_rows(session: Session, ref: int) -> list[TeamMemberRow]:
    q = select(TeamMemberRow).where(
        TeamMemberRow.selection_id == ref, TeamMemberRow.active.is_(True)
    )
    return list((await session.execute(q)).scalars())


async def team_certs(session: Session, ref: int) -> set[str]:
    q = select(TeamMemberRow.cert).where(
        TeamMemberRow.selection_id == ref, TeamMemberRow.active.is_(True)
    )
    return set((await session.execute(q)).scalars())


async def teams_of(session: Session, refs: Iterable[int]) -> dict[int, set[str]]:
    """编号 -> the 执法证号 on its team now (objects with nobody left are missing)."""
    ids = list(refs)
    out: dict[int, set[str]] = {}
    for i in range(0, len(ids), CHUNK):
        q = select(TeamMemberRow.selection_id, TeamMemberRow.cert).where(
            TeamMemberRow.selection_id.in_(ids[i : i + CHUNK]), TeamMemberRow.active.is_(True)
        )
        for ref, cert in (await session.execute(q)).all():
            out.setdefault(ref, set()).add(cert)
    return out


async def team_departments(session: Session, refs: list[int] | None) -> list[tuple[int, str]]:
    """(编号, department) of every team on the objects now; ``refs`` None: every object."""
    q = (
        select(TeamMemberRow.selection_id, TeamMemberRow.department)
        .where(TeamMemberRow.active.is_(True))
        .distinct()
    )
    if refs is None:
        return [(ref, dept) for ref, dept in (await session.execute(q)).all()]
    out: list[tuple[int, str]] = []
    for i in range(0, len(refs), CHUNK):
        chunk_q = q.where(TeamMemberRow.selection_id.in_(refs[i : i + CHUNK]))
        out.extend((ref, dept) for ref, dept in (await session.execute(chunk_q)).all())
    return out


async def latest_drawn_task(session: Session) -> str | None:
    """The task of the most recent valid draw."""
    q = (
        select(DrawRow.task_id)
        .where(DrawRow.status == DrawStatus.VALID)
        .order_by(DrawRow.drawn_at.desc(), DrawRow.id.desc())
        .limit(1)
    )
    return await session.scalar(q)
