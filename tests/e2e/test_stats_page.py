"""The public yearly statistics page in a real browser (Debian's Chromium) at 390×844.

One task of the demo library is published (as in test_public_pages), another is drawn
but not published: the page counts the published one only, and draws its charts as
server-rendered inline SVG (the pages' CSP allows no script). Screenshots go to
tests/artifacts/browser-stats-*.png.
"""

from __future__ import annotations

import pytest

from bot import localtime

from .conftest import ARTIFACTS, _prepare, serving
from .test_public_pages import _publish_demo

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip, or fail when SSJ_REQUIRE_BROWSER=1
    expect = None

WAIT = 15_000


async def _draw_unpublished(db_url: str, settings) -> None:
    from bot.services import draws
    from storage.db import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        async with session_factory(engine)() as s, s.begin():
            await draws.run(s, settings, "2027Q2", "e2e", localtime.now())
    finally:
        await engine.dispose()


async def _publish_joint(db_url: str, settings) -> None:
    """A joint task with 市场监管, one object, each department's result 未发现问题."""

    from bot.domain import results as rules
    from bot.services import draws, publication, results, tasks
    from storage.db import make_engine, session_factory
    from tests.service.harness import reviewer_for

    engine = make_engine(db_url)
    now = localtime.now()
    try:
        async with session_factory(engine)() as s, s.begin():
            await tasks.create_task(
                s,
                settings,
                task_id="2027LH01",
                kind="joint",
                name="获嘉县2027年第一季度生态环境与市场监管联合抽查",
                year=2027,
                quarter=1,
                departments="市场监管",
                count=1,
                actor="e2e",
                today=localtime.today(),
            )
            await draws.run(s, settings, "2027LH01", "e2e", now)
            _, row = await draws.valid_draw(s, "2027LH01")
            ((ref, sel),) = await draws.current_selections(s, row)
            for team in sel.teams:
                draft = rules.Draft(rules.Conclusion.NONE_FOUND, now.date(), rules.Mode.ONSITE)
                await results.submit(s, ref, team.members[0], draft, now, "e2e")
                await results.review(
                    s, ref, True, await reviewer_for(s, ref), now, "e2e", department=team.department
                )
            await publication.publish(s, settings, "2027LH01", "e2e", now)
    finally:
        await engine.dispose()


@pytest.fixture
def stats_site(browser_available, tmp_path):
    async def prepare(db_url, settings):
        await _prepare(db_url, tmp_path, settings)
        doc = await _publish_demo(db_url, settings)
        await _draw_unpublished(db_url, settings)
        await _publish_joint(db_url, settings)
        return doc

    with serving(tmp_path, prepare) as (url, extra, _db):
        yield url, extra


def _shot(page, name: str, show=None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if show is not None:
        show.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(ARTIFACTS / f"browser-stats-{name}.png"))


def _fits_the_phone(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    for chart in page.locator("svg.chart").all():
        box = chart.bounding_box()
        assert box["width"] > 300 and box["x"] >= 0
        assert box["x"] + box["width"] <= page.viewport_size["width"]


def test_stats_page_on_a_phone(stats_site, page):
    url, doc = stats_site
    page.goto(f"{url}/public/")
    page.get_by_test_id("stats-link").first.click()
    expect(page.get_by_test_id("stats-title")).to_contain_text("2027年度", timeout=WAIT)
    _fits_the_phone(page)
    _shot(page, "01-top")

    # the drawn but unpublished 2027Q2 does not count: one own quarterly task, and the
    # published joint task is half of the bureau's own tasks (above the 35 % goal)
    expect(page.get_by_test_id("stats-tasks").locator(".stat").first).to_contain_text("1")
    expect(page.get_by_test_id("joint-ratio")).to_contain_text("目标 35%")
    expect(page.get_by_test_id("joint-ratio")).to_contain_text("已达到")
    joint = page.get_by_test_id("chart-joint")
    expect(joint.locator("line.goal")).to_have_count(1)
    expect(joint).to_contain_text("50.0%")
    bar = max(
        float(w) for w in joint.locator("rect").evaluate_all("rs => rs.map(r => r.getBBox().width)")
    )
    assert bar > 50

    coverage = page.get_by_test_id("chart-coverage")
    expect(coverage.locator("rect")).to_have_count(9)
    drawn = sum(doc["summary"]["by_category"].values()) + 1  # + the joint task's object
    values = [int(v) for v in coverage.locator("text.value").all_text_contents()]
    assert sum(values[1::3]) >= drawn - 1  # 本年抽取 of the three categories (distinct
    assert sum(values[1::3]) <= drawn  # objects: the joint one may be drawn twice)
    _shot(page, "02-coverage", page.get_by_test_id("chart-coverage"))

    # per 信用风险分类: visits per object and problem rate, charted and tabled; every
    # visit of the year is under the class its object had when drawn
    table = page.get_by_test_id("risk-classes")
    expect(table.locator("tr[data-class]")).to_have_count(4)
    visits = [int(v) for v in table.locator("tr[data-class] td:nth-child(3)").all_text_contents()]
    assert sum(visits) == drawn
    for chart in ("chart-class-frequency", "chart-class-problems"):
        expect(page.get_by_test_id(chart).locator("rect")).to_have_count(4)
    _fits_the_phone(page)
    _shot(page, "02b-risk-classes", page.get_by_test_id("chart-class-frequency"))

    results = page.get_by_test_id("chart-results")
    values = [int(v) for v in results.locator("text.value").all_text_contents()]
    expected = dict(doc["summary"]["by_conclusion"])
    expected["未发现问题"] += 1  # the joint object, one conclusion for both
    assert values == list(expected.values())
    # the bars are really drawn: the longest bar is wide, an empty one has no width
    widths = [
        float(w)
        for w in results.locator("rect").evaluate_all("rs => rs.map(r => r.getBBox().width)")
    ]
    assert max(widths) > 100
    _fits_the_phone(page)
    _shot(page, "03-results", results)
    _shot(page, "04-rates", page.get_by_test_id("stats-rates"))

    resp = page.goto(f"{url}/public/stats/2031")
    assert resp.status == 404
