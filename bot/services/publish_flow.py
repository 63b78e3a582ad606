"""Publishing and telling: the one path every publication takes (chat, command line).

Publication ends the task's life: in the same transaction every assignment card of the
task is updated, in place, to 已公示 without buttons, and each member hears it once.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import Settings
from bot.messages import Outbound
from bot.text import t
from storage.uow import Session

from . import assignments, draws, notify, outbox, publication


async def publish_and_notify(
    session: Session,
    settings: Settings,
    task_id: str,
    actor: str,
    now: datetime,
    withhold: dict[str, str] | None = None,
) -> dict:
    doc = await publication.publish(session, settings, task_id, actor, now, withhold)
    _, draw = await draws.valid_draw(session, doc["task"]["id"])
    members = await assignments.draw_members(session, draw.id)
    messages: list[Outbound] = []
    count: dict[str, int] = {}
    for ref in members:
        for m in await notify.refresh_assignment(session, ref):
            messages.append(m)
            count[m.to] = count.get(m.to, 0) + 1
    for account, n in count.items():  # one short message per person, not per object
        messages.append(
            Outbound(
                account,
                text=t("card.published_summary", task=doc["task"]["id"], count=n),
                dedupe_key=f"pub:{doc['task']['id']}:{account}",
            )
        )
    await outbox.enqueue(session, messages)
    return doc
