"""The pure rules of inspection results (第十三条, 第十五条, 第十八条, 第二十一条).

Standard library only; "today" is always passed in. A rule that refuses its input raises
``DomainError(code, **params)``; the shell renders ``templates/text/results.j2``.

The six conclusions' wording is public data defined by the rules (it is what gets
published), so it lives here as enum values, like the 监管类别 in ``model``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import Enum
from typing import Any

from .model import DomainError
from .risk import grade_a, high_credit


class Conclusion(str, Enum):
    NONE_FOUND = "未发现问题"
    RECTIFY = "发现问题已责令整改"
    CASE = "发现违法行为已立案调查"
    DEPARTMENT = "已移送其他部门处理"
    JUDICIAL = "涉嫌犯罪已移送司法机关"
    NOT_INSPECTED = "未检查：检查对象已关闭或无法联系"

    @property
    def number(self) -> int:
        return list(Conclusion).index(self) + 1

    @classmethod
    def by_number(cls, n: int) -> Conclusion:
        return list(cls)[n - 1]


class Mode(str, Enum):  # 检查方式
    ONSITE = "现场检查"
    OFFSITE = "非现场检查"

    @classmethod
    def parse(cls, text: str) -> Mode | None:
        """Accept the full name, its short form (现场 / 非现场) or the number 1 / 2."""
        t = _norm(text)
        for i, m in enumerate(cls, 1):
            if t in (m.value, m.value[:-2], str(i)):
                return m
        return None


class State(str, Enum):  # 谁检查、谁录入、谁公开
    NOT_ENTERED = "未录入"
    PENDING = "待审核"
    RETURNED = "已退回"
    APPROVED = "已审核"
    PUBLISHED = "已公示"


ACTIONS = ("submit", "approve", "return", "publish")
_TRANSITIONS: dict[tuple[State, str], State] = {
    (State.NOT_ENTERED, "submit"): State.PENDING,
    (State.RETURNED, "submit"): State.PENDING,
    (State.PENDING, "approve"): State.APPROVED,
    (State.PENDING, "return"): State.RETURNED,
    (State.APPROVED, "publish"): State.PUBLISHED,
}

FINDINGS_LIMIT = 2000

# Follow-up fields per conclusion, in the order a guided dialogue asks them.
_REQUIRED: dict[Conclusion, tuple[str, ...]] = {
    Conclusion.RECTIFY: ("rectification", "rectify_by"),
    Conclusion.CASE: ("case_no",),
    Conclusion.DEPARTMENT: ("department",),
}
_OPTIONAL: dict[Conclusion, tuple[str, ...]] = {Conclusion.JUDICIAL: ("transfer_to",)}
_DATE_FIELDS = frozenset({"rectify_by"})

# Short forms besides the prefixes of the wording itself. A text is accepted when it is
# a prefix (two characters or more) of exactly one conclusion's wording or short forms.
# "移送" / "已移送" fit both 移送其他部门 and 移送司法机关 and are therefore refused:
# recording a criminal referral as an administrative one (or back) must not be a guess.
_SHORT: dict[Conclusion, tuple[str, ...]] = {
    Conclusion.NONE_FOUND: ("无问题", "没有问题", "没发现问题"),
    Conclusion.RECTIFY: ("责令整改", "已责令整改", "整改", "限期整改"),
    Conclusion.CASE: ("立案调查", "已立案"),
    Conclusion.DEPARTMENT: ("移送其他部门", "移送部门", "其他部门"),
    Conclusion.JUDICIAL: ("移送司法机关", "已移送司法机关", "司法机关", "犯罪"),
    Conclusion.NOT_INSPECTED: ("已关闭", "关闭", "无法联系"),
}
_CN_DIGITS = "一二三四五六"


def _norm(text: str) -> str:
    """NFKC (full-width digits, letters and colon become ASCII) without any whitespace."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def choices() -> list[str]:
    return [f"{c.number}. {c.value}" for c in Conclusion]


def _by_number(t: str) -> Conclusion | None:
    m = re.fullmatch(r"第?([1-6一二三四五六])(?:项|[.、])?", t)
    if not m:
        return None
    d = m.group(1)
    return Conclusion.by_number(int(d) if d.isdigit() else _CN_DIGITS.index(d) + 1)


