"""Task ids and calendar quarters."""

from __future__ import annotations

import re
from datetime import date

from .model import DomainError

_TASK_RE = re.compile(r"^(\d{4})[Qq]([1-4])$")


def parse_task_id(task_id: str) -> tuple[int, int]:
    """``2027Q1`` -> (2027, 1). Raises DomainError('bad_task_id')."""
    m = _TASK_RE.match((task_id or "").strip())
    if not m:
        raise DomainError("bad_task_id", task=task_id)
    return int(m.group(1)), int(m.group(2))


def quarter_of(d: date) -> int:
    return (d.month - 1) // 3 + 1


def quarter_index(d: date) -> int:
    """Quarters since year 0: consecutive quarters differ by one."""
    return d.year * 4 + quarter_of(d) - 1


def quarter_start(year: int, quarter: int) -> date:
    return date(year, 3 * quarter - 2, 1)


def quarter_end(year: int, quarter: int) -> date:
    if quarter == 4:
        return date(year, 12, 31)
    nxt = quarter_start(year, quarter + 1)
    return date.fromordinal(nxt.toordinal() - 1)


def plan_number(year: int, quarter: int) -> str:
    """附件1's 序号: 202701..202704."""
    return f"{year}{quarter:02d}"
