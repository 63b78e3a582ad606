"""History from before the system (domain.md): ``ssj import history``, ``ssj export
history``, ``ssj library history``.

An imported inspection (年度, 季度, 统一社会信用代码, 检查日期, 检查结论, 任务名称,
检查人员) counts as a draw of its 年度 and 季度 — for draws this year, the last draw and
the 3-year rule — and by its conclusion for the risk classes and the statistics
(``draws.history_for``, ``stats``). It has no seed: wherever a history is shown it is
marked 历史导入. The import is all or nothing and audited like every import; one
inspection per object and task (年度, 季度, 任务名称, USCC: the same file imported again
changes nothing, a corrected row updates its inspection). A row that is one of the
system's own draws is refused, unless it says what the system recorded (as ``export
history`` writes it): then it is left as it is.

The export writes the same format, the service's own draws included: one row per object
of a valid draw whose every result is approved (the object's most serious conclusion,
its first inspection day, everyone on its teams).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.domain import results as rules
from bot.sheets import library_io
from bot.text import t
from storage import audit
from storage.models import HistoryRow
from storage.repos import common as common_repo
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import results as results_repo
from storage.uow import Session

from . import results as results_svc
from .imports import ImportOutcome, Progress

KIND = "history"
SOURCE_IMPORT, SOURCE_DRAW = "import", "draw"


def _key(year: int, quarter: int, task_name: str, uscc: str) -> str:
    return f"{year}Q{quarter}/{task_name}/{uscc}"


async def _own_draws(session: Session) -> dict[tuple[int, int, str, str], Entry]:
    """(year, quarter, task name, USCC) of every object of a valid draw -> its entry."""
    return {
        (e.year, e.quarter, e.task_name, e.uscc): e
        for e in await entries(session)
        if e.source == SOURCE_DRAW
    }


async def import_file(
    session: Session,
    settings: Settings,
    path: str | Path,
    actor: str,
    progress: Progress | None = None,
    *,
    now: datetime,
) -> ImportOutcome:
    """Check every row (the file's own rules, then against the database: known USCC, not
    after ``now``'s day, not one of the system's own draws) and write all of them or
    none; ``now`` is also when updated inspections were changed."""
    parsed = library_io.parse(KIND, path)
    out = ImportOutcome(KIND, errors=list(parsed.errors), warnings=list(parsed.warnings))
    rows = [dict(r, _row=n) for r, n in zip(parsed.rows, parsed.row_numbers, strict=True)]
    today = now.date()
    headers = dict(zip(library_io.KEYS[KIND], library_io.HEADERS[KIND], strict=True))
    if rows or not out.errors:
        known = await library_repo.enterprises_by_uscc(session, {r["uscc"] for r in rows})
        people = await library_repo.inspectors_by_cert(
            session, {c for r in rows for c in r["inspectors"]}
        )
        own = await _own_draws(session)
        for r in rows:
            n = r["_row"]
            if r["uscc"] not in known:
                out.errors.append(
                    library_io.RowError(
                        n, headers["uscc"], t("library.unknown_enterprise", uscc=r["uscc"])
                    )
                )
            if r["inspected_on"] > today:
                out.errors.append(
                    library_io.RowError(
                        n,
                        headers["inspected_on"],
                        t(
                            "import.future_date",
                            value=r["inspected_on"].isoformat(),
                            today=today.isoformat(),
                        ),
                    )
                )
            mine = own.get((r["year"], r["quarter"], r["task_name"], r["uscc"]))
            if mine is not None:
                # the system's own draw, as ``export history`` wrote it: nothing to import;
                # anything else would overwrite the system's own record
                if (mine.inspected_on, mine.conclusion) == (r["inspected_on"], r["conclusion"]):
                    r["_own"] = True
                    continue
                out.errors.append(
                    library_io.RowError(
                        n,
                        headers["task_name"],
                        t(
                            "import.history_is_a_draw",
                            year=r["year"],
                            quarter=r["quarter"],
                            task=r["task_name"],
                            uscc=r["uscc"],
                            task_id=mine.task_id,
                        ),
                    )
                )
            for cert in r["inspectors"]:
                if cert not in people:
                    out.warnings.append(
                        library_io.RowError(
                            n,
                            headers["inspectors"],
                            t("import.unknown_history_inspector", cert=cert),
                        )
                    )
    if out.errors:
        out.errors.sort(key=lambda e: (e.row is not None, e.row or 0))
        return out
    name = Path(path).name
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    changes: dict[str, Any] = {"file": name, "sha256": digest, "created": [], "updated": {}}
    existing: dict[tuple[int, int, str, str], HistoryRow | None] = {
        (h.year, h.quarter, h.task_name, h.uscc): h
        for h in await library_repo.imported_history(session)
    }
    for i, r in enumerate(rows):
        if r.get("_own"):
            out.unchanged += 1
            continue
        k = (r["year"], r["quarter"], r["task_name"], r["uscc"])
        values = {
            "inspected_on": r["inspected_on"],
            "conclusion": r["conclusion"],
            "inspectors": list(r["inspectors"]),
        }
        cur = existing.get(k)
        if cur is None:
            session.add(
                HistoryRow(
                    bureau=settings.region_code,
                    year=k[0],
                    quarter=k[1],
                    task_name=k[2],
                    uscc=k[3],
                    source=name,
                    **values,
                )
            )
            existing[k] = None
            out.created += 1
            changes["created"].append(_key(*k))
        else:
            diff = {
                f: [_plain(getattr(cur, f)), _plain(v)]
                for f, v in values.items()
                if getattr(cur, f) != v
            }
            if diff:
                for f in diff:
                    setattr(cur, f, values[f])
                cur.source, cur.updated_at = name, now
                out.updated += 1
                changes["updated"][_key(*k)] = diff
            else:
                out.unchanged += 1
        if progress and (i % 200 == 0 or i == len(rows) - 1):
            progress("import", i + 1, len(rows))
    await session.flush()
    await audit.append(session, actor, f"import.{KIND}", name, changes)
    return out


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


@dataclass
class Entry:
    """One draw of an object, imported or the system's own, as a history shows it."""

    year: int
    quarter: int
    uscc: str
    name: str
    task_name: str
    inspected_on: date | None
    conclusion: str  # "" while the system's own draw has no approved result
    inspectors: list[str]
    source: str  # "import" (历史导入, no seed) | "draw"
    task_id: str = ""

    def row(self) -> list[Any]:
        """The import format (HEADERS["history"])."""
        return [
            self.year,
            self.quarter,
            self.uscc,
            self.inspected_on,
            self.conclusion,
            self.task_name,
            self.inspectors,
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "quarter": self.quarter,
            "uscc": self.uscc,
            "name": self.name,
            "task": self.task_id,
            "task_name": self.task_name,
            "inspected_on": self.inspected_on.isoformat() if self.inspected_on else None,
            "conclusion": self.conclusion or None,
            "inspectors": self.inspectors,
            "source": self.source,
            "seed": self.source == SOURCE_DRAW,
        }


