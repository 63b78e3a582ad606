"""Write .xlsx files: import templates, library exports, lists for manual upload.

``write_xlsx(path, [(title, headers, rows), ...])`` writes one worksheet per entry with
a bold, frozen header row and column widths fitted to the text (a CJK character counts
as two). Lists are joined with "、" and booleans written 是/否, the way the import
files expect them, so ``write_xlsx(p, [(t, HEADERS[kind], library_rows(kind, recs))])``
re-imports to the same records.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from datetime import date, datetime
from enum import Enum
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.sheets.library_fields import KEYS, NO, YES

LIST_SEP = "、"
MIN_WIDTH, MAX_WIDTH = 6, 60
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")


def cell_value(value):
    """A Python value as the spreadsheet shows it."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, (list, tuple, set, frozenset)):
        return LIST_SEP.join(str(cell_value(v)) for v in value)
    if value is None or isinstance(value, (int, float, date, datetime)):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def text_width(text: str) -> int:
    """Display width of the longest line: wide (CJK) characters count two."""
    return max(
        (
            sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)
            for line in text.splitlines()
        ),
        default=0,
    )


def _shown(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def sheet_title(title: str, taken: set[str]) -> str:
    base = _BAD_TITLE.sub("_", title).strip("'") or "Sheet"
    base, name, n = base[:31], base[:31], 1
    while name.lower() in taken:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}_{n}"
    taken.add(name.lower())
    return name


def write_xlsx(path, sheets: list[tuple[str, list[str], list[list]]]) -> None:
    """Write ``sheets`` to ``path`` (a file name or a binary file object)."""
    wb = Workbook()
    wb.remove(wb.active)
    taken: set[str] = set()
    bold = Font(bold=True)
    for title, headers, rows in sheets or [("Sheet", [], [])]:
        ws = wb.create_sheet(sheet_title(title, taken))
        widths = [text_width(str(h)) for h in headers]
        ws.append([str(h) for h in headers])
        for cell in ws[1] if headers else ():
            cell.font = bold
        for r, row in enumerate(rows, start=2):
            for c, raw in enumerate(row, start=1):
                value = cell_value(raw)
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                elif isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
                if c > len(widths):
                    widths.extend([0] * (c - len(widths)))
                widths[c - 1] = max(widths[c - 1], text_width(_shown(value)))
        for c, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(c)].width = min(
                MAX_WIDTH, max(MIN_WIDTH, width + 2)
            )
        if headers:
            ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    data = keep_carriage_returns(buf.getvalue())
    if hasattr(path, "write"):
        path.write(data)
    else:
        Path(path).write_bytes(data)


def keep_carriage_returns(xlsx: bytes) -> bytes:
    """The workbook with every carriage return in its XML parts written as ``&#13;``.

    openpyxl writes a cell's "\r" as a raw byte, which every XML parser (openpyxl's own,
    Excel's) reads back as "\n" (XML end-of-line handling): "x\r\n=1+1" would come back
    as "x\n=1+1". A character reference survives. openpyxl writes no raw CR of its own,
    so every one in the parts comes from a value; a cell's type (text, never a formula)
    is untouched."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    if not any(b"\r" in src.read(i) for i in src.infolist() if i.filename.endswith(".xml")):
        return xlsx
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".xml"):
                data = data.replace(b"\r", b"&#13;")
            dst.writestr(info, data)
    return out.getvalue()


def library_rows(kind: str, records: list[dict]) -> list[list]:
    """Library records (dicts with the ``KEYS`` of ``kind``) as rows in ``HEADERS`` order."""
    keys = KEYS[kind]
    return [[cell_value(rec.get(k)) for k in keys] for rec in records]
