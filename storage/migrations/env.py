"""Alembic environment: async engines, URL from the caller or SSJ_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context

from storage import (  # noqa: F401  (plans, push outbox)
    models_calendar,  # noqa: F401  (registers the calendar overrides)
    models_chat,  # noqa: F401  (registers the chat tables)
    models_jobs,  # noqa: F401  (scheduled-job claims)
    models_plan,
    models_publication,  # noqa: F401  (published task records)
    models_push,
    models_webchat,  # noqa: F401  (web chat invitations and sessions)
)
from storage.db import database_url, make_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=database_url(config.get_main_option("sqlalchemy.url")),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async(database_url(config.get_main_option("sqlalchemy.url"))))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
