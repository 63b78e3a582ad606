"""Checks every messenger's receiving edge makes the same way.

- :func:`encrypted_field`: the ``encrypt`` field of a flat JSON envelope
  ``{"encrypt": "<base64>"}`` (WeCom's 智能机器人, DingTalk's and Feishu's event
  callbacks), found by a pattern so that nothing of an unverified body is parsed;
- :func:`fits`: an event, even one the network signed, whose fields fit where it is
  recorded (the ``inbound_events`` columns): checked before it is handed to the
  :class:`~bot.messengers.Receiver`.

The order of the checks (size, freshness, signature, decryption) stays with each
messenger: what is signed, where the timestamp is and what may come unsigned differ.
"""

from __future__ import annotations

import re
from functools import cache

from bot import httpin
from bot.messages import Inbound


@cache
def _encrypt_pattern(max_len: int) -> re.Pattern[bytes]:
    return re.compile(rb'"encrypt"\s*:\s*"((?:[A-Za-z0-9+/=]|\\/){1,%d})"' % max_len)


def encrypted_field(body: bytes, max_len: int) -> str | None:
    """The ``encrypt`` field (at most ``max_len`` characters) of a flat JSON object (no
    nesting) holding exactly one; ``None`` for anything else. ``"\\/"`` reads as ``/``."""
    stripped = body.strip()
    if not (stripped.startswith(b"{") and stripped.endswith(b"}")) or not httpin.nesting_ok(
        stripped, 1
    ):
        return None
    found = _encrypt_pattern(max_len).findall(stripped)
    if len(found) != 1:
        return None
    return found[0].replace(b"\\/", b"/").decode("ascii")


# what an inbound event's fields may hold (inbound_events: dedupe_key and conversation are
# VARCHAR(200); a 消息账号 is at most 100 characters)
LIMITS = {
    "user": httpin.MAX_ACCOUNT,
    "group": 100,
    "event_id": 150,
    "key": httpin.MAX_KEY,
    "message_id": 200,
    "handle": 200,
    "reply_url": 2000,
    "file_ref": 500,
    "file_name": 500,
    "text": 20_000,
}


def fits(inbound: Inbound) -> bool:
    """Fields within their columns, no NUL, no lone surrogate."""
    return all(
        len(getattr(inbound, name)) <= limit and httpin.clean(getattr(inbound, name))
        for name, limit in LIMITS.items()
    )
