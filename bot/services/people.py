"""Who is talking: people are identified by the inspector library's 消息账号."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.model import Role
from bot.messages import Person
from storage.models import InspectorRow
from storage.repos import people as people_repo
from storage.uow import Session


def person(row: InspectorRow) -> Person:
    return Person(
        row.msg_account or "",
        row.cert,
        row.name,
        row.role == Role.ADMIN.value,
        row.department or "",
    )


async def by_account(session: Session, account: str) -> Person | None:
    row = await people_repo.by_account(session, account)
    return person(row) if row else None


async def by_certs(session: Session, certs: Iterable[str]) -> dict[str, InspectorRow]:
    return await people_repo.by_certs(session, certs)


async def admins(session: Session) -> list[Person]:
    return [person(r) for r in await people_repo.reachable_admins(session)]


async def directory(session: Session) -> list[dict]:
    """People who can chat (have a 消息账号), for the web chat's picker."""
    return [
        {
            "account": r.msg_account,
            "name": r.name,
            "role": r.role,
            "cert": r.cert,
            "department": r.department,
        }
        for r in await people_repo.reachable(session)
    ]
