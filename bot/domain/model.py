"""Plain value types shared by the pure rules.

Standard library only. Every type here is immutable and JSON-friendly through
``to_json``/``from_json`` helpers, so a draw's inputs can be stored as a snapshot
and fed back later to recompute it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from fractions import Fraction
from typing import Any


class Category(str, Enum):
    KEY = "重点监管"
    GENERAL = "一般监管"
    SPECIAL = "特殊监管"

    @classmethod
    def parse(cls, text: str) -> Category | None:
        """Accept the full name or its short form (重点 / 一般 / 特殊)."""
        text = (text or "").strip()
        for c in cls:
            if text == c.value or text == c.value[:2]:
                return c
        return None


class Status(str, Enum):  # 生产状态
    RUNNING = "在产"
    STOPPED = "停产"
    CLOSED = "关闭"


class PersonKind(str, Enum):  # 人员类型
    OFFICER = "执法人员"
    AUXILIARY = "辅助人员"


class Duty(str, Enum):  # 状态
    ON = "在岗"
    OFF = "离岗"


class Role(str, Enum):  # 角色
    INSPECTOR = "检查员"
    ADMIN = "管理员"


@dataclass(frozen=True, slots=True)
class Enterprise:
    """What the draw needs to know of one object (检查对象)."""

    uscc: str
    name: str
    category: Category
    pollutants: tuple[str, ...] = ()
    status: Status = Status.RUNNING
    region: str = ""  # 行政区划
    industry: str = ""  # 行业类别
    credit: str = ""  # 环境信用评级 (free text tag)
    grade: str = ""  # 绩效分级 (A/B/C/D…)
    positive: bool = False  # 正面清单 是/否
    risk: str = ""  # 信用风险分类 as the library gives it (A/B/C/D); "" = derive
    # other library columns a campaign filters on, as text: (("basin", "海河流域"), …)
    attrs: tuple[tuple[str, str], ...] = ()

    def attr(self, key: str) -> str:
        for k, v in self.attrs:
            if k == key:
                return v
        return ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "uscc": self.uscc,
            "name": self.name,
            "category": self.category.value,
            "pollutants": list(self.pollutants),
            "status": self.status.value,
            "region": self.region,
            "industry": self.industry,
        }
        # only when set: snapshots of large pools stay lean, and a snapshot taken before
        # these fields existed reads back (and digests) exactly as it was
        if self.credit:
            d["credit"] = self.credit
        if self.grade:
            d["grade"] = self.grade
        if self.positive:
            d["positive"] = True
        if self.risk:
            d["risk"] = self.risk
        if self.attrs:
            d["attrs"] = dict(self.attrs)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Enterprise:
        return cls(
            d["uscc"],
            d["name"],
            Category(d["category"]),
            tuple(d.get("pollutants", ())),
            Status(d.get("status", Status.RUNNING.value)),
            d.get("region", ""),
            d.get("industry", ""),
            d.get("credit", ""),
            d.get("grade", ""),
            bool(d.get("positive", False)),
            d.get("risk", ""),
            tuple(sorted((d.get("attrs") or {}).items())),
        )


@dataclass(frozen=True, slots=True)
class Inspector:
    """What the draw needs to know of one person (检查人员)."""

    cert: str  # 执法证号 (auxiliary staff: their work id)
    name: str
    department: str = ""  # 部门; empty means the bureau's own
    kind: PersonKind = PersonKind.OFFICER
    duty: Duty = Duty.ON
    expertise: tuple[str, ...] = ()
    region: str = ""  # 所在区域

    def to_json(self) -> dict[str, Any]:
        return {
            "cert": self.cert,
            "name": self.name,
            "department": self.department,
            "kind": self.kind.value,
            "duty": self.duty.value,
            "expertise": list(self.expertise),
            "region": self.region,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Inspector:
        return cls(
            d["cert"],
            d["name"],
            d.get("department", ""),
            PersonKind(d.get("kind", PersonKind.OFFICER.value)),
            Duty(d.get("duty", Duty.ON.value)),
            tuple(d.get("expertise", ())),
            d.get("region", ""),
        )


@dataclass(frozen=True, slots=True)
class History:
    """An object's history as it stood before this draw: valid draws and imported
    inspections (``ssj import history``), never void draws.

    ``last_period`` is the (year, quarter) of the task that drew it last (imported: its
    年度 and 季度); draws of ``Rules.method`` 3 order by it. Draws of method 2 (before
    risk classes) ordered by ``last_drawn``, the wall-clock day of the last draw; given
    only a ``last_drawn``, method 3 takes the quarter that day falls in.
    ``problems``: (year, conclusion number) of the object's approved results and
    imported inspections that found a problem (2 责令整改 … 5 涉嫌犯罪), for the risk
    class. ``imported`` (how many of ``draws_this_year`` were imported) and
    ``last_imported`` only say where the history came from.
    """

    draws_this_year: int = 0
    last_drawn: date | None = None
    last_team: tuple[str, ...] = ()
    since: date | None = None  # when it entered the library (for the 3-year rule)
    last_period: tuple[int, int] | None = None
    problems: tuple[tuple[int, int], ...] = ()
    imported: int = 0
    last_imported: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "draws_this_year": self.draws_this_year,
            "last_drawn": self.last_drawn.isoformat() if self.last_drawn else None,
            "last_team": list(self.last_team),
            "since": self.since.isoformat() if self.since else None,
        }
        # only when set: a snapshot taken before these fields existed reads back exactly
        if self.last_period:
            d["last_period"] = list(self.last_period)
        if self.problems:
            d["problems"] = [list(p) for p in self.problems]
        if self.imported:
            d["imported"] = self.imported
        if self.last_imported:
            d["last_imported"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> History:
        period = d.get("last_period")
        return cls(
            d.get("draws_this_year", 0),
            date.fromisoformat(d["last_drawn"]) if d.get("last_drawn") else None,
            tuple(d.get("last_team", ())),
            date.fromisoformat(d["since"]) if d.get("since") else None,
            (int(period[0]), int(period[1])) if period else None,
            tuple((int(y), int(c)) for y, c in d.get("problems", ())),
            int(d.get("imported", 0) or 0),
            bool(d.get("last_imported", False)),
        )


def _frac(x: Fraction | str | int) -> Fraction:
    return x if isinstance(x, Fraction) else Fraction(x)


RISK_CLASSES = ("A", "B", "C", "D")  # 信用风险分类, A lowest risk
STRATA_ORDER = ("D", "C", "B", "A")  # the order strata are filled in
DEFAULT_RISK_FACTORS = (
    ("A", Fraction(1, 2)),
    ("B", Fraction(1)),
    ("C", Fraction(3, 2)),
    ("D", Fraction(2)),
)
DEFAULT_LOW_CREDIT = ("警示", "不良")  # compared as risk.credit_word
METHOD = 3  # the draw rules new draws follow (see Rules.method)


@dataclass(frozen=True, slots=True)
class Rules:
    """Configurable rules of 第十四条 and the team rules. Defaults are the bureau's."""

    ratio_key: Fraction = Fraction(25, 100)
    ratio_general: Fraction = Fraction(10, 100)
    ratio_special: Fraction = Fraction(50, 100)
    key_per_year: int = 1
    special_per_year: int = 2
    general_years: int = 3
    min_team: int = 2
    own_department: str = "生态环境"
    workload_extra: int = 1
    # pollutant type -> expertise one team member must have
    expert_rules: tuple[tuple[str, str], ...] = (("辐射", "辐射"),)
    # 3: risk strata and last draw by period (信用风险分级分类); 2: the rules before them
    # (a snapshot without "method" is replayed with those)
    method: int = METHOD
    risk_factors: tuple[tuple[str, Fraction], ...] = DEFAULT_RISK_FACTORS
    low_credit: tuple[str, ...] = DEFAULT_LOW_CREDIT  # 环境信用评级 wordings of class D

    def ratio(self, category: Category) -> Fraction:
        return {
            Category.KEY: self.ratio_key,
            Category.GENERAL: self.ratio_general,
            Category.SPECIAL: self.ratio_special,
        }[category]

    def factor(self, risk_class: str) -> Fraction:
        return dict(self.risk_factors).get(risk_class, Fraction(1))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ratio_key": str(self.ratio_key),
            "ratio_general": str(self.ratio_general),
            "ratio_special": str(self.ratio_special),
            "key_per_year": self.key_per_year,
            "special_per_year": self.special_per_year,
            "general_years": self.general_years,
            "min_team": self.min_team,
            "own_department": self.own_department,
            "workload_extra": self.workload_extra,
            "expert_rules": [list(r) for r in self.expert_rules],
        }
        if self.method >= 3:
            d["method"] = self.method
            d["risk_factors"] = {k: str(v) for k, v in self.risk_factors}
            d["low_credit"] = list(self.low_credit)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Rules:
        factors = d.get("risk_factors")
        return cls(
            _frac(d["ratio_key"]),
            _frac(d["ratio_general"]),
            _frac(d["ratio_special"]),
            d["key_per_year"],
            d["special_per_year"],
            d["general_years"],
            d["min_team"],
            d["own_department"],
            d["workload_extra"],
            tuple(tuple(r) for r in d["expert_rules"]),
            int(d.get("method", 2)),
            tuple((k, _frac(factors[k])) for k in RISK_CLASSES if k in factors)
            if factors
            else DEFAULT_RISK_FACTORS,
            tuple(d.get("low_credit", DEFAULT_LOW_CREDIT)),
        )


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """Which task a draw is for, as the pure rules need it.

    ``kind`` is ``quarterly`` (quotas and coverage apply), ``special`` (a campaign with
    filters and a fixed count) or ``joint``. ``departments`` lists the departments that
    staff teams; the first is the lead. ``count`` fixes the number of objects for
    special/joint tasks (None: the quarterly quota rules). ``auxiliary`` is the number of
    辅助人员 added to the bureau's own team of each object (special campaigns only).
    """

    task_id: str
    kind: str = "quarterly"
    year: int = 2027
    quarter: int = 1
    on: date = date(2027, 1, 1)  # the day the draw runs
    departments: tuple[str, ...] = ("",)  # "" = the bureau's own people
    categories: tuple[Category, ...] = (Category.KEY, Category.GENERAL, Category.SPECIAL)
    count: int | None = None
    object_filter: tuple[tuple[str, str], ...] = ()  # (field, value) must match
    inspector_expertise: tuple[str, ...] = ()  # campaign filter on 业务专长
    inspector_region: str = ""  # campaign filter on 所在区域
    ratio: Fraction | None = None  # campaigns: ⌈ratio · eligible⌉ objects, exactly
    auxiliary: int = 0  # 辅助人员 per own team (special campaigns)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "task_id": self.task_id,
            "kind": self.kind,
            "year": self.year,
            "quarter": self.quarter,
            "on": self.on.isoformat(),
            "departments": list(self.departments),
            "categories": [c.value for c in self.categories],
            "count": self.count,
            "object_filter": [list(f) for f in self.object_filter],
            "inspector_expertise": list(self.inspector_expertise),
            "inspector_region": self.inspector_region,
            "ratio": str(self.ratio) if self.ratio is not None else None,
        }
        if self.auxiliary:  # only when set: earlier snapshots stay byte-identical
            d["auxiliary"] = self.auxiliary
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TaskSpec:
        return cls(
            d["task_id"],
            d["kind"],
            d["year"],
            d["quarter"],
            date.fromisoformat(d["on"]),
            tuple(d["departments"]),
            tuple(Category(c) for c in d["categories"]),
            d["count"],
            tuple(tuple(f) for f in d["object_filter"]),
            tuple(d["inspector_expertise"]),
            d["inspector_region"],
            Fraction(d["ratio"]) if d.get("ratio") else None,
            int(d.get("auxiliary", 0) or 0),
        )


