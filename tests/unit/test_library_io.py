"""Parsing and checking the library import files; the xlsx writer round-trips."""

from __future__ import annotations

import ast
import csv
import io
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.model import Category, Status
from bot.domain.uscc import ALPHABET, check_char
from bot.sheets.library_io import (
    HEADERS,
    KEYS,
    ParseResult,
    RowError,
    cell_text,
    parse,
    parse_conflicts,
    parse_enterprises,
    parse_inspectors,
)
from bot.sheets.xlsx import library_rows, text_width, write_xlsx

ROOT = Path(__file__).resolve().parents[2]


def make_uscc(body: str) -> str:
    body = (body + "0" * 17)[:17]
    return body + check_char(body)


U1 = make_uscc("91130200699229617")
U2 = make_uscc("91110000MA01ABCD0")
U3 = make_uscc("12130000000012345")
U4 = make_uscc("Y1130200MA0CXW1L2")

ENT_HEAD = ["企业名称", "统一社会信用代码", "监管类别", "污染类型", "经度", "纬度", "正面清单"]


def xlsx(tmp_path: Path, rows: list[list], name: str = "f.xlsx") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


def csv_file(
    tmp_path: Path, rows: list[list], name: str = "f.csv", encoding: str = "utf-8-sig"
) -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    path = tmp_path / name
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def ent(**kw) -> dict:
    """A full enterprise record as parse returns it, defaults filled."""
    rec = {
        "name": "",
        "uscc": "",
        "category": "",
        "industry": "",
        "pollutants": [],
        "permit_no": "",
        "permit_class": "",
        "region": "",
        "authority": "",
        "basin": "",
        "lng": None,
        "lat": None,
        "status": "在产",
        "started_on": "",
        "products": "",
        "credit_rating": "",
        "positive_list": False,
        "performance_grade": "",
        "risk_class": "",
        "address": "",
        "contact": "",
        "phone": "",
    }
    assert set(kw) <= set(rec)
    rec.update(kw)
    return rec


def errs(result: ParseResult) -> list[tuple]:
    return [(e.row, e.column, e.reason) for e in result.errors]


def where(result: ParseResult) -> list[tuple]:
    return [(e.row, e.column) for e in result.errors]


GOOD = [
    ENT_HEAD,
    ["甲化工有限公司", U1, "重点监管", "废水、废气,废水", 118.18, 39.63, "是"],
    ["乙纸业有限公司", U2.lower(), "一般", "", None, None, ""],
]
GOOD_ROWS = [
    ent(
        name="甲化工有限公司",
        uscc=U1,
        category="重点监管",
        pollutants=["废水", "废气"],
        lng=118.18,
        lat=39.63,
        positive_list=True,
    ),
    ent(name="乙纸业有限公司", uscc=U2, category="一般监管"),
]


# ---- files ----------------------------------------------------------------------


def test_good_enterprise_file_xlsx_and_csv_agree(tmp_path):
    a = parse_enterprises(xlsx(tmp_path, GOOD))
    b = parse_enterprises(csv_file(tmp_path, GOOD))
    assert a.errors == [] and a.warnings == []
    assert a.rows == GOOD_ROWS
    assert b == a
    assert a.row_numbers == [2, 3] and a.ok and a.kind == "enterprises"
    assert parse("enterprises", tmp_path / "f.xlsx") == a


def test_csv_without_bom_and_gbk_csv(tmp_path):
    plain = parse_enterprises(csv_file(tmp_path, GOOD, "u.csv", encoding="utf-8"))
    gbk = parse_enterprises(csv_file(tmp_path, GOOD, "g.csv", encoding="gbk"))
    assert plain.rows == GOOD_ROWS and gbk.rows == GOOD_ROWS
    assert gbk.errors == []


def test_utf16_tab_separated(tmp_path):
    text = "\n".join("\t".join("" if v is None else str(v) for v in row) for row in GOOD)
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-16"))
    assert parse_enterprises(path).rows == GOOD_ROWS


def test_corrupt_xlsx(tmp_path):
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(bytes(range(256)) * 8)
    z = tmp_path / "zip.xlsx"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("hello.txt", "not a workbook")
    for path in (junk, z):
        r = parse_enterprises(path)
        assert r.rows == []
        assert len(r.errors) == 1 and r.errors[0].row is None and r.errors[0].column == ""
        assert "无法作为 Excel" in r.errors[0].reason


