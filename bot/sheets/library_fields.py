"""Columns of the three library import files and how each cell is checked.

The header names, and the few fixed values a cell may hold (是/否, the 排污许可管理类别),
are the file format, so they live here as data. Every reason shown to the user is a
macro of ``templates/text/import.j2``.

A converter takes the cleaned, non-empty text of a cell and returns the value to
store, or raises ``Bad`` with the rendered reason. Checks that need several cells of
a row (coordinates, 排污许可证编号 against the USCC, 执法证号 by 人员类型) are the
``*_row`` functions.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.domain.model import Category, DomainError, Duty, PersonKind, Role, Status
from bot.domain.periods import quarter_end, quarter_start
from bot.domain.results import parse_conclusion
from bot.domain.risk import parse_class
from bot.domain.uscc import ALPHABET, check_char, permit_problem, uscc_problem
from bot.text import t

YES, NO = "是", "否"
YES_WORDS = frozenset({YES, "Y", "YES", "1", "TRUE", "T"})
NO_WORDS = frozenset({NO, "N", "NO", "0", "FALSE", "F"})
PERMIT_CLASSES = ("重点管理", "简化管理", "登记管理")
AUX_CERT_PREFIX = "辅助-"  # 执法证号 given to auxiliary staff who have none
LNG_RANGE, LAT_RANGE = (73, 136), (3, 54)
_SPLIT = re.compile(r"[、,，;；/\s]+")
_MOBILE = re.compile(r"1\d{10}")


class Bad(Exception):
    """A cell's value is refused; ``reason`` is the rendered Chinese text."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Field:
    header: str
    key: str
    conv: Callable[[str], Any] | None = None  # None: keep the text as it is
    default: Any = ""  # value of an empty cell (callable: factory)
    required: bool = False  # a value is required in every row
    column_required: bool = False  # the column must be in the header

    def empty(self) -> Any:
        return self.default() if callable(self.default) else self.default


# ---- converters ---------------------------------------------------------------


