"""The unit of work: one database transaction, opened in one place.

Everything outside ``storage/`` names the session through these aliases and opens a
transaction with ``unit_of_work``; it never imports SQLAlchemy. Repositories (the
``storage/repos`` modules) take the session as their first argument and are the only code
that builds SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Session = AsyncSession
Sessions = async_sessionmaker[AsyncSession]


@asynccontextmanager
async def unit_of_work(sessions: Sessions) -> AsyncIterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    async with sessions() as session, session.begin():
        yield session
