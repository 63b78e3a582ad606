"""Neutral outbound messages → WeCom ``message/send`` / ``message/update_template_card`` bodies.

Limits (WeCom 发送应用消息 / 更新模版卡片消息): text content ≤ 2048 bytes; a
``button_interaction`` card needs 1–6 buttons (button_list is required), button key
≤ 1024 bytes and unique, button style 1–4; ``task_id`` ≤ 128 bytes of ``[0-9a-zA-Z_-@]``,
unique per app. Display lengths are recommendations (建议不超过 N 个字): we cut safely with "…".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.messages import Card
from bot.messengers import chunks
from bot.text import t

TEXT_LIMIT_BYTES = 2048
MAX_BUTTONS = 6
BUTTON_KEY_MAX_BYTES = 1024
TASK_ID_MAX_BYTES = 128
TITLE_MAX_CHARS = 36  # main_title.title
TITLE_DESC_MAX_CHARS = 44  # main_title.desc
SUB_TITLE_MAX_CHARS = 160  # sub_title_text
SOURCE_DESC_MAX_CHARS = 20  # source.desc
BUTTON_TEXT_MAX_CHARS = 10  # button_list.text
_TASK_ID = re.compile(r"[0-9A-Za-z_\-@]{1,128}")


def clip(text: str, max_chars: int) -> str:
    """At most ``max_chars`` characters; a cut text ends with "…"."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Chunks of ≤ limit UTF-8 bytes, cut at line ends where possible; joined: text."""
    return chunks.split_utf8(text, limit)


def text_body(to: str, agent_id: int, text: str, outbox_id: int | None = None) -> list[dict]:
    """One ``msgtype: text`` body per ≤ 2048-byte chunk; with the outbox row's id,
    WeCom's duplicate check on (see ``duplicate_check``)."""
    if not text:
        raise ValueError("cannot send an empty text")
    return [
        {
            "touser": to,
            "msgtype": "text",
            "agentid": agent_id,
            "text": {"content": chunk},
            **duplicate_check(outbox_id),
        }
        for chunk in split_text(text)
    ]


def card_text(card: Card) -> str:
    """A card rendered as plain text (for a card without buttons, or a text-only channel)."""
    return f"{card.title}\n{card.body}" if card.body else card.title


def is_valid_task_id(task_id: str) -> bool:
    return isinstance(task_id, str) and _TASK_ID.fullmatch(task_id) is not None


def make_task_id(outbox_id: int, key: str) -> str:
    """``ssj-{outbox_id}-{key}``, ``key`` the outbox row's idempotency key: the same on
    every attempt (so WeCom answers a retry of a delivered card with 42014 instead of
    delivering it twice) and random per row (so it stays unique per app, whatever the
    installation, and after a database is restored from a backup)."""
    if isinstance(outbox_id, bool) or not isinstance(outbox_id, int) or outbox_id < 0:
        raise ValueError("outbox_id must be a non-negative integer")
    task_id = f"ssj-{outbox_id}-{key}"
    if not key or not is_valid_task_id(task_id):
        raise ValueError("task_id must be 1-128 bytes of [0-9a-zA-Z_-@]")
    return task_id


# WeCom's duplicate check (enable_duplicate_check) drops a message whose request JSON
# equals one sent within duplicate_check_interval seconds (default 1800, at most 4 h).
DUPLICATE_CHECK_MIN = 1800
DUPLICATE_CHECK_SPREAD = 1800


def duplicate_check(outbox_id: int | None) -> dict:
    """The duplicate-check fields of outbox row ``outbox_id``'s messages: on, with an
    interval of 30 to 60 minutes that depends on the row. Every attempt of one row sends
    byte-identical JSON, so WeCom drops a retry of a message it delivered; the interval,
    part of the JSON WeCom compares, differs between rows less than 1800 apart, so two
    rows with the same text sent close together are not taken for one."""
    if outbox_id is None:
        return {}
    return {
        "enable_duplicate_check": 1,
        "duplicate_check_interval": DUPLICATE_CHECK_MIN + outbox_id % DUPLICATE_CHECK_SPREAD,
    }


def _buttons(card: Card) -> list[dict]:
    if not card.buttons:
        raise ValueError(
            "a WeCom button_interaction card needs at least one button; "
            "send a card without buttons as text (card_text)"
        )
    if len(card.buttons) > MAX_BUTTONS:
        raise ValueError(
            f"WeCom cards carry at most {MAX_BUTTONS} buttons, got {len(card.buttons)}"
        )
    keys = [b.key for b in card.buttons]
    if len(set(keys)) != len(keys):
        raise ValueError("button keys must be unique within a card")
    for key in keys:
        if not key or len(key.encode("utf-8")) > BUTTON_KEY_MAX_BYTES:
            raise ValueError(f"button key must be 1-{BUTTON_KEY_MAX_BYTES} bytes")
    return [
        {"text": clip(b.text, BUTTON_TEXT_MAX_CHARS), "style": 1 if i == 0 else 2, "key": b.key}
        for i, b in enumerate(card.buttons)
    ]


def _template_card(card: Card, task_id: str, source_desc: str, title_desc: str) -> dict:
    main_title = {"title": clip(card.title, TITLE_MAX_CHARS)}
    if title_desc:
        main_title["desc"] = clip(title_desc, TITLE_DESC_MAX_CHARS)
    tc: dict = {"card_type": "button_interaction", "main_title": main_title}
    if source_desc:
        tc["source"] = {"desc": clip(source_desc, SOURCE_DESC_MAX_CHARS)}
    if card.body:
        tc["sub_title_text"] = clip(card.body, SUB_TITLE_MAX_CHARS)
    if task_id:
        tc["task_id"] = task_id
    tc["button_list"] = _buttons(card)
    return tc


def card_body(
    to: str, agent_id: int, card: Card, task_id: str, *, source_desc: str = "", title_desc: str = ""
) -> dict:
    """A ``template_card`` / ``button_interaction`` message for ``message/send``."""
    if not is_valid_task_id(task_id):
        raise ValueError("task_id must be 1-128 bytes of [0-9a-zA-Z_-@] (see make_task_id)")
    return {
        "touser": to,
        "msgtype": "template_card",
        "agentid": agent_id,
        "template_card": _template_card(card, task_id, source_desc, title_desc),
    }


def update_card_body(
    agent_id: int,
    response_code: str,
    card: Card | None,
    replace_text: str = "",
    *,
    userids: Sequence[str] = (),
    atall: bool = False,
    task_id: str = "",
) -> dict:
    """A ``message/update_template_card`` body (response_code: single use, 72 h).

    A new card with buttons replaces the whole card. Without a card, or with a card that has
    no buttons (button_list is required for button_interaction), the buttons are turned
    into one grey, unclickable button reading ``replace_text``.
    """
    if not response_code:
        raise ValueError("response_code is required")
    body: dict = {"agentid": agent_id, "response_code": response_code}
    if userids:
        body["userids"] = list(userids)
    if atall:
        body["atall"] = 1
    if card is not None and card.buttons:
        if task_id and not is_valid_task_id(task_id):
            raise ValueError("task_id must be 1-128 bytes of [0-9a-zA-Z_-@]")
        body["template_card"] = _template_card(card, task_id, "", "")
    else:
        body["button"] = {
            "replace_name": clip(replace_text or t("chat.card_done"), BUTTON_TEXT_MAX_CHARS)
        }
    return body
