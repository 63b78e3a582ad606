"""The service: ``create_app(settings)`` builds the aiohttp app; every resource is opened
and closed through the app's cleanup contexts (engine, dispatcher, outbox relay)."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING

from aiohttp import web

from bot.config import (
    Settings,
    dingtalk_enabled,
    feishu_enabled,
    messengers_configured,
    web_chat_exposed,
    wecom_enabled,
)
from bot.dispatch import Dispatcher
from bot.messages import Sender
from bot.services import notify as people_svc
from bot.services import outbox
from bot.text import t
from storage import audit, db, inbound, migrate
from storage.db import Checkpointer, make_engine, session_factory, sqlite_file
from storage.uow import Sessions

if TYPE_CHECKING:
    from bot.messengers import Wiring
    from bot.messengers.webchat.adapter import WebChat

log = logging.getLogger(__name__)

ENGINE = web.AppKey("engine", db.AsyncEngine)  # the engine's type, named by storage.db
SESSIONS: web.AppKey[Sessions] = web.AppKey("sessions")
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
RELAY = web.AppKey("relay", outbox.Relay)
SETTINGS = web.AppKey("settings", Settings)
WAKE = web.AppKey("wake", asyncio.Event)
SENDER: web.AppKey[Sender] = web.AppKey("sender")
CHAT: web.AppKey[WebChat] = web.AppKey("chat")  # the web chat, imported only when enabled
CHECKPOINTER: web.AppKey[Checkpointer | None] = web.AppKey("checkpointer")


class NotMigrated(RuntimeError):
    pass


class WebChatExposed(RuntimeError):
    """The web chat without login on an address beyond this machine (Chinese message)."""


async def _database(app: web.Application):
    settings = app[SETTINGS]
    engine = make_engine(settings.database_url, checkpointer=True)
    path = sqlite_file(engine)
    checkpointer = Checkpointer(path).start() if path else None
    app[CHECKPOINTER] = checkpointer
    try:
        if await migrate.current(engine) != migrate.revisions()[-1]:
            raise NotMigrated(t("cli.db_not_ready"))
        app[ENGINE], app[SESSIONS] = engine, session_factory(engine)
        yield
    finally:
        await engine.dispose()
        if checkpointer is not None:
            await asyncio.to_thread(checkpointer.stop)


async def _dispatcher(app: web.Application):
    wake = app[WAKE] = asyncio.Event()
    d = app[DISPATCHER] = Dispatcher(app[SESSIONS], app[SETTINGS], on_outbox=wake.set)
    await d.recover()
    yield
    await d.close()


async def _relay(app: web.Application):
    sender = app.get(SENDER)
    if sender is None:
        yield
        return
    sf = app[SESSIONS]

    async def on_parked(row) -> None:
        """Nothing is dropped silently: the supervisors hear of a message that failed."""
        async with sf() as s, s.begin():
            await audit.append(
                s,
                "relay",
                "outbox.parked",
                row.recipient,
                {"outbox_id": row.id, "error": row.last_error, "attempts": row.attempts},
            )
            note = t("chat.delivery_failed", to=row.recipient, error=row.last_error[:200])
            await outbox.enqueue(
                s,
                [
                    m
                    for m in await people_svc.admins_messages(s, note, row.id)
                    if m.to != row.recipient
                ],
            )

    relay = app[RELAY] = outbox.Relay(
        sf, sender, on_parked=on_parked, keep_inbound=_inbound_retention(app[SETTINGS])
    )
    await relay.start()  # takes back at once what a killed predecessor had leased
    stop = asyncio.Event()
    task = asyncio.create_task(_relay_loop(relay, app[WAKE], app[DISPATCHER], stop))
    yield
    # Let the round in hand finish (a message sent is then marked sent, not sent again by
    # the next start); cancel only one that outlasts the grace. A round cancelled halfway
    # could leave SQLite's write lock with a dying connection for its busy timeout.
    stop.set()
    app[WAKE].set()
    await settle(task, SHUTDOWN_GRACE)
    await relay.close()


SHUTDOWN_GRACE = 5.0  # seconds a background round may take to finish at shutdown


async def settle(task: asyncio.Task[None], grace: float) -> None:
    """Wait up to ``grace`` seconds for ``task`` to end by itself, then cancel it."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _relay_loop(
    relay: outbox.Relay,
    wake: asyncio.Event,
    dispatcher: Dispatcher,
    stop: asyncio.Event,
    idle: float = 1.0,
) -> None:
    while not stop.is_set():
        await dispatcher.yield_to_acks()
        try:
            stats = await relay.run_once()
        except Exception:  # noqa: BLE001 - keep relaying; the rows are still there
            log.exception("outbox relay round failed")
            stats = None
        if stats is None or not stats.sent:
            # a row held back by pacing is due in a fraction of a second: wait for that,
            # not the whole idle period (a person with several messages gets them at the
            # messenger's pace)
            wait = idle if stats is None or stats.due_in is None else min(idle, stats.due_in)
            try:
                await asyncio.wait_for(wake.wait(), max(wait, 0.01))
            except TimeoutError:
                pass
            if not stop.is_set():
                wake.clear()


