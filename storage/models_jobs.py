"""Scheduled-job claims: exactly-once lives in the database, not in APScheduler.

One row per (job, period), e.g. ``("quarter_open", "2027Q1")`` or
``("reminders", "2027Q1:d-7")``. An instance runs a period only after it has claimed
the row: inserted it, or taken over a lease that expired (a crashed instance) or a failed
run whose retry time has come. ``done`` is final. Times are Asia/Shanghai local time
without offset, like the other tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class JobClaim(Base):
    __tablename__ = "job_claims"
    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="running")  # running|done|failed
    claimed_by: Mapped[str] = mapped_column(String(200), default="")  # instance name
    lease_until: Mapped[datetime] = mapped_column(DateTime)  # running: lease; failed: retry at
    due_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
