"""What a person sees follows their role, and answers come into view (a phone, 390×844).

A 管理员 draws 2027Q1 through the API. The page, in Debian's Chromium:
- a 管理员 gets the admin chips and the group composer (the control);
- an inspector gets no admin chips, reads the 管理员群 without a composer or card buttons;
- a card button pressed far above the newest message: its answer (the bot's reply, the
  card itself) is brought into the list's view;
- a new version of a card (a row whose ``replaces`` names the original, as the sender
  writes it) takes the original's place, with its buttons, which act;
- addresses in texts and card bodies are links (http/https only, nothing else parsed);
- new messages come into view, unless the person reads further up: then a button does.
Screenshots go to tests/artifacts/browser-roles-*.png.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the fixtures skip, or fail when SSJ_REQUIRE_BROWSER=1
    Page = expect = None

from .conftest import _LOCAL, ARTIFACTS
from .test_browser_quarter import TASK, WAIT, be, card, card_refs, say, wait_for

ADMIN_WORDS = {"审核", "抽查", "进度", "统计", "公示", "随机数"}


# ---- helpers ------------------------------------------------------------------------------


def post(server, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with _LOCAL.open(req, timeout=10) as resp:
        return json.load(resp)


def draw(server, admin: str) -> None:
    """抽查 and 确认抽取 in the group, through the API."""
    post(
        server,
        "/chat/api/send",
        {"user": admin, "room": "group", "text": f"@双随机助手 抽查 {TASK}"},
    )
    msg = wait_for(
        lambda: next(
            (m for m in server.inbox(admin, "group") if m["card"] and m["card"]["buttons"]), None
        ),
        "the draw card",
    )
    key = next(b["key"] for b in msg["card"]["buttons"] if b["text"] == "确认抽取")
    post(server, "/chat/api/click", {"user": admin, "message_id": msg["id"], "key": key})


def insert(
    db: str, owner: str, text: str = "", card_doc: dict | None = None, replaces: int | None = None
) -> int:
    """A bot message as the web chat's sender stores it (a card version: ``replaces``)."""
    con = sqlite3.connect(db, timeout=10)
    try:
        with con:
            cur = con.execute(
                "INSERT INTO chat_messages (room, owner, sender, text, card, replaces) "
                "VALUES ('private', ?, 'bot', ?, ?, ?)",
                (
                    owner,
                    text,
                    json.dumps(card_doc, ensure_ascii=False) if card_doc else None,
                    replaces,
                ),
            )
            return cur.lastrowid
    finally:
        con.close()


def settle(server, page: Page, user: str) -> None:
    """Wait until the bot has said everything (nothing new for a second) and the page
    shows it all: a late reply must not pass for the answer to the next click."""
    last, since = None, time.monotonic()
    deadline = since + WAIT / 1000
    while True:
        now = (
            len({m["replaces"] or m["id"] for m in server.inbox(user)}),
            page.get_by_test_id("msg").count(),
        )
        if now != last:
            last, since = now, time.monotonic()
        elif now[0] == now[1] and time.monotonic() - since > 1.0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the conversation did not settle: {now}")
        page.wait_for_timeout(100)


def chips(page: Page) -> list[str]:
    return page.get_by_test_id("chip").all_inner_texts()


def in_view(page: Page, locator) -> bool:
    """The element's top is inside the message list's visible part and at least 90 % of
    it (or of the list, for an element as tall as the list) is visible on the screen."""
    box = locator.bounding_box()
    frame = page.get_by_test_id("messages").bounding_box()
    if box is None or frame is None:
        return False
    top, bottom = box["y"], box["y"] + box["height"]
    low = min(frame["y"] + frame["height"], page.viewport_size["height"])
    seen = max(0.0, min(bottom, low) - max(top, frame["y"]))
    return frame["y"] - 1 <= top <= low and seen >= 0.9 * min(box["height"], low - frame["y"]) - 1


