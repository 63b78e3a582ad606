"""The web chat's logins (SSJ_WEB_CHAT_LOGIN=1): one-time invitation links and sessions.

Only SHA-256 hashes of the secrets are stored: whoever reads the database cannot log in
with what they read. Times are UTC (naive), the same on every host of a deployment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class WebChatInvite(Base):
    """A one-time link: used once (``used_at``), before ``expires_at``, unless revoked."""

    __tablename__ = "webchat_invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account: Mapped[str] = mapped_column(String(100), index=True)  # 消息账号
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class WebChatSession(Base):
    """A login: the cookie's hash, whose it is, until when; revocable."""

    __tablename__ = "webchat_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account: Mapped[str] = mapped_column(String(100), index=True)
    invite_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
