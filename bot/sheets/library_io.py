"""Read and check the import files of the libraries (一单两库): enterprises (检查对象名录库),
inspectors (检查人员名录库) and declared conflicts (利害关系登记); and the inspections of a
bureau's old system (``history``, ``ssj import history``).

``parse(kind, path)`` reads an .xlsx (first worksheet) or .csv file and returns every
row that passed, plus every problem found, each with the row number the user sees
(header = row 1 when it is the first row) and the column's Chinese name. It never
raises on bad input: an unreadable file is a file-level error (``row`` None). An
import is all or nothing, so callers write ``rows`` only when ``errors`` is empty.

The columns and the checks of each cell are in ``bot.sheets.library_fields``.
"""

from __future__ import annotations

import csv
import difflib
import io
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from openpyxl.utils import get_column_letter

from bot.sheets.library_fields import (
    FIELDS,
    HEADERS,
    KEYS,
    ROW_CHECKS,
    UNIQUE,
    UNIQUE_MAY_BE_EMPTY,
    Bad,
)
from bot.text import t

__all__ = [
    "RowError",
    "ParseResult",
    "HEADERS",
    "KEYS",
    "KINDS",
    "parse",
    "parse_enterprises",
    "parse_inspectors",
    "parse_conflicts",
    "parse_history",
    "cell_text",
]

KINDS = tuple(FIELDS)


@dataclass
class RowError:
    row: int | None  # spreadsheet row number; None: the whole file
    column: str  # Chinese column name, "" when it concerns no column
    reason: str  # Chinese text


@dataclass
class ParseResult:
    kind: str
    rows: list[dict]
    errors: list[RowError]
    warnings: list[RowError]
    row_numbers: list[int] = field(default_factory=list)  # the file row of each of rows

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_enterprises(path) -> ParseResult:
    return parse("enterprises", path)


def parse_inspectors(path) -> ParseResult:
    return parse("inspectors", path)


def parse_conflicts(path) -> ParseResult:
    return parse("conflicts", path)


def parse_history(path) -> ParseResult:
    return parse("history", path)


def parse(kind: str, path) -> ParseResult:
    if kind not in FIELDS:
        raise ValueError(f"unknown library kind {kind!r}; expected one of {KINDS}")
    result = ParseResult(kind, [], [], [])
    try:
        table = read_table(Path(path))
    except Bad as exc:
        result.errors.append(RowError(None, "", exc.reason))
        return result
    _check(kind, table, result)
    return result


# ---- reading ----------------------------------------------------------------------


def clean(text: str) -> str:
    """Strip whitespace, full-width spaces included, and stray BOM / zero-width marks."""
    return text.strip().strip("\ufeff\u200b").strip()


def cell_text(value) -> str:
    """A cell as text: 5.0 -> "5", a date/datetime -> "YYYY-MM-DD", None -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return clean(str(value))


def read_table(path: Path) -> list[tuple[int, list[str]]]:
    """The non-empty rows of the file as (row number, cell texts). Raises ``Bad``."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise Bad(t("import.unsupported_type", suffix=suffix))
    try:
        if not path.exists():
            raise Bad(t("import.file_missing", name=path.name))
        if path.stat().st_size == 0:
            raise Bad(t("import.empty_file"))
        rows = _read_xlsx(path) if suffix == ".xlsx" else _read_csv(path)
    except OSError:
        raise Bad(t("import.file_unreadable", name=path.name)) from None
    return [(n, cells) for n, cells in enumerate(rows, 1) if any(cells)]


