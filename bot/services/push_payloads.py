"""The three messages of a publication, as pushed to the national credit publicity system.

Schema: ``docs/push.md``. Every payload is a JSON object with ``schema``, ``kind`` (the
Chinese step name), ``kind_code`` (results | base | task), ``seq``, ``published_at``,
``bureau``, ``task`` and ``audit_anchor`` (the audit log's head at publication, or
null); then the data of its kind: ``results`` (发布结果), ``enterprises`` (基础库推送),
or the full task record in ``task`` (任务推送).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from bot.text import t
from storage.models import EnterpriseRow, TaskRow
from storage.repos import common as common_repo
from storage.repos import library as library_repo
from storage.uow import Session

SCHEMA = "shuangsuiji.push/1"
# (seq, ASCII code, the step's name in the national system), in the order of 通知 一(四)
KINDS = ((1, "results", "发布结果"), (2, "base", "基础库推送"), (3, "task", "任务推送"))

# base-library fields pushed for each object (never contact people or phone numbers)
BASE_FIELDS = (
    "name",
    "uscc",
    "category",
    "industry",
    "pollutants",
    "permit_no",
    "permit_class",
    "region",
    "basin",
    "lng",
    "lat",
    "status",
    "address",
    "credit_rating",
    "positive_list",
    "performance_grade",
)


def idempotency_key(task_id: str, kind_code: str, published_at: str) -> str:
    """Stable for one message of one publication: the same in every retry."""
    return hashlib.sha256(f"{task_id}\n{kind_code}\n{published_at}".encode()).hexdigest()


def object_uscc(obj: dict) -> str:
    return str(obj.get("uscc") or obj.get("统一社会信用代码") or "").strip().upper()


def object_conclusion(obj: dict) -> str:
    return str(obj.get("conclusion") or obj.get("检查结果") or "")


def task_ref(task: TaskRow) -> dict:
    return {"id": task.id, "plan_no": task.plan_no, "name": task.name}


def base_record(row: EnterpriseRow | None, obj: dict) -> dict:
    if row is None:  # left the library since: what the publication says of it
        return {"name": obj.get("name") or obj.get("污染源名称") or "", "uscc": object_uscc(obj)}
    rec = {f: getattr(row, f) for f in BASE_FIELDS}
    rec["pollutants"] = list(rec["pollutants"] or [])
    rec["region_code"] = row.bureau
    return rec


async def build(
    session: Session, task: TaskRow, publication: dict, published_at: str
) -> list[tuple[int, str, str, dict]]:
    """(seq, kind_code, kind, payload) of the three messages, in order."""
    objects = [dict(o) for o in publication.get("objects") or []]
    usccs = [object_uscc(o) for o in objects]
    library = await common_repo.by_keys(session, EnterpriseRow, EnterpriseRow.uscc, usccs)
    enterprises = [base_record(library.get(u), o) for u, o in zip(usccs, objects, strict=True)]
    items = {i.seq: i.name for i in await library_repo.items(session)}
    by_category = Counter(e.get("category", "") for e in enterprises if e.get("category"))
    by_conclusion = Counter(object_conclusion(o) for o in objects if object_conclusion(o))
    record = {
        **task_ref(task),
        "kind": task.kind,
        "year": task.year,
        "quarter": task.quarter,
        "items": [{"seq": s, "name": items.get(s, "")} for s in (task.items or [])],
        "item_kind": t("plan.item_kind"),
        "scope": task.scope,
        "departments": list(task.departments or []),
        "region_code": task.bureau,
        "starts_on": task.starts_on.isoformat() if task.starts_on else None,
        "deadline": task.deadline.isoformat() if task.deadline else None,
        "completed_on": publication.get("completed_on"),
        "published_at": published_at,
        "counts": {
            "objects": len(objects),
            "by_category": dict(sorted(by_category.items())),
            "by_conclusion": dict(sorted(by_conclusion.items())),
        },
    }
    data: dict[str, dict[str, Any]] = {
        "results": {
            "results": objects,
            "summary": publication.get("summary"),
            "verification": publication.get("verification"),
        },
        "base": {"enterprises": enterprises},
        "task": {},
    }
    anchor = publication.get("audit_anchor")  # {"seq", "hash"}: the audit log's head
    bureau = publication.get("bureau")
    if not isinstance(bureau, dict):
        bureau = {"name": str(bureau or ""), "region_code": task.bureau}
    out = []
    for seq, code, kind in KINDS:
        payload: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": kind,
            "kind_code": code,
            "seq": seq,
            "published_at": published_at,
            "bureau": bureau,
            "task": record if code == "task" else task_ref(task),
            "audit_anchor": anchor,
        }
        payload.update(data[code])
        out.append((seq, code, kind, payload))
    return out
