"""Publication (一公开): refused until every result is approved, then published once;
the public pages (both databases) show published tasks only, and let anyone recompute
the draw's tickets with an independent implementation (consistent_sampler)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import re

import consistent_sampler
import openpyxl
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.domain import results as rules
from bot.domain.items import applicable
from bot.domain.model import DomainError
from bot.messages import GROUP
from bot.services import draws, plan, publication
from bot.services import results as results_svc
from storage import audit
from storage.models import AuditRow, EnterpriseRow, InspectorRow
from storage.models_chat import ResultRow
from storage.models_publication import PublicationRow
from storage.repos import library as library_repo

from .harness import FINDINGS, cycling_draft, reviewer_for, texts

TASK = "2027Q1"


async def _draw(bot):
    async with bot.sf() as s, s.begin():
        await draws.run(s, bot.settings, TASK, "test", bot.clock.now)
        admin = await s.scalar(select(InspectorRow.cert).where(InspectorRow.role == "管理员"))
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, TASK)
        return await draws.current_selections(s, row), admin


async def _enter(bot, sels, admin, approve=True):
    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        for i, (ref, sel) in enumerate(sels):
            await results_svc.submit(
                s, ref, sel.inspectors[0], cycling_draft(i, now.date()), now, "t"
            )
            if approve:
                await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")


async def _publish(bot, withhold=None):
    async with bot.sf() as s, s.begin():
        return await publication.publish(s, bot.settings, TASK, "管理员甲", bot.clock.now, withhold)


async def _complete(bot):
    sels, admin = await _draw(bot)
    await _enter(bot, sels, admin)
    return sels, admin


async def test_refused_listing_every_unapproved_object_then_published(bot):
    sels, admin = await _draw(bot)
    (r0, s0), (r1, s1), (r2, s2) = sels[:3]
    await _enter(bot, sels[3:], admin)
    await _enter(bot, [sels[1], sels[2]], admin, approve=False)
    async with bot.sf() as s, s.begin():
        await results_svc.review(
            s, r2, False, await reviewer_for(s, r2), bot.clock.now, "t", reason="日期有误"
        )
    with pytest.raises(DomainError) as err:
        await _publish(bot)
    assert err.value.code == "publish_incomplete"
    assert err.value.params["missing"] == [
        {"ref": r0, "name": s0.name, "status": "未录入", "department": ""},
        {"ref": r1, "name": s1.name, "status": "待审核", "department": ""},
        {"ref": r2, "name": s2.name, "status": "已退回", "department": ""},
    ]
    from bot.text import domain_message

    message = domain_message(err.value)
    assert all(x.name in message for x in (s0, s1, s2)) and "已退回" in message
    async with bot.sf() as s:  # a refusal writes nothing
        assert await s.get(PublicationRow, TASK) is None
        assert (await draws.valid_draw(s, TASK))[1].revealed_at is None
    now = bot.clock.now
    async with bot.sf() as s, s.begin():
        await results_svc.submit(s, r0, s0.inspectors[0], cycling_draft(0, now.date()), now, "t")
        await results_svc.submit(s, r2, s2.inspectors[0], cycling_draft(2, now.date()), now, "t")
        for ref in (r0, r1, r2):
            await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "t")
    doc = await _publish(bot)
    assert [o["uscc"] for o in doc["objects"]] == [s.uscc for _, s in sels]
    async with bot.sf() as s:
        statuses = {r.status for r in (await s.execute(select(ResultRow))).scalars()}
        _, row = await draws.valid_draw(s, TASK)
        actions = [a for (a,) in (await s.execute(select(AuditRow.action))).all()]
        assert (await audit.verify(s)).ok
    assert statuses == {"已公示"}
    assert row.revealed_at == bot.clock.now
    assert actions[-2:] == ["draw.reveal", "task.publish"] or actions.index(
        "draw.reveal"
    ) < actions.index("task.publish")


async def test_document_withheld_object_summary_and_push(bot):
    sels, _ = await _complete(bot)
    hidden = sels[1][1]
    doc = await _publish(bot, {hidden.uscc.lower(): "涉及国家秘密"})
    text = json.dumps(doc, ensure_ascii=False)
    assert hidden.uscc not in text and hidden.name not in text and "国家秘密" not in text
    assert doc["objects"][1] == {"no": 2, "withheld": True, "notice": "依法不予公开"}
    by_no = {i + 1: cycling_draft(i, bot.clock.now.date()).conclusion for i in range(len(sels))}
    for o in doc["objects"]:
        if o["withheld"]:
            continue
        c = by_no[o["no"]]
        assert o["conclusion"] == c.value and o["inspected_on"] == "2027-01-04"
        assert bool(o["findings"]) == (c in publication.PROBLEMS) and bool(o["outcome"]) == bool(
            o["findings"]
        )
        assert o["items"] and o["teams"] and all(t["inspectors"] for t in o["teams"])
    rectify = next(o for o in doc["objects"] if o.get("conclusion_no") == 2)
    assert "设置识别标志" in rectify["outcome"] and "2027-02-03" in rectify["outcome"]
    case = next(o for o in doc["objects"] if o.get("conclusion_no") == 3)
    assert "获环立字" in case["outcome"] and case["findings"] == FINDINGS
    s = doc["summary"]
    assert s["drawn"] == len(sels) and s["withheld"] == 1
    assert s["not_inspected"] == s["by_conclusion"][rules.Conclusion.NOT_INSPECTED.value]
    assert s["inspected"] + s["not_inspected"] == len(sels)
    assert s["problems_found"] == sum(1 for c in by_no.values() if c in publication.PROBLEMS)
    v = doc["verification"]
    assert v["seed"] == v["secret"] + ":" + v["entropy"]
    assert hashlib.sha256(v["secret"].encode()).hexdigest() == v["commitment"]
    async with bot.sf() as ses:
        row = await ses.get(PublicationRow, TASK)
        assert row.withheld == {hidden.uscc: "涉及国家秘密"} and row.document == doc
        assert row.digest == publication.digest(doc)
        entry = (
            await ses.execute(select(AuditRow).where(AuditRow.action == "task.publish"))
        ).scalar_one()
        assert "涉及国家秘密" in entry.data  # the reason stays internal, audited
        try:
            from storage.models_push import PushMessage
        except ModuleNotFoundError:
            return
        pushed = (
            (
                await ses.execute(
                    select(PushMessage).where(PushMessage.task_id == TASK).order_by(PushMessage.seq)
                )
            )
            .scalars()
            .all()
        )
    assert [p.kind for p in pushed] == ["发布结果", "基础库推送", "任务推送"]
    assert hidden.uscc not in json.dumps([p.payload for p in pushed], ensure_ascii=False)


async def test_publishing_twice_and_bad_withholding_are_refused(bot):
    sels, _ = await _complete(bot)
    for withhold, code in (
        ({"91410724000000000X": "理由"}, "withhold_not_drawn"),
        ({sels[0][1].uscc: "  "}, "withhold_needs_reason"),
    ):
        with pytest.raises(DomainError) as err:
            await _publish(bot, withhold)
        assert err.value.code == code
    async with bot.sf() as s:
        assert await s.get(PublicationRow, TASK) is None
    await _publish(bot)
    with pytest.raises(DomainError) as err:
        await _publish(bot)
    assert err.value.code == "already_published"


async def test_chat_publish_group_sees_counts_only(bot):
    people = await bot.people()
    admin = next(a for a, p in people.items() if p.role == "管理员")
    someone = next(a for a, p in people.items() if p.role != "管理员")
    sels, cert = await _draw(bot)
    await _enter(bot, sels[2:], cert)
    assert "只有管理员" in texts(await bot.group(someone, f"公示 {TASK}"))
    out = await bot.group(admin, f"公示 {TASK}")
    group = [r for r in out if r.room == GROUP]
    said = texts(group)
    assert "2 个检查对象" in said and "未录入 2" in said
    async with bot.sf() as s:
        names = [n for (n,) in (await s.execute(select(EnterpriseRow.name))).all()]
        usccs = [u for (u,) in (await s.execute(select(EnterpriseRow.uscc))).all()]
    assert not any(n in said for n in names) and not any(u in said for u in usccs)
    private = texts([r for r in out if r.room != GROUP and r.to == admin])
    assert sels[0][1].name in private and sels[1][1].name in private
    out = await bot.say(admin, f"公示 {TASK}")  # privately: the list
    assert sels[0][1].name in texts(out)
    await _enter(bot, sels[:2], cert)
    out = await bot.group(admin, f"公示 {TASK}")
    assert f"/public/tasks/{TASK}" in texts(out) and "已公示" in texts(out)
    out = await bot.say(admin, f"公示 {TASK}")
    assert "不能重复公示" in texts(out)


async def test_chat_publish_in_private_also_tells_the_group(bot):
    people = await bot.people()
    admin = next(a for a, p in people.items() if p.role == "管理员")
    await _complete(bot)
    out = await bot.say(admin, f"公示 {TASK}")
    assert [r.room for r in out] == ["private", GROUP]
    assert all(f"/public/tasks/{TASK}" in r.text for r in out)


async def _get(client, path, status=200):
    resp = await client.get(path)
    assert resp.status == status, (path, resp.status)
    return resp


async def test_public_pages_show_published_tasks_only_and_tickets_recompute(bot, aiohttp_client):
    client = await aiohttp_client(create_app(bot.settings))
    sels, _ = await _complete(bot)
    hidden = sels[1][1]
    closed = next(s for i, (_, s) in enumerate(sels) if i % 6 == 5)  # conclusion 6
    form = f"/public/forms/{TASK}/{sels[0][1].uscc}"
    for path in (
        f"/public/tasks/{TASK}",
        f"/public/tasks/{TASK}.xlsx",
        f"/public/tasks/{TASK}.json",
        form,
        "/public/tasks/2099Q1",
        "/public/plans/2027",
    ):
        await _get(client, path, 404)
    index = await (await _get(client, "/public/")).text()
    assert sels[0][1].name not in index and "暂无已公示" in index
    doc = await _publish(bot, {hidden.uscc: "涉及国家秘密"})

    page = await _get(client, f"/public/tasks/{TASK.lower()}")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    body = await page.text()
    assert 'name="viewport"' in body
    for o in doc["objects"]:
        assert (o["notice"] if o["withheld"] else o["name"]) in body
    assert hidden.name not in body and hidden.uscc not in body and "依法不予公开" in body
    v = doc["verification"]
    seed = html.unescape(re.search(r'data-testid="seed">([^<]*)<', body).group(1))
    secret = re.search(r'data-testid="secret">([^<]*)<', body).group(1)
    commitment = re.search(r'data-testid="commitment">([^<]*)<', body).group(1)
    assert hashlib.sha256(secret.encode()).hexdigest() == commitment == v["commitment"]
    assert seed.startswith(secret + ":")
    rows = re.findall(r'<tr data-uscc="([0-9A-Z]{18})" data-ticket="([0-9.]+)">', body)
    async with bot.sf() as s:
        pool = {e.uscc for e in await library_repo.enterprises(s)}
    assert {u for u, _ in rows} == pool - {hidden.uscc}
    for uscc, ticket in rows:  # an independent implementation recomputes every ticket
        assert consistent_sampler.first_ticket(uscc, seed).ticket_number == ticket
    drawn = {s.uscc: s.ticket for _, s in sels if s.uscc != hidden.uscc}
    assert {u: t for u, t in rows if u in drawn} == drawn
    ex = v["example"]
    assert ex["uscc"] == sels[0][1].uscc and ex["ticket"] in body
    assert consistent_sampler.first_ticket(ex["uscc"], seed).ticket_number == ex["ticket"]
    assert "如何复核" in body and v["pool_digest"] in body

    assert json.loads(await (await _get(client, f"/public/tasks/{TASK}.json")).text()) == doc
    index = await (await _get(client, "/public/")).text()
    assert f'href="/public/tasks/{TASK}"' in index and doc["task"]["name"] in index

    xlsx = await (await _get(client, f"/public/tasks/{TASK}.xlsx")).read()
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert wb.sheetnames == ["检查结果", "完成情况", "复核数据", "抽取名录"]
    rows_x = list(wb["检查结果"].iter_rows(values_only=True))
    assert rows_x[0][:3] == ("序号", "污染源名称", "统一社会信用代码")
    assert [r[2] for r in rows_x[1:] if r[2]] == [s.uscc for _, s in sels if s != hidden]
    facts = {k: val for k, val in wb["复核数据"].iter_rows(values_only=True)}
    assert facts["秘密随机数 S"] == v["secret"] and facts["种子 S:E"] == v["seed"]

    await _get(client, f"/public/forms/{TASK}/{hidden.uscc}", 404)  # withheld
    await _get(client, f"/public/forms/{TASK}/{closed.uscc}", 404)  # not inspected


async def test_the_audit_anchor_is_on_the_page_in_the_exports_and_the_push(bot, aiohttp_client):
    """The document pins the audit log's head at publication (the entry before
    task.publish); the page, .json, .xlsx and the three pushed messages all carry it."""
    client = await aiohttp_client(create_app(bot.settings))
    await _complete(bot)
    doc = await _publish(bot)
    anchor = doc["audit_anchor"]
    async with bot.sf() as s:
        rows = (await s.execute(select(AuditRow).order_by(AuditRow.id))).scalars().all()
        assert await audit.head(s) == (rows[-1].id, rows[-1].hash)
    by_id = {r.id: r for r in rows}
    assert by_id[anchor["seq"]].hash == anchor["hash"]
    assert by_id[anchor["seq"]].action == "draw.reveal"
    assert rows[-1].action == "task.publish" and rows[-1].id == anchor["seq"] + 1
    # task.publish records the document's digest, which covers the anchor
    assert json.loads(rows[-1].data)["digest"] == publication.digest(doc)

    body = await (await _get(client, f"/public/tasks/{TASK}")).text()
    assert re.search(r'data-testid="anchor-seq">(\d+)<', body).group(1) == str(anchor["seq"])
    assert re.search(r'data-testid="anchor-hash">([0-9a-f]{64})<', body).group(1) == anchor["hash"]
    note = re.search(r'data-testid="anchor-note">(.*?)</p>', body, re.S).group(1)
    assert "操作日志锚点" in note and "ssj audit verify --anchors" in note
    assert f"{anchor['seq']} {anchor['hash']}" in note
    assert (
        json.loads(await (await _get(client, f"/public/tasks/{TASK}.json")).text())["audit_anchor"]
        == anchor
    )
    xlsx = await (await _get(client, f"/public/tasks/{TASK}.xlsx")).read()
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    facts = {k: val for k, val in wb["复核数据"].iter_rows(values_only=True)}
    assert facts["操作日志锚点（编号 哈希）"] == f"{anchor['seq']} {anchor['hash']}"
    from storage.models_push import PushMessage

    async with bot.sf() as s:
        pushed = (
            (
                await s.execute(
                    select(PushMessage).where(PushMessage.task_id == TASK).order_by(PushMessage.seq)
                )
            )
            .scalars()
            .all()
        )
    assert len(pushed) == 3 and all(p.payload["audit_anchor"] == anchor for p in pushed)


async def test_a_document_published_before_anchors_still_renders(bot, aiohttp_client):
    client = await aiohttp_client(create_app(bot.settings))
    await _complete(bot)
    doc = await _publish(bot)
    async with bot.sf() as s, s.begin():
        row = await s.get(PublicationRow, TASK)
        row.document = {k: v for k, v in doc.items() if k != "audit_anchor"}
    body = await (await _get(client, f"/public/tasks/{TASK}")).text()
    assert doc["task"]["name"] in body and "操作日志锚点" not in body
    xlsx = await (await _get(client, f"/public/tasks/{TASK}.xlsx")).read()
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert "操作日志锚点（编号 哈希）" not in {
        k for k, _ in wb["复核数据"].iter_rows(values_only=True)
    }


async def test_why_each_object_was_drawn_is_on_the_published_record(bot, aiohttp_client):
    """domain.md "Risk-based draws": the class of every pool object and why each object
    was drawn (coverage, class stratum, floor) are part of the published record."""
    client = await aiohttp_client(create_app(bot.settings))
    sels, _ = await _complete(bot)
    doc = await _publish(bot)
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, TASK)
        snapshot = row.snapshot
    classes = {o["uscc"]: o["risk_class"] for o in snapshot["pool"]}
    why = {s.uscc: (s.risk_class, s.reason) for _, s in sels}
    words = {"coverage": "覆盖要求", "floor": "抽查比例下限"}
    for o in doc["objects"]:
        assert (o["risk_class"], o["reason"]) == why[o["uscc"]]
        assert o["risk_class"] == classes[o["uscc"]] and o["risk_class"] in "ABCD"
        assert o["drawn_for"] == (
            f"风险分层（{o['risk_class']} 类）" if o["reason"] == "stratum" else words[o["reason"]]
        )
    assert {o["reason"] for o in doc["objects"]} >= {"coverage"}
    pool = {p["uscc"]: p for p in doc["verification"]["pool"]}
    assert all(pool[u]["risk_class"] == c for u, c in classes.items())
    assert doc["verification"]["algorithm"].startswith("ssj-draw/3")
    assert doc["verification"]["rules"]["risk_factors"] == {
        "A": "1/2",
        "B": "1",
        "C": "3/2",
        "D": "2",
    }
    by_class = doc["summary"]["by_risk_class"]
    assert sum(c["drawn"] for c in by_class.values()) == len(sels)
    body = await (await _get(client, f"/public/tasks/{TASK}")).text()
    assert body.count('data-testid="risk-class"') == len(doc["objects"])
    assert body.count('data-testid="drawn-for"') == len(doc["objects"])
    assert "风险分层" in body and "比例下限" in body and "按信用风险分类" in body
    xlsx = await (await _get(client, f"/public/tasks/{TASK}.xlsx")).read()
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    head = list(next(wb["检查结果"].iter_rows(values_only=True)))
    assert head[4:6] == ["信用风险分类", "抽取依据"]
    assert "信用风险分类" in next(wb["抽取名录"].iter_rows(values_only=True))


async def test_one_form_per_object_lists_every_applicable_item(bot, aiohttp_client):
    client = await aiohttp_client(create_app(bot.settings))
    sels, _ = await _complete(bot)
    doc = await _publish(bot)
    async with bot.sf() as s:
        items = [(i.seq, i.name, i.pollutant) for i in await library_repo.items(s)]
        ents = {e.uscc: e for e in await library_repo.enterprises(s)}
        names = {p.cert: p.name for p in await library_repo.inspectors(s)}
    for _, sel in sels[:5]:
        body = await (await _get(client, f"/public/forms/{TASK}/{sel.uscc}")).text()
        expected = applicable(items, ents[sel.uscc].pollutants, sel.category)
        table = body.split('data-testid="form-items"')[1].split("</table>")[0]
        assert re.findall(r'<td class="n">\d+</td><td>([^<]+)</td>', table) == [
            name for _, name in expected
        ]
        assert sel.name in body and doc["bureau"]["name"] in body and "@page" in body
        assert all(names[c] in body for c in sel.inspectors)
        assert rules.Conclusion(_conclusion(doc, sel.uscc)).value in body


def _conclusion(doc, uscc):
    return next(o["conclusion"] for o in doc["objects"] if o.get("uscc") == uscc)


async def test_plan_page_is_public_once_published(bot, aiohttp_client):
    client = await aiohttp_client(create_app(bot.settings))
    async with bot.sf() as s, s.begin():
        await plan.make(s, bot.settings, 2027, "test", now=bot.clock.now)
    await _get(client, "/public/plans/2027", 404)  # a draft is not public
    async with bot.sf() as s, s.begin():
        await plan.publish(s, 2027, "test", bot.clock.now)
        items = [i.name for i in await library_repo.items(s)]
    body = await (await _get(client, "/public/plans/2027")).text()
    for no in ("202701", "202702", "202703", "202704"):
        assert no in body
    assert all(i in body for i in items) and "一般检查事项" in body and "获嘉县行政区域内" in body
    assert "第1季度随机抽查" in body and "25%的重点监管对象" in body
    index = await (await _get(client, "/public/")).text()
    assert 'href="/public/plans/2027"' in index
    await _get(client, "/public/plans/2028", 404)
