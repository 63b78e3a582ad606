"""Feishu v2 events (parsed JSON) → neutral :class:`bot.messages.Inbound`.

A message event (``im.message.receive_v1``) names its sender by ``sender_id.user_id``
(the person's 消息账号), a card click (``card.action.trigger``) by ``operator.user_id``;
the button's key travels in the button's ``value`` (``{"k": key}``) and the card clicked
is named by its message id (``context.open_message_id``), the reference the sender
returned for it. Deduplication keys: ``message_id`` for messages (Feishu retries a
message with the same id), the event id for clicks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from bot.messages import GROUP, PRIVATE, Inbound

CHANNEL = "feishu"
MESSAGE = "im.message.receive_v1"
CARD_ACTION = "card.action.trigger"
_MENTION = re.compile(r"@_user_\d+")


class CodecError(ValueError):
    """An event that is not a well-formed Feishu v2 event of the shape we read."""


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str
    token: str
    create_time_ms: int  # 0 when absent
    event: dict


def _str(doc: dict, name: str) -> str:
    value = doc.get(name, "")
    if not isinstance(value, str):
        raise CodecError(f"{name} is not a string")
    return value


def _obj(doc: dict, name: str) -> dict:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise CodecError(f"{name} is not an object")
    return value


def envelope(doc: object) -> Envelope:
    """The v2 envelope ``{"schema": "2.0", "header": {…}, "event": {…}}``."""
    if not isinstance(doc, dict) or doc.get("schema") != "2.0":
        raise CodecError("not a v2 event")
    header = _obj(doc, "header")
    created = _str(header, "create_time")
    if created and not (created.isascii() and created.isdigit() and len(created) <= 16):
        raise CodecError("create_time")
    return Envelope(
        _str(header, "event_id"),
        _str(header, "event_type"),
        _str(header, "token"),
        int(created or 0),
        _obj(doc, "event"),
    )


def _text(content: str, mentions: object) -> tuple[str, bool]:
    """The text of a text message, leading @-mentions (the bot) dropped and others named;
    and whether it @-mentioned anyone (in a group the bot hears only @-mentions of it)."""
    try:
        doc = json.loads(content)
    except ValueError:
        raise CodecError("message content is not JSON") from None
    text = doc.get("text") if isinstance(doc, dict) else None
    if not isinstance(text, str):
        raise CodecError("text message without text")
    names: dict[str, str] = {}
    for m in mentions if isinstance(mentions, list) else []:
        if isinstance(m, dict) and isinstance(m.get("key"), str):
            name = m.get("name")
            names[m["key"]] = name if isinstance(name, str) else ""
    stripped = re.sub(r"^\s*(?:@_user_\d+\s*)+", "", text)
    named = _MENTION.sub(lambda x: "@" + names.get(x.group(0), ""), stripped)
    return named, stripped != text or bool(names)


def to_inbound(env: Envelope) -> Inbound | None:
    """A message or a card click → Inbound; None for what the bot ignores."""
    if env.event_type == MESSAGE:
        return _message(env.event)
    if env.event_type == CARD_ACTION:
        return _click(env)
    return None


def _message(event: dict) -> Inbound | None:
    sender, message = _obj(event, "sender"), _obj(event, "message")
    user = _str(_obj(sender, "sender_id"), "user_id")
    message_id = _str(message, "message_id")
    if not (user and message_id):
        raise CodecError("message without sender_id.user_id or message_id")
    if _str(sender, "sender_type") not in ("", "user"):
        return None  # another bot, or the app itself
    in_group = _str(message, "chat_type") == "group"
    room, group = (GROUP, _str(message, "chat_id")) if in_group else (PRIVATE, "")
    kind = _str(message, "message_type")
    if kind == "text":
        text, mentioned = _text(_str(message, "content"), message.get("mentions"))
        return Inbound(
            kind="text",
            user=user,
            room=room,
            group=group,
            text=text,
            mentioned=in_group and mentioned,
            event_id="msg:" + message_id,
            channel=CHANNEL,
        )
    if kind in ("file", "image") and not in_group:
        try:
            content = json.loads(_str(message, "content"))
        except ValueError:
            raise CodecError("message content is not JSON") from None
        ref = (
            content.get("file_key") or content.get("image_key") if isinstance(content, dict) else ""
        )
        if not isinstance(ref, str) or not ref:
            return None
        name = content.get("file_name", "")
        return Inbound(
            kind="file",
            user=user,
            file_ref=f"{message_id}/{ref}",
            file_name=name if isinstance(name, str) else "",
            event_id="msg:" + message_id,
            channel=CHANNEL,
        )
    return None


def _click(env: Envelope) -> Inbound | None:
    event = env.event
    user = _str(_obj(event, "operator"), "user_id")
    action = _obj(event, "action")
    value = action.get("value")
    key = value.get("k") if isinstance(value, dict) else None
    context = event.get("context") if isinstance(event.get("context"), dict) else {}
    card = context.get("open_message_id", "") if isinstance(context, dict) else ""
    if not (user and env.event_id and isinstance(key, str) and key and isinstance(card, str)):
        raise CodecError("card action without operator.user_id, event_id or a button key")
    chat = context.get("open_chat_id", "") if isinstance(context, dict) else ""
    in_group = isinstance(value, dict) and value.get("r") == GROUP
    return Inbound(
        kind="click",
        user=user,
        room=GROUP if in_group else PRIVATE,
        group=chat if in_group and isinstance(chat, str) else "",
        key=key,
        message_id=card,
        event_id="evt:" + env.event_id,
        channel=CHANNEL,
    )
