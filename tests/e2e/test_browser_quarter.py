"""A whole quarter in the web chat, clicked through in a real browser (Debian's Chromium).

A supervisor draws 2027Q1 in the group, an assigned inspector asks to recuse, a
supervisor agrees, the replacement gets the card, an inspector enters the result step by
step and a supervisor approves it. Screenshots of the phone screen go to tests/artifacts/.
"""

from __future__ import annotations

import re
import threading
import time

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the fixtures skip, or fail when SSJ_REQUIRE_BROWSER=1
    Page = expect = None

TASK = "2027Q1"
WAIT = 15_000  # ms, the longest any single reply may take


# ---- the page ----------------------------------------------------------------------------


def be(page: Page, account: str, room: str) -> None:
    page.get_by_test_id("person").select_option(account)
    page.get_by_test_id(f"tab-{room}").click()
    expect(page.get_by_test_id(f"tab-{room}")).to_have_attribute("aria-selected", "true")


def say(page: Page, text: str) -> None:
    box = page.get_by_test_id("input")
    box.fill(text)
    box.press("Enter")
    # the message is stored and shown as the user's own (right-hand) message
    expect(page.locator('[data-testid="msg"].mine').last).to_contain_text(text, timeout=WAIT)
    expect(box).to_have_value("")


def messages(page: Page):
    return page.get_by_test_id("messages")


def card(page: Page, title: str, ref: int | None = None):
    sel = '[data-testid="card"]' + (f'[data-ref="{ref}"]' if ref is not None else "")
    return page.locator(sel).filter(has_text=title).last


def pinned(page: Page, card_locator):
    """The same card by its message id: an updated card may lose its 编号 or text."""
    expect(card_locator).to_be_visible(timeout=WAIT)
    msg_id = card_locator.locator("xpath=ancestor::*[@data-testid='msg']").get_attribute("data-id")
    return page.locator(f'[data-testid="msg"][data-id="{msg_id}"] [data-testid="card"]')


def press(card_locator, label: str) -> None:
    button = card_locator.get_by_test_id("card-button").filter(has_text=label)
    expect(button).to_be_enabled(timeout=WAIT)
    button.click()


def bot_says(page: Page, text: str | re.Pattern) -> None:
    expect(page.locator('[data-testid="msg"].bot').filter(has_text=text).last).to_be_visible(
        timeout=WAIT
    )


# ---- the API, to find who got what ----------------------------------------------------------


def wait_for(predicate, what: str, timeout: float = WAIT / 1000):
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def card_refs(server, account: str) -> set[int]:
    return {
        m["card"]["ref"]
        for m in server.inbox(account)
        if m["card"] and m["card"]["ref"] is not None and m["card"]["title"].startswith("检查任务")
    }


def assigned(server) -> dict[str, set[int]]:
    return {p["account"]: card_refs(server, p["account"]) for p in server.people}


def run_digest(server) -> None:
    """The digest job as the scheduler runs it, on the server's database, on the first
    working day from today at 17:05 Beijing time; the running server delivers it."""
    import asyncio
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from bot.config import Settings
    from scheduler import digest
    from scheduler.jobs import all_jobs
    from scheduler.runner import run_due
    from storage.db import make_engine, session_factory

    async def go():
        engine = make_engine(server.db_url)
        try:
            settings = Settings.from_env(server.db_url)
            job = [j for j in all_jobs() if j.name == digest.JOB]
            today = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=17, minute=5)
            for days in range(10):
                ran = await run_due(
                    session_factory(engine), settings, today + timedelta(days=days), "e2e", jobs=job
                )
                if ran["ran"]:
                    return
            raise AssertionError("no working day for the digest within ten days")
        finally:
            await engine.dispose()

    # playwright's sync API keeps a loop on this thread: the job runs on a thread of its own
    errors: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(errors, lambda: asyncio.run(go())))
    worker.start()
    worker.join(60)
    if errors:
        raise errors[0]


def _capture(errors: list, fn) -> None:
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
        errors.append(exc)


# ---- the quarter ------------------------------------------------------------------------


