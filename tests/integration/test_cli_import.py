"""Imports are all or nothing, re-imports update and are audited, bad input changes nothing."""

from __future__ import annotations

import json

import openpyxl
import pytest

from bot.demo import write_library
from bot.sheets.library_io import HEADERS

from .helpers import counts, query, ssj


@pytest.fixture
def ready(db_url, capsys):
    assert ssj(capsys, db_url, "init")[0] == 0
    return db_url


def _rewrite(path, edit):
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    edit(ws)
    wb.save(path)


def test_bad_rows_all_reported_nothing_written(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    col = {h: i + 1 for i, h in enumerate(HEADERS["enterprises"])}

    def spoil(ws):
        ws.cell(3, col["统一社会信用代码"]).value = "91410724MA00000000"  # wrong check char
        ws.cell(5, col["监管类别"]).value = "超级监管"  # unknown category
        ws.cell(7, col["经度"]).value = 12.5  # outside China
        ws.cell(9, col["统一社会信用代码"]).value = ws.cell(2, col["统一社会信用代码"]).value

    _rewrite(paths["enterprises"], spoil)
    before = counts(url)
    code, out, err = ssj(capsys, url, "import", "enterprises", str(paths["enterprises"]))
    assert code == 1
    for row in ("第 3 行", "第 5 行", "第 7 行", "第 9 行"):
        assert row in err
    assert "校验位" in err and "监管类别" in err and "经度" in err and "第 2 行" in err
    assert "未写入任何数据" in err
    assert counts(url) == before


@pytest.mark.parametrize(
    "content", [b"", b"PK\x03\x04 not really a zip", "企业名称,统一社会信用代玛\n".encode()]
)
def test_corrupt_empty_or_misspelt_files(ready, capsys, tmp_path, content):
    url = ready
    suffix = ".csv" if content.startswith("企业".encode()) or not content else ".xlsx"
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(content)
    before = counts(url)
    code, out, err = ssj(capsys, url, "import", "enterprises", str(p))
    assert code == 1 and err.strip() and out == ""
    assert counts(url) == before


def test_inspector_without_cert_refused(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    col = {h: i + 1 for i, h in enumerate(HEADERS["inspectors"])}
    _rewrite(paths["inspectors"], lambda ws: setattr(ws.cell(2, col["执法证号"]), "value", None))
    code, _, err = ssj(capsys, url, "import", "inspectors", str(paths["inspectors"]))
    assert code == 1 and "第 2 行" in err and "执法证号" in err
    assert counts(url)["inspectors"] == 0


def test_conflicts_must_reference_known_people_and_objects(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    code, _, err = ssj(capsys, url, "import", "conflicts", str(paths["conflicts"]))
    assert code == 1 and "请先导入" in err
    assert counts(url)["conflicts"] == 0


def test_reimport_updates_by_key_and_is_audited(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    assert ssj(capsys, url, "import", "enterprises", str(paths["enterprises"]))[0] == 0
    col = {h: i + 1 for i, h in enumerate(HEADERS["enterprises"])}
    wb = openpyxl.load_workbook(paths["enterprises"])
    uscc = wb.worksheets[0].cell(2, col["统一社会信用代码"]).value
    _rewrite(paths["enterprises"], lambda ws: setattr(ws.cell(2, col["生产状态"]), "value", "停产"))
    code, out, _ = ssj(capsys, url, "import", "enterprises", str(paths["enterprises"]), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["created"], doc["updated"]) == (0, 1)
    assert query(url, "SELECT status FROM enterprises WHERE uscc = :u", u=uscc)[0][0] == "停产"
    (data,) = query(
        url,
        "SELECT data FROM audit_log WHERE action = 'import.enterprises' ORDER BY id DESC LIMIT 1",
    )[0]
    changes = json.loads(data)["updated"][uscc]
    assert changes["status"][1] == "停产"
    assert ssj(capsys, url, "audit", "verify")[0] == 0


def test_export_library_round_trips(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    assert ssj(capsys, url, "import", "enterprises", str(paths["enterprises"]))[0] == 0
    out = tmp_path / "export.xlsx"
    assert ssj(capsys, url, "export", "library", "enterprises", str(out))[0] == 0
    code, stdout, _ = ssj(capsys, url, "import", "enterprises", str(out), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["updated"] == 0 and doc["unchanged"] == 300


def test_unstaffable_draw_names_object_and_writes_nothing(ready, capsys, tmp_path):
    url = ready
    paths = write_library(tmp_path)
    assert ssj(capsys, url, "import", "enterprises", str(paths["enterprises"]))[0] == 0
    col = {h: i + 1 for i, h in enumerate(HEADERS["inspectors"])}

    def no_radiation_experts(ws):
        for r in range(2, ws.max_row + 1):
            v = ws.cell(r, col["业务专长"]).value or ""
            ws.cell(r, col["业务专长"]).value = "、".join(x for x in v.split("、") if x != "辐射")

    _rewrite(paths["inspectors"], no_radiation_experts)
    assert ssj(capsys, url, "import", "inspectors", str(paths["inspectors"]))[0] == 0
    before = counts(url)
    code, out, err = ssj(capsys, url, "draw", "run", "--task", "2027Q4")
    assert code == 1 and "辐射" in err and "无法为检查对象" in err
    names = [n for (n,) in query(url, "SELECT name FROM enterprises")]
    assert any(n in err for n in names)
    after = counts(url)
    assert after == before
