"""Wire WeCom into the app: validate the configuration, open the HTTP client session
through a cleanup context, register the callback routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.messengers import ConfigError, Freshness, Wiring
from bot.text import t

from .adapter import WeComAdapter
from .api import WeComClient, WeComConfig
from .crypto import WeComCrypto
from .sender import WeComSender


def cryptos(settings: Settings) -> tuple[WeComCrypto | None, WeComCrypto | None]:
    app = bot = None
    if settings.wecom_max_age_seconds <= 0:
        raise ConfigError(t("wecom.bad_max_age", value=settings.wecom_max_age_seconds))
    try:
        if settings.wecom_corp_id:
            if not (
                settings.wecom_token
                and settings.wecom_aes_key
                and settings.wecom_secret
                and settings.wecom_agent_id
            ):
                raise ConfigError(t("wecom.incomplete"))
            app = WeComCrypto(settings.wecom_token, settings.wecom_aes_key, settings.wecom_corp_id)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(t("wecom.bad_app_key", error=str(exc))) from exc
    try:
        if settings.wecom_bot_token or settings.wecom_bot_aes_key:
            bot = WeComCrypto(settings.wecom_bot_token, settings.wecom_bot_aes_key, "")
    except ValueError as exc:
        raise ConfigError(t("wecom.bad_bot_key", error=str(exc))) from exc
    return app, bot


def install(app: web.Application, settings: Settings, wiring: Wiring) -> None:
    """The WeCom callbacks and sender (see ``bot.messengers``: how a messenger is wired)."""
    sender_key = wiring.sender
    freshness = Freshness(settings.wecom_max_age_seconds, wiring.clock_skew)
    app_crypto, bot_crypto = cryptos(settings)  # refuse a malformed key before serving
    holder: dict[str, WeComAdapter] = {}

    async def _wecom(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            if settings.wecom_corp_id and sender_key not in app:
                client = WeComClient(
                    WeComConfig(
                        settings.wecom_corp_id,
                        settings.wecom_agent_id,
                        settings.wecom_secret,
                        settings.wecom_api_base,
                    ),
                    http,
                )
                sender = WeComSender(client, settings.wecom_agent_id, settings.wecom_group_webhook)
                sender.pace_seconds = settings.wecom_pace_seconds
                app[sender_key] = sender
            holder["adapter"] = WeComAdapter(
                app[wiring.receiver], app_crypto, bot_crypto, freshness
            )
            yield

    app.cleanup_ctx.append(_wecom)

    def via(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await getattr(holder["adapter"], name)(request)

        return handler

    app.router.add_get("/wecom/callback", via("verify_app"))
    app.router.add_post("/wecom/callback", via("app_callback"))
    app.router.add_get("/wecom/bot", via("verify_bot"))
    app.router.add_post("/wecom/bot", via("bot_callback"))


__all__ = ["ConfigError", "cryptos", "install"]
