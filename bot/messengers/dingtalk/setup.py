"""Wire DingTalk into the app: check the settings (a Chinese refusal before anything
listens), open the HTTP client session through a cleanup context, make the sender, and
receive by Stream (a background task) or by HTTP callbacks at ``/dingtalk/events``.

What the messenger needs from the rest of the system is passed in (``Wiring``): the app
keys of the receiver, which records an inbound event durably (deduplicated) and returns
once it is committed, and of the sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot import messengers
from bot.text import t

from .adapter import DingTalkHttpAdapter
from .api import DingTalkClient, DingTalkConfig
from .codec import CARD_TOPIC, ROBOT_TOPIC
from .crypto import EventCrypto
from .sender import DingTalkSender
from .stream import StreamReceiver

MODES = ("stream", "http")


ConfigError = messengers.ConfigError  # a missing or malformed DingTalk setting


class DingTalkSettings(Protocol):
    """What this package reads of the settings (bot.config.Settings has it)."""

    @property
    def dingtalk_app_key(self) -> str: ...
    @property
    def dingtalk_app_secret(self) -> str: ...
    @property
    def dingtalk_robot_code(self) -> str: ...
    @property
    def dingtalk_mode(self) -> str: ...
    @property
    def dingtalk_token(self) -> str: ...
    @property
    def dingtalk_aes_key(self) -> str: ...
    @property
    def dingtalk_api_base(self) -> str: ...
    @property
    def dingtalk_group(self) -> str: ...


def checked(s: DingTalkSettings) -> EventCrypto | None:
    """Refuse incomplete or malformed settings; the event crypto in http mode."""
    missing = [
        name
        for name, value in (
            ("SSJ_DINGTALK_APP_SECRET", s.dingtalk_app_secret),
            ("SSJ_DINGTALK_ROBOT_CODE", s.dingtalk_robot_code),
        )
        if not value
    ]
    if missing:
        raise ConfigError(t("dingtalk.incomplete", missing="、".join(missing)))
    if s.dingtalk_mode not in MODES:
        raise ConfigError(t("dingtalk.bad_mode", value=s.dingtalk_mode))
    parts = urlsplit(s.dingtalk_api_base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(t("dingtalk.bad_api_base", value=s.dingtalk_api_base))
    if s.dingtalk_mode != "http":
        return None
    if not (s.dingtalk_token and s.dingtalk_aes_key):
        raise ConfigError(t("dingtalk.http_incomplete"))
    try:
        return EventCrypto(s.dingtalk_token, s.dingtalk_aes_key, s.dingtalk_app_key)
    except ValueError as exc:
        raise ConfigError(t("dingtalk.bad_aes_key", error=str(exc))) from exc


class WiringLike(Protocol):
    """What ``bot/app.py`` hands ``install`` (``bot.messengers.Wiring``): the app keys of
    the receiver (the durable inbound record, there once the app has started) and of the
    sender (set here unless one is set already), and the clock skew allowed."""

    @property
    def receiver(self) -> web.AppKey[Any]: ...
    @property
    def sender(self) -> web.AppKey[Any]: ...
    @property
    def clock_skew(self) -> float: ...


@dataclass(frozen=True)
class Wiring:
    """A ``WiringLike`` for as long as ``bot.messengers`` has no ``Wiring`` of its own."""

    receiver: web.AppKey[Any]
    sender: web.AppKey[Any]
    clock_skew: float


def install(
    app: web.Application, s: DingTalkSettings, wiring: WiringLike, max_age: float = 3600
) -> None:
    """Check the settings (ConfigError), then, once the app starts: the sender (unless
    one is set) and the receiving side, Stream or HTTP; ``max_age``: HTTP callbacks signed
    longer ago are refused (the receiver keeps deduplication rows a little longer)."""
    crypto = checked(s)
    holder: dict[str, DingTalkHttpAdapter] = {}

    async def _dingtalk(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            client = DingTalkClient(
                DingTalkConfig(
                    s.dingtalk_app_key,
                    s.dingtalk_app_secret,
                    s.dingtalk_robot_code,
                    s.dingtalk_api_base,
                ),
                http,
            )
            if wiring.sender not in app:
                app[wiring.sender] = DingTalkSender(client, s.dingtalk_robot_code, s.dingtalk_group)
            receiver = app[wiring.receiver]
            # card clicks come by Stream in both modes (cards are created with callbackType
            # STREAM); in http mode messages and events come to /dingtalk/events
            topics = (CARD_TOPIC,) if s.dingtalk_mode == "http" else (ROBOT_TOPIC, CARD_TOPIC)
            task = asyncio.create_task(StreamReceiver(client, receiver, topics=topics).run())
            holder["http"] = DingTalkHttpAdapter(
                receiver, crypto, s.dingtalk_app_secret, max_age, wiring.clock_skew
            )
            yield
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    app.cleanup_ctx.append(_dingtalk)

    async def events(request: web.Request) -> web.StreamResponse:
        return await holder["http"].events(request)

    app.router.add_post("/dingtalk/events", events)
