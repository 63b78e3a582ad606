"""PostgreSQL only: the audit log cannot be truncated (migration 0011) nor bypassed with
``session_replication_role``; the service's least-privilege role (``ssj init
--app-role``) cannot touch the log's guards, and the application works as that role.
(SQLite has no roles and no TRUNCATE: its refusal of --app-role is in test_audit_trail.)"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.demo import write_library
from storage import audit, migrate
from storage.db import make_engine, session_factory

from .helpers import query, ssj, ssj_json

pytestmark = pytest.mark.postgres


def dsn(url: str, user: str | None = None) -> str:
    """The asyncpg DSN of a SQLAlchemy URL, optionally as another user."""
    u = make_url(url).set(drivername="postgresql")
    if user:
        u = u.set(username=user)
    return u.render_as_string(hide_password=False)


def as_user(url: str, user: str) -> str:
    return make_url(url).set(username=user).render_as_string(hide_password=False)


async def refused(conn, sql: str) -> str:
    """Run ``sql``; it must fail. Returns the server's message."""
    with pytest.raises(asyncpg.PostgresError) as err:
        await conn.execute(sql)
    return str(err.value)


async def run(url: str, *sqls: str) -> None:
    """Statements as the superuser (the tables' owner), one by one."""
    conn = await asyncpg.connect(dsn(url))
    try:
        for sql in sqls:
            await conn.execute(sql)
    finally:
        await conn.close()


async def test_truncate_is_refused_and_replica_mode_does_not_bypass_the_guards(pg_url):
    engine = make_engine(pg_url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as s, s.begin():
            await audit.append(s, "a", "x")
            await audit.append(s, "a", "y")
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn(pg_url))  # the superuser, the tables' owner
    try:
        assert "TRUNCATE refused" in await refused(conn, "TRUNCATE audit_log")
        await conn.execute("SET session_replication_role = replica")
        for sql in (
            "TRUNCATE audit_log",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'mallory'",
        ):
            assert "append-only" in await refused(conn, sql)
        await conn.execute("RESET session_replication_role")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 2
    finally:
        await conn.close()

    # downgrading 0011 takes exactly that away again
    engine = make_engine(pg_url)
    try:
        await migrate.downgrade(engine, "0010")
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(dsn(pg_url))
    try:
        assert "append-only" in await refused(conn, "DELETE FROM audit_log")
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("TRUNCATE audit_log")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 0
    finally:
        await conn.close()