@dataclass(frozen=True, slots=True)
class Team:
    department: str
    members: tuple[str, ...]  # 执法证号 of the officers, in the order they were chosen
    auxiliary: tuple[str, ...] = ()  # 辅助人员 (their 执法证号/work id), in order chosen

    def to_json(self) -> dict[str, Any]:
        d = {"department": self.department, "members": list(self.members)}
        if self.auxiliary:  # only when set: earlier results stay byte-identical
            d["auxiliary"] = list(self.auxiliary)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Team:
        return cls(d["department"], tuple(d["members"]), tuple(d.get("auxiliary", ())))


# Why an object was drawn (Selection.reason): the step of the quarterly quota that took
# it, or a campaign's fixed count / ratio
REASONS = ("coverage", "stratum", "floor", "count")


@dataclass(frozen=True, slots=True)
class Selection:
    uscc: str
    name: str
    category: Category
    ticket: str
    teams: tuple[Team, ...] = ()
    risk_class: str = ""  # the object's 信用风险分类 when drawn ("" before method 3)
    reason: str = ""  # one of REASONS ("" before method 3)

    @property
    def inspectors(self) -> tuple[str, ...]:
        """The officers (执法人员) of every team."""
        return tuple(m for t in self.teams for m in t.members)

    @property
    def auxiliary(self) -> tuple[str, ...]:
        """The 辅助人员 of every team."""
        return tuple(m for t in self.teams for m in t.auxiliary)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "uscc": self.uscc,
            "name": self.name,
            "category": self.category.value,
            "ticket": self.ticket,
            "inspectors": list(self.inspectors),
            "teams": [t.to_json() for t in self.teams],
        }
        if self.auxiliary:
            d["auxiliary"] = list(self.auxiliary)
        if self.risk_class:  # only when set: results of earlier draws stay byte-identical
            d["risk_class"] = self.risk_class
        if self.reason:
            d["reason"] = self.reason
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Selection:
        teams = tuple(Team.from_json(t) for t in d.get("teams", ()))
        return cls(
            d["uscc"],
            d["name"],
            Category(d["category"]),
            d["ticket"],
            teams,
            d.get("risk_class", ""),
            d.get("reason", ""),
        )


