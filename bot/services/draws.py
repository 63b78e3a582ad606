"""Draw use cases: prepare (commit), run, show, reveal, verify, redraw.

Each function runs inside the caller's transaction; a DomainError leaves it to the
caller to roll back, so a refused draw writes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot import localtime
from bot.config import Settings
from bot.domain import recusal as recusal_rules
from bot.domain import snapshot as snap
from bot.domain.draw import attr_keys
from bot.domain.draw import draw as pure_draw
from bot.domain.model import (
    Category,
    DomainError,
    Duty,
    Enterprise,
    History,
    Inspector,
    PersonKind,
    Selection,
    Status,
    Team,
)
from bot.domain.results import Conclusion
from bot.domain.risk import PROBLEMS, classify
from bot.domain.status import DrawStatus, TaskStatus
from bot.domain.tickets import check_reveal, commitment, make_seed
from storage import audit
from storage.models import (
    DrawRow,
    EnterpriseRow,
    InspectorRow,
    SelectionRow,
    TaskRow,
    TeamMemberRow,
)
from storage.repos import common as common_repo
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import results as results_repo
from storage.uow import Session

from .tasks import ensure_task, existing_task, spec_for

ENTROPY_LIMIT = 200
Progress = Callable[[str, int, int], None]


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def enterprise(row: EnterpriseRow, extra: Iterable[str] = ()) -> Enterprise:
    """The pure rules' view of a library row; ``extra``: further columns a campaign
    filters on (their text goes into ``attrs``, and so into the draw's snapshot)."""
    attrs = tuple(
        sorted((k, _text(getattr(row, k, ""))) for k in set(extra) if _text(getattr(row, k, "")))
    )
    return Enterprise(
        row.uscc,
        row.name,
        Category(row.category),
        tuple(row.pollutants or ()),
        Status(row.status),
        row.region or "",
        row.industry or "",
        (row.credit_rating or "").strip(),
        (row.performance_grade or "").strip(),
        bool(row.positive_list),
        (getattr(row, "risk_class", "") or "").strip(),
        attrs,
    )


def inspector(row: InspectorRow) -> Inspector:
    return Inspector(
        row.cert,
        row.name,
        row.department or "",
        PersonKind(row.kind),
        Duty(row.duty),
        tuple(row.expertise or ()),
        row.region or "",
    )


async def history_for(session: Session, year: int) -> dict[str, History]:
    """Each object's history for a draw of ``year``: valid draws and imported inspections
    (``ssj import history``) alike count as draws; per object its draws in ``year``, its
    last draw by the (year, quarter) of the task that drew it (imported: 年度, 季度) and
    that draw's team, and the problems found by approved results and imported
    inspections since ``year - 1`` (for the risk class).

    Within one quarter a draw of the system counts as later than an imported inspection,
    and a later draw as later than an earlier one.
    """
    count: dict[str, int] = {}
    imported: dict[str, int] = {}
    last: dict[str, tuple[int, int, int, datetime, int]] = {}
    for uscc, drawn_at, task_year, task_quarter, sel_id in await draws_repo.valid_draw_history(
        session
    ):
        if task_year == year:
            count[uscc] = count.get(uscc, 0) + 1
        key = (task_year, task_quarter or 1, 1, drawn_at or datetime.min, sel_id)
        if uscc not in last or key > last[uscc]:
            last[uscc] = key
    old_rows = await library_repo.imported_history(session)
    by_id = {}
    problems: dict[str, set[tuple[int, int]]] = {}
    for h in old_rows:
        if h.year == year:
            count[h.uscc] = count.get(h.uscc, 0) + 1
            imported[h.uscc] = imported.get(h.uscc, 0) + 1
        key = (h.year, h.quarter, 0, datetime.combine(h.inspected_on, datetime.min.time()), h.id)
        by_id[h.id] = h
        if h.uscc not in last or key > last[h.uscc]:
            last[h.uscc] = key
        number = _problem(h.conclusion)
        if number and h.year >= year - 1:
            problems.setdefault(h.uscc, set()).add((h.year, number))
    for uscc, inspected_on, conclusion, _ref, _dept in await results_repo.reviewed_results(
        session, year - 1
    ):
        number = _problem(conclusion)
        day = common_repo.as_date(inspected_on)
        if number and day is not None:
            problems.setdefault(uscc, set()).add((day.year, number))
    teams = await draws_repo.active_members(session, [k[4] for k in last.values() if k[2] == 1])
    out: dict[str, History] = {}
    for u in set(last) | set(problems):
        k = last.get(u)
        team: tuple[str, ...] = ()
        if k is not None:
            team = (
                tuple(m.cert for m in teams.get(k[4], []))
                if k[2] == 1
                else tuple(by_id[k[4]].inspectors or ())
            )
        out[u] = History(
            count.get(u, 0),
            None,
            team,
            None,
            (k[0], k[1]) if k is not None else None,
            tuple(sorted(problems.get(u, ()))),
            imported.get(u, 0),
            k is not None and k[2] == 0,
        )
    return out


async def current_classes(
    session: Session, settings: Settings, year: int, pool: list[Enterprise] | None = None
) -> dict[str, str]:
    """{USCC: 信用风险分类} as a draw of ``year`` would derive them now."""
    pool = (
        pool
        if pool is not None
        else [enterprise(e) for e in await library_repo.enterprises(session)]
    )
    return classify(pool, await history_for(session, year), year, settings.rules())


def _problem(conclusion: str) -> int | None:
    """The conclusion's number when it found a problem (责令整改 … 涉嫌犯罪)."""
    try:
        number = Conclusion(conclusion).number
    except ValueError:
        return None
    return number if number in PROBLEMS else None


async def prepare(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    today: date,
    new_secret: Callable[[], str] = lambda: secrets.token_hex(32),
) -> DrawRow:
    """Record the commitment of the task's next draw (``today``: a quarterly task the
    draw creates must be of the previous, this or the next year)."""
    task = await ensure_task(session, settings, task_id, actor, today)
    valid = await draws_repo.draw_with_status(session, task.id, DrawStatus.VALID)
    if valid is not None:
        raise DomainError("already_drawn", task=task.id, draw_id=valid.id)
    return await _prepared(session, task, actor, new_secret)


async def _prepared(
    session: Session, task: TaskRow, actor: str, new_secret: Callable[[], str]
) -> DrawRow:
    row = await draws_repo.draw_with_status(session, task.id, DrawStatus.PREPARED)
    if row is not None:
        return row
    secret = new_secret()
    row = DrawRow(
        task_id=task.id,
        status=DrawStatus.PREPARED,
        commitment=commitment(secret),
        secret=secret,
        prepared_by=actor,
    )
    session.add(row)
    await session.flush()
    await audit.append(
        session, actor, "draw.prepare", task.id, {"draw_id": row.id, "commitment": row.commitment}
    )
    return row


async def run(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    now: datetime,
    entropy: str = "",
    redraw: bool = False,
    reason: str = "",
    progress: Progress | None = None,
    new_secret: Callable[[], str] | None = None,
) -> DrawRow:
    """Run the task's draw at ``now`` (the caller's clock: the draw's time, and the void
    time of the draw a redraw replaces; the day it is drawn on is its date)."""
    stamp = now if now.tzinfo is None else now.astimezone(localtime.CST).replace(tzinfo=None)
    today = stamp.date()
    entropy = (entropy or "").strip()
    if len(entropy) > ENTROPY_LIMIT:
        raise DomainError("entropy_too_long", limit=ENTROPY_LIMIT)
    task = await ensure_task(session, settings, task_id, actor, today)
    valid = await draws_repo.draw_with_status(session, task.id, DrawStatus.VALID)
    if valid is not None and not redraw:
        raise DomainError("already_drawn", task=task.id, draw_id=valid.id)
    if redraw:
        valid = check_redraw(task, valid, reason)
        valid.status, valid.void_reason, valid.voided_at = DrawStatus.VOID, reason.strip(), stamp
        await session.flush()
        await audit.append(
            session, actor, "draw.void", task.id, {"draw_id": valid.id, "reason": reason.strip()}
        )
    row = await _prepared(session, task, actor, new_secret or (lambda: secrets.token_hex(32)))
    entropy = entropy or row.entropy or ""  # entropy given earlier (chat: 随机数) still counts
    if progress:
        progress("load", 0, 3)
    spec = spec_for(task, today)
    extra = attr_keys(spec.object_filter)
    pool = [enterprise(e, extra) for e in await library_repo.enterprises(session)]
    people = [inspector(p) for p in await library_repo.inspectors(session)]
    conflicts = frozenset((c.cert, c.uscc) for c in await library_repo.conflicts(session))
    history = await history_for(session, task.year)
    rules = settings.rules()
    seed = make_seed(row.secret, entropy)
    if progress:
        progress("draw", 1, 3)
    result = pure_draw(pool, people, conflicts, history, rules, spec, seed)
    snapshot = snap.make(pool, people, conflicts, history, rules, spec, dict(result.classes))
    if progress:
        progress("save", 2, 3)
    row.status, row.entropy, row.seed = DrawStatus.VALID, entropy, seed
    row.pool_digest, row.algorithm = snap.digest(snapshot), result.algorithm
    row.snapshot, row.result = snapshot, [s.to_json() for s in result.selections]
    row.drawn_at, row.drawn_by = stamp, actor
    await session.flush()
    for pos, sel in enumerate(result.selections):
        srow = SelectionRow(
            draw_id=row.id,
            task_id=task.id,
            position=pos,
            uscc=sel.uscc,
            name=sel.name,
            category=sel.category.value,
            ticket=sel.ticket,
            risk_class=sel.risk_class,
            reason=sel.reason,
        )
        session.add(srow)
        await session.flush()
        seq = 0
        for team in sel.teams:
            # 辅助人员 are members of their team like officers (they get the assignment),
            # marked as such
            for cert in team.members + team.auxiliary:
                session.add(
                    TeamMemberRow(
                        selection_id=srow.id,
                        department=team.department,
                        cert=cert,
                        seq=seq,
                        auxiliary=cert in team.auxiliary,
                    )
                )
                seq += 1
    await session.flush()
    await audit.append(
        session,
        actor,
        "draw.run",
        task.id,
        {
            "draw_id": row.id,
            "commitment": row.commitment,
            "entropy": entropy,
            "pool_digest": row.pool_digest,
            "selected": len(result.selections),
            "quotas": [
                {
                    "category": q.category.value,
                    "eligible": q.eligible,
                    "quota": q.quota,
                    **(
                        {
                            "by_ratio": q.by_ratio,
                            "by_coverage": q.by_coverage,
                            "strata": [x.to_json() for x in q.strata],
                        }
                        if q.strata
                        else {}
                    ),
                }
                for q in result.quotas
            ],
            "workload_cap": result.workload_cap,
            "redraw": redraw,
        },
    )
    if progress:
        progress("done", 3, 3)
    return row


def check_redraw(task: TaskRow, valid: DrawRow | None, reason: str) -> DrawRow:
    """A redraw needs a reason and a valid draw to void, of a task not yet published;
    returns that draw."""
    if not (reason or "").strip():
        raise DomainError("redraw_needs_reason", task=task.id)
    if task.status == TaskStatus.PUBLISHED:
        raise DomainError("redraw_published", task=task.id)
    if valid is None:
        raise DomainError("redraw_nothing", task=task.id)
    return valid


async def prepare_redraw(
    session: Session,
    task_id: str,
    reason: str,
    actor: str,
    new_secret: Callable[[], str] = lambda: secrets.token_hex(32),
) -> tuple[DrawRow, DrawRow]:
    """A redraw is a draw: its commitment is recorded (and shown) before it is run.

    Returns (the valid draw a ``run(..., redraw=True)`` would void, the prepared draw it
    would use). Nothing is voided here. A task id nobody has used was never drawn.
    """
    task = await draws_repo.task(session, (task_id or "").strip().upper())
    if task is None:
        raise DomainError("redraw_nothing", task=(task_id or "").strip().upper())
    valid = check_redraw(
        task, await draws_repo.draw_with_status(session, task.id, DrawStatus.VALID), reason
    )
    return valid, await _prepared(session, task, actor, new_secret)


async def valid_draw(session: Session, task_id: str) -> tuple[TaskRow, DrawRow]:
    task = await existing_task(session, task_id)
    row = await draws_repo.draw_with_status(session, task.id, DrawStatus.VALID)
    if row is None:
        raise DomainError("not_drawn_task", task=task.id)
    return task, row


async def current_selections(session: Session, row: DrawRow) -> list[tuple[int, Selection]]:
    """(编号, selection) with teams as they stand after recusals.

    A team's rows hold officers and 辅助人员 alike (in the order chosen), the latter
    marked ``auxiliary``.
    """
    sels = await draws_repo.selections(session, row.id)
    members = await draws_repo.active_members(session, [s.id for s in sels])
    out: list[tuple[int, Selection]] = []
    for s in sels:
        teams: dict[str, tuple[list[str], list[str]]] = {}
        for m in members.get(s.id, []):
            officers, auxiliary = teams.setdefault(m.department, ([], []))
            (auxiliary if m.auxiliary else officers).append(m.cert)
        out.append(
            (
                s.id,
                Selection(
                    s.uscc,
                    s.name,
                    Category(s.category),
                    s.ticket,
                    tuple(Team(d, tuple(ms), tuple(xs)) for d, (ms, xs) in teams.items()),
                    s.risk_class or "",
                    s.reason or "",
                ),
            )
        )
    return out


def as_json(
    task_id: str, row: DrawRow, selections: Iterable[tuple[int, Selection]]
) -> dict[str, Any]:
    """``inspectors`` and ``teams`` ({department: [执法证号…]}) list the officers; a
    campaign with 辅助人员 adds ``auxiliary`` ([their 执法证号…]) to each selection.
    ``risk_class`` (A–D) is the object's 信用风险分类 when drawn and ``reason`` why it was
    drawn (coverage, stratum, floor, count); both null for draws made before risk
    classes."""
    return {
        "task": task_id,
        "draw_id": row.id,
        "commitment": row.commitment,
        "pool_digest": row.pool_digest,
        "algorithm": row.algorithm,
        "selections": [
            {
                "ref": ref,
                **{k: v for k, v in s.to_json().items() if k != "teams"},
                "risk_class": s.risk_class or None,
                "reason": s.reason or None,
                "teams": {t.department: list(t.members) for t in s.teams},
            }
            for ref, s in selections
        ],
    }


async def reveal(
    session: Session, task_id: str, actor: str, now: datetime
) -> dict[str, str | None]:
    task, row = await valid_draw(session, task_id)
    if row.revealed_at is None:
        row.revealed_at = now
        await audit.append(session, actor, "draw.reveal", task.id, {"draw_id": row.id})
    return {
        "commitment": row.commitment,
        "secret": row.secret,
        "entropy": row.entropy,
        "seed": row.seed,
    }


@dataclass
class VerifyReport:
    ok: bool
    draw_id: int
    problems: list[str] = field(default_factory=list)  # codes for templates/text/verify.j2
    checked: int = 0


async def verify(session: Session, task_id: str) -> VerifyReport:
    """Recompute from the recorded seed and pool snapshot, then replay recusals."""
    task, row = await valid_draw(session, task_id)
    rep = VerifyReport(True, row.id)
    recorded_snapshot = row.snapshot or {}
    if not check_reveal(row.commitment, row.secret):
        rep.problems.append("commitment")
    if row.seed != make_seed(row.secret, row.entropy):
        rep.problems.append("seed")
    if snap.digest(recorded_snapshot) != row.pool_digest:
        rep.problems.append("digest")
    inp = snap.inputs(recorded_snapshot)
    # method 3: every pool object's class as the snapshot's own inputs give it
    if snap.derived_classes(inp) != snap.recorded_classes(recorded_snapshot):
        rep.problems.append("risk_classes")
    again = pure_draw(
        inp.pool, inp.inspectors, inp.conflicts, inp.history, inp.rules, inp.spec, row.seed
    )
    recorded = [Selection.from_json(s) for s in row.result or []]
    if list(again.selections) != recorded:
        rep.problems.append("selections")
    stored = [s for _, s in await current_selections(session, row)]
    if [(s.uscc, s.ticket, s.risk_class, s.reason) for s in stored] != [
        (s.uscc, s.ticket, s.risk_class, s.reason) for s in again.selections
    ]:
        rep.problems.append("stored_selections")
    requests = []
    for r in await draws_repo.approved_recusals(session, row.id):
        extra = frozenset((c[0], c[1]) for c in (r.conflicts or []))
        requests.append(
            (recusal_rules.Recusal(r.uscc, r.cert, r.swap_with, r.swap_uscc), inp.conflicts | extra)
        )
    objs = {o.uscc: o for o in inp.pool}
    try:
        replayed = recusal_rules.replay(
            again.selections,
            requests,
            objs,
            inp.inspectors,
            inp.history,
            inp.rules,
            inp.spec,
            row.seed,
        )
    except DomainError:
        replayed = None
    if replayed is None or [s.teams for s in replayed] != [s.teams for s in stored]:
        rep.problems.append("teams")
    rep.checked = len(again.selections)
    rep.ok = not rep.problems
    return rep


async def prepared_draws(session: Session) -> list[DrawRow]:
    return await draws_repo.draws_with_status(session, DrawStatus.PREPARED)


async def draw_by_id(session: Session, draw_id: int) -> DrawRow:
    row = await draws_repo.draw(session, draw_id)
    if row is None:
        raise DomainError("stale_button")
    return row


async def set_entropy(session: Session, task_id: str, entropy: str, actor: str) -> DrawRow:
    """Record public entropy on the prepared draw (after its commitment was shown)."""
    entropy = (entropy or "").strip()
    if len(entropy) > ENTROPY_LIMIT:
        raise DomainError("entropy_too_long", limit=ENTROPY_LIMIT)
    row = await draws_repo.draw_with_status(session, task_id, DrawStatus.PREPARED)
    if row is None:
        raise DomainError("not_prepared", task=task_id)
    row.entropy = entropy
    await session.flush()
    await audit.append(
        session,
        actor,
        "draw.entropy",
        task_id,
        {"draw_id": row.id, "commitment": row.commitment, "entropy": entropy},
    )
    return row
