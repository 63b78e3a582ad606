"""A library exported and re-imported comes back unchanged, carriage returns included, and
a cell that looks like a formula stays text."""

from __future__ import annotations

import csv
import json
import zipfile

import openpyxl

from bot.demo import write_library
from bot.sheets.library_io import HEADERS

from .helpers import query, ssj

TRICKY = ["x\r\n=1+1", "=2+2\r\nx", "a\rb\nc", '=HYPERLINK("http://evil")']


def test_line_breaks_survive_export_and_reimport(db_url, capsys, tmp_path):
    assert ssj(capsys, db_url, "init")[0] == 0
    src = openpyxl.load_workbook(write_library(tmp_path / "lib")["enterprises"])
    rows = [
        [("" if v is None else str(v)) for v in r]
        for r in src.worksheets[0].iter_rows(values_only=True)
    ]
    col = HEADERS["enterprises"].index("地址")
    for row, value in zip(rows[1:], TRICKY, strict=False):  # the first rows only
        row[col] = value
    path = tmp_path / "enterprises.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    assert ssj(capsys, db_url, "import", "enterprises", str(path))[0] == 0
    usccs = [r[HEADERS["enterprises"].index("统一社会信用代码")] for r in rows[1:5]]
    stored = dict(query(db_url, "SELECT uscc, address FROM enterprises"))
    assert [stored[u] for u in usccs] == TRICKY

    out = tmp_path / "export.xlsx"
    assert ssj(capsys, db_url, "export", "library", "enterprises", str(out))[0] == 0
    with zipfile.ZipFile(out) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
    assert b"\r" not in sheet and b"&#13;" in sheet and b"<f>" not in sheet
    cells = {
        c.value: c.data_type
        for r in openpyxl.load_workbook(out).worksheets[0].iter_rows()
        for c in r
        if isinstance(c.value, str)
    }
    assert all(cells[v] == "s" for v in TRICKY)  # text, never a formula
    code, stdout, _ = ssj(capsys, db_url, "import", "enterprises", str(out), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["updated"] == 0 and doc["unchanged"] == len(rows) - 1
    assert [
        dict(query(db_url, "SELECT uscc, address FROM enterprises"))[u] for u in usccs
    ] == TRICKY
