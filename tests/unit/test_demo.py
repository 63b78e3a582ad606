"""The synthetic 获嘉县 library (bot/demo/__init__.py)."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date

import pytest
from openpyxl import load_workbook

from bot.demo import make_library, write_library
from bot.demo import words as W
from bot.domain.uscc import is_valid_uscc, permit_problem

ENTERPRISE_KEYS = {
    "name",
    "uscc",
    "category",
    "industry",
    "pollutants",
    "permit_no",
    "permit_class",
    "region",
    "authority",
    "basin",
    "lng",
    "lat",
    "status",
    "started_on",
    "products",
    "credit_rating",
    "positive_list",
    "performance_grade",
    "risk_class",
    "address",
    "contact",
    "phone",
}
INSPECTOR_KEYS = {
    "name",
    "cert",
    "unit",
    "department",
    "position",
    "level",
    "region",
    "years",
    "expertise",
    "kind",
    "duty",
    "role",
    "msg_account",
    "mobile",
}
ENTERPRISE_HEADER = [
    "企业名称",
    "统一社会信用代码",
    "监管类别",
    "行业类别",
    "污染类型",
    "排污许可证编号",
    "排污许可管理类别",
    "行政区划",
    "所属机关",
    "所属流域",
    "经度",
    "纬度",
    "生产状态",
    "投产时间",
    "产品及生产规模",
    "环境信用评级",
    "正面清单",
    "绩效分级",
    "信用风险分类",
    "地址",
    "联系人",
    "联系电话",
]
INSPECTOR_HEADER = [
    "姓名",
    "执法证号",
    "单位",
    "部门",
    "职务岗位",
    "执法等级",
    "所在区域",
    "工作年限",
    "业务专长",
    "人员类型",
    "状态",
    "角色",
    "消息账号",
    "手机号",
]
CONFLICT_HEADER = ["执法证号", "统一社会信用代码", "关系说明"]
HISTORY_HEADER = [
    "年度",
    "季度",
    "统一社会信用代码",
    "检查日期",
    "检查结论",
    "任务名称",
    "检查人员",
]
TOWNS = {
    "城关镇",
    "亢村镇",
    "史庄镇",
    "照镜镇",
    "黄堤镇",
    "中和镇",
    "徐营镇",
    "冯庄镇",
    "大新庄乡",
    "太山乡",
    "位庄乡",
}


@pytest.fixture(scope="module")
def lib():
    return make_library()


def own_active(lib):
    return [
        p
        for p in lib["inspectors"]
        if p["department"] == "生态环境" and p["kind"] == "执法人员" and p["duty"] == "在岗"
    ]


def test_deterministic_for_a_seed():
    assert make_library(7) == make_library(7)
    assert make_library() == make_library(410724)
    assert make_library(1) != make_library(2)


@pytest.mark.parametrize("seed", [410724, 1, 2, 99])
def test_counts(seed):
    lib = make_library(seed)
    ents = lib["enterprises"]
    assert 280 <= len(ents) <= 320
    cats = Counter(e["category"] for e in ents)
    assert 50 <= cats["重点监管"] <= 70
    assert 200 <= cats["一般监管"] <= 240
    assert 15 <= cats["特殊监管"] <= 25
    status = Counter(e["status"] for e in ents)
    assert 2 <= status["关闭"] <= 3
    assert 1 <= status["停产"] <= 12
    assert set(status) <= {"在产", "停产", "关闭"}
    kinds = Counter(e["uscc"][:8] for e in ents)
    assert kinds["91410724"] > len(ents) // 2
    assert kinds["92410724"] >= 5
    assert 1 <= kinds["12410724"] <= 6
    people = lib["inspectors"]
    own = [p for p in people if p["unit"] == W.BUREAU]
    assert 14 <= len(own) <= 18
    assert len(own_active(lib)) >= 12
    assert sum(p["duty"] == "离岗" for p in own) == 1
    assert 2 <= sum(p["kind"] == "辅助人员" for p in people) <= 4
    partners = [p for p in people if p["department"] not in ("生态环境", "")]
    assert {p["department"] for p in partners} == {
        "市场监管",
        "应急管理",
        "住建",
        "水利",
        "自然资源",
    }
    assert all(p["kind"] == "执法人员" and p["cert"] for p in partners)
    assert 3 <= len(lib["conflicts"]) <= 6


@pytest.mark.parametrize("seed", [410724, 5])
def test_enterprise_fields(seed):
    ents = make_library(seed)["enterprises"]
    usccs = [e["uscc"] for e in ents]
    assert len(set(usccs)) == len(usccs)
    assert len({e["name"] for e in ents}) == len(ents)
    for e in ents:
        assert set(e) == ENTERPRISE_KEYS
        assert is_valid_uscc(e["uscc"]), e["uscc"]
        assert e["uscc"][2:8] == "410724"
        assert e["category"] in ("重点监管", "一般监管", "特殊监管")
        assert e["permit_class"] in ("重点管理", "简化管理", "登记管理")
        if e["permit_no"]:
            assert len(e["permit_no"]) == 22 and e["permit_no"].startswith(e["uscc"])
            assert permit_problem(e["permit_no"], e["uscc"]) is None
        else:
            assert e["permit_class"] == "登记管理"
        assert 113.55 <= e["lng"] <= 113.78 and 35.18 <= e["lat"] <= 35.35
        assert round(e["lng"], 6) == e["lng"] and round(e["lat"], 6) == e["lat"]
        assert e["region"].startswith("获嘉县") and e["region"][3:] in TOWNS
        assert e["address"].startswith(e["region"])
        assert e["basin"] in ("海河流域", "黄河流域")
        assert re.fullmatch(r"(199[89]|20[12]\d|200\d)-\d\d-\d\d", e["started_on"])
        assert "1998-01-01" <= e["started_on"] <= "2024-12-31"
        assert e["pollutants"] and set(e["pollutants"]) <= set(W.POLLUTANT_ORDER)
        assert e["credit_rating"] in W.CREDIT
        assert e["performance_grade"] in ("A", "B", "C", "D", "")
        assert isinstance(e["positive_list"], bool)
        assert re.fullmatch(r"1[358]\d{9}", e["phone"])
        assert e["contact"] and e["products"] and e["industry"]
    basins = Counter(e["basin"] for e in ents)
    assert basins["海河流域"] > basins["黄河流域"] > 0
    assert 0.04 <= sum(e["positive_list"] for e in ents) / len(ents) <= 0.16
    assert not any(e["positive_list"] for e in ents if e["category"] == "特殊监管")


def test_special_objects_skew_to_poor_credit(lib):
    special = [e["credit_rating"] for e in lib["enterprises"] if e["category"] == "特殊监管"]
    poor = sum(c in ("警示企业", "不良企业") for c in special)
    assert poor > len(special) / 2


def test_radiation_objects_and_experts(lib):
    radiation = [e for e in lib["enterprises"] if "辐射" in e["pollutants"]]
    assert 4 <= len(radiation) <= 6
    assert all(e["status"] != "关闭" for e in radiation)
    assert any(
        e["name"] == "获嘉县人民医院"
        and e["uscc"].startswith("12410724")
        and "危险废物" in e["pollutants"]
        for e in radiation
    )
    experts = [p for p in own_active(lib) if "辐射" in p["expertise"]]
    assert len(experts) >= 3


def test_inspector_fields(lib):
    people = lib["inspectors"]
    certs = [p["cert"] for p in people]
    assert len(set(certs)) == len(certs)
    accounts = [p["msg_account"] for p in people]
    assert len({a.lower() for a in accounts}) == len(accounts)
    assert len({p["mobile"] for p in people}) == len(people)
    for p in people:
        assert set(p) == INSPECTOR_KEYS
        assert re.fullmatch(r"[A-Za-z0-9]+", p["msg_account"])
        assert re.fullmatch(r"1[358]\d{9}", p["mobile"])
        assert isinstance(p["expertise"], list) and p["expertise"]
        assert p["kind"] in ("执法人员", "辅助人员")
        assert p["duty"] in ("在岗", "离岗") and p["role"] in ("检查员", "管理员")
        if p["kind"] == "执法人员":
            assert re.fullmatch(r"410724\d{8}", p["cert"])
        else:
            assert re.fullmatch(r"FZ-\d{4}", p["cert"]) and p["department"] == ""
    own = [p for p in people if p["unit"] == W.BUREAU]
    assert all(p["department"] == "生态环境" and 1 <= p["years"] <= 25 for p in own)
    admins = [p for p in people if p["role"] == "管理员"]
    assert sorted(p["position"] for p in admins) == ["副大队长", "大队长"]
    assert all(p["duty"] == "在岗" and p["unit"] == W.BUREAU for p in admins)
    assert Counter(p["position"] for p in own)["大队长"] == 1


def test_conflicts_reference_existing_records(lib):
    certs = {p["cert"] for p in lib["inspectors"]}
    usccs = {e["uscc"] for e in lib["enterprises"]}
    pairs = set()
    for c in lib["conflicts"]:
        assert set(c) == {"cert", "uscc", "note"} and c["note"]
        assert c["cert"] in certs and c["uscc"] in usccs
        pairs.add((c["cert"], c["uscc"]))
    assert len(pairs) == len(lib["conflicts"])


def test_write_xlsx(tmp_path, lib):
    paths = write_library(tmp_path / "x")
    assert set(paths) == {"enterprises", "inspectors", "conflicts", "history"}
    expected = {
        "enterprises": ENTERPRISE_HEADER,
        "inspectors": INSPECTOR_HEADER,
        "conflicts": CONFLICT_HEADER,
        "history": HISTORY_HEADER,
    }
    for name, path in paths.items():
        assert path.suffix == ".xlsx" and path.exists()
        rows = list(load_workbook(path, read_only=True).active.iter_rows(values_only=True))
        assert list(rows[0]) == expected[name]
        assert len(rows) - 1 == len(lib[name])
    rows = list(
        load_workbook(paths["enterprises"], read_only=True).active.iter_rows(values_only=True)
    )
    first, e = dict(zip(rows[0], rows[1], strict=True)), lib["enterprises"][0]
    assert first["统一社会信用代码"] == e["uscc"]
    assert first["污染类型"] == "、".join(e["pollutants"])
    assert first["正面清单"] == ("是" if e["positive_list"] else "否")
    assert first["联系电话"] == e["phone"] and first["投产时间"] == e["started_on"]
    assert first["经度"] == pytest.approx(e["lng"])


def test_write_csv(tmp_path, lib):
    paths = write_library(tmp_path, seed=410724, fmt="csv")
    expected = {
        "enterprises": ENTERPRISE_HEADER,
        "inspectors": INSPECTOR_HEADER,
        "conflicts": CONFLICT_HEADER,
        "history": HISTORY_HEADER,
    }
    for name, path in paths.items():
        assert path.suffix == ".csv"
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == expected[name]
        assert len(rows) - 1 == len(lib[name])
    with open(paths["inspectors"], encoding="utf-8-sig", newline="") as fh:
        first = next(csv.DictReader(fh))
    p = lib["inspectors"][0]
    assert first["执法证号"] == p["cert"] and first["业务专长"] == "、".join(p["expertise"])
    assert first["工作年限"] == str(p["years"])


def test_some_objects_carry_a_risk_class_and_all_an_authority(lib):
    ents = lib["enterprises"]
    filled = [e["risk_class"] for e in ents if e["risk_class"]]
    assert set(filled) <= {"A", "B", "C", "D"} and set(filled) >= {"A", "B", "C"}
    assert 0.1 * len(ents) <= len(filled) <= 0.3 * len(ents)
    assert all(e["authority"] for e in ents)


def test_three_years_of_history_before_the_current_quarter():
    today = date(2027, 2, 10)
    lib = make_library(today=today)
    rows = lib["history"]
    periods = sorted({(r["year"], r["quarter"]) for r in rows})
    assert periods[0] == (2024, 1) and periods[-1] == (2026, 4) and len(periods) == 12
    live = {e["uscc"]: e for e in lib["enterprises"] if e["status"] != "关闭"}
    officers = {p["cert"] for p in lib["inspectors"] if p["department"] == "生态环境"}
    seen = set()
    for r in rows:
        assert r["uscc"] in live
        first = date(r["year"], 3 * r["quarter"] - 2, 1)
        assert first <= r["inspected_on"] < today
        assert (r["inspected_on"].month - 1) // 3 + 1 == r["quarter"]
        assert r["conclusion"] in W.CONCLUSIONS
        assert (
            r["task_name"] == f"新乡市生态环境局获嘉分局{r['year']}年第{r['quarter']}季度随机抽查"
        )
        assert len(r["inspectors"]) == 2 and set(r["inspectors"]) <= officers
        key = (r["year"], r["quarter"], r["uscc"])
        assert key not in seen
        seen.add(key)
    # key objects about once a year, special ones about twice, general about once in 3 years
    per = Counter(r["uscc"] for r in rows)
    key = [u for u, e in live.items() if e["category"] == "重点监管"]
    special = [u for u, e in live.items() if e["category"] == "特殊监管"]
    general = [u for u, e in live.items() if e["category"] == "一般监管"]
    assert all(per[u] >= 2 for u in key) and all(per[u] >= 5 for u in special)
    assert sum(per[u] >= 1 for u in general) >= 0.9 * len(general)
    assert Counter(r["conclusion"] for r in rows)["发现问题已责令整改"] > 0
    assert make_library(today=today) == lib


def test_write_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError):
        write_library(tmp_path, fmt="ods")
