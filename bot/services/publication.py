"""Publication (一公开, 第二十条, 第二十一条): once every result of a task is approved,
reveal the draw's seed, mark the results 已公示, store the public record and queue the
push to the national system, all in the caller's transaction.

The record (``document``) is built once and served as stored: the public pages, the
.xlsx export and the push never recompute it from tables that may change later. It
carries the audit log's anchor (``audit_anchor``: the newest entry's seq and hash when
it was published), so every publication pins the chain outside the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from bot.config import Settings
from bot.domain import results as rules
from bot.domain.items import applicable
from bot.domain.model import DomainError, Selection
from bot.domain.status import DrawStatus, PlanStatus, TaskStatus
from bot.domain.tickets import Tickets, sha256_hex
from bot.text import t
from storage import audit
from storage.models import DrawRow, TaskRow
from storage.models_chat import ResultRow
from storage.models_publication import PublicationRow
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import plan as plan_repo
from storage.repos import publication as publication_repo
from storage.uow import Session

from . import draws
from . import results as results_svc

Sels = Sequence[tuple[int, Selection]]
Units = dict[int, dict[str, ResultRow | None]]
Entered = dict[int, dict[str, ResultRow]]  # every department's result entered

FORMAT = "ssj-publication/1"
TICKET_RULE = "ticket(USCC) = sha256_uniform(sha256_hex(seed) + USCC)"
PROBLEMS = (
    rules.Conclusion.RECTIFY,
    rules.Conclusion.CASE,
    rules.Conclusion.DEPARTMENT,
    rules.Conclusion.JUDICIAL,
)


def public_path(task_id: str) -> str:
    return f"/public/tasks/{task_id}"


def announcement(doc: dict[str, Any], base_url: str) -> str:
    """The short message for the supervisors' group: counts and the public page's absolute
    address (``base_url``: ``Settings.public_base``, e.g. ``https://ssj.example.gov.cn``)."""
    s = doc["summary"]
    return t(
        "publication.published",
        task=doc["task"]["id"],
        name=doc["task"]["name"],
        count=s["drawn"],
        inspected=s["inspected"],
        problems=s["problems_found"],
        url=base_url.rstrip("/") + public_path(doc["task"]["id"]),
    )


def anchor_line(anchor: dict[str, Any]) -> str:
    """An audit anchor as a line of ``ssj audit verify --anchors`` (``seq hash``)."""
    return f"{anchor['seq']} {anchor['hash']}"


def digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _ordered(found: dict[str, Any], sel: Selection) -> dict[str, Any]:
    """An object's results in the order of its teams (the lead department first)."""
    order = [team.department for team in sel.teams]
    return dict(
        sorted(
            found.items(),
            key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]),
        )
    )


def _missing(sels: Sels, units: Units) -> list[dict[str, Any]]:
    """Every drawn object's result (each department's, in a joint task) that is not 已审核
    (未录入 when there is none yet)."""
    out = []
    for ref, sel in sels:
        found = _ordered(units.get(ref) or {"": None}, sel)
        several = len(found) > 1
        for dept, row in found.items():
            status = row.status if row is not None else rules.State.NOT_ENTERED.value
            if status != rules.State.APPROVED.value:
                out.append(
                    {
                        "ref": ref,
                        "name": sel.name,
                        "status": status,
                        "department": dept if several else "",
                    }
                )
    return out


async def _results(session: Session, sels: Sels) -> Units:
    return await results_svc.units(session, [ref for ref, _ in sels])


def _entered(units: Units) -> Entered:
    """The results, once ``_missing`` found none lacking (so none is None)."""
    return {
        ref: {dept: row for dept, row in found.items() if row is not None}
        for ref, found in units.items()
    }


def _withheld(withhold: dict[str, str] | None, task_id: str, drawn: set[str]) -> dict[str, str]:
    out = {}
    for uscc, reason in (withhold or {}).items():
        uscc, reason = (uscc or "").strip().upper(), (reason or "").strip()
        if uscc not in drawn:
            raise DomainError("withhold_not_drawn", task=task_id, uscc=uscc)
        if not reason:
            raise DomainError("withhold_needs_reason", uscc=uscc)
        out[uscc] = reason
    return out


