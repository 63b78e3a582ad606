"""回避: request, decide, apply (swap or withdraw), register the conflict, audit all."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain import recusal as rules_
from bot.domain import snapshot as snap
from bot.domain.model import DomainError, Duty, Selection
from bot.domain.status import DrawStatus, RecusalStatus, TaskStatus
from storage import audit
from storage.models import ConflictRow, DrawRow, RecusalRow, TeamMemberRow
from storage.repos import assignments as assignments_repo
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import people as people_repo
from storage.repos import recusals as recusals_repo
from storage.uow import Session

from .assignments import draw_members
from .draws import current_selections, valid_draw


async def request(
    session: Session,
    task_id: str,
    uscc: str,
    cert: str,
    reason: str,
    actor: str,
    swap_with: str | None = None,
) -> RecusalRow:
    task, row = await valid_draw(session, task_id)
    if task.status == TaskStatus.PUBLISHED:
        raise DomainError("task_published", task=task.id, action="recuse")
    if not (reason or "").strip():
        raise DomainError("empty_reason")
    sels = dict((s.uscc, s) for _, s in await current_selections(session, row))
    sel = sels.get(uscc)
    if sel is None:
        raise DomainError("not_drawn", uscc=uscc)
    if cert not in sel.inspectors + sel.auxiliary:
        raise DomainError("not_on_team", uscc=uscc, name=sel.name, cert=cert)
    # one pending request per person and object: the draw's row is locked first
    # (PostgreSQL) so two requests arriving together cannot both pass this check
    await recusals_repo.lock_draw(session, row.id)
    pending = await recusals_repo.pending_id(session, row.id, uscc, cert)
    if pending is not None:
        raise DomainError("recusal_already_pending", name=sel.name, cert=cert, recusal_id=pending)
    if swap_with and not await people_repo.exists(session, swap_with):
        raise DomainError("no_inspector", cert=swap_with)
    if swap_with:  # refused now, not at the decision, if the exchange cannot be made
        await _plan(session, row, rules_.Recusal(uscc, cert, swap_with))
    rec = RecusalRow(
        draw_id=row.id,
        uscc=uscc,
        cert=cert,
        reason=reason.strip(),
        swap_with=swap_with or None,
        requested_by=actor,
    )
    session.add(rec)
    await session.flush()
    await audit.append(
        session,
        actor,
        "recusal.request",
        task.id,
        {
            "recusal_id": rec.id,
            "uscc": uscc,
            "cert": cert,
            "reason": rec.reason,
            "swap_with": swap_with,
        },
    )
    return rec


async def decide(
    session: Session, recusal_id: int, approve: bool, actor: str, now: datetime, note: str = ""
) -> tuple[RecusalRow, list[str]]:
    """Approve (apply) or reject a pending request at ``now``. Returns (row, changed
    USCCs)."""
    rec = await recusals_repo.get(session, recusal_id)
    if rec is None or rec.status != RecusalStatus.PENDING:
        raise DomainError("recusal_not_pending", recusal_id=recusal_id)
    draw = await assignments_repo.draw(session, rec.draw_id)
    if draw is None:
        raise DomainError("recusal_not_pending", recusal_id=recusal_id)
    task = await draws_repo.task(session, draw.task_id)
    if approve and (
        draw.status != DrawStatus.VALID
        or (task is not None and task.status == TaskStatus.PUBLISHED)
    ):
        # after publication the published teams stay as published; a voided draw's
        # teams no longer exist
        if draw.status != DrawStatus.VALID:
            raise DomainError("recusal_not_pending", recusal_id=recusal_id)
        raise DomainError("task_published", task=draw.task_id, action="recuse")
    rec.decided_by, rec.decided_at = actor, now
    if not approve:
        rec.status = RecusalStatus.REJECTED
        await audit.append(
            session, actor, "recusal.reject", draw.task_id, {"recusal_id": rec.id, "note": note}
        )
        return rec, []
    before_pairs, after, extra, req = await _plan(
        session, draw, rules_.Recusal(rec.uscc, rec.cert, rec.swap_with)
    )
    rec.swap_uscc = req.swap_uscc
    rec.status, rec.conflicts = RecusalStatus.APPROVED, sorted([list(p) for p in extra])
    rec.seq = await draws_repo.next_recusal_seq(session, draw.id)
    changed = await _apply_changes(session, before_pairs, after, bool(rec.swap_with))
    if not await recusals_repo.conflict_registered(session, rec.cert, rec.uscc):
        session.add(ConflictRow(cert=rec.cert, uscc=rec.uscc, note=rec.reason, source="recusal"))
        await audit.append(
            session,
            actor,
            "conflict.register",
            rec.uscc,
            {"cert": rec.cert, "note": rec.reason, "source": "recusal"},
        )
    await session.flush()
    await audit.append(
        session,
        actor,
        "recusal.approve",
        draw.task_id,
        {
            "recusal_id": rec.id,
            "uscc": rec.uscc,
            "cert": rec.cert,
            "swap_with": rec.swap_with,
            "swap_uscc": rec.swap_uscc,
            "teams": {
                u: list(s.inspectors + s.auxiliary)
                for u, s in ((s.uscc, s) for s in after)
                if u in changed
            },
        },
    )
    return rec, changed


Plan = tuple[
    list[tuple[int, Selection]], tuple[Selection, ...], frozenset[tuple[str, str]], rules_.Recusal
]


async def _plan(session: Session, draw: DrawRow, req: rules_.Recusal) -> Plan:
    """The teams after granting ``req`` now: (before pairs, after, new conflicts, resolved
    request). Raises the domain's refusal (e.g. a swap partner with a conflict)."""
    inp = snap.inputs(draw.snapshot or {})
    live = frozenset((c.cert, c.uscc) for c in await library_repo.conflicts(session))
    off_duty = frozenset(
        (p.cert, req.uscc)
        for p in await library_repo.inspectors(session)
        if p.duty != Duty.ON.value
    )
    extra = (live | off_duty | {(req.cert, req.uscc)}) - inp.conflicts
    before_pairs = await current_selections(session, draw)
    before = tuple(s for _, s in before_pairs)
    after = rules_.apply(
        before,
        req,
        {o.uscc: o for o in inp.pool},
        inp.inspectors,
        inp.conflicts | extra,
        inp.history,
        inp.rules,
        inp.spec,
        draw.seed,
    )
    return before_pairs, after, extra, rules_.resolved(before, after, req)


