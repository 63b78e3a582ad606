"""The annual plan (第十六条): one row per year, a draft until it is published.

``document`` is the whole plan as made by ``bot.services.plan.make`` (its shape is
documented there); the public plan page renders it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class PlanRow(Base):
    __tablename__ = "plans"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bureau: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(10), default="draft")  # draft | published
    document: Mapped[dict] = mapped_column(JSON)
    made_at: Mapped[datetime] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
    made_by: Mapped[str] = mapped_column(String(100), default="")
    published_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    published_by: Mapped[str] = mapped_column(String(100), default="")
