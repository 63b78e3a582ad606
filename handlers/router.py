"""Routing inbound events to handlers: one router per topic, declared with decorators.

A handler is ``async def h(ctx: Ctx, args: str | list[str]) -> None`` and adds replies
to ``ctx``. Text commands match on their first word; buttons on the key's prefix
(``acc:12`` -> prefix ``acc``). Permissions are declared on the route: ``admin=True``
routes are refused, with a clear message, to anyone who is not a 管理员.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from bot.config import Settings
from bot.messages import GROUP, PRIVATE, Button, Card, Inbound, Outbound, Person
from bot.text import t
from storage.uow import Session

Handler = Callable[["Ctx", object], Awaitable[None]]


@dataclass
class Ctx:
    session: Session
    settings: Settings
    inbound: Inbound
    person: Person | None
    now: datetime
    replies: list[Outbound] = field(default_factory=list)

    @property
    def me(self) -> Person:
        """The registered person behind the event: the dispatcher answers anyone unknown
        before a handler runs, so every handler may rely on it."""
        if self.person is None:
            raise RuntimeError("no registered person behind this event")
        return self.person

    @property
    def today(self) -> date:
        return self.now.date()

    def reply(
        self,
        text: str = "",
        card: Card | None = None,
        update: bool = False,
        subject: str | None = None,
    ) -> None:
        """Answer where the event came from; ``update`` replaces the clicked card;
        ``subject`` names what a new card shows, so later changes update it in place."""
        ib = self.inbound
        to = ib.group if ib.room == GROUP else ib.user
        self.replies.append(
            Outbound(
                to,
                ib.room,
                text,
                card,
                update_of=ib.message_id if update else "",
                via=ib.reply_url,
                subject=subject,
            )
        )

    def send(
        self,
        account: str,
        text: str = "",
        card: Card | None = None,
        dedupe_key: str | None = None,
        subject: str | None = None,
    ) -> None:
        """A private message to someone (by 消息账号)."""
        self.replies.append(
            Outbound(account, PRIVATE, text, card, dedupe_key=dedupe_key, subject=subject)
        )

    def to_group(self, text: str = "", card: Card | None = None, group: str | None = None) -> None:
        g = self.inbound.group if group is None and self.inbound.room == GROUP else (group or "")
        self.replies.append(Outbound(g, GROUP, text, card))


@dataclass
class Route:
    handler: Handler
    admin: bool = False
    private_only: bool = False
    help_key: str = ""


class Router:
    def __init__(self, name: str):
        self.name = name
        self.commands: dict[str, Route] = {}
        self.buttons: dict[str, Route] = {}

    def command(
        self, *words: str, admin: bool = False, private_only: bool = False, help_key: str = ""
    ):
        def deco(fn: Handler) -> Handler:
            for w in words:
                self.commands[w] = Route(fn, admin, private_only, help_key)
            return fn

        return deco

    def button(self, prefix: str, admin: bool = False):
        def deco(fn: Handler) -> Handler:
            self.buttons[prefix] = Route(fn, admin)
            return fn

        return deco


def button(key: str, text_key: str, **params) -> Button:
    return Button(key, t(text_key, **params))


def card(title_key: str, body_template: str, buttons=(), ref: int | None = None, **ctx) -> Card:
    from bot.text import render

    return Card(t(title_key, **ctx), render(body_template, **ctx).strip(), tuple(buttons), ref)