@pytest.mark.parametrize("name", ["e.xlsx", "e.csv"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    assert errs(parse_enterprises(path)) == [(None, "", "文件是空的，没有任何内容。")]


def test_blank_sheet_and_blank_csv(tmp_path):
    path = xlsx(tmp_path, [])
    assert errs(parse_enterprises(path)) == [(None, "", "文件是空的，没有任何内容。")]
    blank = tmp_path / "b.csv"
    blank.write_text("\ufeff\n , ,\n\n", encoding="utf-8")
    assert errs(parse_enterprises(blank)) == [(None, "", "文件是空的，没有任何内容。")]


def test_missing_file_and_unsupported_type(tmp_path):
    r = parse_enterprises(tmp_path / "nope.xlsx")
    assert errs(r) == [(None, "", "找不到文件“nope.xlsx”。")]
    doc = tmp_path / "a.xls"
    doc.write_bytes(b"x")
    r = parse_inspectors(doc)
    assert r.errors[0].row is None and "不支持的文件类型“.xls”" in r.errors[0].reason
    assert "另存为 .xlsx" in r.errors[0].reason
    r = parse_conflicts(tmp_path)  # a directory, no suffix
    assert r.errors[0].row is None and "不支持的文件类型" in r.errors[0].reason


def test_header_only(tmp_path):
    r = parse_enterprises(xlsx(tmp_path, [ENT_HEAD, [None] * 7]))
    assert len(r.errors) == 1 and r.errors[0].row is None
    assert r.errors[0].reason.startswith("没有数据行")


def test_missing_header_row(tmp_path):
    r = parse_enterprises(xlsx(tmp_path, GOOD[1:]))
    assert errs(r) == [
        (
            1,
            "",
            "第 1 行应为表头，但其中没有任何可识别的列名；第一行请填写列名，"
            "必填列为：企业名称、统一社会信用代码、监管类别。",
        )
    ]


def test_missing_required_column(tmp_path):
    r = parse_enterprises(xlsx(tmp_path, [["企业名称", "统一社会信用代码"], ["甲", U1]]))
    assert errs(r) == [(None, "监管类别", "缺少必需的列“监管类别”。")]


def test_misspelt_header_suggests(tmp_path):
    rows = [["企业名称", "统一社会信用代玛", "监管类别", "备注"], ["甲", U1, "重点"]]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert errs(r) == [
        (None, "统一社会信用代码", "缺少必需的列“统一社会信用代码”。"),
        (1, "统一社会信用代玛", "未知的列“统一社会信用代玛”，是否应为“统一社会信用代码”？"),
        (1, "备注", "未知的列“备注”。"),
    ]


def test_header_marks_spaces_and_later_header_row(tmp_path):
    rows = [
        [],
        [None, None],
        ["　企业名称 *", "统一社会\n信用代码＊", " 监管类别* "],
        ["甲", U1, "特殊"],
    ]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert r.errors == [] and r.row_numbers == [4]
    assert r.rows == [ent(name="甲", uscc=U1, category="特殊监管")]


def test_duplicate_column(tmp_path):
    rows = [["企业名称", "统一社会信用代码", "监管类别", "企业名称"], ["甲", U1, "重点", "乙"]]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert errs(r) == [(1, "企业名称", "列“企业名称”重复出现（第 A 列和第 D 列），请只保留一列。")]


def test_unnamed_column_with_data_is_a_warning(tmp_path):
    rows = [["企业名称", "统一社会信用代码", "监管类别"], ["甲", U1, "重点", "多余"]]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert r.errors == [] and len(r.rows) == 1
    assert [(w.row, w.column, w.reason) for w in r.warnings] == [
        (None, "", "第 D 列没有列名，其中填写的内容已被忽略。")
    ]


# ---- enterprise cells ---------------------------------------------------------------


def one_enterprise(tmp_path, head: list[str], row: list) -> ParseResult:
    return parse_enterprises(
        xlsx(
            tmp_path,
            [["企业名称", "统一社会信用代码", "监管类别"] + head, ["甲", U1, "重点"] + row],
        )
    )


def test_duplicate_uscc(tmp_path):
    rows = [
        ENT_HEAD[:3],
        ["甲", U1, "重点"],
        ["乙", U2, "一般"],
        ["丙", U1, "特殊"],
        ["丁", U1.lower(), "特殊"],
    ]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert errs(r) == [
        (4, "统一社会信用代码", f"统一社会信用代码“{U1}”与第 2 行重复。"),
        (5, "统一社会信用代码", f"统一社会信用代码“{U1}”与第 2 行重复。"),
    ]
    assert [x["name"] for x in r.rows] == ["甲", "乙"]


def test_uscc_check_length_charset(tmp_path):
    wrong = U1[:17] + ("0" if U1[17] != "0" else "1")
    rows = [
        ENT_HEAD[:3],
        ["甲", wrong, "重点"],
        ["乙", U2[:-1], "重点"],
        ["丙", "91130200699229617I", "重点"],
        ["丁", "9113020O6992296Z7S", "重点"],
    ]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert errs(r) == [
        (2, "统一社会信用代码", f"统一社会信用代码校验位错误，应为“{U1[17]}”，请核对是否填错。"),
        (3, "统一社会信用代码", "统一社会信用代码应为 18 位，实际为 17 位。"),
        (
            4,
            "统一社会信用代码",
            "统一社会信用代码含有无效字符“I”（只能是数字和除 I、O、Z、S、V 以外的大写英文字母）。",
        ),
        (
            5,
            "统一社会信用代码",
            "统一社会信用代码含有无效字符“OZS”（只能是数字和除 I、O、Z、S、V "
            "以外的大写英文字母）。",
        ),
    ]
    assert r.rows == []


def test_full_width_uscc_is_normalised(tmp_path):
    full = "".join(chr(ord(c) + 0xFEE0) for c in U2)
    r = parse_enterprises(xlsx(tmp_path, [ENT_HEAD[:3], ["甲", full, "一般监管"]]))
    assert r.errors == [] and r.rows[0]["uscc"] == U2


def test_category_unknown_and_short_forms(tmp_path):
    rows = [
        ENT_HEAD[:3],
        ["甲", U1, "重点"],
        ["乙", U2, "一般"],
        ["丙", U3, "特殊"],
        ["丁", U4, "较重"],
        ["戊", make_uscc("91000000000000005"), ""],
    ]
    r = parse_enterprises(xlsx(tmp_path, rows))
    assert [x["category"] for x in r.rows] == ["重点监管", "一般监管", "特殊监管"]
    assert errs(r) == [
        (5, "监管类别", "监管类别“较重”无效，应为 重点监管、一般监管、特殊监管 之一。"),
        (6, "监管类别", "“监管类别”必须填写。"),
    ]


def test_coordinates(tmp_path):
    head = ["经度", "纬度"]
    assert one_enterprise(tmp_path, head, [120, 30]).rows[0]["lng"] == 120.0
    r = one_enterprise(tmp_path, head, [140.5, 30])
    assert errs(r) == [(2, "经度", "经度 140.5 超出中国境内范围（73～136）。")]
    r = one_enterprise(tmp_path, head, [39.9, 116.4])
    assert errs(r) == [
        (2, "经度", "经度 39.9 超出中国境内范围（73～136），是否把经度和纬度填反了？"),
        (2, "纬度", "纬度 116.4 超出中国境内范围（3～54），是否把经度和纬度填反了？"),
    ]
    r = one_enterprise(tmp_path, head, [116.4, None])
    assert errs(r) == [(2, "纬度", "填写了经度就必须同时填写纬度。")]
    r = one_enterprise(tmp_path, head, [None, 39])
    assert errs(r) == [(2, "经度", "填写了纬度就必须同时填写经度。")]
    r = one_enterprise(tmp_path, head, ["东经116", "nan"])
    assert errs(r) == [
        (2, "经度", "经度“东经116”不是有效的数字。"),
        (2, "纬度", "纬度“nan”不是有效的数字。"),
    ]


def test_permit_mismatch_is_a_warning_and_bad_format_an_error(tmp_path):
    head = ["排污许可证编号"]
    r = one_enterprise(tmp_path, head, [U1 + "001p"])
    assert r.errors == [] and r.warnings == [] and r.rows[0]["permit_no"] == U1 + "001P"
    r = one_enterprise(tmp_path, head, [U2 + "001P"])
    assert r.errors == [] and len(r.rows) == 1
    assert [(w.row, w.column, w.reason) for w in r.warnings] == [
        (
            2,
            "排污许可证编号",
            f"排污许可证编号前 18 位“{U2}”与统一社会信用代码“{U1}”不一致，请核对。",
        )
    ]
    for bad in (U1 + "01P", U1 + "0011", U1 + "ABCP"):
        r = one_enterprise(tmp_path, head, [bad])
        assert where(r) == [(2, "排污许可证编号")] and r.rows == []
        assert r.errors[0].reason.startswith("排污许可证编号格式不对")


def test_status_permit_class_positive_list_and_dates(tmp_path):
    head = ["生产状态", "排污许可管理类别", "正面清单", "投产时间", "污染类型"]
    r = one_enterprise(
        tmp_path,
        head,
        ["停产", "简化管理", "y", datetime(2015, 3, 1, 0, 0), "废水 废气；噪声/废水，固体废物"],
    )
    assert r.errors == []
    assert {
        k: r.rows[0][k]
        for k in ("status", "permit_class", "positive_list", "started_on", "pollutants")
    } == {
        "status": "停产",
        "permit_class": "简化管理",
        "positive_list": True,
        "started_on": "2015-03-01",
        "pollutants": ["废水", "废气", "噪声", "固体废物"],
    }
    for word, value in (("否", False), ("N", False), (0, False), (1, True), ("", False)):
        assert one_enterprise(tmp_path, head[2:3], [word]).rows[0]["positive_list"] is value
    r = one_enterprise(tmp_path, head[:3], ["歇业", "一般管理", "可能"])
    assert errs(r) == [
        (
            2,
            "排污许可管理类别",
            "排污许可管理类别“一般管理”无效，应为 重点管理、简化管理、登记管理 之一。",
        ),
        (2, "生产状态", "生产状态“歇业”无效，应为 在产、停产、关闭 之一。"),
        (2, "正面清单", "正面清单“可能”无效，请填写“是”或“否”。"),
    ]


def test_several_bad_rows_all_reported(tmp_path):
    rows = [
        ["说明：请从第三行开始填写"],
        ENT_HEAD,
        ["甲", U1, "重点", "", 200, 30, "是"],
        [],
        ["", U2, "一般", "", None, None, "否"],
        ["丙", U3, "特殊", "废水", None, None, ""],
        ["丁", "123", "未知", "", None, None, "x"],
    ]
    path = xlsx(tmp_path, rows)
    r = parse_enterprises(path)
    # the note row is taken as the header row: nothing in it is a known column
    assert where(r) == [(1, "")]
    r = parse_enterprises(xlsx(tmp_path, rows[1:], "g.xlsx"))
    assert where(r) == [
        (2, "经度"),
        (4, "企业名称"),
        (6, "统一社会信用代码"),
        (6, "监管类别"),
        (6, "正面清单"),
    ]
    assert r.row_numbers == [5] and r.rows[0]["name"] == "丙"
    assert all(e.reason for e in r.errors)


# ---- inspectors ---------------------------------------------------------------------

INS_HEAD = ["姓名", "执法证号", "单位", "工作年限", "人员类型", "消息账号", "手机号", "业务专长"]


def test_inspectors(tmp_path):
    rows = [
        INS_HEAD,
        ["张三", "13010001", "某市生态环境局", 5.0, "", "zhangsan", 13800000000.0, "辐射、水"],
        ["李四", "", "某市生态环境局", None, "执法人员", "lisi", "", ""],
        ["王五", "", "某市生态环境局", None, "辅助人员", "wangwu", "", ""],
        ["赵六", None, "某市生态环境局", None, "辅助人员", "", "139 0000 0000", ""],
        ["钱七", "", "某市生态环境局", None, "辅助人员", "", "", ""],
        ["孙八", "13010002", "某市生态环境局", -1, "临时工", "", "12345", ""],
    ]
    r = parse_inspectors(xlsx(tmp_path, rows))
    assert errs(r) == [
        (3, "执法证号", "执法人员必须填写执法证号。"),
        (6, "执法证号", "辅助人员未填写执法证号时，必须填写消息账号或手机号。"),
        (7, "工作年限", "工作年限“-1”无效，应为不小于 0 的整数。"),
        (7, "人员类型", "人员类型“临时工”无效，应为 执法人员、辅助人员 之一。"),
        (7, "手机号", "手机号“12345”无效，应为以 1 开头的 11 位数字。"),
    ]
    assert r.row_numbers == [2, 4, 5]
    assert r.rows[0] == {
        "name": "张三",
        "cert": "13010001",
        "unit": "某市生态环境局",
        "department": "",
        "position": "",
        "level": "",
        "region": "",
        "years": 5,
        "expertise": ["辐射", "水"],
        "kind": "执法人员",
        "duty": "在岗",
        "role": "检查员",
        "msg_account": "zhangsan",
        "mobile": "13800000000",
    }
    assert (r.rows[1]["cert"], r.rows[1]["kind"], r.rows[1]["years"]) == (
        "辅助-wangwu",
        "辅助人员",
        None,
    )
    assert r.rows[2]["cert"] == "辅助-13900000000"
    assert list(r.rows[0]) == KEYS["inspectors"]


def test_inspector_cert_column_must_be_present(tmp_path):
    r = parse_inspectors(xlsx(tmp_path, [["姓名", "单位"], ["张三", "局"]]))
    assert errs(r) == [(None, "执法证号", "缺少必需的列“执法证号”。")]


def test_inspector_duplicates(tmp_path):
    rows = [
        INS_HEAD[:3] + ["消息账号", "人员类型", "状态", "角色"],
        ["张三", "A1", "局", "zs", "", "离岗", "管理员"],
        ["李四", "A1", "局", "ls", "", "", ""],
        ["王五", "A2", "局", "zs", "", "", ""],
        ["赵六", "", "局", "aux", "辅助人员", "", ""],
        ["钱七", "", "局", "aux", "辅助人员", "", ""],
    ]
    r = parse_inspectors(xlsx(tmp_path, rows))
    assert errs(r) == [
        (3, "执法证号", "执法证号“A1”与第 2 行重复。"),
        (4, "消息账号", "消息账号“zs”与第 2 行重复。"),
        (6, "消息账号", "消息账号“aux”与第 5 行重复。"),
    ]
    assert (r.rows[0]["duty"], r.rows[0]["role"]) == ("离岗", "管理员")


# ---- conflicts ----------------------------------------------------------------------


def test_conflicts(tmp_path):
    rows = [
        ["执法证号*", "统一社会信用代码*", "关系说明"],
        ["13010001", U1, "配偶任职"],
        ["13010001", U2, ""],
        ["13010001", U1.lower(), "重复"],
        ["", "123", ""],
    ]
    for path in (xlsx(tmp_path, rows), csv_file(tmp_path, rows)):
        r = parse_conflicts(path)
        assert r.rows == [
            {"cert": "13010001", "uscc": U1, "note": "配偶任职"},
            {"cert": "13010001", "uscc": U2, "note": ""},
        ]
        assert errs(r) == [
            (
                4,
                "执法证号",
                f"执法证号“13010001”与统一社会信用代码“{U1}”的利害关系登记与第 2 行重复。",
            ),
            (5, "执法证号", "“执法证号”必须填写。"),
            (5, "统一社会信用代码", "统一社会信用代码应为 18 位，实际为 3 位。"),
        ]


def test_parse_rejects_unknown_kind(tmp_path):
    with pytest.raises(ValueError):
        parse("people", tmp_path / "x.csv")


# ---- helpers and the writer -----------------------------------------------------------


def test_cell_text():
    assert cell_text(5.0) == "5" and cell_text(13800000000.0) == "13800000000"
    assert cell_text(116.25) == "116.25" and cell_text(None) == ""
    assert cell_text(datetime(2020, 1, 2, 13, 5)) == "2020-01-02"
    assert cell_text(date(2020, 1, 2)) == "2020-01-02"
    assert cell_text("\u3000 甲 \t") == "甲" and cell_text(True) == "TRUE"


def test_headers_and_keys_line_up():
    for kind in ("enterprises", "inspectors", "conflicts"):
        assert len(HEADERS[kind]) == len(KEYS[kind]) == len(set(KEYS[kind]))
    assert HEADERS["enterprises"][:3] == ["企业名称", "统一社会信用代码", "监管类别"]
    assert KEYS["conflicts"] == ["cert", "uscc", "note"]


def test_write_xlsx_format(tmp_path):
    path = tmp_path / "out.xlsx"
    write_xlsx(
        path,
        [
            (
                "企业/名录",
                ["企业名称", "污染类型", "正面清单", "数"],
                [
                    ["很长很长的企业名称有限公司", ["废水", "废气"], True, 3],
                    ["乙", [], False, None],
                ],
            ),
            ("第二页", ["a"], []),
        ],
    )
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    assert wb.sheetnames == ["企业_名录", "第二页"]
    assert [c.value for c in ws[1]] == ["企业名称", "污染类型", "正面清单", "数"]
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "A2"
    assert [c.value for c in ws[2]] == ["很长很长的企业名称有限公司", "废水、废气", "是", 3]
    assert [c.value for c in ws[3]] == ["乙", None, "否", None]
    assert ws.column_dimensions["A"].width == text_width("很长很长的企业名称有限公司") + 2 == 28
    assert ws.column_dimensions["D"].width >= 6


def test_library_io_has_no_chinese_literals():
    """Reasons come from templates/text/import.j2, not from Python string literals."""
    for name in ("bot/sheets/library_io.py", "bot/sheets/xlsx.py"):
        tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
        docs = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
        }
        cjk = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, str)
            and id(n) not in docs
            and re.search(r"[\u3400-\u9fff]", n.value)
        ]
        assert cjk == [], name