def code_text(text: str) -> str:
    """Codes (USCC, permit, mobile): full-width to half-width, upper case."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def split_list(text: str) -> list[str]:
    out: list[str] = []
    for part in _SPLIT.split(text):
        if part and part not in out:
            out.append(part)
    return out


def uscc_reason(code: str) -> str | None:
    problem = uscc_problem(code)
    if problem == "length":
        return t("import.uscc_length", length=len(code))
    if problem == "charset":
        chars = "".join(dict.fromkeys(c for c in code if c not in ALPHABET))
        return t("import.uscc_charset", chars=chars)
    if problem == "check":
        return t("import.uscc_check", expected=check_char(code[:17]))
    return None


def conv_uscc(text: str) -> str:
    code = code_text(text)
    reason = uscc_reason(code)
    if reason:
        raise Bad(reason)
    return code


def choice(header: str, values: tuple[str, ...], parse=None) -> Callable[[str], str]:
    """One of ``values``; ``parse`` may first map other spellings onto one of them."""

    def conv(text: str) -> str:
        found = parse(text) if parse else text
        if found not in values:
            raise Bad(t("import.bad_choice", column=header, value=text, allowed=list(values)))
        return found

    return conv


def enum_choice(header: str, enum, parse=None) -> Callable[[str], str]:
    return choice(header, tuple(e.value for e in enum), parse)


def parse_category(text: str) -> str | None:
    """重点监管 or its short form 重点, etc."""
    found = Category.parse(text)
    return found.value if found else None


def conv_bool(header: str) -> Callable[[str], bool]:
    def conv(text: str) -> bool:
        word = text.upper()
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
        raise Bad(t("import.not_bool", column=header, value=text))

    return conv


def conv_float(header: str) -> Callable[[str], float]:
    def conv(text: str) -> float:
        try:
            value = float(unicodedata.normalize("NFKC", text).rstrip("°"))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise Bad(t("import.not_number", column=header, value=text))
        return value

    return conv


def conv_years(text: str) -> int:
    try:
        value = float(unicodedata.normalize("NFKC", text))
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or not value.is_integer() or value < 0:
        raise Bad(t("import.bad_years", value=text))
    return int(value)


def conv_mobile(text: str) -> str:
    digits = re.sub(r"[\s-]", "", code_text(text))
    if not _MOBILE.fullmatch(digits):
        raise Bad(t("import.bad_mobile", value=text))
    return digits


def conv_permit(text: str) -> str:
    return re.sub(r"\s", "", code_text(text))


def conv_risk_class(text: str) -> str:
    """信用风险分类: A/B/C/D (a, Ａ, A类 … accepted)."""
    found = parse_class(text)
    if not found:
        raise Bad(t("import.bad_risk_class", value=text))
    return found


# ---- history (ssj import history) ----

FIRST_YEAR, LAST_YEAR = 2000, 2999
_CN_QUARTERS = {"一": 1, "二": 2, "三": 3, "四": 4}
_QUARTER_RE = re.compile(r"(?:第)?([1-4一二三四])(?:季度|季)?|Q([1-4])")
_DATE_FORMS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)


def conv_year(text: str) -> int:
    raw = unicodedata.normalize("NFKC", text).strip().rstrip("年").strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value.is_integer() and FIRST_YEAR <= value <= LAST_YEAR):
        raise Bad(t("import.bad_year", value=text))
    return int(value)


def conv_quarter(text: str) -> int:
    """1–4, 1.0, 第1季度, 一季度, 第一季度, Q1."""
    raw = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    if raw.endswith(".0"):
        raw = raw[:-2]
    m = _QUARTER_RE.fullmatch(raw)
    if not m:
        raise Bad(t("import.bad_quarter", value=text))
    digit = m.group(1) or m.group(2)
    return _CN_QUARTERS.get(digit) or int(digit)


def conv_date(text: str) -> date:
    """2026-03-15 (what a date cell reads as), 2026/3/15, 2026.3.15, 2026年3月15日,
    20260315."""
    raw = "".join(unicodedata.normalize("NFKC", text).split())
    for form in _DATE_FORMS:
        m = form.fullmatch(raw)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                break
    raise Bad(t("import.bad_date", value=text))


def conv_conclusion(text: str) -> str:
    """One of the six conclusions, as its public wording: the wording itself (or an
    unambiguous short form) or its number 1–6."""
    try:
        return parse_conclusion(text).value
    except DomainError as exc:
        raise Bad(
            t("import.bad_conclusion", value=text, choices=exc.params.get("choices", []))
        ) from None


def conv_task_name(text: str) -> str:
    return " ".join(text.split())


# ---- the three files ------------------------------------------------------------

F = Field
ENTERPRISE_FIELDS = [
    F("企业名称", "name", required=True),
    F("统一社会信用代码", "uscc", conv_uscc, required=True),
    F("监管类别", "category", enum_choice("监管类别", Category, parse_category), required=True),
    F("行业类别", "industry"),
    F("污染类型", "pollutants", split_list, list),
    F("排污许可证编号", "permit_no", conv_permit),
    F("排污许可管理类别", "permit_class", choice("排污许可管理类别", PERMIT_CLASSES)),
    F("行政区划", "region"),
    F("所属机关", "authority"),
    F("所属流域", "basin"),
    F("经度", "lng", conv_float("经度"), None),
    F("纬度", "lat", conv_float("纬度"), None),
    F("生产状态", "status", enum_choice("生产状态", Status), Status.RUNNING.value),
    F("投产时间", "started_on"),
    F("产品及生产规模", "products"),
    F("环境信用评级", "credit_rating"),
    F("正面清单", "positive_list", conv_bool("正面清单"), False),
    F("绩效分级", "performance_grade"),
    F("信用风险分类", "risk_class", conv_risk_class),
    F("地址", "address"),
    F("联系人", "contact"),
    F("联系电话", "phone"),
]
INSPECTOR_FIELDS = [
    F("姓名", "name", required=True),
    F("执法证号", "cert", column_required=True),
    F("单位", "unit", required=True),
    F("部门", "department"),
    F("职务岗位", "position"),
    F("执法等级", "level"),
    F("所在区域", "region"),
    F("工作年限", "years", conv_years, None),
    F("业务专长", "expertise", split_list, list),
    F("人员类型", "kind", enum_choice("人员类型", PersonKind), PersonKind.OFFICER.value),
    F("状态", "duty", enum_choice("状态", Duty), Duty.ON.value),
    F("角色", "role", enum_choice("角色", Role), Role.INSPECTOR.value),
    F("消息账号", "msg_account"),
    F("手机号", "mobile", conv_mobile),
]
CONFLICT_FIELDS = [
    F("执法证号", "cert", required=True),
    F("统一社会信用代码", "uscc", conv_uscc, required=True),
    F("关系说明", "note"),
]
HISTORY_FIELDS = [
    F("年度", "year", conv_year, required=True),
    F("季度", "quarter", conv_quarter, required=True),
    F("统一社会信用代码", "uscc", conv_uscc, required=True),
    F("检查日期", "inspected_on", conv_date, required=True),
    F("检查结论", "conclusion", conv_conclusion, required=True),
    F("任务名称", "task_name", conv_task_name),
    F("检查人员", "inspectors", split_list, list),
]
FIELDS: dict[str, list[Field]] = {
    "enterprises": ENTERPRISE_FIELDS,
    "inspectors": INSPECTOR_FIELDS,
    "conflicts": CONFLICT_FIELDS,
    "history": HISTORY_FIELDS,
}
HEADERS: dict[str, list[str]] = {k: [f.header for f in fs] for k, fs in FIELDS.items()}
KEYS: dict[str, list[str]] = {k: [f.key for f in fs] for k, fs in FIELDS.items()}


# ---- checks across the cells of one row -----------------------------------------
# ``rec`` holds the converted values of the cells that passed; ``bad`` the keys of
# the cells that failed; ``present`` the keys whose column is in the header.
# ``error(header, reason)`` and ``warn(header, reason)`` record a problem.


def enterprise_row(rec: dict, bad: set, present: set, error, warn) -> None:
    permit = rec.get("permit_no")
    if permit:
        problem = permit_problem(permit, rec.get("uscc", ""))
        if problem == "format":
            error("排污许可证编号", t("import.permit_format"))
        elif problem == "mismatch" and rec.get("uscc"):
            warn(
                "排污许可证编号", t("import.permit_mismatch", prefix=permit[:18], uscc=rec["uscc"])
            )
    lng, lat = rec.get("lng"), rec.get("lat")
    if "lng" in bad or "lat" in bad:
        return
    if (lng is None) != (lat is None):
        given, missing = ("经度", "纬度") if lat is None else ("纬度", "经度")
        error(missing, t("import.coord_pair", given=given, missing=missing))
        return
    if lng is None or lat is None:  # both missing (one alone was refused above)
        return
    swapped = _inside(lat, LNG_RANGE) and _inside(lng, LAT_RANGE)
    for header, value, (low, high) in (("经度", lng, LNG_RANGE), ("纬度", lat, LAT_RANGE)):
        if not _inside(value, (low, high)):
            error(
                header,
                t(
                    "import.coord_outside",
                    column=header,
                    value=_num(value),
                    low=low,
                    high=high,
                    swapped=swapped,
                ),
            )


def _inside(value: float, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def inspector_row(rec: dict, bad: set, present: set, error, warn) -> None:
    if rec.get("cert") or "cert" not in present or "kind" in bad:
        return
    if rec.get("kind") == PersonKind.OFFICER.value:
        error("执法证号", t("import.officer_cert"))
        return
    account = rec.get("msg_account") or rec.get("mobile")
    if account:
        rec["cert"] = AUX_CERT_PREFIX + account
    elif "mobile" not in bad:
        error("执法证号", t("import.auxiliary_id"))


def conflict_row(rec: dict, bad: set, present: set, error, warn) -> None:
    """Nothing beyond the cells: the pair's uniqueness is in ``UNIQUE``."""


