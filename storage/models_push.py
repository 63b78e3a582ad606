"""The push outbox: messages to the national enterprise credit publicity system.

Separate from the chat outbox (``storage.models_chat.OutboxMessage``) because its order is
per task and strict: a task's messages go out in id order (发布结果, 基础库推送, 任务推送),
and a message is never sent while an earlier message of its task is unsent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class PushMessage(Base):
    """One JSON message to POST; written in the same transaction as the publication."""

    __tablename__ = "push_outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("push_outbox_task_order", "task_id", "id"),
        Index("push_outbox_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 within a publication
    kind: Mapped[str] = mapped_column(String(20))  # 发布结果 | 基础库推送 | 任务推送
    kind_code: Mapped[str] = mapped_column(String(10))  # results | base | task
    idempotency_key: Mapped[str] = mapped_column(String(64))  # fixed at enqueue
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(
        String(10), default="pending"
    )  # pending|sending|sent|parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    lease_owner: Mapped[str] = mapped_column(String(40), default="")
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # last answer
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