async def _apply_changes(
    session: Session,
    before_pairs: list[tuple[int, Selection]],
    after: tuple[Selection, ...],
    swap: bool,
) -> list[str]:
    changed = []
    for (sel_id, old), new in zip(before_pairs, after, strict=True):
        if old == new:
            continue
        changed.append(old.uscc)
        rows = await assignments_repo.active_rows(session, sel_id)
        by_cert = {r.cert: r for r in rows}
        max_seq = max((r.seq for r in rows), default=-1)
        for old_team, new_team in zip(old.teams, new.teams, strict=True):
            # officers and 辅助人员 each change only within their own group
            for old_members, new_members, aux in (
                (old_team.members, new_team.members, False),
                (old_team.auxiliary, new_team.auxiliary, True),
            ):
                gone = [c for c in old_members if c not in new_members]
                came = [c for c in new_members if c not in old_members]
                # a swap exchanges one for one (as before: any unmatched leaver stays)
                pairs = zip(gone, came, strict=False) if swap else ((g, None) for g in gone)
                for g, c in pairs:
                    r = by_cert[g]
                    r.active, r.ended_reason = False, "swapped" if swap else "recused"
                    if swap:
                        session.add(
                            TeamMemberRow(
                                selection_id=sel_id,
                                department=r.department,
                                cert=c,
                                seq=r.seq,
                                auxiliary=aux,
                            )
                        )
                if not swap:
                    for c in came:
                        max_seq += 1
                        session.add(
                            TeamMemberRow(
                                selection_id=sel_id,
                                department=new_team.department,
                                cert=c,
                                seq=max_seq,
                                auxiliary=aux,
                            )
                        )
    await session.flush()
    return changed


async def recuse(
    session: Session,
    task_id: str,
    uscc: str,
    cert: str,
    reason: str,
    actor: str,
    swap_with: str | None = None,
    *,
    now: datetime,
) -> list[str]:
    """Request and approve at once (a supervisor acting on a paper request)."""
    rec = await request(session, task_id, uscc, cert, reason, actor, swap_with)
    _, changed = await decide(session, rec.id, True, actor, now)
    return changed


async def get(session: Session, recusal_id: int) -> RecusalRow | None:
    return await recusals_repo.get(session, recusal_id)


@dataclass
class Partner:
    """The result of looking up the partner named in 对调: the inspector, or why not
    (a chat text key and its parameters)."""

    cert: str = ""
    name: str = ""
    refusal: str = ""
    params: dict = field(default_factory=dict)


async def swap_partner(session: Session, ref: int, who: str, asker: str) -> Partner:
    """The member named ``who`` (执法证号 or name) of another team of ``ref``'s draw,
    as ``asker`` may exchange objects with."""
    sel = await assignments_repo.selection(session, ref)
    if sel is None:
        raise DomainError("no_assignment", ref=ref)
    teams = await draw_members(session, sel.draw_id)
    elsewhere = {c for r, certs in teams.items() if r != ref for c in certs} - set(teams[ref])
    rows = await people_repo.by_cert_or_name(session, who)
    exact = [r for r in rows if r.cert == who] or rows
    if not exact:
        return Partner(refusal="chat.swap_unknown", params={"who": who})
    if exact[0].cert == asker:
        return Partner(refusal="chat.swap_self")
    found = [r for r in exact if r.cert in elsewhere]
    if not found:
        return Partner(refusal="chat.swap_not_in_draw", params={"who": who, "ref": ref})
    if len(found) > 1:
        return Partner(
            refusal="chat.swap_ambiguous",
            params={"who": who, "people": [(r.name, r.cert) for r in found]},
        )
    return Partner(found[0].cert, found[0].name)


__all__ = [
    "request",
    "decide",
    "recuse",
    "get",
    "swap_partner",
    "Partner",
    "pending_team",
    "affected",
]


async def pending_team(session: Session, recusal_id: int) -> dict:
    """Teams of the recusal's draw before the decision, and the 编号 of its object."""
    rec = await recusals_repo.get(session, recusal_id)
    if rec is None:
        raise DomainError("recusal_not_pending", recusal_id=recusal_id)
    teams = await draw_members(session, rec.draw_id)
    sels = {s.uscc: s.id for s in await draws_repo.selections(session, rec.draw_id)}
    return {"ref": sels.get(rec.uscc), "teams": teams}


async def affected(session: Session, rec: RecusalRow, before: dict) -> dict[int, list[str]]:
    """编号 -> the team before, for every object whose team the decision changed."""
    now = await draw_members(session, rec.draw_id)
    return {
        ref: before["teams"].get(ref, [])
        for ref, certs in now.items()
        if certs != before["teams"].get(ref, [])
    }