@dataclass(frozen=True, slots=True)
class Stratum:
    """Step 2 of a category's quota for one risk class: N_k pool objects, the target
    s_k = min(N_k, ⌈r·m_k·N_k⌉), how many step 1 (coverage) had taken, how many it added."""

    risk_class: str
    eligible: int
    target: int
    covered: int
    added: int

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.risk_class,
            "eligible": self.eligible,
            "target": self.target,
            "covered": self.covered,
            "added": self.added,
        }


@dataclass(frozen=True, slots=True)
class Quota:
    category: Category
    eligible: int
    by_ratio: int
    by_coverage: int
    quota: int
    strata: tuple[Stratum, ...] = ()  # method 3, in the order D, C, B, A


@dataclass(frozen=True, slots=True)
class DrawResult:
    selections: tuple[Selection, ...]
    quotas: tuple[Quota, ...]
    workload_cap: int
    algorithm: str
    classes: tuple[tuple[str, str], ...] = ()  # (USCC, risk class) of every pool object


class DomainError(Exception):
    """A rule refused the input. ``code`` names a message template; ``params`` fill it.

    The pure core carries no user-visible text: the shell renders the message.
    """

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Conflict:
    cert: str
    uscc: str
    note: str = ""


ConflictSet = frozenset[tuple[str, str]]  # (cert, uscc) pairs

__all__ = [n for n in dir() if not n.startswith("_")] + ["field"]
