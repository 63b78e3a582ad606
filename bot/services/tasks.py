"""Tasks: a quarterly task id (``2027Q1``) needs no setup; the plan rules create it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from fractions import Fraction
from typing import Any

from bot.config import Settings
from bot.domain.draw import (
    ANY,
    DATE_FIELDS,
    NO,
    NUMBER_FIELDS,
    YES,
    as_date,
    as_number,
    filter_parts,
)
from bot.domain.model import Category, DomainError, Status, TaskSpec
from bot.domain.periods import parse_task_id, plan_number, quarter_end, quarter_start
from bot.domain.risk import parse_class
from bot.domain.status import TaskStatus
from bot.sheets.library_fields import ENTERPRISE_FIELDS
from bot.text import t
from storage import audit
from storage.models import TaskRow
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.uow import Session

_QUARTERLY_RE = re.compile(r"^\d{4}Q[1-4]$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{3,40}$")


def check_year(task_id: str, year: int, today: date) -> None:
    """Tasks are of the previous, the current or the next year (of ``today``, Beijing
    time)."""
    if not today.year - 1 <= year <= today.year + 1:
        raise DomainError(
            "task_year_out_of_range", task=task_id, year=year, today=today.isoformat()
        )


async def ensure_task(
    session: Session, settings: Settings, task_id: str, actor: str, today: date
) -> TaskRow:
    task_id = (task_id or "").strip().upper()
    row = await draws_repo.task(session, task_id)
    if row is not None:
        return row
    if not _QUARTERLY_RE.match(task_id) and _ID_RE.match(task_id):
        # special and joint tasks exist only once ``ssj task create`` made them
        raise DomainError("task_not_created", task=task_id)
    year, quarter = parse_task_id(task_id)
    check_year(task_id, year, today)
    items = [i.seq for i in await library_repo.items(session)]
    row = TaskRow(
        id=task_id,
        bureau=settings.region_code,
        kind="quarterly",
        name=t("task.quarterly_name", org=settings.bureau_name, year=year, quarter=quarter),
        year=year,
        quarter=quarter,
        plan_no=plan_number(year, quarter),
        scope=t("task.scope", region=settings.region),
        items=items,
        departments=[""],
        spec={},
        starts_on=quarter_start(year, quarter),
        deadline=quarter_end(year, quarter),
        status=TaskStatus.OPEN,
    )
    session.add(row)
    await session.flush()
    await audit.append(
        session,
        actor,
        "task.create",
        task_id,
        {
            "name": row.name,
            "kind": row.kind,
            "items": items,
            "deadline": quarter_end(year, quarter).isoformat(),
        },
    )
    return row


async def existing_task(session: Session, task_id: str) -> TaskRow:
    row = await draws_repo.task(session, (task_id or "").strip().upper())
    if row is None:
        parse_task_id(task_id)  # a malformed id gets its own message
        raise DomainError("no_task", task=task_id)
    return row


def spec_for(task: TaskRow, on: date) -> TaskSpec:
    """The pure rules' view of a task on the day it is drawn."""
    extra = task.spec or {}
    start = task.starts_on
    on = max(on, start) if start else on
    filters = tuple(tuple(f) for f in extra.get("object_filter", []))
    return TaskSpec(
        task_id=task.id,
        kind=task.kind,
        year=task.year,
        quarter=task.quarter or 1,
        on=on,
        departments=tuple(task.departments or [""]),
        count=extra.get("count"),
        object_filter=filters,
        inspector_expertise=tuple(extra.get("inspector_expertise", [])),
        inspector_region=extra.get("inspector_region", ""),
        ratio=Fraction(extra["ratio"]) if extra.get("ratio") else None,
        auxiliary=int(extra.get("auxiliary", 0) or 0),
    )


# ---- special campaigns and joint tasks (ssj task create / list) ----

# the library's Chinese column -> the pure filter field of bot.domain.draw.matches: every
# column of the enterprise library (the older filter names kept for the first seven)
_FILTER_NAMES = {
    "pollutants": "pollutant",
    "credit_rating": "credit",
    "performance_grade": "grade",
    "positive_list": "positive",
}
OBJECT_FILTERS = {f.header: _FILTER_NAMES.get(f.key, f.key) for f in ENTERPRISE_FIELDS}
INSPECTOR_FILTERS = ("业务专长", "所在区域")
KINDS = ("joint", "special")
INITIATORS = ("本部门", "其他部门")
NAME_LIMIT = 50
# internal numbering a published name must not carry: 一、 (三) （3） 1. 2、 第一
_CODE_RE = re.compile(
    r"[一二三四五六七八九十]+、|[(（]\s*[一二三四五六七八九十\d]+\s*[)）]"
    r"|(?:^|\s)\d+\s*[.、．]"
)


def supported_filters() -> str:
    return "、".join(OBJECT_FILTERS)


def supported_inspector_filters() -> str:
    return "、".join(INSPECTOR_FILTERS)


