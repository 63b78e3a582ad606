"""Drawing and telling: the one path every draw takes (chat, scheduler, command line).

The draw and the private assignment cards are written in one transaction; a running
service's outbox relay delivers the cards.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from storage.models import DrawRow

from . import draws, notify, outbox


async def run_and_notify(session: AsyncSession, settings: Settings, task_id: str, actor: str,
                         today: date, entropy: str = "", redraw: bool = False,
                         reason: str = "", progress=None) -> DrawRow:
    row = await draws.run(session, settings, task_id, actor, today, entropy, redraw, reason,
                          progress)
    await outbox.enqueue(session, await notify.draw_messages(session, row.id))
    return row


def counts(selections) -> dict[str, int]:
    """Objects per category: what a group chat may see before publication."""
    out: dict[str, int] = {}
    for s in selections:
        cat = getattr(s.category, "value", s.category)
        out[cat] = out.get(cat, 0) + 1
    return out
