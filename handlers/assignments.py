"""An inspector's own assignments: 我的任务 (one compact list), 任务 <编号> (one card),
and the assignment card's 接收 / 撤回 buttons. Every click is checked against the card's
state now: a button the card would no longer offer answers with the current state."""

from __future__ import annotations

from datetime import date

from bot import keys
from bot.domain.model import DomainError
from bot.domain.results import State
from bot.messages import Button, Card
from bot.services import assignments, notify
from bot.services import results as results_svc
from bot.text import domain_message, render, t

from .router import Ctx, Router

router = Router("assignments")
PAGE_SIZE = 10
DETAIL_BUTTONS = 5  # with 下一页, within every messenger's limit (WeCom: 6)
ALL_WORDS = ("全部", "所有", "含已公示")
DONE = (State.APPROVED.value, State.PUBLISHED.value)


async def _rows(ctx: Ctx, include_published: bool) -> list[dict]:
    out = []
    for ref in await assignments.mine(ctx.session, ctx.me.cert):
        a = await assignments.load(ctx.session, ref, ctx.me.cert)
        status, _ = notify.member_state(a, ctx.me.cert)
        if a.published and not include_published:
            continue
        out.append(
            {
                "ref": ref,
                "name": notify.short_name(a.name, ctx.settings.region, 8),
                "deadline": a.deadline,
                "state": t("card.short_state", status=status, accepted=a.accepted_by(ctx.me.cert)),
                "open": status not in DONE,
            }
        )
    # open tasks first (earliest deadline first), then the finished ones
    out.sort(key=lambda r: (not r["open"], r["deadline"] or date.max, r["ref"]))
    return out


def _list_card(rows: list[dict], page: int, include_published: bool) -> Card:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    buttons = [
        Button(keys.make(keys.DETAIL, r["ref"]), t("card.btn_detail", ref=r["ref"]))
        for r in shown
        if r["open"]
    ][:DETAIL_BUTTONS]
    if page < pages:
        buttons.append(
            Button(
                keys.make_parts(keys.PAGE, page + 1, int(include_published)),
                t("card.btn_next_page"),
            )
        )
    body = render(
        "chat/task_list.j2",
        rows=shown,
        total=len(rows),
        open=sum(r["open"] for r in rows),
        all=include_published,
    ).strip()
    return Card(
        t("card.list_title", page=page, pages=pages, all=include_published), body, tuple(buttons)
    )


@router.command("我的任务", private_only=True)
async def my_tasks(ctx: Ctx, rest: str) -> None:
    include = rest.strip() in ALL_WORDS
    rows = await _rows(ctx, include)
    if not rows:
        ctx.reply(t("card.list_empty", all=include))
        return
    ctx.reply(card=_list_card(rows, 1, include))


@router.command("任务", private_only=True)
async def task_detail(ctx: Ctx, rest: str) -> None:
    """``任务 <编号>``: one assignment's card; a bare ``任务`` is the list."""
    word = rest.strip()
    if not word:
        await my_tasks(ctx, "")
        return
    if word in ALL_WORDS:
        await my_tasks(ctx, word)
        return
    ref = keys.chat_ref(word)
    if ref is None:
        ctx.reply(t("card.detail_usage"))
        return
    await _detail(ctx, ref)


async def _detail(ctx: Ctx, ref: int) -> None:
    a = await assignments.load(ctx.session, ref, ctx.me.cert)
    ctx.reply(card=notify.assignment_card(a, ctx.me.cert), subject=notify.subject(ref, ctx.me.cert))


@router.button(keys.DETAIL)
async def detail(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    await _detail(ctx, ref)


@router.button(keys.PAGE)
async def page(ctx: Ctx, key: str) -> None:
    page_no, include = (keys.parse_int(p) for p in keys.parse_parts(key, 2))
    rows = await _rows(ctx, bool(include))
    if not rows:
        ctx.reply(t("card.list_empty", all=bool(include)), update=True)
        return
    ctx.reply(card=_list_card(rows, page_no, bool(include)), update=True)


async def current(ctx: Ctx, ref: int, key: str) -> assignments.Assignment | None:
    """The assignment as it stands, if ``key`` is still one of its card's buttons for
    the clicker; otherwise the clicker hears the state now, every copy of the card is
    brought up to date, and None is returned (nothing is done)."""
    cert = ctx.me.cert
    try:
        a = await assignments.load(ctx.session, ref, cert)
    except DomainError as exc:
        if exc.code not in ("not_your_assignment", "no_assignment"):
            raise
        ctx.reply(t("card.gone", ref=ref))
        ctx.replies.append(notify.refresh_gone(ctx.inbound.user, ref, cert))
        return None
    if key in [b.key for b in notify.assignment_buttons(a, cert)]:
        return a
    _, label = notify.member_state(a, cert)
    ctx.reply(t("card.stale", ref=ref, label=label))
    ctx.replies.extend(await notify.refresh_assignment(ctx.session, ref, {cert}))
    return None


@router.button(keys.ACCEPT)
async def accept(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    if await current(ctx, ref, key) is None:
        return
    await assignments.accept(ctx.session, ref, ctx.me.cert, ctx.now)
    # the card itself now says 已接收: no message besides (the click brings the messenger's
    # handle to update it; WeCom's response code included)
    ctx.replies.extend(
        await notify.refresh_assignment(
            ctx.session, ref, {ctx.me.cert}, {ctx.me.cert: t("chat.accepted", ref=ref)}
        )
    )


@router.button(keys.WITHDRAW)
async def withdraw(ctx: Ctx, key: str) -> None:
    _, ref = keys.parse(key)
    a = await current(ctx, ref, key)
    if a is None:
        return
    try:
        await results_svc.withdraw(
            ctx.session, ref, ctx.me.cert, ctx.now, f"{ctx.me.name}({ctx.me.cert})"
        )
    except DomainError as exc:
        ctx.reply(domain_message(exc, channel="chat"))
        return
    team = a.department_certs(ctx.me.cert)
    ctx.replies.extend(
        await notify.refresh_assignment(
            ctx.session,
            ref,
            set(team),
            {
                c: t("card.status_withdrawn", ref=ref, who=ctx.me.name)
                for c in team
                if c != ctx.me.cert
            },
        )
    )
    ctx.reply(t("card.withdrawn", ref=ref))
