"""Neutral outbound messages → Feishu message contents (``content`` is a JSON string).

A card is an interactive message (card JSON 1.0): a header with the title, the body as
plain text (never markdown: what people typed is shown, not interpreted), and the buttons
in one action row, each carrying its key in ``value`` (``{"k": key}``; ``"r": "group"``
for a card sent to a group). ``update_multi`` keeps every copy updatable by PATCH. A
card stays within 30 KB, a text within Feishu's 150 KB request by a wide margin.
"""

from __future__ import annotations

import json

from bot.messages import GROUP, Card
from bot.messengers import chunks

TEXT_LIMIT_BYTES = 16 * 1024
CARD_LIMIT_BYTES = 28 * 1024
BODY_MAX_CHARS = 6000
TITLE_MAX_CHARS = 100
BUTTON_TEXT_MAX_CHARS = 20
MAX_BUTTONS = 10


def clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Chunks of ≤ limit UTF-8 bytes, cut at line ends where possible; joined: text."""
    return chunks.split_utf8(text, limit)


def text_content(text: str) -> str:
    return json.dumps({"text": text}, ensure_ascii=False)


def card(card: Card, room: str = "private") -> dict:
    keys = [b.key for b in card.buttons]
    if len(set(keys)) != len(keys) or len(keys) > MAX_BUTTONS:
        raise ValueError(f"a card carries at most {MAX_BUTTONS} buttons with unique keys")
    elements: list[dict] = []
    if card.body:
        elements.append(
            {
                "tag": "div",
                "text": {"tag": "plain_text", "content": clip(card.body, BODY_MAX_CHARS)},
            }
        )
    if card.buttons:
        extra = {"r": GROUP} if room == GROUP else {}
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "type": "primary" if i == 0 else "default",
                        "text": {
                            "tag": "plain_text",
                            "content": clip(b.text, BUTTON_TEXT_MAX_CHARS),
                        },
                        "value": {"k": b.key, **extra},
                    }
                    for i, b in enumerate(card.buttons)
                ],
            }
        )
    return {
        "config": {"wide_screen_mode": True, "update_multi": True},
        "header": {
            "template": "blue",
            "title": {"tag": "plain_text", "content": clip(card.title, TITLE_MAX_CHARS)},
        },
        "elements": elements,
    }


def card_content(c: Card, room: str = "private") -> str:
    content = json.dumps(card(c, room), ensure_ascii=False)
    if len(content.encode("utf-8")) > CARD_LIMIT_BYTES:
        raise ValueError("the card exceeds Feishu's 30 KB")
    return content


def status_card(title: str, status: str) -> str:
    """A card whose buttons are gone: the title and the short status in their place."""
    return card_content(Card(title or status, status if title else ""))


def card_text(c: Card) -> str:
    return f"{c.title}\n{c.body}" if c.body else c.title