# ---- round trip -------------------------------------------------------------------------

WORDS = "甲乙丙丁化工纸业钢铁有限公司责任（）()-·ABCxyz0123456789"
text = st.text(alphabet=WORDS, max_size=12)
bodies = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


@st.composite
def enterprises(draw) -> dict:
    uscc = make_uscc(draw(bodies))
    # Excel keeps 15 significant digits (openpyxl writes 16): 6 decimals is ~0.1 m
    degrees = [
        st.integers(low * 10**6, high * 10**6).map(lambda n: n / 10**6)
        for low, high in ((73, 136), (3, 54))
    ]
    coords = draw(st.none() | st.tuples(*degrees))
    return ent(
        name=draw(st.text(alphabet=WORDS + "=", min_size=1, max_size=20)),
        uscc=uscc,
        category=draw(st.sampled_from([c.value for c in Category])),
        industry=draw(text),
        pollutants=draw(
            st.lists(
                st.sampled_from(["废水", "废气", "噪声", "辐射", "危险废物"]),
                unique=True,
                max_size=4,
            )
        ),
        permit_no=draw(st.sampled_from(["", uscc + "001P", uscc + "123A"])),
        permit_class=draw(st.sampled_from(["", "重点管理", "简化管理", "登记管理"])),
        region=draw(text),
        basin=draw(text),
        lng=coords[0] if coords else None,
        lat=coords[1] if coords else None,
        status=draw(st.sampled_from([s.value for s in Status])),
        started_on=draw(st.sampled_from(["", "2015-03-01", "2008年"])),
        products=draw(text),
        credit_rating=draw(st.sampled_from(["", "A", "B", "C", "D"])),
        positive_list=draw(st.booleans()),
        performance_grade=draw(text),
        address=draw(text),
        contact=draw(text),
        phone=draw(st.sampled_from(["", "0315-1234567", "13800000000"])),
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(enterprises(), min_size=1, max_size=5, unique_by=lambda r: r["uscc"]))
def test_enterprise_round_trip(tmp_path, records):
    path = tmp_path / "rt.xlsx"
    write_xlsx(
        path, [("检查对象名录库", HEADERS["enterprises"], library_rows("enterprises", records))]
    )
    r = parse_enterprises(path)
    assert r.errors == [] and r.warnings == []
    assert r.rows == records
    assert r.row_numbers == list(range(2, len(records) + 2))


