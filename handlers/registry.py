"""The routers of every topic, and the dispatch rules common to all of them."""

from __future__ import annotations

from bot.messages import GROUP
from bot.services import dialogues, people
from bot.text import t

from . import assignments, draws, plan, progress, publication, recusal, results, review, stats
from . import help as help_
from .router import Ctx, Router

ROUTERS: list[Router] = [
    help_.router,
    draws.router,
    assignments.router,
    recusal.router,
    results.router,
    review.router,
    progress.router,
    publication.router,
    stats.router,
    plan.router,
]
DIALOGUES = {**recusal.DIALOGUES, **results.DIALOGUES, **review.DIALOGUES}
CANCEL = ("取消", "退出")


def _find(kind: str, name: str):
    for r in ROUTERS:
        table = r.commands if kind == "command" else r.buttons
        if name in table:
            return table[name]
    return None


def strip_mention(text: str, bot_name: str) -> tuple[str, bool]:
    text = (text or "").strip()
    for form in (f"@{bot_name}", f"＠{bot_name}"):
        if form in text:
            return text.replace(form, " ").strip(), True
    return text, False


async def dispatch(ctx: Ctx) -> None:
    ib = ctx.inbound
    text, mentioned = strip_mention(ib.text, ctx.settings.bot_name)
    if ib.room == GROUP and ib.kind == "text" and not (mentioned or ib.mentioned):
        return  # group chatter not addressed to the bot
    ctx.person = await people.by_account(ctx.session, ib.user)
    if ctx.person is None:
        ctx.reply(t("chat.unknown_user", account=ib.user))
        return
    if ib.kind == "click":
        prefix = ib.key.split(":", 1)[0]
        route = _find("button", prefix)
        if route is None:
            ctx.reply(t("chat.stale_button"))
            return
        if route.admin and not ctx.person.admin:
            ctx.reply(t("chat.admin_only"))
            return
        await route.handler(ctx, ib.key)
        return
    if ib.kind == "file":
        ctx.reply(t("chat.file_unsupported"))
        return
    word, _, rest = text.partition(" ")
    word, rest = word.strip(), rest.strip()
    if word in CANCEL:
        done = await dialogues.clear(ctx.session, ib.user)
        ctx.reply(t("chat.cancelled" if done else "chat.nothing_to_cancel"))
        return
    route = _find("command", word)
    if route is not None:
        if route.admin and not ctx.person.admin:
            ctx.reply(t("chat.admin_only"))
            return
        if route.private_only and ib.room == GROUP:
            ctx.reply(t("chat.private_only", command=word))
            return
        await route.handler(ctx, rest)
        return
    if ib.room != GROUP:
        dlg = await dialogues.current(ctx.session, ib.user, ctx.now)
        if dlg is not None and dlg.kind in DIALOGUES:
            await DIALOGUES[dlg.kind](ctx, dlg.state, text)
            return
    await help_.unknown(ctx, text)