def _read_xlsx(path: Path) -> list[list[str]]:
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except OSError:
            raise
        except Exception:
            raise Bad(t("import.not_xlsx")) from None
        try:
            if not wb.worksheets:
                raise Bad(t("import.no_sheet"))
            ws = wb.worksheets[0]
            ws.reset_dimensions()  # some writers store wrong dimensions
            return [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        except (Bad, OSError):
            raise
        except Exception:
            raise Bad(t("import.not_xlsx")) from None
        finally:
            wb.close()


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:  # Excel on Chinese Windows saves "CSV" in GBK, a subset of GB18030
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Bad(t("import.bad_encoding"))


def _read_csv(path: Path) -> list[list[str]]:
    text = _decode(path.read_bytes())
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ","
    if "," not in first:
        delimiter = next((d for d in ("\t", ";", "；") if d in first), ",")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return [[cell_text(c) for c in record] for record in reader]
    except csv.Error:
        raise Bad(t("import.bad_csv")) from None


# ---- checking -----------------------------------------------------------------------


def header_name(text: str) -> str:
    """A header cell as a column name: no whitespace anywhere, no trailing * mark."""
    return "".join(text.split()).rstrip("*＊")


def _check(kind: str, table: list[tuple[int, list[str]]], result: ParseResult) -> None:
    if not table:
        result.errors.append(RowError(None, "", t("import.empty_file")))
        return
    (header_row, header_cells), data = table[0], table[1:]
    columns = _columns(kind, header_row, header_cells, result)
    if columns is None:
        return
    if not data:
        result.errors.append(RowError(None, "", t("import.no_data")))
        return
    named = {i for i, text in enumerate(header_cells) if header_name(text)}
    unnamed: set[int] = set()
    seen: dict[tuple, dict[tuple, int]] = {}
    for row, cells in data:
        unnamed.update(i for i, text in enumerate(cells) if text and i not in named)
        _check_row(kind, row, cells, columns, result, seen)
    for i in sorted(unnamed):
        result.warnings.append(
            RowError(None, "", t("import.unnamed_column", letter=get_column_letter(i + 1)))
        )


def _columns(kind: str, row: int, cells: list[str], result: ParseResult) -> dict | None:
    """Map each known key to its column index; report header problems."""
    fields = FIELDS[kind]
    by_header = {f.header: f for f in fields}
    index: dict[str, int] = {}
    unknown: list[str] = []
    errors: list[RowError] = []
    for i, text in enumerate(cells):
        name = header_name(text)
        if not name:
            continue
        f = by_header.get(name)
        if f is None:
            unknown.append(name)
        elif f.key in index:
            errors.append(
                RowError(
                    row,
                    f.header,
                    t(
                        "import.duplicate_column",
                        column=f.header,
                        letter=get_column_letter(i + 1),
                        first_letter=get_column_letter(index[f.key] + 1),
                    ),
                )
            )
        else:
            index[f.key] = i
    if not index:
        required = [f.header for f in fields if f.required or f.column_required]
        result.errors.append(RowError(row, "", t("import.no_header", row=row, required=required)))
        return None
    absent = [f.header for f in fields if f.key not in index]
    for name in unknown:
        close = difflib.get_close_matches(name, absent, n=1, cutoff=0.6)
        errors.append(
            RowError(
                row,
                name,
                t("import.unknown_column", column=name, suggestion=close[0] if close else ""),
            )
        )
    for f in fields:
        if (f.required or f.column_required) and f.key not in index:
            errors.append(RowError(None, f.header, t("import.missing_column", column=f.header)))
    result.errors.extend(sorted(errors, key=lambda e: e.row is not None))
    return index


def _check_row(
    kind: str, row: int, cells: list[str], columns: dict, result: ParseResult, seen: dict
) -> None:
    before = len(result.errors)

    def error(column: str, reason: str) -> None:
        result.errors.append(RowError(row, column, reason))

    def warn(column: str, reason: str) -> None:
        result.warnings.append(RowError(row, column, reason))

    rec: dict = {}
    bad: set[str] = set()
    for f in FIELDS[kind]:
        i = columns.get(f.key)
        text = cells[i] if i is not None and i < len(cells) else ""
        if not text:
            if f.required and i is not None:
                error(f.header, t("import.required", column=f.header))
                bad.add(f.key)
            else:
                rec[f.key] = f.empty()
            continue
        try:
            rec[f.key] = f.conv(text) if f.conv else text
        except Bad as exc:
            error(f.header, exc.reason)
            bad.add(f.key)
    ROW_CHECKS[kind](rec, bad, set(columns), error, warn)
    _check_unique(kind, row, rec, bad, seen, error)
    if len(result.errors) == before:
        result.rows.append(rec)
        result.row_numbers.append(row)


def _check_unique(kind: str, row: int, rec: dict, bad: set, seen: dict, error) -> None:
    """Values that must not repeat in one file; at most one such error per row."""
    reported = False
    for keys, column in UNIQUE[kind]:
        if any(k in bad or (not rec.get(k) and k not in UNIQUE_MAY_BE_EMPTY) for k in keys):
            continue
        value = tuple(rec[k] for k in keys)
        first = seen.setdefault(keys, {}).setdefault(value, row)
        if first == row or reported:
            continue
        reported = True
        if kind == "history":
            error(
                column,
                t(
                    "import.duplicate_history",
                    year=rec["year"],
                    quarter=rec["quarter"],
                    task=rec.get("task_name", ""),
                    uscc=rec["uscc"],
                    first_row=first,
                ),
            )
        elif len(keys) == 1:
            error(column, t("import.duplicate", column=column, value=value[0], first_row=first))
        else:
            error(column, t("import.duplicate_pair", cert=value[0], uscc=value[1], first_row=first))
