"""Yearly statistics (issue 6, item 4): ``stats()`` and ``ssj stats --json`` agree with the
figures recomputed here independently from the raw rows (both databases); chat 统计 is
for 管理员 only and gives counts only in a group; the public variant counts published
tasks only."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from bot import cli, localtime
from bot.services import calendar, draws, publication, tasks
from bot.services import results as results_svc
from bot.services import stats as stats_svc
from storage.models import (
    DrawRow,
    EnterpriseRow,
    InspectorRow,
    SelectionRow,
    TaskRow,
    TeamMemberRow,
)
from storage.models_chat import ResultRow
from storage.models_publication import PublicationRow

from .harness import cycling_draft, reviewer_for, texts

YEAR = 2027
DONE = ("已审核", "已公示")
NOT_INSPECTED = "未检查：检查对象已关闭或无法联系"


async def _setup(bot) -> str:
    """Q1 drawn, every result approved, published on time; Q2 drawn, then redrawn (the
    first draw void), a few results entered and fewer approved; Q3 drawn, completed and
    published late. Three extra tasks: a joint task this bureau initiated, one it joined,
    a special campaign."""
    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        day = date(YEAR, 1, 1)
        while day <= date(YEAR, 12, 31):  # a Monday-to-Friday calendar, as overrides
            await calendar.set_day(s, day, day.weekday() < 5, "", "test")
            day += timedelta(days=1)
        admin = await s.scalar(select(InspectorRow.cert).where(InspectorRow.role == "管理员"))
        for tid, kind, initiator in (
            ("2027LH02", "joint", "其他部门"),
            ("2027ZX01", "special", ""),
        ):
            s.add(
                TaskRow(
                    id=tid,
                    bureau=bot.settings.region_code,
                    kind=kind,
                    name=f"{tid}任务",
                    year=YEAR,
                    quarter=2,
                    spec={"initiator": initiator} if initiator else {},
                    departments=[""],
                    items=[],
                )
            )
        # a joint task drawn and completed: each department records its own results
        await tasks.create_task(
            s,
            bot.settings,
            task_id="2027LH01",
            kind="joint",
            name="获嘉县2027年第二季度生态环境与市场监管联合抽查",
            year=YEAR,
            quarter=2,
            departments="市场监管",
            count=4,
            actor="test",
            today=localtime.today(),
        )
    for task in ("2027Q1", "2027Q2", "2027Q3", "2027LH01"):
        async with bot.sf() as s, s.begin():
            await draws.run(s, bot.settings, task, "test", now)
    async with bot.sf() as s, s.begin():
        await draws.run(s, bot.settings, "2027Q2", "test", now, redraw=True, reason="测试重抽")

    async def enter(task, count, approve):
        async with bot.sf() as s, s.begin():
            _, row = await draws.valid_draw(s, task)
            sels = await draws.current_selections(s, row)
            for i, (ref, sel) in enumerate(sels[:count]):
                await results_svc.submit(
                    s, ref, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
                )
                if i < approve:
                    await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")
            return len(sels)

    async def enter_joint(task):
        """Every department's result; the partner's differ, some more serious."""
        async with bot.sf() as s, s.begin():
            _, row = await draws.valid_draw(s, task)
            for i, (ref, sel) in enumerate(await draws.current_selections(s, row)):
                for j, team in enumerate(sel.teams):
                    await results_svc.submit(
                        s, ref, team.members[0], cycling_draft(i + 3 * j, now.date()), now, "t"
                    )
                    await results_svc.review(
                        s,
                        ref,
                        True,
                        await reviewer_for(s, ref),
                        now,
                        "t",
                        department=team.department,
                    )

    n1 = await enter("2027Q1", 10_000, 10_000)
    await enter_joint("2027LH01")
    async with bot.sf() as s, s.begin():
        await publication.publish(s, bot.settings, "2027LH01", "test", now + timedelta(days=3))
    await enter("2027Q2", 5, 2)
    await enter("2027Q3", 10_000, 10_000)
    async with bot.sf() as s, s.begin():
        await publication.publish(s, bot.settings, "2027Q1", "test", now + timedelta(days=10))
    async with bot.sf() as s, s.begin():
        await publication.publish(s, bot.settings, "2027Q3", "test", now + timedelta(days=60))
    assert n1 > 0
    return admin


def _workdays_after(start: date, n: int) -> date:
    d = start
    while n:
        d += timedelta(days=1)
        n -= d.weekday() < 5
    return d


async def _expected(s, public: bool = False) -> dict:
    """The figures from the raw rows, without bot.services.stats."""
    pubs = {p.task_id: p for p in (await s.execute(select(PublicationRow))).scalars()}
    tasks = [
        t
        for t in (await s.execute(select(TaskRow).where(TaskRow.year == YEAR))).scalars()
        if not public or t.id in pubs
    ]
    ids = {t.id for t in tasks}
    kinds = {"own_quarterly": 0, "joint_initiated": 0, "joint_joined": 0, "special": 0}
    for t in tasks:
        if t.kind == "quarterly":
            kinds["own_quarterly"] += 1
        elif t.kind == "special":
            kinds["special"] += 1
        elif (t.spec or {}).get("initiator") == "本部门":
            kinds["joint_initiated"] += 1
        else:
            kinds["joint_joined"] += 1
    own = kinds["own_quarterly"] + kinds["special"] + kinds["joint_initiated"]

    sels = [
        r
        for r in (
            await s.execute(
                select(
                    SelectionRow.id, SelectionRow.task_id, SelectionRow.uscc, SelectionRow.category
                )
                .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
                .where(DrawRow.status == "valid")
            )
        ).all()
        if r.task_id in ids
    ]
    # each object's results, one per department with a team on it (joint tasks: several)
    teams = set(
        (
            await s.execute(
                select(TeamMemberRow.selection_id, TeamMemberRow.department).where(
                    TeamMemberRow.active.is_(True)
                )
            )
        ).all()
    )
    found = {
        (r.selection_id, r.department): r for r in (await s.execute(select(ResultRow))).scalars()
    }
    units = {sel.id: [found.get((sid, d)) for sid, d in teams if sid == sel.id] for sel in sels}
    # the object's conclusion: the most serious any department reached
    serious = [
        "涉嫌犯罪已移送司法机关",
        "发现违法行为已立案调查",
        "已移送其他部门处理",
        "发现问题已责令整改",
        "未发现问题",
        NOT_INSPECTED,
    ]

    def done(sid):
        return bool(units[sid]) and all(r is not None and r.status in DONE for r in units[sid])

    def conclusion(sid):
        return min((r.conclusion for r in units[sid]), key=serious.index) if done(sid) else None

    q = select(EnterpriseRow).where(EnterpriseRow.status != "关闭")
    ents = (await s.execute(q)).scalars().all()
    coverage = {}
    for cat in ("重点监管", "一般监管", "特殊监管"):
        pool = [e.uscc for e in ents if e.category == cat]
        times = {u: sum(1 for r in sels if r.uscc == u) for u in pool}
        need = {"重点监管": 1, "特殊监管": 2, "一般监管": 1}[cat]  # all draws are of 2027
        coverage[cat] = {
            "objects": len(pool),
            "drawn": len({r.uscc for r in sels if r.category == cat}),
            "inspected": len(
                {
                    r.uscc
                    for r in sels
                    if r.category == cat and conclusion(r.id) not in (None, NOT_INSPECTED)
                }
            ),
            "by_rule": sum(1 for u in pool if times[u] >= need),
        }
    conclusions = {}
    for r in sels:
        c = conclusion(r.id)
        if c is not None:
            conclusions[c] = conclusions.get(c, 0) + 1
    drawn_tasks = {r.task_id for r in sels}
    complete = sum(1 for t in drawn_tasks if all(done(r.id) for r in sels if r.task_id == t))
    on_time = late = 0
    for t in ids & set(pubs):
        done_on = max(u.inspected_on for r in sels if r.task_id == t for u in units[r.id])
        if pubs[t].published_at.date() <= _workdays_after(done_on, 20):
            on_time += 1
        else:
            late += 1
    per = {}
    if not public:
        q = (
            select(TeamMemberRow.cert, SelectionRow.task_id)
            .join(SelectionRow, SelectionRow.id == TeamMemberRow.selection_id)
            .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
            .where(DrawRow.status == "valid", TeamMemberRow.active.is_(True))
        )
        for cert, task_id in (await s.execute(q)).all():
            if task_id in ids:
                per[cert] = per.get(cert, 0) + 1
    return {
        "kinds": kinds,
        "own": own,
        "coverage": coverage,
        "conclusions": conclusions,
        "tasks_drawn": len(drawn_tasks),
        "complete": complete,
        "on_time": on_time,
        "late": late,
        "per": per,
    }


def _compare(doc: dict, exp: dict) -> None:
    for k, n in exp["kinds"].items():
        assert doc["tasks"][k] == n, k
    assert doc["joint"]["own_tasks"] == exp["own"]
    ratio = round(100 * exp["kinds"]["joint_initiated"] / exp["own"], 1) if exp["own"] else None
    assert doc["joint"]["ratio"] == ratio
    assert doc["joint"]["joint_goal_met"] is (ratio is not None and ratio >= 35)
    for cat, c in exp["coverage"].items():
        got = doc["coverage"][cat]
        assert {k: got[k] for k in c} == c, cat
    assert {k: v for k, v in doc["results"]["by_conclusion"].items() if v} == exp["conclusions"]
    assert doc["completion"]["tasks"] == exp["tasks_drawn"]
    assert doc["completion"]["complete"] == exp["complete"]
    assert doc["publication"]["on_time"] == exp["on_time"]
    assert doc["publication"]["late"] == exp["late"]
    assert doc["publication"]["unknown"] == 0


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_stats_agree_with_raw_rows_and_the_cli(bot, capsys):
    await _setup(bot)
    async with bot.sf() as s:
        doc = await stats_svc.stats(s, bot.settings, YEAR)
        exp = await _expected(s)
        pub = await stats_svc.stats(s, bot.settings, YEAR, public=True)
        exp_pub = await _expected(s, public=True)
    _compare(doc, exp)
    assert {p["cert"]: p["inspections"] for p in doc["inspectors"]} == exp["per"]
    # the scenario exercises what it should: 1 of 5 own tasks joint (20 % < 35 %),
    # three complete tasks of four drawn (the joint one with two results per object),
    # two publications on time and one late
    assert doc["tasks"] == {
        "own_quarterly": 3,
        "joint_initiated": 1,
        "joint_joined": 1,
        "special": 1,
        "total": 6,
    }
    assert doc["joint"]["ratio"] == 20.0 and not doc["joint"]["joint_goal_met"]
    assert doc["completion"] == {"tasks": 4, "complete": 3, "rate": 75.0}
    assert (doc["publication"]["on_time"], doc["publication"]["late"]) == (2, 1)
    assert exp["coverage"]["重点监管"]["drawn"] > 0
    async with bot.sf() as s:  # the joint task's objects do have two results each
        per_object = (
            (await s.execute(select(ResultRow.selection_id).where(ResultRow.task_id == "2027LH01")))
            .scalars()
            .all()
        )
    assert len(per_object) == 8 and len(set(per_object)) == 4

    # the public variant: published tasks only, no inspectors
    _compare(pub, exp_pub)
    assert pub["tasks"]["total"] == 3 and "inspectors" not in pub
    assert pub["joint"]["ratio"] == 33.3  # published: Q1, Q3 and the joint task
    assert pub["results"]["total"] < doc["results"]["total"] or doc["results"]["total"] == 0

    # ssj stats --json prints the same figures
    capsys.readouterr()
    argv = ["--db", bot.url, "stats", "--year", str(YEAR), "--json"]
    code = await asyncio.to_thread(cli.main, argv)
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out) == json.loads(json.dumps(doc, ensure_ascii=False))
    code = await asyncio.to_thread(cli.main, ["--db", bot.url, "stats", "--year", str(YEAR)])
    assert code == 0 and "联合抽查占比：20.0%" in capsys.readouterr().out

    # an unknown calendar year: publications counted as unknown, never guessed
    async with bot.sf() as s:
        doc2030 = await stats_svc.stats(s, bot.settings, 2030)
    assert doc2030["tasks"]["total"] == 0 and doc2030["joint"]["ratio"] is None


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_stats_per_risk_class_agree_with_raw_rows(bot):
    """Per 信用风险分类: the library's objects under the class the independent reference
    (tests/unit/risk_reference.py) gives them for the year, each visit under the class
    recorded when drawn, problems among the inspected."""
    from bot.domain.model import RISK_CLASSES
    from tests.unit import risk_reference as ref

    await _setup(bot)
    async with bot.sf() as s:
        doc = await stats_svc.stats(s, bot.settings, YEAR)
        valid = (
            select(SelectionRow.id, SelectionRow.uscc, SelectionRow.risk_class, TaskRow.year)
            .join(DrawRow, DrawRow.id == SelectionRow.draw_id)
            .join(TaskRow, TaskRow.id == SelectionRow.task_id)
            .where(DrawRow.status == "valid")
        )
        sels = (await s.execute(valid)).all()
        results = (await s.execute(select(ResultRow))).scalars().all()
        ents = (await s.execute(select(EnterpriseRow))).scalars().all()
    by_sel: dict[int, list] = {}
    for r in results:
        by_sel.setdefault(r.selection_id, []).append(r)
    serious = [
        "涉嫌犯罪已移送司法机关",
        "发现违法行为已立案调查",
        "已移送其他部门处理",
        "发现问题已责令整改",
        "未发现问题",
        NOT_INSPECTED,
    ]
    numbers = {
        c: i
        for i, c in enumerate(
            [
                "未发现问题",
                "发现问题已责令整改",
                "发现违法行为已立案调查",
                "已移送其他部门处理",
                "涉嫌犯罪已移送司法机关",
                NOT_INSPECTED,
            ],
            1,
        )
    }
    records: dict[str, list] = {}
    uscc_of = {sel.id: sel.uscc for sel in sels}
    for r in results:
        if r.status in DONE and r.selection_id in uscc_of:
            records.setdefault(uscc_of[r.selection_id], []).append(
                ref.Record(r.inspected_on.year, 1, numbers[r.conclusion])
            )
    expected = {
        k: {"objects": 0, "visits": 0, "drawn": set(), "inspected": set(), "problems": set()}
        for k in RISK_CLASSES
    }
    for e in ents:
        if e.status != "关闭":
            o = draws.enterprise(e)
            expected[ref.risk_class(o, records.get(e.uscc, ()), YEAR)]["objects"] += 1
    for sel in sels:
        if sel.year != YEAR:
            continue
        cell = expected[sel.risk_class]
        cell["visits"] += 1
        cell["drawn"].add(sel.uscc)
        rows = by_sel.get(sel.id, [])
        if rows and all(r.status in DONE for r in rows):
            c = min((r.conclusion for r in rows), key=serious.index)
            if c != NOT_INSPECTED:
                cell["inspected"].add(sel.uscc)
                if numbers[c] in (2, 3, 4, 5):
                    cell["problems"].add(sel.uscc)
    got = doc["risk_classes"]
    assert list(got) == list(RISK_CLASSES)  # every draw here has classes
    for k, c in expected.items():
        assert (
            got[k]["objects"],
            got[k]["visits"],
            got[k]["drawn"],
            got[k]["inspected"],
            got[k]["problems"],
        ) == (
            c["objects"],
            c["visits"],
            len(c["drawn"]),
            len(c["inspected"]),
            len(c["problems"]),
        ), k
    assert sum(c["visits"] for c in got.values()) > 0
    charts = stats_svc.charts(doc)
    assert len(charts["class_frequency"]["rows"]) == 4 == len(charts["class_problems"]["rows"])


async def test_unknown_calendar_counts_as_unknown(bot):
    """Without the calendar overrides, 2027 may be unknown to chinese-calendar: then the
    publication is neither on time nor late."""
    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        await draws.run(s, bot.settings, "2027Q1", "test", now)
        _, row = await draws.valid_draw(s, "2027Q1")
        for i, (ref, sel) in enumerate(await draws.current_selections(s, row)):
            await results_svc.submit(
                s, ref, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
            )
            await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")
    async with bot.sf() as s, s.begin():
        await publication.publish(s, bot.settings, "2027Q1", "test", now + timedelta(days=5))
    async with bot.sf() as s:
        doc = await stats_svc.stats(s, bot.settings, YEAR)
        known = await calendar.year_known(s, YEAR)
    p = doc["publication"]
    assert p["published"] == 1
    if known:
        assert (p["on_time"], p["unknown"]) == (1, 0)
    else:
        assert (p["on_time"], p["late"], p["unknown"], p["rate"]) == (0, 0, 1, None)


@pytest.mark.slow  # make test only: make test-fast stays short
async def test_chat_stats_admins_only_counts_only_in_groups(bot):
    await _setup(bot)
    people = await bot.people()
    admin = next(a for a, p in people.items() if p.role == "管理员")
    inspector = next(a for a, p in people.items() if p.role != "管理员")
    refused = texts(await bot.say(inspector, "统计 2027"))
    assert "2027年度" not in refused and refused

    async with bot.sf() as s:
        ent_names = [n for (n,) in (await s.execute(select(EnterpriseRow.name))).all()]
        ent_codes = [c for (c,) in (await s.execute(select(EnterpriseRow.uscc))).all()]
    group = texts(await bot.group(admin, "统计 2027"))
    assert "2027年度" in group and "联合抽查占比：20.0%" in group
    assert "完成率：3/4" in group
    for word in ent_names + ent_codes + [p.name for p in people.values()]:
        assert word not in group

    private = texts(await bot.say(admin, "统计"))  # the current year by default
    assert "2027年度" in private
    assert not any(n in private for n in ent_names + ent_codes)
    assert any(p.name in private for p in people.values())  # per inspector, to the admin
    assert "无法识别年度" in texts(await bot.say(admin, "统计 去年"))