async def publish(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    now: datetime,
    withhold: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Publish a task; returns the public document. Checks come before any write."""
    task, draw = await draws.valid_draw(session, task_id)
    if await publication_repo.publication(session, task.id) is not None:
        raise DomainError("already_published", task=task.id)
    sels = await draws.current_selections(session, draw)
    units = await _results(session, sels)
    lacking = _missing(sels, units)
    if lacking:
        raise DomainError("publish_incomplete", task=task.id, missing=lacking)
    results = _entered(units)
    withheld = _withheld(withhold, task.id, {s.uscc for _, s in sels})

    if draw.revealed_at is None:
        draw.revealed_at = now
        await audit.append(session, actor, "draw.reveal", task.id, {"draw_id": draw.id})
    for ref, _ in sels:
        for row in results[ref].values():
            row.status = rules.transition(rules.State(row.status), "publish").value
    # the chain's head as it stands now (after draw.reveal), published outside the database
    anchor = await audit.head(session)
    doc = await _document(session, settings, task, draw, sels, results, withheld, now, anchor)
    pub = PublicationRow(
        task_id=task.id,
        bureau=settings.region_code,
        draw_id=draw.id,
        published_at=now,
        published_by=actor,
        summary=doc["summary"],
        withheld=withheld,
        document=doc,
        digest=digest(doc),
    )
    session.add(pub)
    task.status = TaskStatus.PUBLISHED
    await session.flush()
    await audit.append(
        session,
        actor,
        "task.publish",
        task.id,
        {
            "draw_id": draw.id,
            "digest": pub.digest,
            "objects": len(sels),
            "withheld": withheld,
            "summary": doc["summary"],
        },
    )
    await _push(session, task.id, doc)
    return doc


async def _push(session: Session, task_id: str, doc: dict[str, Any]) -> None:
    """Queue 发布结果, 基础库推送, 任务推送 in this transaction (bot/services/push.py)."""
    try:
        from . import push
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.push":
            raise
        return
    # withheld objects are not pushed at all: they carry nothing to identify them
    await push.enqueue_publication(
        session,
        task_id,
        {
            **doc,
            "objects": [o for o in doc["objects"] if not o["withheld"]],
            "completed_on": doc["summary"]["completed_on"],
        },
    )


async def _document(
    session: Session,
    settings: Settings,
    task: TaskRow,
    draw: DrawRow,
    sels: Sels,
    results: Entered,
    withheld: dict[str, str],
    now: datetime,
    anchor: tuple[int, str] | None = None,
) -> dict[str, Any]:
    items = [(i.seq, i.name, i.pollutant) for i in await library_repo.items(session)]
    ents = await library_repo.enterprises_by_uscc(session, [s.uscc for _, s in sels])
    names = {p.cert: p.name for p in await library_repo.inspectors(session)}
    pool = {o["uscc"]: o for o in (draw.snapshot or {}).get("pool", [])}
    objects: list[dict[str, Any]] = []
    for no, (ref, sel) in enumerate(sels, 1):
        if sel.uscc in withheld:
            objects.append({"no": no, "withheld": True, "notice": t("publication.withheld_notice")})
            continue
        ent = ents.get(sel.uscc)
        pollutants = (
            list(ent.pollutants or []) if ent else pool.get(sel.uscc, {}).get("pollutants", [])
        )
        objects.append(
            {
                "no": no,
                "withheld": False,
                "name": sel.name,
                "uscc": sel.uscc,
                "category": sel.category.value,
                "address": ent.address if ent else "",
                # why it was drawn (domain.md, "Risk-based draws"); "" for earlier draws
                "risk_class": sel.risk_class,
                "reason": sel.reason,
                "drawn_for": t("risk.reason", code=sel.reason, risk_class=sel.risk_class)
                if sel.reason
                else "",
                "items": [
                    {"seq": seq, "name": name}
                    for seq, name in applicable(items, pollutants, sel.category)
                ],
                **_object_result(_ordered(results[ref], sel), settings),
                "teams": [
                    {
                        "department": team.department or settings.own_department,
                        "inspectors": [names.get(m, m) for m in team.members],
                        **(
                            {"auxiliary": [names.get(m, m) for m in team.auxiliary]}
                            if team.auxiliary
                            else {}
                        ),
                    }
                    for team in sel.teams
                ],
            }
        )
    doc = {
        "format": FORMAT,
        "bureau": {
            "name": settings.bureau_name,
            "region": settings.region,
            "region_code": settings.region_code,
        },
        "task": {
            "id": task.id,
            "name": task.name,
            "plan_no": task.plan_no,
            "kind": task.kind,
            "year": task.year,
            "quarter": task.quarter,
            "scope": task.scope,
            "starts_on": _iso(task.starts_on),
            "deadline": _iso(task.deadline),
        },
        "published_at": now.isoformat(timespec="seconds"),
        "objects": objects,
        "summary": _summary(sels, results, withheld),
        "verification": await _verification(session, task, draw, sels, withheld),
        # the audit log's head at publication (storage/audit.py): entry seq and its hash
        "audit_anchor": {"seq": anchor[0], "hash": anchor[1]} if anchor else None,
    }
    return doc


def _iso(d: date | None) -> str:
    return d.isoformat() if d else ""


def _department_result(dept: str, r: ResultRow) -> dict[str, Any]:
    c = rules.Conclusion(r.conclusion)
    problem = c in PROBLEMS
    followup = dict(r.followup or {}) if problem else {}
    return {
        "department": dept,
        "inspected_on": r.inspected_on.isoformat() if r.inspected_on else "",
        "mode": r.mode,
        "conclusion": rules.public_wording(c),
        "conclusion_no": c.number,
        "findings": (r.findings or "").strip() if problem else "",
        "outcome": t("publication.outcome", no=c.number, f=followup) if problem else "",
        "followup": followup,
    }


def _object_result(found: dict[str, ResultRow], settings: Settings) -> dict[str, Any]:
    """An object's published result. One team: its result as entered. A joint task: the
    most serious conclusion any department reached, the first inspection day, and each
    department's own result under ``results`` (findings/outcome prefixed by department)."""
    parts = [_department_result(dept or settings.own_department, r) for dept, r in found.items()]
    if len(parts) == 1:
        one = {k: v for k, v in parts[0].items() if k != "department"}
        return {
            **one,
            "inspected": rules.counts_as_inspected(rules.Conclusion(one["conclusion"])),
            "results": parts,
        }
    c = rules.combined_conclusion([rules.Conclusion(p["conclusion"]) for p in parts])
    days = sorted(p["inspected_on"] for p in parts if p["inspected_on"])
    modes = list(dict.fromkeys(p["mode"] for p in parts if p["mode"]))
    return {
        "inspected_on": days[0] if days else "",
        "mode": "、".join(modes),
        "conclusion": rules.public_wording(c),
        "conclusion_no": c.number,
        "inspected": rules.counts_as_inspected(c),
        "findings": t(
            "publication.by_department",
            parts=[(p["department"], p["findings"]) for p in parts if p["findings"]],
        ),
        "outcome": t(
            "publication.by_department",
            parts=[(p["department"], p["outcome"]) for p in parts if p["outcome"]],
        ),
        "followup": {p["department"]: p["followup"] for p in parts if p["followup"]},
        "results": parts,
    }


def _summary(sels: Sels, units: Entered, withheld: dict[str, str]) -> dict[str, Any]:
    """Counts per object (withheld ones included: the summary states totals only)."""
    by_conclusion = {c.value: 0 for c in rules.Conclusion}
    by_category: dict[str, int] = {}
    by_class: dict[str, dict[str, int]] = {}
    days: list[date] = []
    for ref, sel in sels:
        rows = list(units[ref].values())
        c = rules.combined_conclusion([rules.Conclusion(r.conclusion) for r in rows])
        by_conclusion[c.value] += 1
        by_category[sel.category.value] = by_category.get(sel.category.value, 0) + 1
        if sel.risk_class:
            cell = by_class.setdefault(sel.risk_class, {"drawn": 0, "problems": 0})
            cell["drawn"] += 1
            cell["problems"] += c in PROBLEMS
        days.extend(r.inspected_on for r in rows if r.inspected_on)
    not_inspected = by_conclusion[rules.Conclusion.NOT_INSPECTED.value]
    extra = {"by_risk_class": {k: by_class[k] for k in sorted(by_class)}} if by_class else {}
    return {
        **extra,
        "drawn": len(sels),
        "by_category": by_category,
        "inspected": len(sels) - not_inspected,
        "not_inspected": not_inspected,
        "by_conclusion": by_conclusion,
        "problems_found": sum(by_conclusion[c.value] for c in PROBLEMS),
        "withheld": len(withheld),
        "first_inspected_on": _iso(min(days)) if days else "",
        "completed_on": _iso(max(days)) if days else "",
    }


async def _verification(
    session: Session, task: TaskRow, draw: DrawRow, sels: Sels, withheld: dict[str, str]
) -> dict[str, Any]:
    """What anyone needs to re-check the draw: the revealed seed, the pool with tickets."""
    snap = draw.snapshot or {}
    tickets = Tickets(draw.seed)
    history = snap.get("history", {})
    chosen = {s.uscc for _, s in sels}
    pool, hidden = [], []
    for o in snap.get("pool", []):
        h = history.get(o["uscc"], {})
        if o["uscc"] in withheld:  # neither code nor ticket: the ticket would identify it
            hidden.append(
                {
                    "uscc": "",
                    "withheld": True,
                    "category": o["category"],
                    "status": o.get("status", ""),
                    "selected": True,
                }
            )
            continue
        period = h.get("last_period")
        pool.append(
            {
                "uscc": o["uscc"],
                "withheld": False,
                "category": o["category"],
                "status": o.get("status", ""),
                "ticket": tickets(o["uscc"]),
                "draws_this_year": h.get("draws_this_year", 0),
                "last_drawn": h.get("last_drawn") or "",
                # draws since risk classes: the (year, quarter) of the last draw, and
                # whether it was an inspection imported from the old system (no seed)
                "last_period": f"{period[0]}Q{period[1]}" if period else "",
                "last_imported": bool(h.get("last_imported")),
                "risk_class": o.get("risk_class", ""),
                "selected": o["uscc"] in chosen,
            }
        )
    voided = [d for d in await draws_repo.draws_of(session, task.id) if d.status == DrawStatus.VOID]
    example = next((s.uscc for _, s in sels if s.uscc not in withheld), None)
    return {
        "draw_id": draw.id,
        "drawn_at": draw.drawn_at.isoformat(timespec="seconds") if draw.drawn_at else "",
        "commitment": draw.commitment,
        "secret": draw.secret,
        "entropy": draw.entropy or "",
        "seed": draw.seed,
        "pool_digest": draw.pool_digest,
        "algorithm": draw.algorithm,
        "ticket_rule": TICKET_RULE,
        "void_draws": len(voided),
        "rules": snap.get("rules", {}),
        "spec": snap.get("spec", {}),
        "selected": [
            {"uscc": s.uscc, "ticket": s.ticket} for _, s in sels if s.uscc not in withheld
        ],
        "pool": pool + hidden,
        "example": _example(draw.seed, example) if example else None,
    }


def last_draw_text(p: dict[str, Any]) -> str:
    """A pool row's last draw as shown: the day (draws before risk classes) or the period,
    marked 历史导入 when it was an inspection imported from the old system."""
    if p.get("last_drawn"):
        return p["last_drawn"]
    if p.get("last_period"):
        return p["last_period"] + (t("publication.imported_mark") if p.get("last_imported") else "")
    return ""


def _pool_cell(p: dict[str, Any], col: str) -> Any:
    if col == "selected":
        return p["selected"]
    if col == "last_drawn":
        return last_draw_text(p)
    return p.get(col, "")


def _example(seed: str, uscc: str) -> dict[str, str]:
    """A worked example of one ticket, step by step (the task page shows it)."""
    seed_hash = sha256_hex(seed)
    h = sha256_hex(seed_hash + uscc)
    n = int(h, 16)
    return {
        "uscc": uscc,
        "seed_hash": seed_hash,
        "input": seed_hash + uscc,
        "hash": h,
        "decimal": f"{n:064d}",
        "ticket": "0." + f"{n:064d}"[::-1],
    }


# ---- reading what was published (public pages, exports) -------------------------------


async def document(session: Session, task_id: str) -> dict[str, Any] | None:
    row = await publication_repo.publication(session, (task_id or "").strip().upper())
    return row.document if row else None


async def published_tasks(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "id": r.task_id,
            "name": r.document["task"]["name"],
            "published_at": r.document["published_at"],
            "summary": r.summary,
        }
        for r in await publication_repo.newest_first(session)
    ]


