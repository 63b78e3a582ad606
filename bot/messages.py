"""Messenger-neutral message types. Adapters translate to and from these; nothing else.

Inbound: a text, a button click or a file from a person (identified by 消息账号) in a
private chat or a group. Outbound: a text, a card (title, body, buttons with short keys,
the 编号 it is about) or an update of a card already sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

PRIVATE = "private"
GROUP = "group"


@dataclass(frozen=True)
class Person:
    """Someone in the inspector library who has a 消息账号."""

    account: str
    cert: str
    name: str
    admin: bool
    department: str = ""


@dataclass(frozen=True)
class Inbound:
    kind: str  # text | click | file
    user: str  # the sender's 消息账号
    room: str = PRIVATE  # private | group
    group: str = ""  # the messenger's group id ("" = the supervisors' group)
    text: str = ""
    key: str = ""  # button key, for clicks
    message_id: str = ""  # the card clicked, for clicks (outbox id)
    file_name: str = ""
    file_ref: str = ""  # adapter's handle to fetch the file
    mentioned: bool = False  # the bot was @-mentioned (groups)
    event_id: str = ""  # the messenger's id, for deduplication
    channel: str = "webchat"
    reply_url: str = ""  # a messenger's handle to answer in context (e.g. WeCom response_url)
    handle: str = ""  # clicks: a single-use handle to update that card later
    # (WeCom's ResponseCode); "" where the messenger needs none

    @property
    def conversation(self) -> str:
        if self.room == GROUP:
            return f"{self.channel}:group:{self.group}"
        return f"{self.channel}:private:{self.user}"

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict) -> Inbound:
        return cls(**d)


@dataclass(frozen=True)
class Button:
    key: str  # short typed payload, e.g. "acc:12" (see handlers.keys)
    text: str


@dataclass(frozen=True)
class Card:
    title: str
    body: str
    buttons: tuple[Button, ...] = ()
    ref: int | None = None  # the 编号 the card is about

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "body": self.body,
            "ref": self.ref,
            "buttons": [{"key": b.key, "text": b.text} for b in self.buttons],
        }

    @classmethod
    def from_json(cls, d: dict) -> Card:
        return cls(
            d["title"],
            d["body"],
            tuple(Button(b["key"], b["text"]) for b in d["buttons"]),
            d.get("ref"),
        )


@dataclass(frozen=True)
class Target:
    """A card already delivered that an update replaces: the messenger's reference to it
    (the ``external_id`` its sender returned) and, where the messenger needs one, a
    single-use update handle still valid ("" when none is at hand)."""

    ref: str
    handle: str = ""


@dataclass(frozen=True)
class Outbound:
    """One message to send. ``to`` is a 消息账号 (private) or a group id (group).

    ``subject`` names what a card shows (``a:12:CERT`` one member's view of assignment 12,
    ``r:7`` result 7 under review …). ``refresh=True`` asks to update, in place, every copy
    of the ``subject`` card the recipient holds; ``text`` is then the short status message
    a messenger that cannot update the card sends instead ("" = nothing). ``update_of``
    replaces the one card a click came from. The relay fills ``targets`` when sending,
    and ``key``: the outbox row's idempotency key, the same on every attempt."""

    to: str
    room: str = PRIVATE
    text: str = ""
    card: Card | None = None
    update_of: str = ""  # message id of the card to replace (card updates)
    dedupe_key: str | None = None
    via: str = ""  # the inbound's reply handle, when answering in context
    subject: str | None = None
    refresh: bool = False
    targets: tuple[Target, ...] = ()
    key: str = ""

    @property
    def kind(self) -> str:
        if self.refresh:
            return "card_refresh"
        if self.update_of:
            return "card_update"
        return "card" if self.card else "text"

    def payload(self) -> dict:
        return {
            "text": self.text,
            "card": self.card.to_json() if self.card else None,
            "update_of": self.update_of,
            "via": self.via,
            **({"refresh": True} if self.refresh else {}),
        }

    @classmethod
    def from_row(
        cls, recipient: str, room: str, payload: dict, subject: str | None = None
    ) -> Outbound:
        card = Card.from_json(payload["card"]) if payload.get("card") else None
        return cls(
            recipient,
            room,
            payload.get("text", ""),
            card,
            payload.get("update_of", ""),
            via=payload.get("via", ""),
            subject=subject,
            refresh=bool(payload.get("refresh")),
        )


@dataclass
class Replies:
    """What a handler decided to send; the dispatcher puts it in the outbox."""

    messages: list[Outbound] = field(default_factory=list)

    def add(self, msg: Outbound) -> None:
        self.messages.append(msg)


# ---- what a messenger's sender is to the outbox relay ---------------------------------


class SendError(Exception):
    def __init__(self, message: str, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    """What a sender may return instead of a bare id: the messenger's reference to the
    message and a single-use handle to update it later (WeCom's response_code)."""

    external_id: str
    handle: str = ""


class Sender(Protocol):
    """``msg.key`` is the row's idempotency key. A sender may also set
    ``transactional = True`` and offer ``send_in(session, msg, outbox_id)``: it then
    delivers inside the relay's transaction (see the module's docstring)."""

    pace_seconds: float

    async def send(self, msg: Outbound, outbox_id: int) -> str | Delivered: ...
