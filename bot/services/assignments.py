"""Assignments: a team member's view of a drawn object (编号 = selection id)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.domain.items import applicable
from bot.domain.model import DomainError
from bot.domain.results import State, least_advanced, offsite_allowed
from bot.domain.status import DrawStatus, TaskStatus
from storage.models_chat import ResultRow
from storage.repos import assignments as assignments_repo
from storage.repos import common as common_repo
from storage.repos import draws as draws_repo
from storage.repos import library as library_repo
from storage.repos import people as people_repo
from storage.repos import results as results_repo
from storage.uow import Session


@dataclass
class Assignment:
    ref: int
    task_id: str
    task_name: str
    deadline: date | None
    uscc: str
    name: str
    category: str
    address: str
    industry: str
    pollutants: list[str]
    items: list[tuple[int, str]]
    team: list[tuple[str, str, str]]  # (cert, name, 消息账号)
    offsite_ok: bool
    accepted: bool
    result_status: str
    drawn_on: date | None
    departments: tuple[str, ...] = ()  # the departments with a team on it (joint: several)
    # per member: their own department's result state, and whether they accepted
    member_status: dict[str, str] = field(default_factory=dict)
    member_accepted: dict[str, bool] = field(default_factory=dict)
    published: bool = False  # the task is published: its life has ended
    member_department: dict[str, str] = field(default_factory=dict)
    # per department: its result (None: nothing entered yet)
    results: dict[str, ResultRow | None] = field(default_factory=dict)
    risk_class: str = ""  # 信用风险分类 when drawn; A: 非现场检查 suggested (第十五条)
    reason: str = ""  # why it was drawn (coverage, stratum, floor, count)

    def status_for(self, cert: str) -> str:
        return self.member_status.get(cert, self.result_status)

    def accepted_by(self, cert: str) -> bool:
        return self.member_accepted.get(cert, self.accepted)

    def result_for(self, cert: str) -> ResultRow | None:
        return self.results.get(self.member_department.get(cert, ""))

    def department_certs(self, cert: str) -> list[str]:
        """The members of ``cert``'s own department's team (who share its result)."""
        dept = self.member_department.get(cert)
        return [c for c, d in self.member_department.items() if d == dept]


async def load(session: Session, ref: int, cert: str | None = None) -> Assignment:
    """The assignment ``ref``; with ``cert``, only if that person is on its team now."""
    sel = await assignments_repo.selection(session, ref)
    draw = await assignments_repo.draw(session, sel.draw_id) if sel else None
    if sel is None or draw is None or draw.status != DrawStatus.VALID:
        raise DomainError("no_assignment", ref=ref)
    members = (await draws_repo.active_members(session, [ref])).get(ref, [])
    if cert is not None and cert not in [m.cert for m in members]:
        raise DomainError("not_your_assignment", ref=ref)
    task = await draws_repo.task(session, sel.task_id)
    if task is None:
        raise DomainError("no_assignment", ref=ref)
    ent = await assignments_repo.enterprise(session, sel.uscc)
    people = await people_repo.by_certs(session, [m.cert for m in members])
    items = [(i.seq, i.name, i.pollutant) for i in await library_repo.items(session)]
    pollutants = list(ent.pollutants or []) if ent else []
    results = await results_repo.of_object(session, ref)
    mine = next((m for m in members if m.cert == cert), None)
    states = {r.department: State(r.status) for r in results}
    member_status = {m.cert: states.get(m.department, State.NOT_ENTERED).value for m in members}
    if mine is not None:  # a member sees their own department's result
        status = member_status[mine.cert]
    else:  # a supervisor sees the object's state across departments
        teams = {m.department for m in members} | set(states)
        status = least_advanced([states.get(d, State.NOT_ENTERED) for d in teams]).value
    return Assignment(
        ref,
        task.id,
        task.name,
        task.deadline,
        sel.uscc,
        sel.name,
        sel.category,
        ent.address if ent else "",
        ent.industry if ent else "",
        pollutants,
        applicable(items, pollutants, sel.category),
        [
            (
                m.cert,
                people[m.cert].name if m.cert in people else m.cert,
                (people[m.cert].msg_account or "") if m.cert in people else "",
            )
            for m in members
        ],
        offsite_allowed(
            ent.credit_rating if ent else "",
            ent.performance_grade if ent else "",
            bool(ent and ent.positive_list),
            sel.risk_class or "",
        ),
        bool(mine and mine.accepted_at),
        status,
        common_repo.as_date(draw.drawn_at),
        tuple(dict.fromkeys(m.department for m in members)),
        member_status,
        {m.cert: m.accepted_at is not None for m in members},
        task.status == TaskStatus.PUBLISHED,
        {m.cert: m.department for m in members},
        {**{m.department: None for m in members}, **{r.department: r for r in results}},
        sel.risk_class or "",
        sel.reason or "",
    )


async def mine(session: Session, cert: str) -> list[int]:
    """编号 of the person's current assignments in valid draws, newest task first."""
    return await assignments_repo.refs_of(session, cert)


async def accept(session: Session, ref: int, cert: str, now: datetime) -> bool:
    """Mark accepted; False if it already was (the same click twice acts once)."""
    await load(session, ref, cert)
    m = await assignments_repo.active_member(session, ref, cert)
    if m is None:
        raise DomainError("not_your_assignment", ref=ref)
    if m.accepted_at is not None:
        return False
    m.accepted_at = now
    await session.flush()
    return True


async def draw_members(session: Session, draw_id: int) -> dict[int, list[str]]:
    sels = await draws_repo.selections(session, draw_id)
    members = await draws_repo.active_members(session, [s.id for s in sels])
    return {s.id: [m.cert for m in members.get(s.id, [])] for s in sels}
