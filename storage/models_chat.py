"""Tables of the conversation layer: inbound events, the durable outbox, dialogues,
the web chat's message store, and inspection results."""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


def _now():
    return text("CURRENT_TIMESTAMP")


def new_idem_key() -> str:
    """An outbox row's idempotency key: 128 random bits, hex (see ``OutboxMessage.idem_key``)."""
    return secrets.token_hex(16)


class InboundEvent(Base):
    """Every inbound message/click, recorded before it is acknowledged; deduplicated."""

    __tablename__ = "inbound_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    conversation: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default="received", index=True)
    error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())
    processed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OutboxMessage(Base):
    """A message to send: written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("outbox_due", "status", "next_attempt_at"),
        Index("outbox_subject", "recipient", "subject"),
        Index("outbox_external", "external_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(100), index=True)  # 消息账号 or group id
    room: Mapped[str] = mapped_column(String(10), default="private")  # private | group
    kind: Mapped[str] = mapped_column(String(20))  # text | card | card_update
    payload: Mapped[dict] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())
    last_error: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str] = mapped_column(String(200), default="")  # messenger's id
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # what a card shows (e.g. "a:12:B2-0001": one member's view of assignment 12), so a
    # state change can update every copy of it; a messenger's single-use update handle
    subject: Mapped[str | None] = mapped_column(String(80), nullable=True)
    handle: Mapped[str | None] = mapped_column(String(200), nullable=True)
    handle_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # one idempotency key for the row's whole life, given to the messenger on every
    # attempt (WeCom: the card's task_id, the text's duplicate check); random, so it stays
    # unique across installations and after a database is restored from a backup
    idem_key: Mapped[str | None] = mapped_column(String(40), nullable=True, default=new_idem_key)
    # the relay instance (``RelayInstance.id``) holding the row's lease while "sending"
    lease_owner: Mapped[str | None] = mapped_column(String(40), nullable=True)


class RelayInstance(Base):
    """A running outbox relay (one per service process), so that the leases of one that
    died are taken back at once: its process is gone (same machine) or its heartbeat
    stopped (another machine). See ``bot.services.outbox``."""

    __tablename__ = "relay_instances"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # new for every start
    host: Mapped[str] = mapped_column(String(255), default="")  # hostname, for people
    # where a process id means one process: hostname, boot id and PID namespace ("" unknown)
    machine: Mapped[str] = mapped_column(String(64), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    proc_start: Mapped[str] = mapped_column(String(32), default="")  # the kernel's start time
    started_at: Mapped[datetime] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime)


class Dialogue(Base):
    """A person's guided dialogue (e.g. result entry); survives restarts, times out."""

    __tablename__ = "dialogues"
    user: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[dict] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ChatMessage(Base):
    """The built-in web chat's store: what each person sees in each room."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room: Mapped[str] = mapped_column(String(10))  # private | group
    owner: Mapped[str] = mapped_column(String(100), index=True)  # private: the person; group: ""
    sender: Mapped[str] = mapped_column(String(100))  # 消息账号 or "bot"
    text: Mapped[str] = mapped_column(Text, default="")
    card: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # a new version of a card: the id of the message it replaces (the original)
    replaces: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=_now())


class ResultRow(Base):
    """The inspection result of one drawn object by one department's team
    (谁检查、谁录入、谁公开). A joint task has one row per department and object."""

    __tablename__ = "results"
    __table_args__ = (
        UniqueConstraint("selection_id", "department", name="results_selection_department"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    selection_id: Mapped[int] = mapped_column(ForeignKey("selections.id"), index=True)
    # the team's department as stored on team_members (the bureau's own: its name)
    department: Mapped[str] = mapped_column(String(50), default="")
    task_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(10), default="未录入", index=True)
    conclusion: Mapped[str] = mapped_column(String(40), default="")
    inspected_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    mode: Mapped[str] = mapped_column(String(10), default="")
    findings: Mapped[str] = mapped_column(Text, default="")
    followup: Mapped[dict] = mapped_column(JSON, default=dict)
    entered_by: Mapped[str] = mapped_column(String(50), default="")
    entered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reviewed_by: Mapped[str] = mapped_column(String(50), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    return_reason: Mapped[str] = mapped_column(Text, default="")
