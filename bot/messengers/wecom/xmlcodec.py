"""WeCom callback payloads → plain dicts → neutral :class:`bot.messages.Inbound`.

XML is parsed defensively: size-capped, any ``<!DOCTYPE`` / ``<!ENTITY`` refused before
parsing, and the expat parser that feeds ElementTree's TreeBuilder refuses DOCTYPE and
entity declarations itself as a second line. Every parse problem becomes
:class:`CodecError`.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from typing import Any, NoReturn
from xml.parsers import expat

from bot.messages import GROUP, PRIVATE, Inbound

MAX_XML_BYTES = 64 * 1024
CHANNEL = "wecom"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_FIELDS = (
    "MsgType",
    "FromUserName",
    "ToUserName",
    "CreateTime",
    "MsgId",
    "Content",
    "Event",
    "EventKey",
    "TaskId",
    "CardType",
    "ResponseCode",
    "AgentID",
    "MediaId",
    "PicUrl",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "FileName",
    "Title",
)


class CodecError(ValueError):
    """A callback body that is not a well-formed, acceptable WeCom payload."""


def _refuse(*_args: object) -> NoReturn:
    raise CodecError("DOCTYPE and entity declarations are not accepted")


def parse_xml(data: bytes | str, max_bytes: int = MAX_XML_BYTES) -> ET.Element:
    """Parse a small XML document safely into an Element."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise CodecError(f"XML body of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    if _FORBIDDEN.search(raw):
        _refuse()
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
        return builder.close()
    except CodecError:
        raise
    except (expat.ExpatError, ET.ParseError, AssertionError, ValueError) as exc:
        raise CodecError(f"malformed XML: {exc}") from None


def parse_envelope(xml_bytes: bytes | str, max_bytes: int = MAX_XML_BYTES) -> dict:
    """The outer POST body ``<xml><ToUserName/><Encrypt/><AgentID/></xml>``."""
    root = parse_xml(xml_bytes, max_bytes)
    encrypt = (root.findtext("Encrypt") or "").strip()
    if not encrypt:
        raise CodecError("callback envelope has no Encrypt field")
    return {
        "to": (root.findtext("ToUserName") or "").strip(),
        "encrypt": encrypt,
        "agent_id": (root.findtext("AgentID") or "").strip(),
    }


def parse_message(xml_text: bytes | str, max_bytes: int = MAX_XML_BYTES) -> dict:
    """Flatten the decrypted inner XML into {field: str}; SelectedItems as a list of dicts."""
    root = parse_xml(xml_text, max_bytes)
    msg: dict = {}
    for child in root:
        if child.tag == "SelectedItems":
            msg["SelectedItems"] = [
                {
                    "QuestionKey": (item.findtext("QuestionKey") or "").strip(),
                    "OptionIds": [(o.text or "").strip() for o in item.iter("OptionId")],
                }
                for item in child.findall("SelectedItem")
            ]
        elif len(child) == 0:
            text = child.text or ""
            msg[child.tag] = text if child.tag == "Content" else text.strip()
    for name in _FIELDS:
        msg.setdefault(name, "")
    return msg


def _event_id(msg: dict) -> str:
    parts = [msg.get(k, "") for k in ("FromUserName", "CreateTime", "Event", "EventKey", "TaskId")]
    return "evt:" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _msg_event_id(msg: dict) -> str:
    if msg.get("MsgId"):
        return "msg:" + msg["MsgId"]
    return _event_id(msg)


def to_inbound(msg: dict) -> Inbound | None:
    """A self-built app's decrypted message → Inbound; None for what the bot ignores."""
    user = msg.get("FromUserName", "")
    if not user:
        return None
    kind = msg.get("MsgType", "")
    if kind == "text":
        return Inbound(
            kind="text",
            user=user,
            room=PRIVATE,
            text=msg.get("Content", ""),
            event_id=_msg_event_id(msg),
            channel=CHANNEL,
        )
    if kind in ("image", "file") and msg.get("MediaId"):
        return Inbound(
            kind="file",
            user=user,
            room=PRIVATE,
            file_ref=msg["MediaId"],
            file_name=msg.get("FileName") or msg.get("Title") or "",
            event_id=_msg_event_id(msg),
            channel=CHANNEL,
        )
    if kind == "event" and msg.get("Event") == "template_card_event":
        return Inbound(
            kind="click",
            user=user,
            room=PRIVATE,
            key=msg.get("EventKey", ""),
            message_id=msg.get("TaskId", ""),
            handle=msg.get("ResponseCode", ""),
            event_id=_event_id(msg),
            channel=CHANNEL,
        )
    return None


def _str(doc: dict[str, Any], key: str) -> str:
    """A string field of a JSON object ("" when absent or not a string)."""
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def bot_callback_to_inbound(doc: dict) -> Inbound | None:
    """The 智能机器人 (AI bot) decrypted JSON message → Inbound; None if not a text message."""
    if not isinstance(doc, dict):
        raise CodecError("AI bot callback is not a JSON object")
    reply_url = _str(doc, "response_url")
    if doc.get("msgtype") == "event":
        return _bot_event(doc, reply_url)
    if doc.get("msgtype") != "text":
        return None
    sender = doc.get("from")
    user = sender.get("userid") if isinstance(sender, dict) else None
    text = doc.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    msgid = doc.get("msgid")
    if not (
        isinstance(user, str)
        and user
        and isinstance(content, str)
        and isinstance(msgid, str)
        and msgid
    ):
        raise CodecError("AI bot text callback lacks msgid, from.userid or text.content")
    in_group = doc.get("chattype") == "group"
    chatid = _str(doc, "chatid")
    return Inbound(
        kind="text",
        user=user,
        room=GROUP if in_group else PRIVATE,
        group=chatid if in_group else "",
        text=content,
        mentioned=in_group,
        event_id="bot:" + msgid,
        channel=CHANNEL,
        reply_url=reply_url,
    )


def _bot_event(doc: dict, reply_url: str) -> Inbound | None:
    """A card button clicked in a chat with the 智能机器人 (event template_card_event)."""
    event = doc.get("event")
    if not isinstance(event, dict):
        event = {}
    if event.get("eventtype") != "template_card_event":
        return None
    card = event.get("template_card_event")
    sender = doc.get("from")
    user = sender.get("userid") if isinstance(sender, dict) else None
    msgid = doc.get("msgid")
    if not (
        isinstance(card, dict)
        and isinstance(user, str)
        and user
        and isinstance(msgid, str)
        and msgid
    ):
        raise CodecError("AI bot card event lacks msgid, from.userid or template_card_event")
    in_group = doc.get("chattype") == "group"
    chatid = _str(doc, "chatid")
    return Inbound(
        kind="click",
        user=user,
        room=GROUP if in_group else PRIVATE,
        group=chatid if in_group else "",
        key=str(card.get("event_key", "")),
        message_id=str(card.get("task_id", "")),
        event_id="bot:" + msgid,
        channel=CHANNEL,
        reply_url=reply_url,
    )


def _cdata(value: str) -> str:
    if "]]>" in value:
        raise ValueError("value cannot be wrapped in CDATA")
    return f"<![CDATA[{value}]]>"


def reply_xml(encrypted: str, signature: str, timestamp: str, nonce: str) -> str:
    """The encrypted passive-reply envelope (we normally answer an empty body instead)."""
    if not re.fullmatch(r"[0-9]{1,20}", str(timestamp)):
        raise ValueError("timestamp must be decimal digits")
    return (
        f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt>"
        f"<MsgSignature>{_cdata(signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
    )
