"""Published task results (一公开): one row per task, written once, never changed.

``document`` is the whole public record exactly as the public pages, the .xlsx export and
the push serve it; ``withheld`` keeps, per USCC, the internal reason an object was not
published (依法不予公开) and is never served.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class PublicationRow(Base):
    __tablename__ = "publications"
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    bureau: Mapped[str] = mapped_column(String(20), default="", index=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("draws.id"))
    published_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    published_by: Mapped[str] = mapped_column(String(100))
    summary: Mapped[dict] = mapped_column(JSON)  # the completion summary (also in document)
    withheld: Mapped[dict] = mapped_column(JSON)  # {uscc: reason}: internal only
    document: Mapped[dict] = mapped_column(JSON)  # the public record, as served
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical document
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
