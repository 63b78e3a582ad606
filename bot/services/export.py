"""Exports to .xlsx: a task's draw with its verification data, and the libraries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot.sheets import library_io
from bot.sheets.xlsx import library_rows, write_xlsx
from bot.text import t
from storage.repos import library as library_repo
from storage.uow import Session

from .draws import current_selections, valid_draw


async def draw_workbook(session: Session, task_id: str, path: str | Path) -> int:
    task, row = await valid_draw(session, task_id)
    sels = await current_selections(session, row)
    people = {p.cert: p.name for p in await library_repo.inspectors(session)}
    cols = ["ref", "name", "uscc", "category", "risk_class", "reason", "ticket", "inspectors"]
    rows = [
        [
            ref,
            s.name,
            s.uscc,
            s.category.value,
            s.risk_class or "—",
            t("risk.reason", code=s.reason, risk_class=s.risk_class),
            s.ticket,
            "、".join(
                [f"{people.get(c, '')}（{c}）" for c in s.inspectors]
                + [t("cli.aux_member", name=f"{people.get(c, '')}（{c}）") for c in s.auxiliary]
            ),
        ]
        for ref, s in sels
    ]
    facts = [
        ("task", task.id),
        ("task_name", task.name),
        ("draw_id", row.id),
        ("commitment", row.commitment),
        ("pool_digest", row.pool_digest),
        ("algorithm", row.algorithm),
        ("drawn_at", row.drawn_at),
    ]
    if row.revealed_at is not None:
        facts += [("secret", row.secret), ("entropy", row.entropy), ("seed", row.seed)]
    write_xlsx(
        path,
        [
            (t("export.sheet_selections"), [t("cli.col", name=c) for c in cols], rows),
            (
                t("export.sheet_verification"),
                [t("cli.col", name="key"), t("cli.col", name="value")],
                [[t("export.fact", key=k), v] for k, v in facts],
            ),
        ],
    )
    return len(rows)


_ROWS: dict[str, Callable[[Session], Awaitable[Sequence[object]]]] = {
    "enterprises": library_repo.enterprises,
    "inspectors": library_repo.inspectors,
    "conflicts": library_repo.conflicts,
}


async def library_workbook(session: Session, kind: str, path: str | Path) -> int:
    keys = library_io.KEYS[kind]
    records = [{k: getattr(r, k) for k in keys} for r in await _ROWS[kind](session)]
    write_xlsx(
        path,
        [
            (
                t("library.kind_name", kind=kind),
                library_io.HEADERS[kind],
                library_rows(kind, records),
            )
        ],
    )
    return len(records)
