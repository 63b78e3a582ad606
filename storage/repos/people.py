"""People: inspectors of the library looked up by 消息账号, 执法证号, name or role."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from bot.domain.model import Role
from storage.models import InspectorRow
from storage.uow import Session


async def by_account(session: Session, account: str) -> InspectorRow | None:
    return await session.scalar(select(InspectorRow).where(InspectorRow.msg_account == account))


async def by_cert(session: Session, cert: str) -> InspectorRow | None:
    return await session.scalar(select(InspectorRow).where(InspectorRow.cert == cert))


async def by_certs(session: Session, certs: Iterable[str]) -> dict[str, InspectorRow]:
    keys = list(certs)
    if not keys:
        return {}
    rows = await session.execute(select(InspectorRow).where(InspectorRow.cert.in_(keys)))
    return {r.cert: r for r in rows.scalars()}


async def by_cert_or_name(session: Session, who: str) -> list[InspectorRow]:
    """Inspectors whose 执法证号 or name is ``who``."""
    q = select(InspectorRow).where((InspectorRow.cert == who) | (InspectorRow.name == who))
    return list((await session.execute(q)).scalars())


async def exists(session: Session, cert: str) -> bool:
    q = select(InspectorRow.id).where(InspectorRow.cert == cert)
    return await session.scalar(q) is not None


async def admins(session: Session) -> list[InspectorRow]:
    """Every 管理员, reachable or not."""
    q = select(InspectorRow).where(InspectorRow.role == Role.ADMIN.value)
    return list((await session.execute(q)).scalars())


async def reachable_admins(session: Session) -> list[InspectorRow]:
    """管理员 with a 消息账号."""
    q = select(InspectorRow).where(
        InspectorRow.role == Role.ADMIN.value, InspectorRow.msg_account.is_not(None)
    )
    return list((await session.execute(q)).scalars())


async def reachable(session: Session) -> list[InspectorRow]:
    """Everyone with a 消息账号: 管理员 first, then by 执法证号."""
    q = (
        select(InspectorRow)
        .where(InspectorRow.msg_account.is_not(None))
        .order_by(InspectorRow.role.desc(), InspectorRow.cert)
    )
    return list((await session.execute(q)).scalars())
