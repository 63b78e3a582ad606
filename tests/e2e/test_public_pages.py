"""The public pages in a real browser (Debian's Chromium) at a phone's width (390×844).

A task of the demo library is drawn, every result entered and approved, and the task
published with one object withheld; the 2027 plan is made and published. Then the public
index, the task page (results, summary, verification, how to re-check), a printable
一表告知 and the plan are opened like a citizen would. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import localtime

from .conftest import ARTIFACTS, _prepare, serving

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip, or fail when SSJ_REQUIRE_BROWSER=1
    expect = None

TASK = "2027Q1"
WAIT = 15_000


async def _publish_demo(db_url: str, settings) -> dict:
    """Draw, enter and approve every result (cycling the conclusions), publish."""

    from bot.domain import results as rules
    from bot.services import draws, plan, publication
    from bot.services import results as results_svc
    from storage.db import make_engine, session_factory
    from tests.service.harness import reviewer_for

    engine = make_engine(db_url)
    sf = session_factory(engine)
    now = localtime.now().replace(microsecond=0)
    extra = {
        2: {"rectification": "规范设置危险废物识别标志", "rectify_by": now.date() + timedelta(30)},
        3: {"case_no": "获环立字〔2027〕12号"},
        4: {"department": "获嘉县市场监督管理局"},
        5: {"transfer_to": "获嘉县公安局"},
    }
    try:
        async with sf() as s, s.begin():
            row = await draws.run(s, settings, TASK, "e2e", now)
            sels = await draws.current_selections(s, row)
            for i, (ref, sel) in enumerate(sels):
                c = rules.Conclusion.by_number(i % 6 + 1)
                findings = (
                    "危险废物贮存场所未设置识别标志，台账记录不全" if c.number in extra else ""
                )
                draft = rules.Draft(
                    c, now.date(), rules.Mode.ONSITE, findings, extra.get(c.number, {})
                )
                await results_svc.submit(s, ref, sel.inspectors[0], draft, now, "e2e")
                await results_svc.review(s, ref, True, await reviewer_for(s, ref), now, "e2e")
        async with sf() as s, s.begin():
            doc = await publication.publish(
                s, settings, TASK, "e2e", now, {sels[3][1].uscc: "涉及国家秘密"}
            )
        async with sf() as s, s.begin():
            await plan.make(s, settings, 2027, "e2e", now=now)
            await plan.publish(s, 2027, "e2e", now)
        return doc
    finally:
        await engine.dispose()


@pytest.fixture
def public_site(browser_available, tmp_path):
    """The real app on 127.0.0.1 with one published task and a published plan."""

    async def prepare(db_url, settings):
        await _prepare(db_url, tmp_path, settings)
        doc = await _publish_demo(db_url, settings)
        return doc

    with serving(tmp_path, prepare) as (url, extra, _db):
        yield url, extra


def _shot(page, name: str, show=None, full_page: bool = False):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if show is not None:
        show.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / f"browser-public-{name}.png"), full_page=full_page)


def _fits_the_phone(page) -> None:
    """No sideways scrolling of the page itself; text large enough to read."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 16


def test_public_pages_on_a_phone(public_site, page):
    url, doc = public_site
    objects = [o for o in doc["objects"] if not o["withheld"]]
    page.goto(f"{url}/public/")
    expect(page.get_by_test_id("task")).to_contain_text(doc["task"]["name"], timeout=WAIT)
    expect(page.get_by_test_id("plan")).to_contain_text("2027年", timeout=WAIT)
    _fits_the_phone(page)
    _shot(page, "01-index")

    page.get_by_test_id("task").get_by_role("link").click()
    expect(page.get_by_test_id("task-name")).to_have_text(doc["task"]["name"], timeout=WAIT)
    _fits_the_phone(page)
    _shot(page, "02-task-summary")
    cards = page.get_by_test_id("object")
    expect(cards).to_have_count(len(doc["objects"]))
    expect(page.locator('[data-testid="object"][data-withheld="1"]')).to_have_text(
        "4. 依法不予公开"
    )
    problem = next(o for o in objects if o["conclusion_no"] == 2)
    card = page.locator(f'[data-testid="object"][data-uscc="{problem["uscc"]}"]')
    expect(card).to_contain_text("违法事实")
    expect(card).to_contain_text("规范设置危险废物识别标志")
    card.locator("summary").click()  # the items, 多项合一
    expect(card.locator("li").first).to_be_visible()
    _shot(page, "03-task-object", card)

    v = doc["verification"]
    expect(page.get_by_test_id("seed")).to_have_text(v["seed"])
    expect(page.get_by_test_id("example")).to_contain_text(v["example"]["ticket"])
    _fits_the_phone(page)
    _shot(page, "04-task-verification", page.get_by_test_id("verification"))
    _shot(page, "05-task-howto", page.get_by_test_id("howto"))

    first = objects[0]
    page.locator(f'[data-testid="object"][data-uscc="{first["uscc"]}"]').get_by_role(
        "link", name="一表告知"
    ).click()
    expect(page.get_by_test_id("form-name")).to_have_text(first["name"], timeout=WAIT)
    expect(page.get_by_test_id("form-items").locator("tbody tr")).to_have_count(len(first["items"]))
    expect(page.get_by_test_id("form-inspectors")).to_contain_text(
        first["teams"][0]["inspectors"][0]
    )
    _fits_the_phone(page)
    _shot(page, "06-form")
    page.emulate_media(media="print")
    _shot(page, "07-form-print", full_page=True)
    page.emulate_media(media="screen")

    page.goto(f"{url}/public/plans/2027")
    expect(page.get_by_test_id("plan-row")).to_have_count(4, timeout=WAIT)
    expect(page.get_by_test_id("plan-row").first).to_contain_text("202701")
    _fits_the_phone(page)
    _shot(page, "08-plan")
    _shot(page, "09-plan-rows", page.get_by_test_id("plan"))

    resp = page.goto(f"{url}/public/tasks/2027Q2")
    assert resp.status == 404
    expect(page.locator("h1")).to_have_text("未找到")