def _by_words(t: str) -> set[Conclusion]:
    if len(t) < 2:
        return set()
    return {
        c for c in Conclusion if any(form.startswith(t) for form in (_norm(c.value), *_SHORT[c]))
    }


def parse_conclusion(text: str) -> Conclusion:
    """The number (1..6, １..６, 一..六), the wording, or an unambiguous short form.

    A line copied from the choices ("3. 发现违法行为已立案调查") is accepted when its
    number and its words agree.
    """
    t = _norm(text)
    found = _by_number(t)
    if found:
        return found
    m = re.fullmatch(r"([1-6])[.、]?(\D.*)", t)
    if m and _by_words(m.group(2)) == {Conclusion.by_number(int(m.group(1)))}:
        return Conclusion.by_number(int(m.group(1)))
    hits = _by_words(t)
    if len(hits) == 1:
        return hits.pop()
    shown = sorted(hits, key=lambda c: c.number) if hits else list(Conclusion)
    raise DomainError(
        "bad_conclusion",
        text=(text or "").strip(),
        choices=[f"{c.number}. {c.value}" for c in shown],
    )


def public_wording(conclusion: Conclusion) -> str:
    return conclusion.value


def required_followups(conclusion: Conclusion) -> tuple[str, ...]:
    return _REQUIRED.get(conclusion, ())


def optional_followups(conclusion: Conclusion) -> tuple[str, ...]:
    return _OPTIONAL.get(conclusion, ())


def followup_fields(conclusion: Conclusion) -> tuple[str, ...]:
    """Every follow-up field a result with this conclusion carries, in asking order."""
    return required_followups(conclusion) + optional_followups(conclusion)


def counts_as_inspected(conclusion: Conclusion) -> bool:
    """False for 未检查: the object stays eligible for later draws."""
    return conclusion is not Conclusion.NOT_INSPECTED


# Joint inspections: each department's team records its own result of the same visit
# object; the public record shows one conclusion per object, the most serious one found.
SEVERITY = (
    Conclusion.JUDICIAL,
    Conclusion.CASE,
    Conclusion.DEPARTMENT,
    Conclusion.RECTIFY,
    Conclusion.NONE_FOUND,
    Conclusion.NOT_INSPECTED,
)
_PROGRESS = (State.NOT_ENTERED, State.RETURNED, State.PENDING, State.APPROVED, State.PUBLISHED)


def combined_conclusion(conclusions: Iterable[Conclusion]) -> Conclusion:
    """One object's conclusion from its departments' results: the most serious problem
    any of them found; 未发现问题 if one inspected and found none; 未检查 only when no
    department could inspect."""
    found = set(conclusions)
    if not found:
        raise ValueError("no conclusions to combine")
    return next(c for c in SEVERITY if c in found)


def least_advanced(states: Iterable[State]) -> State:
    """An object's state across its departments' results: the one furthest from done
    (an object is approved only when every department's result is)."""
    found = list(states)
    if not found:
        return State.NOT_ENTERED
    return min(found, key=_PROGRESS.index)


def tracks_rectification(conclusion: Conclusion) -> bool:
    """责令整改 is tracked until the rectification is done."""
    return conclusion is Conclusion.RECTIFY


def offsite_allowed(
    credit_rating: str, performance_grade: str, positive_list: bool, risk_class: str = ""
) -> bool:
    """非现场检查 for high credit (环保诚信), 绩效分级 A, the positive list (第十五条), or an
    object drawn as 信用风险分类 A, whose card suggests it (domain.md, "Risk-based draws")."""
    return (
        risk_class == "A"
        or bool(positive_list)
        or high_credit(credit_rating)
        or grade_a(performance_grade)
    )