def until_in_view(page: Page, locator, what: str) -> None:
    expect(locator).to_be_visible(timeout=WAIT)
    deadline = time.monotonic() + WAIT / 1000
    while not in_view(page, locator):
        if time.monotonic() > deadline:
            shot(page, "failed-" + what.replace(" ", "-")[:30])
            raise AssertionError(
                f"{what} is not in view: {locator.bounding_box()}, "
                f"list {page.get_by_test_id('messages').bounding_box()}"
            )
        page.wait_for_timeout(100)


def to_middle(locator) -> None:
    """Scroll the list so that the element is in its middle (far from the newest message)."""
    locator.evaluate("el => el.scrollIntoView({block: 'center'})")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"browser-roles-{name}.png"))


# ---- the test -----------------------------------------------------------------------------


def test_roles_scrolling_card_versions_and_links(live_server, page, tmp_path):
    server = live_server
    db = str(tmp_path / "ssj.db")
    admin = server.admins()[0]
    draw(server, admin)
    cards = wait_for(
        lambda: (lambda a: a if any(a.values()) else None)(
            {p["account"]: card_refs(server, p["account"]) for p in server.people if not p["admin"]}
        ),
        "assignment cards",
    )
    inspector = next(acc for acc, refs in cards.items() if refs)
    ref = min(cards[inspector])
    page.goto(f"{server.url}/chat")

    # a 管理员: the admin chips, the group composer (what an inspector will not have)
    be(page, admin, "private")
    expect(page.get_by_test_id("chip").first).to_be_visible()
    assert {"审核", "进度", "统计"} <= set(chips(page))
    be(page, admin, "group")
    expect(page.get_by_test_id("input")).to_be_visible()
    expect(page.get_by_test_id("group-readonly")).to_be_hidden()

    # an inspector: no admin chips; the group is read-only, its cards without buttons
    be(page, inspector, "private")
    expect(page.get_by_test_id("chip").first).to_be_visible()
    assert chips(page) == ["我的任务", "帮助", "取消"] and not ADMIN_WORDS & set(chips(page))
    be(page, inspector, "group")
    group_card = card(page, f"随机抽取 {TASK}")
    expect(group_card).to_contain_text("已抽取", timeout=WAIT)
    expect(group_card.get_by_test_id("card-button")).to_have_count(0)
    expect(page.get_by_test_id("group-readonly")).to_be_visible()
    expect(page.get_by_test_id("group-readonly")).to_contain_text("只有管理员")
    expect(page.get_by_test_id("composer")).to_be_hidden()
    expect(page.get_by_test_id("input")).to_be_hidden()
    expect(page.get_by_test_id("group-hint")).to_be_hidden()
    expect(page.get_by_test_id("chip")).to_have_count(0)
    shot(page, "01-inspector-group-read-only")

    # a button far above the newest message: its answer comes into view
    be(page, inspector, "private")
    task_card = card(page, "检查任务", ref)
    expect(task_card).to_contain_text(f"编号 {ref}", timeout=WAIT)
    msg_of_card = task_card.locator("xpath=ancestor::*[@data-testid='msg']")
    original = int(msg_of_card.get_attribute("data-id"))
    for _ in range(2):
        say(page, "帮助")
        settle(server, page, inspector)
    newest = page.locator('[data-testid="msg"]').last
    until_in_view(page, newest, "the newest message")
    to_middle(task_card.get_by_test_id("card-button").first)
    assert in_view(page, task_card.get_by_test_id("card-button").first)
    assert not in_view(page, newest), "the card is not far enough from the newest message"
    shot(page, "02-inspector-card-far-up")
    task_card.get_by_test_id("card-button").filter(has_text="接收").click()
    # the answer to 接收 is the card's new state, in place, scrolled into view
    pinned = page.locator(f'[data-testid="msg"][data-id="{original}"] [data-testid="card"]')
    expect(pinned).to_contain_text("已接收", timeout=WAIT)
    until_in_view(page, pinned, "the answer to 接收")
    expect(pinned.get_by_test_id("card-button").filter(has_text="接收")).to_have_count(
        0, timeout=WAIT
    )
    shot(page, "03-inspector-accepted-in-view")

    # a new version of the card (as the sender writes it): in place, its buttons, links
    count = page.get_by_test_id("msg").count()
    position = page.locator('[data-testid="msg"]').evaluate_all(
        "(els, id) => els.findIndex(e => e.dataset.id === String(id))", original
    )
    url = f"{server.url}/public/tasks/{TASK}"
    version = insert(
        db,
        inspector,
        card_doc={
            "title": f"检查任务 {TASK}",
            "ref": ref,
            "body": f"（新版本）公示页面：{url}",
            "buttons": [{"key": f"res:{ref}", "text": "录入结果"}],
        },
        replaces=original,
    )
    expect(pinned).to_contain_text("新版本", timeout=WAIT)
    expect(page.get_by_test_id("msg")).to_have_count(count)
    assert (
        page.locator('[data-testid="msg"]').evaluate_all(
            "(els, id) => els.findIndex(e => e.dataset.id === String(id))", original
        )
        == position
    )
    held = page.locator(f'[data-testid="msg"][data-id="{original}"]')
    assert held.get_attribute("data-version") == str(version)
    assert pinned.get_by_test_id("card-button").all_inner_texts() == ["录入结果"]
    link = pinned.get_by_test_id("link")
    expect(link).to_have_attribute("href", url)
    expect(link).to_have_attribute("target", "_blank")
    assert "noopener" in link.get_attribute("rel")
    for _ in range(2):
        say(page, "帮助")
        settle(server, page, inspector)
    to_middle(pinned.get_by_test_id("card-button").first)
    assert not in_view(page, page.locator('[data-testid="msg"]').last)
    shot(page, "04-inspector-card-new-version")
    pinned.get_by_test_id("card-button").filter(has_text="录入结果").click()
    prompt = page.locator('[data-testid="msg"].bot').filter(has_text="请回复检查结论的序号").last
    until_in_view(page, prompt, "the answer to 录入结果 on the card's new version")
    shot(page, "05-inspector-new-version-answered")
    say(page, "取消")

    # addresses in a text become links; nothing else in it is markup
    insert(
        db,
        inspector,
        text=f"请查看 {url}，或 https://ssj.example.gov.cn/a?b=1&c=2。"
        "不是链接：javascript:alert(1) ftp://x.example <b>粗体</b>",
    )
    note = page.locator('[data-testid="msg"].bot').filter(has_text="不是链接").last
    until_in_view(page, note, "a new message")
    links = note.get_by_test_id("link")
    expect(links).to_have_count(2)
    assert [links.nth(i).get_attribute("href") for i in range(2)] == [
        url,
        "https://ssj.example.gov.cn/a?b=1&c=2",
    ]
    assert links.all_inner_texts() == [url, "https://ssj.example.gov.cn/a?b=1&c=2"]
    expect(note.locator("b")).to_have_count(0)
    expect(note).to_contain_text("<b>粗体</b>")
    shot(page, "06-inspector-links")

    # reading further up: a new message does not pull the person away; a button takes them
    page.get_by_test_id("messages").evaluate("el => { el.scrollTop = 0; }")
    insert(db, inspector, text="一条新消息")
    newer = page.get_by_test_id("newer")
    expect(newer).to_be_visible(timeout=WAIT)
    fresh = page.locator('[data-testid="msg"].bot').filter(has_text="一条新消息")
    assert page.get_by_test_id("messages").evaluate("el => el.scrollTop") == 0
    assert not in_view(page, fresh)
    shot(page, "07-inspector-new-message-below")
    newer.click()
    until_in_view(page, fresh, "the new message after 有新消息")
    expect(newer).to_be_hidden()
