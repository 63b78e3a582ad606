"""The annual plan: make a draft from the library and the rules, publish it.

``make`` returns (and stores in ``plans.document``) the plan in the shape of 附件1::

    {
      "year": 2027, "status": "draft" | "published",
      "bureau": "新乡市生态环境局获嘉分局", "region": "获嘉县", "region_code": "410724",
      "title": "…2027年“双随机、一公开”监管随机抽查工作计划",
      "made_at": "2026-12-01T10:00:00+08:00", "made_by": "…",
      "published_at": null | "…", "published_by": "",
      "rules": {"ratio_key": "1/4", "ratio_general": "1/10", "ratio_special": "1/2",
                "key_per_year": 1, "special_per_year": 2, "general_years": 3},
      "ratio_text": "每季度至少对…",                 # 抽查比例, as in 附件1
      "library": {"重点监管": 60, "一般监管": 210, "特殊监管": 18},   # objects not 关闭
      "tasks": [                                     # the four rows of 附件1
        {"no": "202701",                             # 序号
         "task_id": "2027Q1", "quarter": 1,
         "name": "…2027年第1季度随机抽查",            # 抽查计划名称 (templates/text/task.j2)
         "items": [{"seq": 1, "name": "放射性污染防治监督检查"}, …],   # 抽查事项 (all 14)
         "item_kind": "一般检查事项",                 # 事项类别
         "scope": "获嘉县行政区域内排放污染物的企业事业单位和其他生产经营者",  # 抽查对象范围
         "ratio_text": "每季度至少对…",               # 抽查比例
         "period": "第1季度",                         # 抽查时间
         "starts_on": "2027-01-01", "ends_on": "2027-03-31",
         "categories": [{"category": "重点监管", "eligible": 60, "by_ratio": 15,
                         "visits": 15, "objects": 15, "least_visits_per_object": 0,
                         "classes": [{"class": "D", "eligible": 8, "visits": 4,
                                      "objects": 4}, … C, B, A]}, …],
         "visits": 45, "objects": 45},               # 家次 and 家 of the task
        …],
      "totals": {"categories": [… per category, the whole year …], "visits": …, "objects": …},
      "notes": ["…", "…"]                            # 备注
    }

家次 = planned visits (the quota); 家 = distinct objects newly covered this year by that
quarter's visits (see ``bot.domain.plan``). Per category, ``classes`` splits them by
信用风险分类 (each object's class as a draw of the plan's year would derive it now);
``library_classes`` counts the objects per category and class, ``rules.risk_factors``
gives the factors.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.domain.model import RISK_CLASSES, Category, DomainError, Status
from bot.domain.periods import plan_number, quarter_end, quarter_start
from bot.domain.plan import YearPlan, make_plan, percent
from bot.domain.status import PlanStatus
from bot.text import t
from storage import audit
from storage.models_plan import PlanRow
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import plan as plan_repo
from storage.uow import Session

from . import draws as draws_svc
from .stats import JOINT_GOAL, task_kind

FIRST_YEAR, LAST_YEAR = 2000, 2999


def check_year(year: int) -> int:
    if not isinstance(year, int) or not FIRST_YEAR <= year <= LAST_YEAR:
        raise DomainError("plan_bad_year", year=year)
    return year


async def library_counts(session: Session) -> dict[Category, int]:
    """Objects per category whose 生产状态 is not 关闭 (the draw's pool)."""
    counts = {c: 0 for c in Category}
    for name, n in (await library_repo.category_counts(session, Status.CLOSED.value)).items():
        cat = Category.parse(name)
        if cat is not None:
            counts[cat] += n
    return counts


def ratio_text(settings: Settings) -> str:
    r = settings.rules()
    return t(
        "plan.ratio_text",
        key=percent(r.ratio_key),
        general=percent(r.ratio_general),
        special=percent(r.ratio_special),
        key_per_year=r.key_per_year,
        special_per_year=r.special_per_year,
        general_years=r.general_years,
    )


async def class_counts(
    session: Session, settings: Settings, year: int
) -> dict[Category, dict[str, int]]:
    """Objects (not 关闭) per category and 信用风险分类, as a draw of ``year`` would
    classify them now."""
    pool = [draws_svc.enterprise(e) for e in await library_repo.enterprises(session)]
    classes = await draws_svc.current_classes(session, settings, year, pool)
    out: dict[Category, dict[str, int]] = {c: {k: 0 for k in RISK_CLASSES} for c in Category}
    for o in pool:
        if o.status is not Status.CLOSED:
            out[o.category][classes[o.uscc]] += 1
    return out


def document(
    settings: Settings,
    plan: YearPlan,
    items: list[dict[str, Any]],
    counts: dict[Category, int],
    classes: dict[Category, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """The plan as stored and shown (pure: no database, no clock)."""
    year, rules, ratio = plan.year, settings.rules(), ratio_text(settings)
    tasks = []
    for qp in plan.quarters:
        q = qp.quarter
        tasks.append(
            {
                "no": plan_number(year, q),
                "task_id": f"{year}Q{q}",
                "quarter": q,
                "name": t("task.quarterly_name", org=settings.bureau_name, year=year, quarter=q),
                "items": items,
                "item_kind": t("plan.item_kind"),
                "scope": t("task.scope", region=settings.region),
                "ratio_text": ratio,
                "period": t("plan.period", quarter=q),
                "starts_on": quarter_start(year, q).isoformat(),
                "ends_on": quarter_end(year, q).isoformat(),
                "categories": [c.to_json() for c in qp.cells],
                "visits": qp.visits,
                "objects": qp.objects,
            }
        )
    return {
        "year": year,
        "status": PlanStatus.DRAFT.value,
        "bureau": settings.bureau_name,
        "region": settings.region,
        "region_code": settings.region_code,
        "title": t("plan.title", org=settings.bureau_name, year=year),
        "rules": {
            "ratio_key": str(rules.ratio_key),
            "ratio_general": str(rules.ratio_general),
            "ratio_special": str(rules.ratio_special),
            "key_per_year": rules.key_per_year,
            "special_per_year": rules.special_per_year,
            "general_years": rules.general_years,
            "risk_factors": {k: str(v) for k, v in rules.risk_factors},
        },
        "ratio_text": ratio,
        "library": {c.value: counts.get(c, 0) for c in Category},
        **(
            {"library_classes": {c.value: dict(classes.get(c, {})) for c in Category}}
            if classes is not None
            else {}
        ),
        "tasks": tasks,
        "totals": {
            "categories": [c.to_json() for c in plan.totals],
            "visits": plan.visits,
            "objects": plan.objects,
        },
        "notes": [t("plan.note_items"), t("plan.note_counts")]
        + ([t("plan.note_classes")] if classes is not None else []),
        "made_at": None,
        "made_by": "",
        "published_at": None,
        "published_by": "",
    }


def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(audit.canonical(doc).encode("utf-8")).hexdigest()


async def make(
    session: Session, settings: Settings, year: int, actor: str | None = None, *, now: datetime
) -> dict[str, Any]:
    """Compute next year's plan from the library and store it as the year's draft, made
    ``now``."""
    year = check_year(year)
    actor = actor or settings.actor
    row = await plan_repo.plan(session, year)
    if row is not None and row.status == PlanStatus.PUBLISHED:
        raise DomainError("plan_published", year=year)
    counts = await library_counts(session)
    classes = await class_counts(session, settings, year)
    items = [{"seq": i.seq, "name": i.name} for i in await library_repo.items(session)]
    doc = document(
        settings, make_plan(year, counts, settings.rules(), classes), items, counts, classes
    )
    doc["joint"] = await joint_ratio(session, year)
    doc["made_at"], doc["made_by"] = audit.now_text(now.replace(tzinfo=audit.CST)), actor
    if row is None:
        row = PlanRow(year=year, bureau=settings.region_code, status=PlanStatus.DRAFT)
        session.add(row)
    row.document, row.made_at, row.made_by = doc, now, actor
    await session.flush()
    await audit.append(
        session,
        actor,
        "plan.make",
        str(year),
        {
            "library": doc["library"],
            "visits": doc["totals"]["visits"],
            "objects": doc["totals"]["objects"],
            "digest": digest(doc),
        },
    )
    return doc


async def joint_ratio(session: Session, year: int) -> dict[str, Any]:
    """通知 二: joint tasks this bureau initiates ÷ (its own tasks + those joint tasks), for
    the plan: the four planned quarterly tasks plus the special and joint tasks already
    created for the year. ``met`` is False below the 35 % goal."""
    kinds = [task_kind(tk) for tk in await draws_repo.tasks_of_year(session, year)]
    special, joint = kinds.count("special"), kinds.count("joint_initiated")
    total = 4 + special + joint
    percent = round(100 * joint / total, 1)
    return {
        "quarterly": 4,
        "special": special,
        "joint_initiated": joint,
        "percent": percent,
        "goal": JOINT_GOAL,
        "met": percent >= JOINT_GOAL,
    }


async def get(session: Session, year: int) -> PlanRow | None:
    return await plan_repo.plan(session, check_year(year))


async def publish(session: Session, year: int, actor: str, now: datetime) -> dict[str, Any]:
    """Publish the year's draft ``now`` (the public page shows published plans only)."""
    row = await plan_repo.plan(session, check_year(year), for_update=True)
    if row is None:
        raise DomainError("plan_missing", year=year)
    if row.status == PlanStatus.PUBLISHED:
        raise DomainError("plan_published", year=year)
    at = now
    doc = json.loads(json.dumps(row.document))  # a new object: JSON columns
    doc["status"], doc["published_by"] = PlanStatus.PUBLISHED.value, actor
    doc["published_at"] = audit.now_text(at.replace(tzinfo=audit.CST))
    row.status, row.published_at, row.published_by = PlanStatus.PUBLISHED, at, actor
    row.document = doc
    await session.flush()
    await audit.append(
        session,
        actor,
        "plan.publish",
        str(year),
        {
            "visits": doc["totals"]["visits"],
            "objects": doc["totals"]["objects"],
            "digest": digest(doc),
        },
    )
    return doc
