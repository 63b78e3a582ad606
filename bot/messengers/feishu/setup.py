"""Wire Feishu into the app: check the settings (a Chinese refusal when incomplete or
malformed), open the HTTP client session through a cleanup context, register the
callback route (http mode) or start the long connection (ws mode)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.messengers import ConfigError, Freshness, Receiver, Wiring
from bot.text import t

from .adapter import EVENT_MAX_AGE, REQUEST_MAX_AGE, FeishuEvents
from .api import FeishuClient, FeishuConfig
from .crypto import FeishuCrypto
from .longconn import LongConnection
from .sender import FeishuSender

_APP_ID = re.compile(r"cli_[0-9a-zA-Z]{4,64}")
_API_BASE = re.compile(r"https?://[0-9A-Za-z.\-]+(:[0-9]{1,5})?/?")


def check(settings: Settings) -> None:
    if not _APP_ID.fullmatch(settings.feishu_app_id):
        if not settings.feishu_app_id:
            raise ConfigError(t("feishu.incomplete", missing="SSJ_FEISHU_APP_ID"))
        raise ConfigError(t("feishu.bad_app_id", value=settings.feishu_app_id[:80]))
    if settings.feishu_mode not in ("ws", "http"):
        raise ConfigError(t("feishu.bad_mode", value=settings.feishu_mode[:40]))
    if not _API_BASE.fullmatch(settings.feishu_api_base):
        raise ConfigError(t("feishu.bad_api_base", value=settings.feishu_api_base[:200]))
    missing = [
        name
        for name, value in (
            ("SSJ_FEISHU_APP_SECRET", settings.feishu_app_secret),
            (
                "SSJ_FEISHU_ENCRYPT_KEY",
                settings.feishu_encrypt_key if settings.feishu_mode == "http" else "-",
            ),
            (
                "SSJ_FEISHU_VERIFICATION_TOKEN",
                settings.feishu_verification_token if settings.feishu_mode == "http" else "-",
            ),
        )
        if not value
    ]
    if missing:
        raise ConfigError(t("feishu.incomplete", missing="、".join(missing)))
    if settings.feishu_mode == "ws" and importlib.util.find_spec("lark_oapi") is None:
        raise ConfigError(t("feishu.ws_missing"))


def install(app: web.Application, settings: Settings, wiring: Wiring) -> None:
    """Feishu's callbacks or long connection, and its sender (see ``bot.messengers``:
    how a messenger is wired)."""
    sender_key = wiring.sender
    check(settings)  # refuse bad settings before serving
    holder: dict[str, FeishuEvents] = {}

    async def _feishu(app: web.Application) -> AsyncIterator[None]:
        recorder: Receiver = app[wiring.receiver]
        async with aiohttp.ClientSession() as http:
            if sender_key not in app:
                client = FeishuClient(
                    FeishuConfig(
                        settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_api_base
                    ),
                    http,
                )
                app[sender_key] = FeishuSender(client, settings.feishu_group_chat_id)
            conn = None
            if settings.feishu_mode == "http":
                holder["events"] = FeishuEvents(
                    recorder,
                    FeishuCrypto(settings.feishu_encrypt_key),
                    settings.feishu_verification_token,
                    Freshness(REQUEST_MAX_AGE, wiring.clock_skew),
                    Freshness(EVENT_MAX_AGE, wiring.clock_skew),
                )
            else:
                conn = LongConnection(
                    settings.feishu_app_id,
                    settings.feishu_app_secret,
                    settings.feishu_api_base.rstrip("/"),
                    recorder,
                    asyncio.get_running_loop(),
                )
                conn.start()
            yield
            if conn is not None:
                await asyncio.to_thread(conn.close)

    app.cleanup_ctx.append(_feishu)

    async def events(request: web.Request) -> web.StreamResponse:
        return await holder["events"].events(request)

    if settings.feishu_mode == "http":
        app.router.add_post("/feishu/events", events)


__all__ = ["ConfigError", "check", "install"]