def history_row(rec: dict, bad: set, present: set, error, warn) -> None:
    """检查日期 must lie in the row's 年度 and 季度 (a future date is refused by the
    importer, which knows today)."""
    if (
        {"year", "quarter", "inspected_on"} & bad
        or not rec.get("inspected_on")
        or not rec.get("year")
        or not rec.get("quarter")
    ):
        return
    first, last = (
        quarter_start(rec["year"], rec["quarter"]),
        quarter_end(rec["year"], rec["quarter"]),
    )
    if not first <= rec["inspected_on"] <= last:
        bad.add("inspected_on")
        error(
            "检查日期",
            t(
                "import.date_outside_quarter",
                value=rec["inspected_on"].isoformat(),
                year=rec["year"],
                quarter=rec["quarter"],
                first=first.isoformat(),
                last=last.isoformat(),
            ),
        )


ROW_CHECKS = {
    "enterprises": enterprise_row,
    "inspectors": inspector_row,
    "conflicts": conflict_row,
    "history": history_row,
}

# (key, header) whose values must be unique in one file; a tuple of keys is a pair.
UNIQUE: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "enterprises": [(("uscc",), "统一社会信用代码")],
    # 消息账号 first: an auxiliary's 执法证号 may be made from it (one error, not two)
    "inspectors": [(("msg_account",), "消息账号"), (("cert",), "执法证号")],
    "conflicts": [(("cert", "uscc"), "执法证号")],
    # one inspection per object and task (任务名称 may be empty: one unnamed task a quarter)
    "history": [(("year", "quarter", "task_name", "uscc"), "统一社会信用代码")],
}
UNIQUE_MAY_BE_EMPTY = frozenset({"task_name"})
