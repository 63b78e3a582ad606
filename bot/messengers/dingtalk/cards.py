"""Neutral outbound messages → DingTalk request bodies.

Texts go as the robot's ``sampleText`` (1:1 ``oToMessages/batchSend``, group
``groupMessages/send``), a card without buttons as ``sampleMarkdown``; a card with buttons
is an interactive card (``card/instances/createAndDeliver``, callbacks by Stream) built on
a general template whose ``msgButtons`` carry ``request: true`` buttons: a click comes back
on the card callback topic with the button's ``id`` (our key) in
``cardPrivateData.actionIds``. The card's ``outTrackId`` is made of the outbox row's id and
idempotency key: the same on every attempt, unique per row, and the card's reference for
updates (``PUT /v1.0/card/instances``).
"""

from __future__ import annotations

import json
import re

from bot.messages import Card
from bot.messengers import chunks
from bot.text import t

# the general card template of DingTalk's own Stream SDK (title, markdown, buttons)
DEFAULT_CARD_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"
TEXT_LIMIT = 4000  # characters per sampleText message (cut at line ends)
MAX_BUTTONS = 6
TITLE_MAX_CHARS = 60
BUTTON_TEXT_MAX_CHARS = 12
_TRACK_ID = re.compile(r"[0-9A-Za-z_\-]{1,128}")
FINISHED = "3"  # the template's flowStatus: content shown, not streaming


def clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Chunks of ≤ limit characters, cut at line ends where possible; joined: text."""
    return chunks.split_chars(text, limit)


def card_text(card: Card) -> str:
    return f"{card.title}\n{card.body}" if card.body else card.title


def make_track_id(outbox_id: int, key: str) -> str:
    """``ssj-{outbox_id}-{key}``: the card's outTrackId, stable across attempts."""
    if isinstance(outbox_id, bool) or not isinstance(outbox_id, int) or outbox_id < 0:
        raise ValueError("outbox_id must be a non-negative integer")
    track = f"ssj-{outbox_id}-{key}"
    if not key or not _TRACK_ID.fullmatch(track):
        raise ValueError("outTrackId must be 1-128 characters of [0-9A-Za-z_-]")
    return track


def _robot_message(robot_code: str, key: str, param: dict) -> dict:
    return {
        "robotCode": robot_code,
        "msgKey": key,
        "msgParam": json.dumps(param, ensure_ascii=False),
    }


def private_texts(robot_code: str, to: str, text: str) -> list[dict]:
    if not text.strip():
        raise ValueError("cannot send an empty text")
    return [
        dict(_robot_message(robot_code, "sampleText", {"content": chunk}), userIds=[to])
        for chunk in split_text(text)
    ]


def group_texts(robot_code: str, conversation: str, text: str) -> list[dict]:
    if not text.strip():
        raise ValueError("cannot send an empty text")
    return [
        dict(
            _robot_message(robot_code, "sampleText", {"content": chunk}),
            openConversationId=conversation,
        )
        for chunk in split_text(text)
    ]


def markdown(robot_code: str, card: Card, text: str = "") -> dict:
    """A card without buttons (and the text before it) as one markdown message."""
    body = "\n\n".join(x for x in (text, f"**{card.title}**", card.body) if x)
    return _robot_message(
        robot_code, "sampleMarkdown", {"title": clip(card.title, TITLE_MAX_CHARS), "text": body}
    )


def _buttons(card: Card) -> list[dict]:
    if len(card.buttons) > MAX_BUTTONS:
        raise ValueError(f"at most {MAX_BUTTONS} buttons, got {len(card.buttons)}")
    keys = [b.key for b in card.buttons]
    if len(set(keys)) != len(keys):
        raise ValueError("button keys must be unique within a card")
    return [
        {
            "text": clip(b.text, BUTTON_TEXT_MAX_CHARS),
            "color": "blue" if i == 0 else "gray",
            "id": b.key,
            "request": True,
        }
        for i, b in enumerate(card.buttons)
    ]


def card_data(card: Card | None, status: str = "") -> dict:
    """The template's parameters: title, markdown content, buttons. Without buttons (an
    update after a click) the card shows ``status`` under its content."""
    title = card.title if card else ""
    content = "\n\n".join(x for x in ((card.body if card else ""), status) if x)
    full: dict = {
        "order": ["msgTitle", "staticMsgContent", "msgButtons"],
        "msgButtons": _buttons(card) if card else [],
    }
    return {
        "cardParamMap": {
            "msgTitle": clip(title, TITLE_MAX_CHARS),
            "staticMsgContent": content,
            "flowStatus": FINISHED,
            "sys_full_json_obj": json.dumps(full, ensure_ascii=False),
        }
    }


def create_card(
    robot_code: str,
    template: str,
    track_id: str,
    card: Card,
    *,
    user: str = "",
    conversation: str = "",
) -> dict:
    """A ``createAndDeliver`` body: to one person's robot chat, or to a group."""
    body: dict = {
        "cardTemplateId": template,
        "outTrackId": track_id,
        "cardData": card_data(card),
        "callbackType": "STREAM",
    }
    if conversation:
        body.update(
            openSpaceId=f"dtv1.card//IM_GROUP.{conversation}",
            imGroupOpenSpaceModel={"supportForward": False},
            imGroupOpenDeliverModel={"robotCode": robot_code},
        )
    else:
        body.update(
            openSpaceId=f"dtv1.card//IM_ROBOT.{user}",
            imRobotOpenSpaceModel={"supportForward": False},
            imRobotOpenDeliverModel={"spaceType": "IM_ROBOT", "robotCode": robot_code},
        )
    return body


def update_card(track_id: str, card: Card | None, text: str = "") -> dict:
    """A ``PUT /v1.0/card/instances`` body: the new card, or the old one without its
    buttons and with ``text`` (or 已处理) under it."""
    if card is not None and card.buttons:
        data = card_data(card)
    else:
        data = card_data(card, text or t("chat.card_done"))
        if card is None:  # keep the title and content the card had: update those keys only
            data["cardParamMap"] = {
                k: v
                for k, v in data["cardParamMap"].items()
                if k in ("sys_full_json_obj", "flowStatus")
            }
            data["cardParamMap"]["staticMsgContent"] = text or t("chat.card_done")
    return {
        "outTrackId": track_id,
        "cardData": data,
        "cardUpdateOptions": {"updateCardDataByKey": True},
    }