async def published_plans(session: Session) -> list[dict[str, Any]]:
    """Published annual plans (storage/models_plan.py), newest year first."""
    return [r.document for r in await plan_repo.published_plans(session)]


async def published_plan(session: Session, year: int) -> dict[str, Any] | None:
    row = await plan_repo.plan(session, year)
    return row.document if row is not None and row.status == PlanStatus.PUBLISHED else None


def workbook(doc: dict[str, Any], path: str | Path | IO[bytes]) -> int:
    """The published record as .xlsx (for manual upload): results, summary, verification."""
    from bot.sheets.xlsx import write_xlsx

    cols = [
        "no",
        "name",
        "uscc",
        "category",
        "risk_class",
        "drawn_for",
        "inspected_on",
        "items",
        "mode",
        "conclusion",
        "findings",
        "outcome",
        "departments",
    ]
    rows: list[list[Any]] = []
    for o in doc["objects"]:
        if o["withheld"]:
            rows.append([o["no"], o["notice"]] + [""] * (len(cols) - 2))
            continue
        rows.append(
            [
                o["no"],
                o["name"],
                o["uscc"],
                o["category"],
                o.get("risk_class", ""),
                o.get("drawn_for", ""),
                o["inspected_on"],
                [f"{i['seq']}.{i['name']}" for i in o["items"]],
                o["mode"],
                o["conclusion"],
                o["findings"],
                o["outcome"],
                [team["department"] for team in o["teams"]],
            ]
        )
    s, v = doc["summary"], doc["verification"]
    facts = [
        ("task", doc["task"]["id"]),
        ("task_name", doc["task"]["name"]),
        ("plan_no", doc["task"]["plan_no"]),
        ("bureau", doc["bureau"]["name"]),
        ("published_at", doc["published_at"]),
        ("drawn", s["drawn"]),
        ("inspected", s["inspected"]),
        ("not_inspected", s["not_inspected"]),
        ("problems_found", s["problems_found"]),
        ("withheld", s["withheld"]),
        ("completed_on", s["completed_on"]),
    ]
    checks = [
        (k, v[k])
        for k in (
            "draw_id",
            "drawn_at",
            "commitment",
            "secret",
            "entropy",
            "seed",
            "pool_digest",
            "algorithm",
            "void_draws",
        )
    ]
    if doc.get("audit_anchor"):  # as one line of an anchors file: "seq hash"
        checks.append(("audit_anchor", anchor_line(doc["audit_anchor"])))
    checks.append(("document_digest", digest(doc)))
    pool_cols = [
        "uscc",
        "category",
        "status",
        "risk_class",
        "ticket",
        "draws_this_year",
        "last_drawn",
        "selected",
    ]
    write_xlsx(
        path,
        [
            (
                t("publication.sheet", name="objects"),
                [t("publication.col", name=c) for c in cols],
                rows,
            ),
            (
                t("publication.sheet", name="summary"),
                [t("publication.col", name="key"), t("publication.col", name="value")],
                [[t("publication.fact", key=k), val] for k, val in facts]
                + [[c, n] for c, n in s["by_conclusion"].items()],
            ),
            (
                t("publication.sheet", name="verification"),
                [t("publication.col", name="key"), t("publication.col", name="value")],
                [[t("publication.fact", key=k), val] for k, val in checks],
            ),
            (
                t("publication.sheet", name="pool"),
                [t("publication.col", name=c) for c in pool_cols],
                [[_pool_cell(p, c) for c in pool_cols] for p in v["pool"]],
            ),
        ],
    )
    return len(rows)
