"""The lifecycle states stored in the database, as enums.

``StrEnum`` members equal their string values, so a row read back from the database
(a plain ``str``) compares equal to the member, and a member written to a row stores its
value. Result states (未录入 … 已公示) live with their transitions in ``results.State``.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    OPEN = "open"
    PUBLISHED = "published"


class DrawStatus(StrEnum):
    PREPARED = "prepared"  # commitment recorded, not yet revealed
    VALID = "valid"
    VOID = "void"  # kept, never deleted (redraw)


class PlanStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class RecusalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class InboundStatus(StrEnum):
    RECEIVED = "received"
    DONE = "done"
    FAILED = "failed"


class OutboxStatus(StrEnum):
    """The chat outbox and the push outbox share these."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARKED = "parked"


class ClaimStatus(StrEnum):
    """A scheduled job's claim for one period (exactly once, in the database)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