def check_task_id(task_id: str) -> str:
    text = (task_id or "").strip()
    if not _ID_RE.match(text):
        raise DomainError("task_bad_id", task=text)
    if _QUARTERLY_RE.match(text.upper()):
        raise DomainError("task_id_quarterly", task=text)
    return text.upper()


def check_name(name: str) -> str:
    text = " ".join((name or "").split())
    if not text:
        raise DomainError("task_bad_name", name=text, reason="empty")
    if len(text) > NAME_LIMIT:
        raise DomainError("task_bad_name", name=text, reason="long")
    if _CODE_RE.search(text):
        raise DomainError("task_bad_name", name=text, reason="code")
    return text


def _split(text: str, supported: str) -> tuple[str, str]:
    column, sep, value = (text or "").partition("=")
    column, value = column.strip(), value.strip()
    if not sep or not column or not value:
        raise DomainError("task_bad_filter", text=text, supported=supported)
    return column, value


_OP_RE = re.compile(r"(>=|<=|=|>|<|＞=|＜=|＝|＞|＜|≥|≤)")
_OPS = {"＞=": ">=", "≥": ">=", "＜=": "<=", "≤": "<=", "＝": "=", "＞": ">", "＜": "<"}


def _split_op(text: str) -> tuple[str, str, str]:
    """``投产时间>=2020-01-01`` -> ("投产时间", ">=", "2020-01-01")."""
    m = _OP_RE.search(text or "")
    if not m:
        raise DomainError("task_bad_filter", text=text, supported=supported_filters())
    column, value = text[: m.start()].strip(), text[m.end() :].strip()
    if not column or not value:
        raise DomainError("task_bad_filter", text=text, supported=supported_filters())
    return column, _OPS.get(m.group(1), m.group(1)), value


def _one_value(column: str, field_name: str, value: str) -> str:
    if field_name == "category":
        cat = Category.parse(value)
        if cat is None:
            raise DomainError("task_bad_category", value=value)
        return cat.value
    if field_name == "positive":
        if value not in (YES, NO):
            raise DomainError("task_bad_positive", value=value)
    elif field_name == "risk_class":
        found = parse_class(value)
        if not found:
            raise DomainError("task_bad_risk_class", value=value)
        return found
    elif field_name == "status" and value not in [s.value for s in Status]:
        raise DomainError("task_bad_status", value=value)
    return value


def parse_object_filter(text: str) -> tuple[str, ...]:
    """``污染类型=废气`` -> ("pollutant", "废气"); ``行业类别=化工|制药`` (any of several
    values) -> ("industry", "化工|制药"); ``投产时间>=2020-01-01`` (a range, on 投产时间,
    经度 and 纬度 only) -> ("started_on", ">=", "2020-01-01")."""
    column, op, value = _split_op(text)
    field_name = OBJECT_FILTERS.get(column)
    if field_name is None:
        raise DomainError("task_filter_column", column=column, supported=supported_filters())
    if op != "=":
        if field_name not in DATE_FIELDS | NUMBER_FIELDS:
            raise DomainError(
                "task_filter_range",
                column=column,
                ranged="、".join(
                    c for c, f in OBJECT_FILTERS.items() if f in DATE_FIELDS | NUMBER_FIELDS
                ),
            )
        parse = as_date if field_name in DATE_FIELDS else as_number
        if parse(value) is None:
            raise DomainError(
                "task_bad_range_value",
                column=column,
                value=value,
                kind="date" if field_name in DATE_FIELDS else "number",
            )
        return field_name, op, value
    values = [v.strip() for v in value.split(ANY)]
    if any(not v for v in values):
        raise DomainError("task_bad_filter", text=text, supported=supported_filters())
    return field_name, ANY.join(_one_value(column, field_name, v) for v in values)


def filter_text(f: Sequence[str]) -> tuple[str, str]:
    """A stored filter as (Chinese column, value as written: "A|B", ">=2020-01-01")."""
    field_name, op, value = filter_parts(f)
    columns = {v: k for k, v in OBJECT_FILTERS.items()}
    return columns.get(field_name, field_name), (value if op == "=" else f"{op}{value}")


def parse_inspector_filters(texts: Iterable[str] | None) -> tuple[list[str], str]:
    """(业务专长 any-of list, 所在区域) from ``业务专长=大气`` style texts."""
    expertise: list[str] = []
    region = ""
    for text in texts or ():
        column, value = _split(text, supported_inspector_filters())
        if column == "业务专长":
            if value not in expertise:
                expertise.append(value)
        elif column == "所在区域":
            region = value
        else:
            raise DomainError(
                "task_filter_column", column=column, supported=supported_inspector_filters()
            )
    return expertise, region


def parse_ratio(text: str) -> Fraction:
    raw = (text or "").strip()
    try:
        value = Fraction(raw[:-1].strip()) / 100 if raw.endswith(("%", "％")) else Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise DomainError("task_bad_ratio", ratio=raw) from None
    if not 0 < value <= 1:
        raise DomainError("task_bad_ratio", ratio=raw)
    return value


