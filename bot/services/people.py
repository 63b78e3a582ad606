"""Who is talking: people are identified by the inspector library's 消息账号."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Role
from bot.messages import Person
from storage.models import InspectorRow


def person(row: InspectorRow) -> Person:
    return Person(row.msg_account or "", row.cert, row.name, row.role == Role.ADMIN.value,
                  row.department or "")


async def by_account(session: AsyncSession, account: str) -> Person | None:
    row = await session.scalar(select(InspectorRow).where(InspectorRow.msg_account == account))
    return person(row) if row else None


async def by_certs(session: AsyncSession, certs) -> dict[str, InspectorRow]:
    certs = list(certs)
    if not certs:
        return {}
    rows = await session.execute(select(InspectorRow).where(InspectorRow.cert.in_(certs)))
    return {r.cert: r for r in rows.scalars()}


async def admins(session: AsyncSession) -> list[Person]:
    rows = await session.execute(select(InspectorRow).where(
        InspectorRow.role == Role.ADMIN.value, InspectorRow.msg_account.is_not(None)))
    return [person(r) for r in rows.scalars()]


async def directory(session: AsyncSession) -> list[dict]:
    """People who can chat (have a 消息账号), for the web chat's picker."""
    rows = await session.execute(select(InspectorRow).where(InspectorRow.msg_account.is_not(None))
                                 .order_by(InspectorRow.role.desc(), InspectorRow.cert))
    return [{"account": r.msg_account, "name": r.name, "role": r.role, "cert": r.cert,
             "department": r.department} for r in rows.scalars()]
