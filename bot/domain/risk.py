"""信用风险分级分类 (第十五条): each object's risk class A (lowest risk) … D.

The library column 信用风险分类 (as the 协同监管平台 assigns it) wins when filled;
otherwise the first rule that matches (domain.md, "Risk-based draws"):

- **D**: 环境信用评级 is a low-credit wording (``Rules.low_credit``: 警示, 不良 …; compared
  as ``credit_word``, so 环保警示企业 and 警示企业 read 警示), or a
  result of the previous or current calendar year concluded 立案调查, 移送其他部门 or
  涉嫌犯罪;
- **C**: such a result concluded 责令整改, or 绩效分级 is D;
- **A**: 环境信用评级 is 环保诚信, 绩效分级 is A or 正面清单 is 是 (no such result exists:
  it would have matched D or C first);
- **B**: otherwise.

"The current calendar year" is the year of the task being drawn; results are the
object's approved results and imported inspections (``History.problems``).
Standard library only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

from .model import RISK_CLASSES, Enterprise, History, Rules

# conclusion numbers (bot.domain.results.Conclusion.number)
RECTIFY = 2  # 发现问题已责令整改
SEVERE = frozenset({3, 4, 5})  # 立案调查, 移送其他部门, 涉嫌犯罪
PROBLEMS = frozenset({RECTIFY}) | SEVERE

_HIGH_CREDIT = frozenset({"诚信", "A", "A级"})
_GRADE_A = frozenset({"A", "A级"})
_GRADE_D = frozenset({"D", "D级"})
_NO_HISTORY = History()


@lru_cache(maxsize=4096)  # a library holds few distinct tags: normalise each once
def tag_key(text: str) -> str:
    """How 环境信用评级 and 绩效分级 compare: full-width forms folded (NFKC), blanks
    removed, letters upper-cased, so "a", " A " and "Ａ" all mean A."""
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


@lru_cache(maxsize=4096)
def credit_word(text: str) -> str:
    """环境信用评级 reduced to its grade word: "环保警示企业", "警示企业" and "警示" all
    read 警示 (tag_key, without a leading 环保 and a trailing 企业/单位)."""
    key = tag_key(text)
    if key.startswith("环保") and len(key) > 2:
        key = key[2:]
    for tail in ("企业", "单位"):
        if key.endswith(tail) and len(key) > len(tail):
            key = key[: -len(tail)]
    return key


def parse_class(text: str) -> str | None:
    """A 信用风险分类 cell: "A", "a", "Ａ", "A类", "A级" → "A"; "" → ""; else None."""
    key = tag_key(text)
    if not key:
        return ""
    if len(key) == 2 and key[1] in "类级":
        key = key[0]
    return key if key in RISK_CLASSES else None


def high_credit(credit: str) -> bool:
    """环境信用评级 of the best grade (环保诚信, 环保诚信企业, 诚信 …; also A, A级)."""
    return credit_word(credit) in _HIGH_CREDIT


def grade_a(grade: str) -> bool:
    return tag_key(grade) in _GRADE_A


def low_credit_keys(rules: Rules) -> frozenset[str]:
    return frozenset(credit_word(w) for w in rules.low_credit)


def derive(
    obj: Enterprise, history: History, year: int, rules: Rules, low: frozenset[str] | None = None
) -> str:
    """The object's class for a draw of ``year`` (first rule that matches)."""
    if obj.risk:
        return obj.risk
    found = {c for y, c in history.problems if year - 1 <= y <= year}
    credit = credit_word(obj.credit)
    if credit in (low if low is not None else low_credit_keys(rules)) or found & SEVERE:
        return "D"
    if RECTIFY in found or tag_key(obj.grade) in _GRADE_D:
        return "C"
    if high_credit(obj.credit) or grade_a(obj.grade) or obj.positive:
        return "A"
    return "B"


def classify(
    pool: Iterable[Enterprise], history: Mapping[str, History], year: int, rules: Rules
) -> dict[str, str]:
    """{USCC: class} of every object (the hot path of large draws: most objects carry
    no tag, no column and no problem, and are B at once)."""
    low = low_credit_keys(rules)
    get = history.get
    out: dict[str, str] = {}
    for o in pool:
        h = get(o.uscc, _NO_HISTORY)
        if not (o.risk or o.credit or o.grade or o.positive or h.problems):
            out[o.uscc] = "B"
        else:
            out[o.uscc] = derive(o, h, year, rules, low)
    return out


__all__ = [
    "RECTIFY",
    "SEVERE",
    "PROBLEMS",
    "tag_key",
    "credit_word",
    "parse_class",
    "high_credit",
    "grade_a",
    "derive",
    "classify",
]