def test_inspector_and_conflict_round_trip(tmp_path):
    inspectors = [
        {
            "name": "张三",
            "cert": "13010001",
            "unit": "局",
            "department": "生态环境",
            "position": "科长",
            "level": "二级",
            "region": "路北区",
            "years": 0,
            "expertise": ["辐射", "水"],
            "kind": "执法人员",
            "duty": "在岗",
            "role": "管理员",
            "msg_account": "zs",
            "mobile": "13800000000",
        },
        {
            "name": "王五",
            "cert": "辅助-ww",
            "unit": "局",
            "department": "",
            "position": "",
            "level": "",
            "region": "",
            "years": None,
            "expertise": [],
            "kind": "辅助人员",
            "duty": "离岗",
            "role": "检查员",
            "msg_account": "ww",
            "mobile": "",
        },
    ]
    conflicts = [{"cert": "13010001", "uscc": U1, "note": "亲属"}]
    for kind, records in (("inspectors", inspectors), ("conflicts", conflicts)):
        path = tmp_path / f"{kind}.xlsx"
        write_xlsx(path, [(kind, HEADERS[kind], library_rows(kind, records))])
        r = parse(kind, path)
        assert (r.errors, r.rows) == ([], records)


def test_row_error_is_plain_data():
    assert RowError(None, "", "x") == RowError(None, "", "x")