def parse_auxiliary(value: object, kind: str) -> int:
    """辅助人员 per team: a whole number ≥ 0, and above 0 only for special campaigns."""
    try:
        n = int(str(value if value is not None else 0).strip())
    except ValueError:
        raise DomainError("task_bad_auxiliary", count=value) from None
    if n < 0:
        raise DomainError("task_bad_auxiliary", count=value)
    if n and kind != "special":
        raise DomainError("task_auxiliary_kind", kind=t(f"tasks.kind_{kind}"))
    return n


def parse_departments(text: str | None, own: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[,，、\s]+", text or ""):
        part = part.strip()
        if part and part != own and part not in out:
            out.append(part)
    return out


async def create_task(
    session: Session,
    settings: Settings,
    *,
    task_id: str,
    kind: str,
    name: str,
    year: int,
    quarter: int,
    departments: str | None = None,
    initiator: str | None = None,
    filters: Iterable[str] = (),
    ratio: str | None = None,
    count: int | None = None,
    inspector_filters: Iterable[str] = (),
    auxiliary: int = 0,
    actor: str,
    today: date,
) -> TaskRow:
    """A special campaign or joint task; its extras live in TaskRow.spec. ``today``:
    the day it is created on (a task is of the previous, this or the next year).

    ``auxiliary``: 辅助人员 added to each team, special campaigns only (domain: "may be
    added to teams of special campaigns"); a joint task's teams are each department's
    officers.
    """
    task_id = check_task_id(task_id)
    if kind not in KINDS:
        raise DomainError("task_bad_kind", kind=kind)
    name = check_name(name)
    if not (2000 <= int(year) <= 2999) or quarter not in (1, 2, 3, 4):
        raise DomainError("task_bad_period", year=year, quarter=quarter)
    check_year(task_id, int(year), today)
    initiator = (initiator or "本部门").strip()
    if initiator not in INITIATORS:
        raise DomainError("task_bad_initiator", initiator=initiator)
    rules = settings.rules()
    partners = parse_departments(departments, rules.own_department)
    if kind == "joint" and not partners:
        raise DomainError("task_no_partner")
    object_filter = [list(parse_object_filter(f)) for f in filters or ()]
    expertise, region = parse_inspector_filters(inspector_filters)
    auxiliary = parse_auxiliary(auxiliary, kind)
    if (ratio is None) == (count is None):
        raise DomainError("task_size_needed")
    spec: dict[str, Any] = {
        "initiator": initiator,
        "object_filter": object_filter,
        "inspector_expertise": expertise,
        "inspector_region": region,
    }
    if ratio is not None:
        spec["ratio"] = str(parse_ratio(ratio))
    elif count is not None:
        if int(count) < 1:
            raise DomainError("task_bad_count", count=count)
        spec["count"] = int(count)
    if auxiliary:
        spec["auxiliary"] = auxiliary
    if await draws_repo.task(session, task_id) is not None:
        raise DomainError("task_exists", task=task_id)
    items = [i.seq for i in await library_repo.items(session)]
    row = TaskRow(
        id=task_id,
        bureau=settings.region_code,
        kind=kind,
        name=name,
        year=int(year),
        quarter=quarter,
        plan_no="",
        scope=t("task.scope", region=settings.region),
        items=items,
        departments=[""] + partners,
        spec=spec,
        starts_on=quarter_start(int(year), quarter),
        deadline=quarter_end(int(year), quarter),
        status=TaskStatus.OPEN,
    )
    session.add(row)
    await session.flush()
    await audit.append(
        session,
        actor,
        "task.create",
        task_id,
        {
            "name": name,
            "kind": kind,
            "departments": row.departments,
            "spec": spec,
            "deadline": quarter_end(int(year), quarter).isoformat(),
        },
    )
    return row


async def list_tasks(session: Session) -> list[TaskRow]:
    return await draws_repo.tasks(session)


def task_json(row: TaskRow, own_department: str) -> dict[str, Any]:
    extra = row.spec or {}
    inspector_filters = [["业务专长", e] for e in extra.get("inspector_expertise", [])]
    if extra.get("inspector_region"):
        inspector_filters.append(["所在区域", extra["inspector_region"]])
    return {
        "task": row.id,
        "kind": row.kind,
        "name": row.name,
        "year": row.year,
        "quarter": row.quarter,
        "status": row.status,
        "departments": [d or own_department for d in (row.departments or [""])],
        "initiator": extra.get("initiator", "本部门"),
        "filters": [list(filter_text(f)) for f in extra.get("object_filter", [])],
        "inspector_filters": inspector_filters,
        "count": extra.get("count"),
        "ratio": extra.get("ratio"),
        "auxiliary": int(extra.get("auxiliary", 0) or 0),
        "deadline": row.deadline.isoformat() if row.deadline else None,
    }
