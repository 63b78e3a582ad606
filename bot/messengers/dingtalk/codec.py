"""DingTalk payloads → neutral :class:`bot.messages.Inbound`.

Robot messages (Stream topic ``/v1.0/im/bot/messages/get``, or a robot outgoing HTTP
callback) are parsed with the official SDK's ``ChatbotMessage``; card clicks (topic
``/v1.0/card/instances/callback``) with its ``CardCallbackMessage``. The person is the
``senderStaffId``/``userId`` (their 消息账号); a group is its ``conversationId``. What the
bot does not handle (pictures, rich text, system events) is None; a payload of the wrong
shape raises :class:`CodecError`.
"""

from __future__ import annotations

import hashlib
import json

from dingtalk_stream import CardCallbackMessage, ChatbotMessage

from bot.messages import GROUP, PRIVATE, Inbound

CHANNEL = "dingtalk"
ROBOT_TOPIC = ChatbotMessage.TOPIC
CARD_TOPIC = "/v1.0/card/instances/callback"


class CodecError(ValueError):
    pass


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def robot_message(doc: object) -> Inbound | None:
    if not isinstance(doc, dict):
        raise CodecError("robot message is not a JSON object")
    try:
        msg = ChatbotMessage.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise CodecError(f"robot message: {exc}") from exc
    user, msgid = _str(msg.sender_staff_id), _str(msg.message_id)
    if not (user and msgid):
        raise CodecError("robot message lacks senderStaffId or msgId")
    if msg.message_type != "text":
        return None
    content = _str(getattr(msg.text, "content", None))
    in_group = msg.conversation_type == "2"
    group = _str(msg.conversation_id) if in_group else ""
    if in_group and not group:
        raise CodecError("group message lacks conversationId")
    return Inbound(
        kind="text",
        user=user,
        room=GROUP if in_group else PRIVATE,
        group=group,
        text=content.strip(),
        mentioned=in_group and msg.is_in_at_list is not False,
        event_id=f"msg:{msgid}",
        channel=CHANNEL,
        reply_url=_str(msg.session_webhook),
    )


def card_callback(doc: object, frame_id: str = "") -> Inbound | None:
    """A card button click; ``frame_id`` the Stream frame's messageId (the same on a
    redelivery), else an id made of what the click says."""
    if not isinstance(doc, dict):
        raise CodecError("card callback is not a JSON object")
    try:
        msg = CardCallbackMessage.from_dict(doc)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise CodecError(f"card callback: {exc}") from exc
    user, track = _str(msg.user_id), _str(msg.card_instance_id)
    private = msg.content.get("cardPrivateData") if isinstance(msg.content, dict) else None
    actions = private.get("actionIds") if isinstance(private, dict) else None
    if not (
        user
        and track
        and isinstance(actions, list)
        and actions
        and isinstance(actions[0], str)
        and actions[0]
    ):
        raise CodecError("card callback lacks userId, outTrackId or actionIds")
    in_group = _str(doc.get("spaceType")).upper() == "IM_GROUP"
    group = _str(doc.get("spaceId")) if in_group else ""
    if not frame_id:
        raw = "\x1f".join((user, track, actions[0], json.dumps(msg.content, sort_keys=True)))
        frame_id = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()
    return Inbound(
        kind="click",
        user=user,
        room=GROUP if in_group else PRIVATE,
        group=group,
        key=actions[0],
        message_id=track,
        event_id=f"card:{frame_id}",
        channel=CHANNEL,
    )
