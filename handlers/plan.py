"""发布计划 <年份>: a supervisor publishes the year's plan draft, as ``ssj plan publish``.

The draft is made by the December job (or ``ssj plan make``); publishing is final and
audited (``plan.publish``, by the supervisor). The answer is a short summary with the
public page's path.
"""

from __future__ import annotations

from bot.services import plan as plan_svc
from bot.text import render, t

from .router import Ctx, Router

router = Router("plan")


def parse_year(text: str) -> int | None:
    """``2027`` or ``2027年`` → 2027; anything else None."""
    text = (text or "").strip().removesuffix("年")
    return int(text) if text.isascii() and text.isdigit() and len(text) == 4 else None


@router.command("发布计划", admin=True)
async def publish(ctx: Ctx, rest: str) -> None:
    parts = rest.split()
    year = parse_year(parts[0]) if len(parts) == 1 else None
    if year is None:
        ctx.reply(t("admin.plan_usage"))
        return
    doc = await plan_svc.publish(ctx.session, year, f"{ctx.me.name}({ctx.me.cert})", now=ctx.now)
    ctx.reply(
        render(
            "chat/plan_published.j2", doc=doc, by=ctx.me.name, path=f"/public/plans/{year}"
        ).strip()
    )
