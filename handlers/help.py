"""帮助: what the asker may do; unknown commands get help, not silence."""

from __future__ import annotations

from bot.text import render, t

from .router import Ctx, Router

router = Router("help")


def help_text(ctx: Ctx) -> str:
    return render(
        "chat/help.j2",
        admin=bool(ctx.person and ctx.person.admin),
        bot=ctx.settings.bot_name,
        digest=ctx.settings.digest_at,
    ).strip()


@router.command("帮助", "help", "?", "？", "菜单")
async def show_help(ctx: Ctx, _rest: str) -> None:
    ctx.reply(help_text(ctx))


async def unknown(ctx: Ctx, text: str) -> None:
    ctx.reply(t("chat.unknown_command", text=text[:30]) + "\n\n" + help_text(ctx))