def test_quarter_in_the_browser(live_server, page, shot):
    server = live_server
    started = time.monotonic()
    admin = server.admins()[0]

    page.goto(f"{server.url}/chat")
    expect(page.get_by_test_id("person").locator(f'option[value="{admin}"]')).to_be_attached()
    # supervisors come first in the picker
    first = page.get_by_test_id("person").locator("optgroup").first
    expect(first).to_have_attribute("label", "管理员")

    # 1. a supervisor prepares the draw in the group and confirms it
    be(page, admin, "group")
    expect(page.get_by_test_id("group-hint")).to_contain_text("@双随机助手")
    say(page, f"@双随机助手 抽查 {TASK}")
    confirm = pinned(page, card(page, f"随机抽取 {TASK}"))
    expect(confirm).to_contain_text("承诺值")
    shot("01-group-draw-confirm")
    press(confirm, "确认抽取")
    bot_says(page, "共抽取检查对象")
    expect(confirm.get_by_test_id("card-button")).to_have_count(0, timeout=WAIT)
    expect(confirm).to_contain_text("已抽取")
    shot("02-group-counts")
    group_text = messages(page).inner_text()
    leaked = [n for n in server.enterprise_names if n in group_text]
    leaked += [u for u in server.enterprise_codes if u in group_text]
    assert not leaked, f"the group saw who is inspected: {leaked[:3]}"
    assert "重点监管" in group_text and "Category" not in group_text

    # 2. an inspector with an assignment asks to recuse
    before = wait_for(
        lambda: (lambda a: a if any(a.values()) else None)(assigned(server)), "assignment cards"
    )
    inspector = next(acc for acc, refs in before.items() if refs and acc not in server.admins())
    ref = min(before[inspector])
    team_before = {acc for acc, refs in before.items() if ref in refs}
    be(page, inspector, "private")
    task_card = card(page, "检查任务", ref)
    expect(task_card).to_contain_text(f"编号 {ref}", timeout=WAIT)
    expect(task_card).to_contain_text("检查对象：")
    shot("03-inspector-assignment", task_card)
    press(task_card, "申请回避")
    bot_says(page, f"请回复申请回避编号 {ref} 的理由")
    say(page, "其配偶在该企业任职")
    bot_says(page, f"编号 {ref} 的回避申请已提交")
    shot("04-inspector-recusal-sent")

    # 3. a supervisor agrees in the private chat
    be(page, admin, "private")
    recusal = pinned(page, card(page, "回避申请", ref).filter(has_text="其配偶在该企业任职"))
    press(recusal, "同意")
    expect(recusal).to_contain_text("同意，检查组已调整", timeout=WAIT)
    expect(recusal.get_by_test_id("card-button")).to_have_count(0)
    shot("05-admin-recusal-approved")

    # 4. the replacement gets the card
    replacement = wait_for(
        lambda: next(
            (
                acc
                for acc in (p["account"] for p in server.people)
                if acc not in team_before and ref in card_refs(server, acc)
            ),
            None,
        ),
        f"a replacement on 编号 {ref}",
    )
    be(page, replacement, "private")
    new_card = card(page, "检查任务", ref)
    expect(new_card).to_contain_text(f"编号 {ref}", timeout=WAIT)
    expect(new_card.get_by_test_id("card-button").filter(has_text="录入结果")).to_be_visible()
    shot("06-replacement-assignment", new_card)
    say(page, "我的任务")  # one compact list, not a card per task
    listing = pinned(page, card(page, "我的检查任务"))
    expect(listing).to_contain_text(f"{ref}｜")
    shot("06b-task-list", listing)

    # 5. the replacement enters the result step by step
    press(new_card, "录入结果")
    bot_says(page, "请回复检查结论的序号")
    say(page, "1")
    bot_says(page, "请回复检查日期")
    say(page, "今天")
    bot_says(page, "请回复检查方式")
    say(page, "1")
    bot_says(page, "请回复检查发现的问题")
    say(page, "无")
    result = pinned(page, card(page, f"请确认编号 {ref} 的检查结果", ref))
    expect(result).to_contain_text("未发现问题", timeout=WAIT)
    shot("07-result-confirm")
    press(result, "提交")
    # the confirmation card is now the assignment card in its new state: only 撤回
    expect(result).to_contain_text("已提交，待审核", timeout=WAIT)
    expect(result.get_by_test_id("card-button")).to_have_text(["撤回"])
    shot("08-card-after-submit", result)

    # 6. the day's digest at 17:00 tells the 管理员 (no message per result)
    team_now = (team_before - {inspector}) | {replacement}
    checker = next((a for a in server.admins() if a not in team_now), None) or next(
        a for a in server.admins() if a != replacement
    )  # four eyes
    run_digest(server)
    be(page, checker, "private")
    digest = page.locator('[data-testid="msg"].bot').filter(has_text="待审核").last
    expect(digest).to_contain_text(f"{ref}", timeout=WAIT)
    shot("08b-admin-digest", digest)
    # a supervisor off the team reviews: 审核 lists them
    say(page, "审核")
    listing = pinned(page, card(page, "待审核的检查结果"))
    expect(listing).to_contain_text("逐条审核")
    shot("09-admin-review-list", listing)
    press(listing, "逐条审核")
    review = pinned(page, card(page, f"待审核 编号 {ref}", ref))
    expect(review).to_contain_text(server.name(replacement))
    shot("10-admin-review")
    press(review, "通过")
    expect(review).to_contain_text("审核通过", timeout=WAIT)
    expect(review).not_to_contain_text(f"待审核 编号 {ref}")

    # 7. the inspector's card shows it, in place, without buttons
    be(page, replacement, "private")
    mine = pinned(page, card(page, "检查任务", ref))
    expect(mine).to_contain_text("状态：已审核", timeout=WAIT)
    expect(mine.get_by_test_id("card-button")).to_have_count(0)
    shot("11-inspector-approved", mine)

    # the one who recused was told too, and is off the team
    assert any("回避申请已同意" in m["text"] for m in server.inbox(inspector))
    assert time.monotonic() - started < 100
