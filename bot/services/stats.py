"""Yearly statistics (第十条, 第十四条, 第十五条, 通知 二): tasks by kind, the joint ratio
against the 35 % goal, coverage per category, results by conclusion, coverage and
problem rates per 信用风险分类, completion and on-time publication, and each inspector's
inspections.

Inspections imported from the bureau's old system (``ssj import history``) count like
draws of their 年度 and 季度 for coverage, results and classes (they are published
already, by the old system, so the public figures include them too), and are counted
apart under ``history``. Per class, an object drawn by the system counts under the class
it had when drawn (recorded on the selection); an imported inspection under the class
the object would have had that day (today's library tags and 信用风险分类, the
problems found before that day); the library's objects under their class now.

Counts only: no object's name or code appears in the result, so it may go to a group
(without the per-inspector part) and, computed over published tasks only, to the public.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from bot.config import Settings
from bot.domain import results as rules
from bot.domain.model import RISK_CLASSES, Category, DomainError, History, Status
from bot.domain.risk import PROBLEMS, derive
from storage.models import HistoryRow, TaskRow
from storage.repos import common as common_repo
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import publication as publication_repo
from storage.uow import Session

from . import calendar
from . import draws as draws_svc
from . import results as results_svc

JOINT_GOAL = 35  # per cent of the bureau's own tasks (通知 二)
OWN_INITIATOR = "本部门"
PUBLISH_WORKDAYS = 20  # 第二十条
GENERAL_QUARTERS = 12  # general objects: at least once every three years
KINDS = ("own_quarterly", "joint_initiated", "joint_joined", "special")
DONE = (rules.State.APPROVED.value, rules.State.PUBLISHED.value)
CATEGORIES = tuple(c.value for c in Category)


def task_kind(task: TaskRow) -> str | None:
    if task.kind == "quarterly":
        return "own_quarterly"
    if task.kind == "special":
        return "special"
    if task.kind == "joint":
        initiator = (task.spec or {}).get("initiator", OWN_INITIATOR)
        return "joint_initiated" if initiator == OWN_INITIATOR else "joint_joined"
    return None


def _rate(n: int, d: int) -> float | None:
    return round(100 * n / d, 1) if d else None


def _qindex(year: int, quarter: int | None) -> int:
    return year * 4 + (quarter or 1) - 1


async def stats(session: Session, settings: Settings, year: int, public: bool = False) -> dict:
    """The year's figures. ``public``: only published tasks count (and no inspectors)."""
    published = {r.task_id: r for r in await publication_repo.publications(session)}
    tasks = await draws_repo.tasks_by_id(session)
    if public:
        tasks = [tk for tk in tasks if tk.id in published]
    by_id = {tk.id: tk for tk in tasks}
    year_tasks = [tk for tk in tasks if tk.year == year]

    counts = {k: 0 for k in KINDS}
    for tk in year_tasks:
        kind = task_kind(tk)
        if kind:
            counts[kind] += 1
    own = counts["own_quarterly"] + counts["special"] + counts["joint_initiated"]
    ratio = _rate(counts["joint_initiated"], own)

    # every selection of a valid draw of a counted task, up to the end of ``year``
    sels = [s for s in await draws_repo.valid_selections(session) if s.task_id in by_id]
    # per object, every department's result (a joint task's object has several)
    units = await results_svc.units(session)

    def done(ref: int) -> bool:
        return results_svc.unit_state(units.get(ref, {})).value in DONE

    def conclusion(ref: int) -> str | None:
        """The object's (combined) conclusion once every department's result is approved."""
        if not done(ref):
            return None
        return rules.combined_conclusion(
            [rules.Conclusion(r.conclusion) for r in units[ref].values() if r is not None]
        ).value

    library = await library_repo.enterprise_tags(session)
    active = {u: c for u, c, st in library if st != Status.CLOSED.value}
    imported = [
        h
        for h in await library_repo.imported_history(session)
        if _qindex(h.year, h.quarter) <= _qindex(year, 4)
    ]

    category_of = {u: c for u, c, _st in library}
    draws_this_year: dict[str, int] = {}
    last_q: dict[str, int] = {}
    drawn: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    inspected: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    conclusions = {c.value: 0 for c in rules.Conclusion}
    end = _qindex(year, 4)
    for sel in sels:
        tk = by_id[sel.task_id]
        qi = _qindex(tk.year, tk.quarter)
        if qi <= end and qi > last_q.get(sel.uscc, -1):
            last_q[sel.uscc] = qi
        if tk.year != year:
            continue
        draws_this_year[sel.uscc] = draws_this_year.get(sel.uscc, 0) + 1
        drawn.setdefault(sel.category, set()).add(sel.uscc)
        c = conclusion(sel.id)
        if c is not None:
            conclusions[c] = conclusions.get(c, 0) + 1
            if c != rules.Conclusion.NOT_INSPECTED.value:
                inspected.setdefault(sel.category, set()).add(sel.uscc)
    for h in imported:  # inspections from the old system: drawn, and their results
        qi = _qindex(h.year, h.quarter)
        if qi > last_q.get(h.uscc, -1):
            last_q[h.uscc] = qi
        if h.year != year or h.uscc not in category_of:
            continue
        cat = category_of[h.uscc]
        draws_this_year[h.uscc] = draws_this_year.get(h.uscc, 0) + 1
        drawn.setdefault(cat, set()).add(h.uscc)
        conclusions[h.conclusion] = conclusions.get(h.conclusion, 0) + 1
        if h.conclusion != rules.Conclusion.NOT_INSPECTED.value:
            inspected.setdefault(cat, set()).add(h.uscc)

    coverage = {}
    for cat in CATEGORIES:
        pool = [u for u, c in active.items() if c == cat]
        if cat == Category.KEY.value:
            by_rule, rule = sum(1 for u in pool if draws_this_year.get(u, 0) >= 1), "key_once"
        elif cat == Category.SPECIAL.value:
            by_rule, rule = sum(1 for u in pool if draws_this_year.get(u, 0) >= 2), "special_twice"
        else:
            window = end - GENERAL_QUARTERS + 1
            by_rule = sum(1 for u in pool if last_q.get(u, -1) >= window)
            rule = "general_three_years"
        coverage[cat] = {
            "objects": len(pool),
            "drawn": len(drawn.get(cat, ())),
            "inspected": len(inspected.get(cat, ())),
            "rule": rule,
            "by_rule": by_rule,
            "by_rule_rate": _rate(by_rule, len(pool)),
        }

    # completion: tasks of the year with a valid draw whose every object is approved/published
    objects_of: dict[str, list[int]] = {}
    for sel in sels:
        if by_id[sel.task_id].year == year:
            objects_of.setdefault(sel.task_id, []).append(sel.id)
    complete = sum(1 for ids in objects_of.values() if all(done(i) for i in ids))

    on_time = late = unknown = 0
    for tk in year_tasks:
        pub = published.get(tk.id)
        if pub is None:
            continue
        days = [
            r.inspected_on
            for i in objects_of.get(tk.id, [])
            for r in units.get(i, {}).values()
            if r is not None and r.inspected_on
        ]
        if not days:
            unknown += 1
            continue
        try:
            due = await calendar.deadline(session, common_repo.as_date(max(days)), PUBLISH_WORKDAYS)
        except DomainError:
            unknown += 1
            continue
        if common_repo.as_date(pub.published_at) <= due:
            on_time += 1
        else:
            late += 1

    by_class = await _by_class(session, settings, year, sels, by_id, conclusion, imported)
    out = {
        "year": year,
        "public": public,
        "tasks": {**counts, "total": sum(counts.values())},
        "joint": {
            "initiated": counts["joint_initiated"],
            "own_tasks": own,
            "ratio": ratio,
            "goal": JOINT_GOAL,
            "joint_goal_met": ratio is not None and ratio >= JOINT_GOAL,
        },
        "coverage": coverage,
        "results": {"by_conclusion": conclusions, "total": sum(conclusions.values())},
        "risk_classes": by_class,
        "history": {"imported": sum(1 for h in imported if h.year == year)},
        "completion": {
            "tasks": len(objects_of),
            "complete": complete,
            "rate": _rate(complete, len(objects_of)),
        },
        "publication": {
            "published": on_time + late + unknown,
            "on_time": on_time,
            "late": late,
            "unknown": unknown,
            "rate": _rate(on_time, on_time + late),
        },
    }
    if not public:
        per = await draws_repo.inspections_per_inspector(session, year)
        names = await library_repo.inspector_names(session)
        out["inspectors"] = [
            {"cert": c, "name": names.get(c, c), "inspections": n}
            for c, n in sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
    return out


@dataclass
class _Cell:
    """One 信用风险分类's counts while they are gathered."""

    objects: int = 0
    visits: int = 0
    drawn: set[str] = field(default_factory=set)
    inspected: set[str] = field(default_factory=set)
    problems: set[str] = field(default_factory=set)

    def shown(self) -> dict[str, Any]:
        inspected = len(self.inspected)
        return {
            "objects": self.objects,
            "visits": self.visits,
            "drawn": len(self.drawn),
            "inspected": inspected,
            "problems": len(self.problems),
            "visits_per_object": round(self.visits / self.objects, 2) if self.objects else None,
            "problem_rate": _rate(len(self.problems), inspected),
        }


class _Drawn(Protocol):
    """A selection of a valid draw as ``stats`` reads it."""

    @property
    def id(self) -> int: ...
    @property
    def task_id(self) -> str: ...
    @property
    def uscc(self) -> str: ...
    @property
    def risk_class(self) -> str: ...


async def _by_class(
    session: Session,
    settings: Settings,
    year: int,
    sels: Sequence[_Drawn],
    by_id: dict[str, TaskRow],
    conclusion: Callable[[int], str | None],
    imported: list[HistoryRow],
) -> dict[str, dict[str, Any]]:
    """Per 信用风险分类: objects in the library now (家), visits this year (家次) and
    distinct objects drawn, inspected, and found with a problem; visits per object and
    the problem rate (of the inspected). Draws made before risk classes and imported
    inspections of objects no longer in the library have no class: under "—"."""
    pool = [draws_svc.enterprise(e) for e in await library_repo.enterprises(session)]
    now = await draws_svc.current_classes(session, settings, year, pool)
    objs = {o.uscc: o for o in pool}
    rules_ = settings.rules()
    cells = {k: _Cell() for k in RISK_CLASSES}
    for o in pool:
        if o.status is not Status.CLOSED:
            cells[now[o.uscc]].objects += 1
    unclassified = _Cell()

    def count(cls: str, uscc: str, found: str | None) -> None:
        cell = cells.get(cls, unclassified)
        cell.visits += 1
        cell.drawn.add(uscc)
        if found and found != rules.Conclusion.NOT_INSPECTED.value:
            cell.inspected.add(uscc)
            if rules.Conclusion(found).number in PROBLEMS:
                cell.problems.add(uscc)

    for sel in sels:
        if by_id[sel.task_id].year == year:
            count(sel.risk_class or "", sel.uscc, conclusion(sel.id))
    # an imported inspection: its class that day, from the problems found before it
    found: dict[str, list[tuple[int, int, date]]] = {}
    for h in sorted(imported, key=lambda h: h.inspected_on):
        number = rules.Conclusion(h.conclusion).number
        if h.year == year:
            cls = ""
            if h.uscc in objs:
                earlier = tuple(
                    (y, n) for y, n, day in found.get(h.uscc, ()) if day < h.inspected_on
                )
                cls = derive(objs[h.uscc], History(problems=earlier), year, rules_)
            count(cls, h.uscc, h.conclusion)
        if number in PROBLEMS:
            found.setdefault(h.uscc, []).append((h.year, number, h.inspected_on))

    out = {k: cells[k].shown() for k in RISK_CLASSES}
    if unclassified.visits:
        out["—"] = unclassified.shown()
    return out


async def public_years(session: Session) -> list[int]:
    """Years that have a published task (the public statistics pages), newest first."""
    return sorted(await publication_repo.published_years(session), reverse=True)


def bars(
    rows: list[tuple[str, int | float, str]],
    top: float | None = None,
    goal: float | None = None,
    unit: str = "",
    width: int = 340,
) -> dict:
    """Geometry of a horizontal bar chart (label above each bar), for an inline SVG.

    ``rows``: (label, value, css class). The page draws it; nothing is computed there."""
    top = top or max([v for _, v, _ in rows] + [goal or 0, 1])
    span, row_h = width - 60, 46
    out_rows = []
    for i, (label, value, cls) in enumerate(rows):
        y = i * row_h
        w = round(span * value / top, 1) if value else 0
        out_rows.append(
            {
                "label": label,
                "value": value,
                "cls": cls,
                "text_y": y + 16,
                "bar_y": y + 22,
                "w": w,
                "value_x": round(w + 6, 1),
                "value_text": f"{value}{unit}",
            }
        )
    out = {"width": width, "height": row_h * len(rows) + 4, "rows": out_rows, "bar_h": 16}
    if goal is not None:
        out["goal_x"] = round(span * goal / top, 1)
        out["goal_text"] = f"目标 {goal}{unit}"
    return out


def charts(doc: dict) -> dict:
    """The public page's charts: coverage, results by conclusion, joint ratio, and per
    信用风险分类 the visits per object and the problem rate."""
    cov = []
    for cat, c in doc["coverage"].items():
        cov += [
            (f"{cat} · 名录", c["objects"], "objects"),
            (f"{cat} · 本年抽取", c["drawn"], "drawn"),
            (f"{cat} · 已检查", c["inspected"], "inspected"),
        ]
    res = [(name, n, "result") for name, n in doc["results"]["by_conclusion"].items()]
    ratio = doc["joint"]["ratio"] or 0
    joint = [("联合抽查占比", ratio, "joint")]
    classes = doc.get("risk_classes", {})
    freq = [
        (f"{k} 类 · 每家抽查次数", c["visits_per_object"] or 0, f"class-{k}")
        for k, c in classes.items()
        if k in RISK_CLASSES
    ]
    rate = [
        (f"{k} 类 · 问题发现率", c["problem_rate"] or 0, f"class-{k}")
        for k, c in classes.items()
        if k in RISK_CLASSES
    ]
    return {
        "coverage": bars(cov),
        "results": bars(res),
        "joint": bars(joint, top=100, goal=doc["joint"]["goal"], unit="%"),
        "class_frequency": bars(freq),
        "class_problems": bars(rate, top=100, unit="%"),
    }


__all__ = ["stats", "public_years", "bars", "charts", "task_kind", "JOINT_GOAL"]