def _guard_expect_header() -> None:
    """aiohttp answers an ``Expect`` other than ``100-continue`` (417) with a text that
    repeats the header; a value that is not UTF-8 then fails to encode and the request
    gets a 500, on any route, 404s included (routes made per request by aiohttp). Every
    route's default expect handler becomes one that refuses such a value with a Chinese
    417 that repeats nothing. Installed once, before the first route exists; the hostile
    input test (tests/service/test_hostile_http.py) tells if aiohttp ever moves it."""
    from aiohttp import web_urldispatcher as dispatcher

    original = getattr(dispatcher, "_default_expect_handler", None)
    if original is None or getattr(original, "ssj_guard", False):
        return

    async def guarded(request: web.Request):
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=t("http.bad_expect"))
        return await original(request)

    guarded.ssj_guard = True  # type: ignore[attr-defined]
    dispatcher._default_expect_handler = guarded


def create_app(settings: Settings, sender=None, *, settle_heap: bool = False) -> web.Application:
    """The service. ``sender`` overrides the messenger's sender (tests, other adapters).

    ``settle_heap`` (the long-running service, not tests): once everything has started,
    the objects alive then (modules, metadata, templates, caches: about 10⁵) are moved out
    of the garbage collector's reach with ``gc.freeze``, so a full collection no longer
    walks them all; measured, that walk stalled the event loop for about 60 ms at a time.
    """
    if web_chat_exposed(settings):
        raise WebChatExposed(t("webchat.exposed", host=settings.host))
    configured = messengers_configured(settings)
    if len(configured) > 1:  # one sender at a time; checked before any is installed
        from bot.messengers import ConfigError

        raise ConfigError(t("webchat.messengers_more_than_one", names=configured))
    _guard_expect_header()
    app = web.Application(client_max_size=256 * 1024)
    app[SETTINGS] = settings
    if sender is not None:
        app[SENDER] = sender
    app.cleanup_ctx.extend([_database, _dispatcher])
    _install_feishu(app, settings)  # before the web chat: Feishu's sender comes first
    app.router.add_get("/healthz", _health)
    from bot.web import public

    public.install(app, SESSIONS, SETTINGS)  # /public/…: published tasks and plans, no login
    _messengers(app, settings)
    app.cleanup_ctx.append(_relay)
    if settings.publish_endpoint:  # the push to the national credit publicity system
        from bot.push_runtime import cleanup_context as push_relay

        app.cleanup_ctx.append(push_relay(SESSIONS, SETTINGS))
    if settings.scheduler:  # scheduled jobs, exactly once per period (scheduler/runner.py)
        from scheduler.runner import scheduler_ctx

        app.cleanup_ctx.append(scheduler_ctx(SESSIONS, SETTINGS, WAKE))
    if settle_heap:
        app.on_startup.append(_settle_heap)  # after every cleanup context has started
    return app


def _messengers(app: web.Application, settings: Settings) -> None:
    """Each configured messenger, wired (see ``bot.messengers``: what a messenger gets)."""
    from bot.messengers import Wiring

    wiring = Wiring(receiver=DISPATCHER, sender=SENDER, clock_skew=inbound.CLOCK_SKEW)
    if settings.web_chat:
        from bot.messengers.webchat.adapter import WebChat, WebChatSender
        from bot.services.webchat_access import WebChatAccess
        from bot.services.webchat_store import WebChatStore

        async def _webchat(app: web.Application):
            store, access = WebChatStore(app[SESSIONS]), WebChatAccess(app[SESSIONS], settings)
            if SENDER not in app and not messengers_configured(settings):
                app[SENDER] = WebChatSender(store)
            app[CHAT] = WebChat(app[wiring.receiver], store, access, access, settings)
            yield

        app.cleanup_ctx.append(_webchat)
        app.router.add_get("/chat", _via_chat("page"))
        app.router.add_get("/chat/api/people", _via_chat("people"))
        app.router.add_post("/chat/api/send", _via_chat("send"))
        app.router.add_post("/chat/api/click", _via_chat("click"))
        app.router.add_get("/chat/api/inbox", _via_chat("inbox"))
        # logging in (SSJ_WEB_CHAT_LOGIN=1): the invitation link, its use, logging out
        app.router.add_get(r"/chat/login/{token:[^/]{1,200}}", _via_chat("login_link"))
        app.router.add_post("/chat/login", _via_chat("login_post"))
        app.router.add_post("/chat/logout", _via_chat("logout"))
    if wecom_enabled(settings):
        from bot.messengers.wecom.setup import install

        install(app, settings, wiring)
    if dingtalk_enabled(settings):
        _install_dingtalk(app, settings, wiring)


def _install_dingtalk(app: web.Application, settings: Settings, wiring: Wiring) -> None:
    """DingTalk receives into the dispatcher and is the sender (unless one was given)."""
    from bot.messengers.dingtalk import setup as dingtalk

    dingtalk.install(app, settings, wiring, settings.wecom_max_age_seconds)


async def _settle_heap(app: web.Application) -> None:
    gc.collect()
    gc.freeze()
    log.info("heap settled: %d objects frozen", gc.get_freeze_count())


def _install_feishu(app: web.Application, settings: Settings) -> None:
    if feishu_enabled(settings):
        from bot.messengers import Wiring
        from bot.messengers.feishu.setup import install

        install(
            app, settings, Wiring(receiver=DISPATCHER, sender=SENDER, clock_skew=inbound.CLOCK_SKEW)
        )


def _inbound_retention(settings: Settings):
    """How long deduplication rows stay: Feishu retries for 6 h, so at least 8 h then."""
    keep = inbound.retention(settings.wecom_max_age_seconds)
    if feishu_enabled(settings):
        from bot.messengers.feishu.adapter import RETENTION

        keep = max(keep, RETENTION)
    return keep


def _via_chat(name: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        return await getattr(request.app[CHAT], name)(request)

    return handler


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})
