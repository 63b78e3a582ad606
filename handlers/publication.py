"""公示: a supervisor publishes a task once every result is approved.

A refusal in a group shows counts only (before publication the drawn objects are secret);
the names of the missing objects go to the asker privately.
"""

from __future__ import annotations

from collections import Counter

from bot.domain.model import DomainError
from bot.messages import GROUP
from bot.services import publication as svc
from bot.services import publish_flow
from bot.text import domain_message, t

from .router import Ctx, Router

router = Router("publication")


def _actor(ctx: Ctx) -> str:
    return f"{ctx.me.name}({ctx.me.cert})"


@router.command("公示", admin=True)
async def publish(ctx: Ctx, rest: str) -> None:
    if not rest.strip():
        ctx.reply(t("publication.usage"))
        return
    task_id = rest.split()[0].upper()
    try:
        doc = await publish_flow.publish_and_notify(
            ctx.session, ctx.settings, task_id, _actor(ctx), ctx.now
        )
    except DomainError as exc:
        if exc.code != "publish_incomplete" or ctx.inbound.room != GROUP:
            raise
        missing = exc.params["missing"]
        ctx.reply(
            t(
                "publication.incomplete_counts",
                task=exc.params["task"],
                counts=Counter(m["status"] for m in missing),
                total=len({m["ref"] for m in missing}),
            )
        )
        ctx.send(ctx.me.account, domain_message(exc, channel="chat"))
        return
    text = svc.announcement(doc, ctx.settings.public_base)
    if ctx.inbound.room == GROUP:
        ctx.reply(text)
    else:
        ctx.reply(
            text + "\n" + t("publication.published_private", withheld=doc["summary"]["withheld"])
        )
        ctx.to_group(text)