async def entries(
    session: Session, uscc: str | None = None, year: int | None = None
) -> list[Entry]:
    """Every imported inspection and every object of a valid draw (with its combined
    result once every department's is approved), oldest period first."""
    names = {e.uscc: e.name for e in await library_repo.enterprises(session)}
    out = [
        Entry(
            h.year,
            h.quarter,
            h.uscc,
            names.get(h.uscc, ""),
            h.task_name,
            common_repo.as_date(h.inspected_on),
            h.conclusion,
            list(h.inspectors or []),
            SOURCE_IMPORT,
        )
        for h in await library_repo.imported_history(session, uscc)
    ]
    sels = await draws_repo.valid_selections_with_tasks(session, uscc)
    units = await results_svc.units(session, [s.id for s, _ in sels])
    members = await draws_repo.active_members(session, [s.id for s, _ in sels])
    for s, task in sels:
        units_of = list(units.get(s.id, {}).values())
        found = [r for r in units_of if r is not None]
        done = (
            bool(units_of)
            and len(found) == len(units_of)
            and all(r.status in results_repo.REVIEWED for r in found)
        )
        conclusion, day = "", None
        if done:
            conclusion = rules.combined_conclusion(
                [rules.Conclusion(r.conclusion) for r in found]
            ).value
            days = sorted(
                common_repo.as_date(r.inspected_on) for r in found if r.inspected_on is not None
            )
            day = days[0] if days else None
        out.append(
            Entry(
                task.year,
                task.quarter or 1,
                s.uscc,
                s.name,
                task.name,
                day,
                conclusion,
                list(dict.fromkeys(m.cert for m in members.get(s.id, []))),
                SOURCE_DRAW,
                task.id,
            )
        )
    if year is not None:
        out = [e for e in out if e.year == year]
    out.sort(key=lambda e: (e.year, e.quarter, e.source != SOURCE_IMPORT, e.task_name, e.uscc))
    return out


async def export(session: Session, path: str | Path) -> int:
    """The import format (.xlsx or .csv by the file's suffix): imported inspections and the
    system's own draws whose results are all approved."""
    rows = [e.row() for e in await entries(session) if e.conclusion and e.inspected_on]
    headers = library_io.HEADERS[KIND]
    if str(path).lower().endswith(".csv"):
        with open(path, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(headers)
            for r in rows:
                writer.writerow([_csv(v) for v in r])
    else:
        from bot.sheets.xlsx import write_xlsx

        write_xlsx(path, [(t("library.kind_name", kind=KIND), headers, rows)])
    return len(rows)


def _csv(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "、".join(value)
    return "" if value is None else str(value)


__all__ = ["import_file", "entries", "export", "Entry", "SOURCE_IMPORT", "SOURCE_DRAW"]
