"""Migrations (stairway), SQLite under concurrent writers, the audit chain under load."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from storage import audit, migrate
from storage.db import make_engine, session_factory
from storage.models import AuditRow, Item


async def test_stairway_upgrade_downgrade_upgrade_each_revision(db_url):
    engine = make_engine(db_url)
    try:
        revs = migrate.revisions()
        assert len(revs) >= 2
        previous = "base"
        for rev in revs:
            await migrate.upgrade(engine, rev)
            assert await migrate.current(engine) == rev
            await migrate.downgrade(engine, previous)
            assert await migrate.current(engine) == (None if previous == "base" else previous)
            await migrate.upgrade(engine, rev)
            previous = rev
        async with session_factory(engine)() as s:
            assert await s.scalar(select(func.count()).select_from(Item)) == 14
    finally:
        await engine.dispose()


async def test_concurrent_audit_appends_keep_one_chain(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    sf = session_factory(engine)

    async def writer(n):
        for i in range(10):
            async with sf() as s, s.begin():
                await audit.append(s, f"w{n}", "test.write", str(i), {"n": n, "i": i})

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        async with sf() as s:
            check = await audit.verify(s)
        assert check.ok and check.entries == 80
    finally:
        await engine.dispose()


async def test_sqlite_transactions_begin_immediate(tmp_path):
    """Two read-then-write transactions never lose an update (BEGIN IMMEDIATE + WAL)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            await conn.execute(text("CREATE TABLE counter (n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump():
            for _ in range(20):
                async with engine.begin() as conn:
                    n = (await conn.execute(text("SELECT n FROM counter"))).scalar()
                    await asyncio.sleep(0)
                    await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump() for _ in range(5)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar() == 100
    finally:
        await engine.dispose()


async def test_audit_log_rejects_update_and_delete(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    sf = session_factory(engine)
    try:
        async with sf() as s, s.begin():
            await audit.append(s, "a", "x")
        for sql in ("UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"):
            with pytest.raises(DBAPIError):
                async with engine.begin() as conn:
                    await conn.execute(text(sql))
        async with sf() as s:
            assert (await s.execute(select(AuditRow.actor))).scalar_one() == "a"
    finally:
        await engine.dispose()


async def test_results_migrate_to_one_per_department(db_url):
    """0008 keeps every existing result, giving it its object's team department, then
    allows a second department's result of the same object; downgrade keeps the first."""
    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine, "0007")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO tasks (id, bureau, kind, name, year, quarter, plan_no, scope, items,"
                    " departments, spec, status) VALUES ('2027LH01', '410724', 'joint', '联合抽查',"
                    " 2027, 1, '', '', '[]', '[\"\", \"市场监管\"]', '{}', 'open')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO draws (id, task_id, status, commitment, secret, entropy, seed,"
                    " pool_digest, algorithm, prepared_by, drawn_by, void_reason) VALUES"
                    " (1, '2027LH01', 'valid', 'c', 's', '', 's:', 'd', 'a', 'p', 'p', '')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO selections (id, draw_id, task_id, position, uscc, name, category,"
                    " ticket) VALUES (7, 1, '2027LH01', 0, '91410724MA44L0EA6X', '某公司',"
                    " '重点监管', '0.1')"
                )
            )
            for i, (dept, cert) in enumerate(
                (("生态环境", "A1"), ("生态环境", "A2"), ("市场监管", "B1"))
            ):
                await conn.execute(
                    text(
                        "INSERT INTO team_members (selection_id, department, cert, seq, active,"
                        " ended_reason) VALUES (7, :d, :c, :i, :a, '')"
                    ),
                    {"d": dept, "c": cert, "i": i, "a": True},
                )
            await conn.execute(
                text(
                    "INSERT INTO results (id, selection_id, task_id, status, conclusion, mode,"
                    " findings, followup, entered_by, reviewed_by, return_reason) VALUES"
                    " (5, 7, '2027LH01', '待审核', '未发现问题', '现场检查', '', '{}', 'A1', '', '')"
                )
            )
        await migrate.upgrade(engine, "0008")
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    text("SELECT id, selection_id, department, status, entered_by FROM results")
                )
            ).all()
            assert [tuple(r) for r in rows] == [(5, 7, "生态环境", "待审核", "A1")]
            # a second department's result of the same object, with a fresh id
            await conn.execute(
                text(
                    "INSERT INTO results (selection_id, department, task_id, status, conclusion,"
                    " mode, findings, followup, entered_by, reviewed_by, return_reason) VALUES"
                    " (7, '市场监管', '2027LH01', '待审核', '未发现问题', '现场检查', '', '{}',"
                    " 'B1', '', '')"
                )
            )
            ids = [
                i for (i,) in (await conn.execute(text("SELECT id FROM results ORDER BY id"))).all()
            ]
            assert ids[0] == 5 and ids[1] > 5
        with pytest.raises(DBAPIError):  # the same department twice is refused
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO results (selection_id, department, task_id, status,"
                        " conclusion, mode, findings, followup, entered_by, reviewed_by,"
                        " return_reason) VALUES (7, '市场监管', '2027LH01', '未录入', '', '', '',"
                        " '{}', '', '', '')"
                    )
                )
        await migrate.downgrade(engine, "0007")
        async with engine.begin() as conn:
            rows = (await conn.execute(text("SELECT id, entered_by FROM results"))).all()
            assert [tuple(r) for r in rows] == [(5, "A1")]
    finally:
        await engine.dispose()


async def test_models_match_the_migrations(db_url):
    """Alembic's autogenerate finds nothing to add: the ORM and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import storage.models_calendar
    import storage.models_chat
    import storage.models_jobs  # noqa: F401
    import storage.models_plan
    import storage.models_publication
    import storage.models_push  # noqa: F401
    import storage.models_webchat  # noqa: F401
    from storage.models import Base

    engine = make_engine(db_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
        assert diff == []
    finally:
        await engine.dispose()
