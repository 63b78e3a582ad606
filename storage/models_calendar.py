"""The working-day calendar's override table: dates a deployment has entered by hand.

An override wins over chinese-calendar's data for its date only (True = 班 working day,
False = 休 day off). Changes are audited (``calendar.set``); the row holds the latest value.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class CalendarDay(Base):
    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