@pytest.fixture
def role(pg_url):
    """A fresh role name; the role (if created) is dropped after the test."""
    name = "ssj_app_" + uuid.uuid4().hex[:10]
    yield name

    async def drop():
        conn = await asyncpg.connect(dsn(pg_url))
        try:
            if await conn.fetchval("SELECT count(*) FROM pg_roles WHERE rolname = $1", name):
                await conn.execute(f'DROP OWNED BY "{name}"')
                await conn.execute(f'DROP ROLE "{name}"')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_app_role_is_least_privilege_and_cannot_touch_the_log(pg_url, role, capsys, tmp_path):
    code, out, err = ssj(capsys, pg_url, "init", "--app-role", role)
    assert code == 0, err
    assert f"已创建应用角色 {role}" in out and "只能读取和追加" in out
    attrs = query(
        pg_url,
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole,"
        " rolreplication, rolbypassrls FROM pg_roles WHERE rolname = :n",
        n=role,
    )
    assert attrs == [(True, False, False, False, False, False)]
    assert (
        query(
            pg_url,
            "SELECT count(*) FROM pg_class WHERE relowner ="
            " (SELECT oid FROM pg_roles WHERE rolname = :n)",
            n=role,
        )[0][0]
        == 0
    )

    def can(table: str, privilege: str) -> bool:
        return query(
            pg_url, "SELECT has_table_privilege(:n, :t, :p)", n=role, t=table, p=privilege
        )[0][0]

    assert can("audit_log", "INSERT") and can("audit_log", "SELECT")
    assert not any(
        can("audit_log", p) for p in ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
    )
    assert all(can("results", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    assert not can("results", "TRUNCATE")
    assert can("alembic_version", "SELECT") and not can("alembic_version", "UPDATE")

    # the application works as that role: import the library, draw, enter and review
    # results, publish, verify (the owner only migrated)
    app = as_user(pg_url, role)
    paths = write_library(tmp_path / "lib")
    for kind in ("enterprises", "inspectors", "conflicts"):
        code, _, err = ssj(capsys, app, "import", kind, str(paths[kind]))
        assert code == 0, err
    code, _, err = ssj(
        capsys,
        app,
        "task",
        "create",
        "--task",
        "2027ZX01",
        "--kind",
        "special",
        "--name",
        "获嘉县2027年涉VOCs企业专项检查",
        "--year",
        "2027",
        "--quarter",
        "1",
        "--count",
        "2",
    )
    assert code == 0, err
    doc = ssj_json(capsys, app, "draw", "run", "--task", "2027ZX01")
    admins = [
        c for (c,) in query(app, "SELECT cert FROM inspectors WHERE role = '管理员' ORDER BY cert")
    ]
    for sel in doc["selections"]:
        base = ["--task", "2027ZX01", "--uscc", sel["uscc"]]
        assert (
            ssj(
                capsys,
                app,
                "result",
                "record",
                *base,
                "--by",
                sel["inspectors"][0],
                "--conclusion",
                "1",
            )[0]
            == 0
        )
        # four eyes: a 管理员 off the team (or, if all are on it, not the one who entered)
        team = sel["inspectors"] + sel.get("auxiliary", [])
        admin = next((a for a in admins if a not in team), None) or next(
            a for a in admins if a != sel["inspectors"][0]
        )
        assert ssj(capsys, app, "result", "approve", *base, "--by", admin)[0] == 0
    assert ssj_json(capsys, app, "publish", "--task", "2027ZX01")["audit_anchor"]["seq"] > 0
    assert ssj(capsys, app, "draw", "verify", "--task", "2027ZX01")[0] == 0
    code, out, err = ssj(capsys, app, "audit", "verify")
    assert code == 0 and "哈希链完整" in out, err
    assert query(pg_url, "SELECT DISTINCT actor FROM audit_log WHERE action = 'draw.run'")

    async def attacks():
        conn = await asyncpg.connect(dsn(pg_url, role))
        try:
            assert await conn.fetchval("SELECT current_user") == role
            before = await conn.fetchval("SELECT count(*) FROM audit_log")
            for sql in (
                "UPDATE audit_log SET actor = 'mallory'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
            ):
                assert "permission denied" in await refused(conn, sql)
            for sql in (
                "ALTER TABLE audit_log DISABLE TRIGGER USER",
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                "DROP TRIGGER audit_log_append_only ON audit_log",
                "DROP TABLE audit_log",
            ):
                assert "must be owner" in await refused(conn, sql)
            assert "permission denied" in await refused(
                conn, "SET session_replication_role = replica"
            )
            assert "permission denied" in await refused(
                conn, "UPDATE alembic_version SET version_num = '0001'"
            )
            assert await conn.fetchval("SELECT count(*) FROM audit_log") == before
        finally:
            await conn.close()

    asyncio.run(attacks())

    # once more (e.g. after an upgrade): updated, the same grants
    code, out, err = ssj(capsys, pg_url, "init", "--app-role", role)
    assert code == 0 and f"已更新应用角色 {role}" in out, err
    assert not can("audit_log", "UPDATE") and can("enterprises", "UPDATE")

    # the app role itself cannot make roles (nor migrate anything: at head nothing runs)
    code, out, err = ssj(capsys, app, "init", "--app-role", role + "_x")
    assert code == 1 and f"无法创建或修改角色 {role}_x" in err and "CREATEROLE" in err
    assert (
        query(pg_url, "SELECT count(*) FROM pg_roles WHERE rolname = :n", n=role + "_x")[0][0] == 0
    )


def test_app_role_refusals(pg_url, role, capsys):
    owner = make_url(pg_url).username
    for name, words in ((owner, "不能把当前连接的用户"), ("Bad-Name", "无效"), ("pg_app", "无效")):
        code, out, err = ssj(capsys, pg_url, "init", "--app-role", name)
        assert code == 1 and words in err, (name, err)
    # refused before migrating: the database was never touched
    assert query(pg_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0

    # an existing role that owns a table, or inherits another role's rights, is refused
    assert ssj(capsys, pg_url, "init")[0] == 0
    asyncio.run(
        run(
            pg_url,
            f'CREATE ROLE "{role}" LOGIN',
            "CREATE TABLE notes (x int)",
            f'ALTER TABLE notes OWNER TO "{role}"',
        )
    )
    code, _, err = ssj(capsys, pg_url, "init", "--app-role", role)
    assert code == 1 and f"角色 {role} 拥有数据库对象（notes）" in err
    asyncio.run(run(pg_url, "DROP TABLE notes", f'GRANT pg_write_all_data TO "{role}"'))
    code, _, err = ssj(capsys, pg_url, "init", "--app-role", role)
    assert code == 1 and "pg_write_all_data 的成员" in err
    asyncio.run(run(pg_url, f'REVOKE pg_write_all_data FROM "{role}"'))
    code, out, err = ssj(capsys, pg_url, "init", "--app-role", role)
    assert code == 0 and f"已更新应用角色 {role}" in out, err