@dataclass(frozen=True, slots=True)
class Draft:
    """A result being entered. ``followup`` holds the fields of ``followup_fields``."""

    conclusion: Conclusion
    inspected_on: date
    mode: Mode = Mode.ONSITE
    findings: str = ""
    followup: dict[str, str | date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "followup", dict(self.followup))  # no aliasing


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate(draft: Draft, *, drawn_on: date, today: date, offsite_ok: bool) -> None:
    """Raise the first rule the draft breaks, in the order a dialogue would fix them."""
    d = draft.inspected_on
    if d > today:
        raise DomainError("date_in_future", inspected_on=d.isoformat(), today=today.isoformat())
    if d < drawn_on:
        raise DomainError(
            "date_before_draw", inspected_on=d.isoformat(), drawn_on=drawn_on.isoformat()
        )
    if draft.mode is Mode.OFFSITE and not offsite_ok:
        raise DomainError("offsite_not_allowed")
    for name in required_followups(draft.conclusion):
        value = draft.followup.get(name)
        if _blank(value):
            raise DomainError("missing_followup", field=name, conclusion=draft.conclusion.value)
        if name in _DATE_FIELDS and not isinstance(value, date):
            raise DomainError("bad_date", text=str(value))
    by = draft.followup.get("rectify_by")
    if draft.conclusion is Conclusion.RECTIFY and isinstance(by, date) and by <= d:
        raise DomainError(
            "rectify_by_not_after", rectify_by=by.isoformat(), inspected_on=d.isoformat()
        )
    findings = (draft.findings or "").strip()
    if not findings and draft.conclusion in (
        Conclusion.RECTIFY,
        Conclusion.CASE,
        Conclusion.DEPARTMENT,
        Conclusion.JUDICIAL,
    ):
        raise DomainError("findings_required", conclusion=draft.conclusion.value)
    if len(findings) > FINDINGS_LIMIT:
        raise DomainError("findings_too_long", length=len(findings), limit=FINDINGS_LIMIT)


def summary(draft: Draft) -> dict[str, Any]:
    """JSON-friendly record for storage and publication (ISO dates).

    Only the follow-up fields of the draft's conclusion are kept, so switching the
    conclusion half-way through a dialogue leaves nothing stale behind.
    """
    followup = {}
    for name in followup_fields(draft.conclusion):
        value = draft.followup.get(name)
        if _blank(value):
            continue
        followup[name] = value.isoformat() if isinstance(value, date) else str(value).strip()
    return {
        "conclusion": draft.conclusion.value,
        "conclusion_no": draft.conclusion.number,
        "counts_as_inspected": counts_as_inspected(draft.conclusion),
        "inspected_on": draft.inspected_on.isoformat(),
        "mode": draft.mode.value,
        "findings": (draft.findings or "").strip(),
        "followup": followup,
    }


def draft_from_summary(d: dict[str, Any]) -> Draft:
    """Inverse of ``summary``."""
    followup: dict[str, str | date] = {
        k: date.fromisoformat(v) if k in _DATE_FIELDS else v
        for k, v in d.get("followup", {}).items()
    }
    return Draft(
        Conclusion(d["conclusion"]),
        date.fromisoformat(d["inspected_on"]),
        Mode(d["mode"]),
        d.get("findings", ""),
        followup,
    )


def transition(state: State, action: str) -> State:
    nxt = _TRANSITIONS.get((state, action))
    if nxt is None:
        raise DomainError(
            "bad_transition", state=getattr(state, "value", str(state)), action=str(action)
        )
    return nxt


def can_enter(state: State) -> bool:
    """A team member may enter (or correct) a result not yet entered or returned."""
    return state in (State.NOT_ENTERED, State.RETURNED)


_RELATIVE = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2}
_DATE_FORMS = (
    re.compile(r"(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})"),
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]?"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
    re.compile(r"(?P<m>\d{1,2})月(?P<d>\d{1,2})[日号]?"),
    re.compile(r"(?P<m>\d{1,2})(?P<s>[-/.])(?P<d>\d{1,2})"),
)


def parse_date(text: str, today: date) -> date:
    """2027-03-15, 2027/3/15, 2027.3.15, 20270315, 2027年3月15日, 3月15日 and 3-15 (this
    year), 今天 / 昨天 / 前天. Full-width digits are accepted."""
    t = _norm(text)
    if t in _RELATIVE:
        return today - timedelta(days=_RELATIVE[t])
    for form in _DATE_FORMS:
        m = form.fullmatch(t)
        if m:
            year = int(m.group("y")) if "y" in form.groupindex else today.year
            try:
                return date(year, int(m.group("m")), int(m.group("d")))
            except ValueError:
                break
    raise DomainError("bad_date", text=(text or "").strip())
