"""The service's least-privilege PostgreSQL role (``ssj init --app-role NAME``).

Migrations run as the tables' owner; the service should not. The owner (or a superuser)
can disable or drop the audit log's triggers, truncate it, or set
``session_replication_role``; a role that owns nothing and holds only these grants
cannot:

- LOGIN, NOSUPERUSER, NOCREATEDB, NOCREATEROLE, NOREPLICATION, NOBYPASSRLS, member of
  no other role (it would inherit that role's rights), owner of no table, of neither
  the schema nor the database;
- SELECT, INSERT, UPDATE, DELETE on every table of the application's schema, except
  ``audit_log`` (SELECT and INSERT only: appends) and ``alembic_version`` (SELECT: the
  service checks the schema is current, only the owner migrates);
- USAGE and SELECT on the schema's sequences; CONNECT on the database, USAGE on the
  schema.

Idempotent: running it again (after every upgrade, so new tables are granted too)
resets the role's table and sequence privileges to exactly these.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
READ_ONLY = frozenset({"alembic_version"})
APPEND_ONLY = frozenset({"audit_log"})
ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


class RoleError(Exception):
    """A refusal; ``code`` names the message in templates/text/audit.j2."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code, self.params = code, params


def valid_name(name: str) -> bool:
    return bool(NAME.fullmatch(name or "")) and not name.startswith("pg_")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def privileges(table: str) -> str:
    if table in READ_ONLY:
        return "SELECT"
    if table in APPEND_ONLY:
        return "SELECT, INSERT"
    return "SELECT, INSERT, UPDATE, DELETE"


async def _refusals(conn, name: str) -> bool:
    """Refuse a role that is the connected user, owns something here or inherits another
    role's rights; returns whether the role exists."""

    async def scalar(sql: str):
        return (await conn.execute(text(sql), {"n": name})).scalar()

    async def column(sql: str) -> list:
        return [r[0] for r in (await conn.execute(text(sql), {"n": name})).all()]

    if name == (await conn.execute(text("SELECT current_user"))).scalar():
        raise RoleError("role_is_owner", name=name)
    if not await scalar("SELECT count(*) FROM pg_roles WHERE rolname = :n"):
        return False
    oid = "(SELECT oid FROM pg_roles WHERE rolname = :n)"
    owned = await column(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
        f" WHERE c.relowner = {oid} AND s.nspname NOT IN ('pg_catalog', 'information_schema')"
        " AND s.nspname NOT LIKE 'pg_toast%' ORDER BY c.relname"
    )
    owned += await column(
        "SELECT 'schema ' || nspname FROM pg_namespace"
        f" WHERE nspname = current_schema() AND nspowner = {oid}"
    )
    owned += await column(
        "SELECT 'database ' || datname FROM pg_database"
        f" WHERE datname = current_database() AND datdba = {oid}"
    )
    if owned:
        raise RoleError("role_owns", name=name, objects=owned)
    groups = await column(
        "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g"
        f" ON g.oid = m.roleid WHERE m.member = {oid} ORDER BY g.rolname"
    )
    if groups:
        raise RoleError("role_member", name=name, groups=groups)
    return True


async def check(engine: AsyncEngine, name: str) -> None:
    """Every refusal ``ensure`` would make, without changing anything (run before
    migrating, so a refused role leaves the database as it was)."""
    if not valid_name(name):
        raise RoleError("role_bad_name", name=name)
    async with engine.connect() as conn:
        await _refusals(conn, name)


async def ensure(engine: AsyncEngine, name: str) -> dict:
    """Create or update the role; returns ``{"created", "tables" (read-write ones),
    "sequences"}``."""
    if not valid_name(name):
        raise RoleError("role_bad_name", name=name)
    role = _ident(name)
    async with engine.begin() as conn:

        async def scalar(sql: str, **params):
            return (await conn.execute(text(sql), params)).scalar()

        async def column(sql: str, **params) -> list:
            return [r[0] for r in (await conn.execute(text(sql), params)).all()]

        exists = await _refusals(conn, name)
        await conn.execute(text(f"{'ALTER' if exists else 'CREATE'} ROLE {role} {ATTRIBUTES}"))
        database = await scalar("SELECT current_database()")
        schema = await scalar("SELECT current_schema()")
        await conn.execute(text(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {role}"))
        await conn.execute(text(f"GRANT USAGE ON SCHEMA {_ident(schema)} TO {role}"))
        tables = await column(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename", s=schema
        )
        for table in tables:
            qualified = f"{_ident(schema)}.{_ident(table)}"
            await conn.execute(text(f"REVOKE ALL ON TABLE {qualified} FROM {role}"))
            await conn.execute(text(f"GRANT {privileges(table)} ON TABLE {qualified} TO {role}"))
            if table in APPEND_ONLY:  # nobody gets more through PUBLIC either
                await conn.execute(
                    text(f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {qualified} FROM PUBLIC")
                )
        sequences = await column(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = :s ORDER BY sequencename",
            s=schema,
        )
        for seq in sequences:
            qualified = f"{_ident(schema)}.{_ident(seq)}"
            await conn.execute(text(f"REVOKE ALL ON SEQUENCE {qualified} FROM {role}"))
            await conn.execute(text(f"GRANT USAGE, SELECT ON SEQUENCE {qualified} TO {role}"))
    business = [t for t in tables if t not in READ_ONLY | APPEND_ONLY]
    return {"created": not exists, "tables": len(business), "sequences": len(sequences)}
