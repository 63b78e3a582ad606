"""The push relay in the service: the HTTP transport (an aiohttp client session), the
relay loop, and the supervisors told of a parked message (an audit entry and a private message to every
管理员 through the chat outbox). ``bot.app`` appends ``cleanup_context(...)`` when
``SSJ_PUBLISH_ENDPOINT`` is set; ``ssj outbox relay`` uses ``parked_reporter`` too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.services import notify, outbox
from bot.services.push import PushRelay, PushResponse, PushTransportError
from bot.text import t
from storage import audit
from storage.models_push import PushMessage
from storage.uow import Sessions, unit_of_work

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
PUSH_RELAY = web.AppKey("push_relay", PushRelay)


class HttpPushTransport:
    """``bot.services.push.PushTransport`` over an aiohttp client session."""

    def __init__(self, http: aiohttp.ClientSession):
        self.http = http

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> PushResponse:
        status: int | None = None
        try:
            async with self.http.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
                return PushResponse(status, text, resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PushTransportError(
                f"{type(exc).__name__}: {exc}".strip().rstrip(":"), status
            ) from exc


def parked_reporter(
    sf: Sessions, clock: Callable[[], datetime] = datetime.now
) -> Callable[[PushMessage], Awaitable[None]]:
    async def on_parked(row: PushMessage) -> None:
        async with unit_of_work(sf) as s:
            await audit.append(
                s,
                "relay",
                "push.parked",
                row.task_id,
                {
                    "push_id": row.id,
                    "kind": row.kind_code,
                    "seq": row.seq,
                    "attempts": row.attempts,
                    "http_status": row.http_status,
                    "error": row.last_error,
                },
            )
            note = t(
                "push.parked_notice",
                id=row.id,
                task=row.task_id,
                kind=row.kind,
                attempts=row.attempts,
                error=(row.last_error or "")[:200],
            )
            stamp = clock().isoformat(timespec="seconds")
            await outbox.enqueue(
                s, await notify.to_admins(s, note, dedupe=f"pushparked{row.id}:{stamp}")
            )

    return on_parked


async def run_loop(relay: PushRelay, poll: float = POLL_SECONDS) -> None:
    while True:
        try:
            stats = await relay.run_once()
        except Exception:  # noqa: BLE001 - keep relaying; the rows are still there
            log.exception("push relay round failed")
            stats = None
        if stats is None or not stats.sent:
            await asyncio.sleep(poll)


def cleanup_context(
    sessions_key: web.AppKey[Any], settings_key: web.AppKey[Settings], poll: float = POLL_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running the push relay for the app's lifetime."""

    async def _push(app: web.Application) -> AsyncIterator[None]:
        settings = app[settings_key]
        sf: Sessions = app[sessions_key]
        async with aiohttp.ClientSession() as http:
            relay = app[PUSH_RELAY] = PushRelay(
                sf,
                settings.publish_endpoint,
                HttpPushTransport(http),
                token=settings.publish_token or None,
                on_parked=parked_reporter(sf),
            )
            task = asyncio.create_task(run_loop(relay, poll))
            yield
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return _push
