"""The bureau's wall clock: Asia/Shanghai (UTC+8, no daylight saving), whatever the
server's own time zone.

Timestamps that mean something to people (drawn, accepted, entered, reviewed, published,
"today" for an inspection date) are stored as naive datetimes of this clock, the way
the audit log and the scheduler already count days. Internal timers (outbox and push
leases, retry times) keep the server's clock among themselves.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

# China Standard Time: UTC+8 all year.
CST = timezone(timedelta(hours=8))


def now() -> datetime:
    return datetime.now(CST).replace(tzinfo=None)


def today() -> date:
    return now().date()
