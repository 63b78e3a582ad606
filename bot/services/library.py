"""Import the item list's two libraries and declared conflicts: all or nothing, audited."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import localtime
from bot.config import Settings
from bot.sheets import library_io
from bot.text import t
from storage import audit
from storage.models import ConflictRow, EnterpriseRow, InspectorRow
from storage.repos import library as library_repo
from storage.uow import Session

from . import history
from .imports import ImportOutcome, Progress

Row = dict[str, Any]
Changes = dict[str, Any]
_Lookup = Callable[[Session, Iterable[str]], Awaitable[dict[str, Any]]]
_MODEL: dict[str, tuple[type[EnterpriseRow] | type[InspectorRow], _Lookup, str]] = {
    "enterprises": (EnterpriseRow, library_repo.enterprises_by_uscc, "uscc"),
    "inspectors": (InspectorRow, library_repo.inspectors_by_cert, "cert"),
}

__all__ = ["ImportOutcome", "Progress", "import_file"]


def _error(row: int | None, column: str, reason: str) -> library_io.RowError:
    return library_io.RowError(row, column, reason)


async def import_file(
    session: Session,
    settings: Settings,
    kind: str,
    path: str | Path,
    actor: str,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportOutcome:
    """``now`` dates changed rows and history (the caller's clock; the wall clock when
    not given)."""
    now = now or localtime.now()
    if kind == "history":  # inspections from the bureau's old system
        return await history.import_file(session, settings, path, actor, progress, now=now)
    parsed = library_io.parse(kind, path)
    out = ImportOutcome(kind, errors=list(parsed.errors), warnings=list(parsed.warnings))
    if out.errors:
        return out
    numbers: list[int | None] = list(parsed.row_numbers) or [None] * len(parsed.rows)
    rows = [dict(r, _row=n) for r, n in zip(parsed.rows, numbers, strict=True)]
    if kind == "conflicts":
        await _check_conflict_refs(session, rows, out)
    elif kind == "inspectors":
        await _check_accounts(session, rows, out)
    if out.errors:
        return out
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    changes: Changes = {"file": Path(path).name, "sha256": digest, "created": [], "updated": {}}
    if kind == "conflicts":
        await _upsert_conflicts(session, rows, out, changes)
    else:
        await _upsert(session, settings, kind, rows, out, changes, progress, now)
    await audit.append(session, actor, f"import.{kind}", Path(path).name, changes)
    return out


def _clean(row: Row) -> Row:
    return {k: v for k, v in row.items() if not k.startswith("_")}


async def _upsert(
    session: Session,
    settings: Settings,
    kind: str,
    rows: list[Row],
    out: ImportOutcome,
    changes: Changes,
    progress: Progress | None,
    now: datetime,
) -> None:
    model, lookup, key = _MODEL[kind]
    existing = await lookup(session, [r[key] for r in rows])
    for i, raw in enumerate(rows):
        row = _clean(raw)
        if kind == "inspectors":
            row["msg_account"] = row.get("msg_account") or None
        cur = existing.get(row[key])
        if cur is None:
            session.add(model(bureau=settings.region_code, **row))
            out.created += 1
            changes["created"].append(row[key])
        else:
            diff = {f: [getattr(cur, f), v] for f, v in row.items() if getattr(cur, f) != v}
            if diff:
                for f, (_, v) in diff.items():
                    setattr(cur, f, v)
                cur.updated_at = now
                out.updated += 1
                changes["updated"][row[key]] = diff
            else:
                out.unchanged += 1
        if progress and (i % 200 == 0 or i == len(rows) - 1):
            progress("import", i + 1, len(rows))
    await session.flush()


async def _check_conflict_refs(session: Session, rows: list[Row], out: ImportOutcome) -> None:
    people = await library_repo.inspectors_by_cert(session, {r["cert"] for r in rows})
    objs = await library_repo.enterprises_by_uscc(session, {r["uscc"] for r in rows})
    headers = dict(zip(library_io.KEYS["conflicts"], library_io.HEADERS["conflicts"], strict=True))
    for r in rows:
        if r["cert"] not in people:
            out.errors.append(
                _error(
                    r.get("_row"), headers["cert"], t("library.unknown_inspector", cert=r["cert"])
                )
            )
        if r["uscc"] not in objs:
            out.errors.append(
                _error(
                    r.get("_row"), headers["uscc"], t("library.unknown_enterprise", uscc=r["uscc"])
                )
            )


async def _check_accounts(session: Session, rows: list[Row], out: ImportOutcome) -> None:
    accounts = {r["msg_account"] for r in rows if r.get("msg_account")}
    taken = await library_repo.inspectors_by_account(session, accounts)
    headers = dict(
        zip(library_io.KEYS["inspectors"], library_io.HEADERS["inspectors"], strict=True)
    )
    for r in rows:
        holder = taken.get(r.get("msg_account") or "")
        if holder is not None and holder.cert != r["cert"]:
            out.errors.append(
                _error(
                    r.get("_row"),
                    headers["msg_account"],
                    t("library.msg_account_taken", account=r["msg_account"], cert=holder.cert),
                )
            )


async def _upsert_conflicts(
    session: Session, rows: list[Row], out: ImportOutcome, changes: Changes
) -> None:
    existing = {(c.cert, c.uscc): c for c in await library_repo.conflicts(session)}
    for raw in rows:
        r = _clean(raw)
        cur = existing.get((r["cert"], r["uscc"]))
        if cur is None:
            session.add(
                ConflictRow(cert=r["cert"], uscc=r["uscc"], note=r.get("note", ""), source="import")
            )
            out.created += 1
            changes["created"].append(f"{r['cert']}/{r['uscc']}")
        elif cur.note != r.get("note", ""):
            changes["updated"][f"{r['cert']}/{r['uscc']}"] = {"note": [cur.note, r.get("note", "")]}
            cur.note = r.get("note", "")
            out.updated += 1
        else:
            out.unchanged += 1
    await session.flush()
