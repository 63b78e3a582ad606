"""Benchmark of a messenger callback's full path against a bare aiohttp JSON handler.

    .venv/bin/python bench/webhook.py [--seconds 10] [--concurrency 100] [--db sqlite|postgres]
                                      [--max-requests 150000] [--drain 20] [--profile]
                                      [--messenger wecom|feishu]

Two servers, each in its own process on 127.0.0.1 (a free port), measured one after the
other by an aiohttp client in this process (``TCPConnector(limit=concurrency)``,
``concurrency`` worker tasks, 1 s of warm-up, then ``--seconds`` timed):

1. bare: a minimal aiohttp app whose one POST handler parses a JSON body and answers
   ``{"ok": true}``; the bodies are padded to the callbacks' size.
2. ours: the real ``create_app(settings, sender=NullSender(), settle_heap=True)`` (as
   ``ssj serve`` builds it) with WeCom configured
   (made-up corp id, agent id, secret, token and a random EncodingAESKey), on a freshly
   migrated database (SQLite in a temp dir, or a PostgreSQL database created and dropped
   here) holding the demo library. Every request is a distinct, correctly signed and
   encrypted ``POST /wecom/callback`` text message "帮助" from one real 消息账号 of the
   imported inspectors (unique MsgId, unique nonce), generated before the timed phase.
   The server verifies, decrypts, parses, deduplicates and records each one in
   ``inbound_events`` before its empty 200; the handlers and the outbox relay (with a
   sender that sends nothing) run in the background meanwhile, as in production.
   With ``--messenger feishu`` the server has Feishu configured instead (HTTP mode,
   made-up app id, secret, Encrypt Key and Verification Token) and every request is a
   distinct ``POST /feishu/events``: a v2 ``im.message.receive_v1`` event "帮助" (unique
   message_id), encrypted with the Encrypt Key and signed in the ``X-Lark-*`` headers
   (unique nonce); the bare handler gets bodies of the same size and the same headers.

Afterwards the recorded events are counted and matched against the MsgIds that were
acknowledged with 200 (each acknowledged request must have been durably recorded), and
the background backlog is given ``--drain`` seconds to finish.

Targets: ours reaches at least 30 % of the bare handler's throughput, and ours' p99 latency
is under 50 ms, at 100 concurrent connections. ``--profile`` runs the server under
cProfile during the timed phase (the figures are then distorted by the profiler) and
prints where its time goes, with per-phase timers of the request path.

Diagnostics: ``--no-background`` records and acknowledges only (no handler runs), to
separate the webhook path from the background work sharing its process; the environment
variable ``SSJ_BENCH_HOOK=/path/file.py:function`` names a function the server process
calls before building the app (to try a change, e.g. a patched ``Dispatcher.receive``,
without editing the service).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import gc
import io
import itertools
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import pstats
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from aiohttp import web  # noqa: E402
from yarl import URL  # noqa: E402

THROUGHPUT_RATIO_TARGET = 0.30
P99_TARGET_MS = 50.0
WARMUP_SECONDS = 1.0

CORP_ID = "wwbench000000001"
FEISHU_APP_ID = "cli_bench00000001"
AGENT_ID = 1000002
TEXT = "帮助"
PG_ADMIN = os.environ.get("SSJ_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


class NullSender:
    """The outbox relay's sender: sends nothing, records nothing, so nothing leaves the host."""

    pace_seconds = 0.0

    async def send(self, msg, outbox_id: int) -> str:
        return "x"


# ---------------------------------------------------------------- server processes


def _bare_app() -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/bare", handler)
    return app


def _ours_settings(cfg: dict):
    from dataclasses import fields

    from bot.config import Settings

    if cfg.get("messenger") == "feishu":
        settings = replace(
            Settings.from_env(cfg["url"]),
            feishu_app_id=FEISHU_APP_ID,
            feishu_app_secret=cfg["secret"],
            feishu_encrypt_key=cfg["aes_key"],
            feishu_verification_token=cfg["token"],
            feishu_mode="http",
            feishu_api_base="http://127.0.0.1:9",
            feishu_group_chat_id="",
            wecom_corp_id="",
            web_chat=False,
            actor="bench",
        )
    else:
        settings = replace(
            Settings.from_env(cfg["url"]),
            wecom_corp_id=CORP_ID,
            wecom_agent_id=AGENT_ID,
            wecom_secret=cfg["secret"],
            wecom_token=cfg["token"],
            wecom_aes_key=cfg["aes_key"],
            web_chat=False,
            actor="bench",
        )
    # Nothing may leave the host, and only the webhook path is measured: no WeCom API
    # (unreachable base even though the sender is a fake), no group webhook, no push to
    # a publicity endpoint, no scheduled jobs — whichever of these settings exist.
    off = {
        "wecom_api_base": "http://127.0.0.1:9",
        "wecom_group_webhook": "",
        "wecom_bot_token": "",
        "wecom_bot_aes_key": "",
        "publish_endpoint": "",
        "publish_token": "",
        "scheduler": False,
        "auto_draw": False,
    }
    names = {f.name for f in fields(Settings)}
    return replace(settings, **{k: v for k, v in off.items() if k in names})


def _ours_app(cfg: dict) -> web.Application:
    from bot.app import create_app

    return create_app(_ours_settings(cfg), sender=NullSender(), settle_heap=True)


class PhaseTimers:
    """Wall time spent in named steps of the request path (server side, --profile only)."""

    def __init__(self):
        self.total: dict[str, float] = defaultdict(float)
        self.count: Counter = Counter()
        self.on = False

    def wrap_sync(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        timers = self

        def timed(*a, **kw):
            if not timers.on:
                return fn(*a, **kw)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timers.total[label] += time.perf_counter() - t0
                timers.count[label] += 1

        setattr(owner, name, timed)

    def wrap_async(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)
        timers = self

        async def timed(*a, **kw):
            if not timers.on:
                return await fn(*a, **kw)
            t0 = time.perf_counter()
            try:
                return await fn(*a, **kw)
            finally:
                timers.total[label] += time.perf_counter() - t0
                timers.count[label] += 1

        setattr(owner, name, timed)

    def install(self) -> None:
        from bot.dispatch import Dispatcher
        from bot.messengers.wecom import xmlcodec
        from bot.messengers.wecom.adapter import WeComAdapter
        from bot.messengers.wecom.crypto import WeComCrypto
        from bot.services.outbox import Relay

        self.wrap_async(WeComAdapter, "app_callback", "request: adapter.app_callback (all)")
        self.wrap_sync(xmlcodec, "parse_envelope", "request: xmlcodec.parse_envelope")
        self.wrap_sync(WeComCrypto, "verify", "request: crypto.verify (sha1)")
        self.wrap_sync(WeComCrypto, "decrypt", "request: crypto.decrypt (aes)")
        self.wrap_sync(xmlcodec, "parse_message", "request: xmlcodec.parse_message")
        self.wrap_sync(xmlcodec, "to_inbound", "request: xmlcodec.to_inbound")
        self.wrap_async(Dispatcher, "receive", "request: dispatcher.receive (db)")
        self.wrap_async(Dispatcher, "_handle_event", "background: dispatcher._handle_event")
        self.wrap_async(Relay, "run_once", "background: relay.run_once")

    def watch_engine(self, engine) -> None:
        """Time between asking the pool for a connection and getting it, and each statement."""
        from sqlalchemy import event

        timers = self

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _before(conn, cursor, statement, params, context, executemany):
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def _after(conn, cursor, statement, params, context, executemany):
            t0 = conn.info.pop("bench_t0", None)
            if t0 is not None and timers.on:
                verb = (
                    " ".join(statement.split()[:2])
                    if statement.startswith("BEGIN")
                    else statement.split()[0]
                )
                timers.total[f"sql: {verb.upper()} (execute, incl. thread hop)"] += (
                    time.perf_counter() - t0
                )
                timers.count[f"sql: {verb.upper()} (execute, incl. thread hop)"] += 1

        pool = engine.sync_engine.pool
        orig = pool.connect

        def connect(*a, **kw):
            if not timers.on:
                return orig(*a, **kw)
            t0 = time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                timers.total["sql: pool checkout (incl. wait)"] += time.perf_counter() - t0
                timers.count["sql: pool checkout (incl. wait)"] += 1

        pool.connect = connect

    def report(self) -> str:
        lines = [f"{'step':<58} {'calls':>8} {'total s':>9} {'mean ms':>9}"]
        for label in sorted(self.total, key=lambda k: (k.split(":")[0], -self.total[k])):
            n = self.count[label]
            lines.append(
                f"{label:<58} {n:>8} {self.total[label]:>9.3f} "
                f"{1000 * self.total[label] / max(n, 1):>9.3f}"
            )
        return "\n".join(lines)


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process, all threads."""
    t = os.times()
    return t.user + t.system


def _server_main(kind: str, cfg: dict, conn) -> None:
    """Entry point of a server process: serve until SIGTERM, then report and exit."""
    logging.basicConfig(
        level=logging.WARNING, format=f"[{kind} server] %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_serve(kind, cfg, conn))
    except BaseException:  # noqa: BLE001 - tell the parent, whatever it was
        try:
            conn.send(("error", traceback.format_exc()))
        except Exception:  # noqa: BLE001
            pass
        raise


def _run_hook(spec: str) -> None:
    """``SSJ_BENCH_HOOK=/path/file.py:function`` (experiments): called before the app is built."""
    import importlib.util

    path, _, name = spec.rpartition(":")
    mod_spec = importlib.util.spec_from_file_location("ssj_bench_hook", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    getattr(module, name)()


def _no_background() -> None:
    """Record and acknowledge only: no handler runs, so the relay has nothing to send."""
    from bot.dispatch import Dispatcher

    Dispatcher._ensure_worker = lambda self, conv: None


async def _serve(kind: str, cfg: dict, conn) -> None:
    loop = asyncio.get_running_loop()
    if kind == "ours":
        if cfg.get("no_background"):
            _no_background()
        if cfg.get("hook"):
            _run_hook(cfg["hook"])
    profile = cfg.get("profile", False)
    timers = PhaseTimers() if profile and kind == "ours" else None
    if timers:
        timers.install()
    app = _ours_app(cfg) if kind == "ours" else _bare_app()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()  # runs the app's start-up: database, dispatcher, relay, WeCom
    if timers:
        from bot.app import ENGINE

        timers.watch_engine(app[ENGINE])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()

    stop = asyncio.Event()
    prof = cProfile.Profile() if profile else None
    cpu: dict[str, float] = {}

    def profile_on():  # the timed phase starts
        cpu["t0"], cpu["c0"] = time.perf_counter(), _cpu_seconds()
        if prof:
            prof.enable()
        if timers:
            timers.on = True

    def profile_off():  # the timed phase ends
        if "t0" in cpu and "busy" not in cpu:
            cpu["busy"] = (_cpu_seconds() - cpu["c0"]) / (time.perf_counter() - cpu["t0"])
        if prof:
            prof.disable()
        if timers:
            timers.on = False

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, profile_on)
    loop.add_signal_handler(signal.SIGUSR2, profile_off)
    conn.send(("ready", sock.getsockname()[1]))
    await stop.wait()
    profile_off()
    report = {"cpu": cpu.get("busy")}
    if prof:
        out = io.StringIO()
        st = pstats.Stats(prof, stream=out)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(40)
        report["profile"] = out.getvalue()
    if timers:
        report["timers"] = timers.report()
    await runner.cleanup()
    conn.send(("done", report))


@dataclass
class Server:
    kind: str
    proc: mp.Process
    conn: object
    port: int = 0
    report: dict = field(default_factory=dict)

    @classmethod
    def start(cls, kind: str, cfg: dict, timeout: float = 60.0) -> Server:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_server_main, args=(kind, cfg, child), daemon=True, name=f"bench-{kind}-server"
        )
        proc.start()
        child.close()
        srv = cls(kind, proc, parent)
        if not parent.poll(timeout):
            srv.stop()
            raise RuntimeError(f"{kind} server did not start within {timeout:.0f} s")
        what, value = parent.recv()
        if what != "ready":
            srv.stop()
            raise RuntimeError(f"{kind} server failed to start:\n{value}")
        srv.port = value
        return srv

    def signal(self, sig: int) -> None:
        if self.proc.is_alive():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc.is_alive():
            self.proc.terminate()  # SIGTERM: a graceful shutdown
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # read what the server says (also after it exited: the pipe keeps it)
            try:
                if not self.conn.poll(0.1):
                    if not self.proc.is_alive():
                        break
                    continue
                what, value = self.conn.recv()
            except (EOFError, OSError):
                break
            if what == "done":
                self.report = value
            elif what == "error":
                print(f"[{self.kind} server] {value}", file=sys.stderr)
        self.proc.join(max(0.0, deadline - time.monotonic()))
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


# ---------------------------------------------------------------- requests


@dataclass
class Prepared:
    paths: list[str]  # path + query string, one per request
    bodies: list[bytes]
    msg_ids: list[str]  # ours only
    content_type: str
    headers: list[dict] | None = None  # per request (Feishu's signature headers)
    key_prefix: str = "wecom:msg:"  # inbound_events.dedupe_key of a message id


def make_callbacks(n: int, cfg: dict, user: str) -> Prepared:
    """``n`` distinct, signed and encrypted WeCom text callbacks (unique MsgId and nonce)."""
    from bot.messengers.wecom.crypto import WeComCrypto

    crypto = WeComCrypto(cfg["token"], cfg["aes_key"], CORP_ID)
    now = int(time.time())
    base = 7_000_000_000_000_000_000 + secrets.randbelow(10**15) * 1000
    run = secrets.token_hex(4)
    paths, bodies, ids = [], [], []
    for i in range(n):
        msg_id = str(base + i)
        inner = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{TEXT}]]></Content><MsgId>{msg_id}</MsgId>"
            f"<AgentID>{AGENT_ID}</AgentID></xml>"
        )
        encrypted = crypto.encrypt(inner)
        ts, nonce = str(now), f"{run}{i:x}"
        sig = crypto.signature(ts, nonce, encrypted)
        bodies.append(
            (
                f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypted}]]></Encrypt>"
                f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>"
            ).encode()
        )
        paths.append(f"/wecom/callback?msg_signature={sig}&timestamp={ts}&nonce={nonce}")
        ids.append(msg_id)
    return Prepared(paths, bodies, ids, "text/xml")


def make_feishu_callbacks(n: int, cfg: dict, user: str) -> Prepared:
    """``n`` distinct, encrypted and signed Feishu message events (unique message_id)."""
    from bot.messengers.feishu.crypto import FeishuCrypto

    crypto = FeishuCrypto(cfg["aes_key"])
    now = int(time.time())
    run = secrets.token_hex(4)
    paths, bodies, ids, headers = [], [], [], []
    for i in range(n):
        message_id = f"om_{run}{i:08x}"
        doc = {
            "schema": "2.0",
            "header": {
                "event_id": f"{run}{i:024x}",
                "event_type": "im.message.receive_v1",
                "create_time": str(now * 1000),
                "token": cfg["token"],
                "app_id": FEISHU_APP_ID,
                "tenant_key": "bench",
            },
            "event": {
                "sender": {
                    "sender_id": {"user_id": user, "open_id": f"ou_{user}"},
                    "sender_type": "user",
                    "tenant_key": "bench",
                },
                "message": {
                    "message_id": message_id,
                    "chat_id": f"oc_{user}",
                    "chat_type": "p2p",
                    "message_type": "text",
                    "content": json.dumps({"text": TEXT}, ensure_ascii=False),
                },
            },
        }
        body = json.dumps({"encrypt": crypto.encrypt(json.dumps(doc, ensure_ascii=False))}).encode()
        ts, nonce = str(now), f"{run}{i:x}"
        headers.append(
            {
                "Content-Type": "application/json",
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": crypto.signature(ts, nonce, body),
            }
        )
        bodies.append(body)
        paths.append("/feishu/events")
        ids.append(message_id)
    return Prepared(paths, bodies, ids, "application/json", headers, "feishu:msg:")


def make_bare(n: int, like: Prepared, user: str) -> Prepared:
    """``n`` JSON bodies of the callbacks' mean size, same-length query strings."""
    size = sum(len(b) for b in like.bodies[:1000]) // min(len(like.bodies), 1000)
    paths, bodies = [], []
    for i in range(n):
        doc = {"msg_id": i, "from": user, "text": TEXT, "pad": ""}
        raw = json.dumps(doc, ensure_ascii=False).encode()
        doc["pad"] = "x" * max(0, size - len(raw))
        bodies.append(json.dumps(doc, ensure_ascii=False).encode())
        _, q, query = like.paths[i % len(like.paths)].partition("?")
        paths.append("/bare" + q + query)
    heads = (
        [dict(h, **{"Content-Type": "application/json"}) for h in like.headers]
        if like.headers
        else None
    )
    return Prepared(paths, bodies, [], "application/json", heads)


# ---------------------------------------------------------------- load generator


@dataclass
class PhaseResult:
    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    acked: list[int] = field(default_factory=list)  # indices answered 200
    exhausted: bool = False
    client_cpu: float = float("nan")  # this process, share of one core
    host_cpu: float = float("nan")  # the whole host, share of all cores
    server_cpu: float = float("nan")  # the server process, share of one core

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return 1000 * xs[max(0, math.ceil(p * len(xs)) - 1)]


async def _phase(
    session: aiohttp.ClientSession,
    urls: list[URL],
    prep: Prepared,
    counter,
    concurrency: int,
    seconds: float,
) -> PhaseResult:
    res = PhaseResult()
    headers = {"Content-Type": prep.content_type}
    n = len(urls)
    perf = time.perf_counter
    lat, acked = res.latencies, res.acked

    async def worker() -> None:
        while True:
            i = next(counter)
            if i >= n:
                res.exhausted = True
                return
            if perf() >= deadline:
                return
            t0 = perf()
            try:
                async with session.post(
                    urls[i],
                    data=prep.bodies[i],
                    headers=prep.headers[i] if prep.headers else headers,
                ) as r:
                    await r.read()
                    status = r.status
            except Exception as exc:  # noqa: BLE001 - counted, the run goes on
                res.errors[type(exc).__name__] += 1
                continue
            t1 = perf()
            if status == 200:
                res.ok += 1
                lat.append(t1 - t0)
                acked.append(i)
            else:
                res.errors[f"HTTP {status}"] += 1

    start = perf()
    deadline = start + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    res.elapsed = perf() - start
    return res


async def load(
    port: int,
    prep: Prepared,
    concurrency: int,
    seconds: float,
    warmup: float = WARMUP_SECONDS,
    on_timed=None,
    after_timed=None,
) -> tuple[PhaseResult, PhaseResult]:
    """Warm up, then the timed phase; both draw from the same pool of distinct requests."""
    urls = [URL(f"http://127.0.0.1:{port}{p}", encoded=True) for p in prep.paths]
    counter = itertools.count()
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = await _phase(session, urls, prep, counter, concurrency, warmup)
        if on_timed:
            on_timed()
        c0 = _cpu_seconds()
        psutil.cpu_percent(None)
        timed = await _phase(session, urls, prep, counter, concurrency, seconds)
        timed.host_cpu = psutil.cpu_percent(None) / 100
        timed.client_cpu = (_cpu_seconds() - c0) / timed.elapsed
        if after_timed:
            after_timed()
    return warm, timed


# ---------------------------------------------------------------- database


async def pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_database(url: str, workdir: Path) -> str:
    """Migrate, import the demo library; the 消息账号 of the first non-admin inspector."""
    from sqlalchemy import select

    from bot.config import Settings
    from bot.demo import write_library
    from bot.services import library
    from storage import migrate
    from storage.db import make_engine, session_factory
    from storage.models import InspectorRow

    settings = replace(Settings.from_env(url), actor="bench")
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        sf = session_factory(engine)
        paths = write_library(workdir / "lib")
        for kind in ("enterprises", "inspectors", "conflicts"):
            async with sf() as s, s.begin():
                out = await library.import_file(s, settings, kind, paths[kind], "bench")
                if not out.ok:
                    raise RuntimeError(f"demo {kind} import failed: {out.errors[:3]}")
        async with sf() as s:
            user = await s.scalar(
                select(InspectorRow.msg_account)
                .where(InspectorRow.msg_account.is_not(None), InspectorRow.role == "检查员")
                .order_by(InspectorRow.id)
                .limit(1)
            )
    finally:
        await engine.dispose()
    if not user:
        raise RuntimeError("the demo library has no inspector with a 消息账号")
    return user


async def event_counts(url: str) -> tuple[Counter, set[str], Counter]:
    """inbound_events by status, their dedupe keys, and outbox rows by status."""
    from sqlalchemy import func, select

    from storage.db import make_engine, session_factory
    from storage.models_chat import InboundEvent, OutboxMessage

    engine = make_engine(url)
    try:
        async with session_factory(engine)() as s:
            by_status = Counter(
                dict(
                    (
                        await s.execute(
                            select(InboundEvent.status, func.count()).group_by(InboundEvent.status)
                        )
                    ).all()
                )
            )
            keys = set((await s.execute(select(InboundEvent.dedupe_key))).scalars())
            outbox = Counter(
                dict(
                    (
                        await s.execute(
                            select(OutboxMessage.status, func.count()).group_by(
                                OutboxMessage.status
                            )
                        )
                    ).all()
                )
            )
    finally:
        await engine.dispose()
    return by_status, keys, outbox


async def backlog(url: str) -> int:
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models_chat import InboundEvent

    engine = make_engine(url)
    try:
        async with engine.connect() as c:
            return await c.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.status == "received")
            )
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- report


def _row(name: str, r: PhaseResult, ratio: str) -> str:
    errors = sum(r.errors.values())
    return (
        f"{name:<22} {r.ok:>9} {r.elapsed:>6.2f} {r.rps:>8.0f} {r.pct(0.50):>8.2f} "
        f"{r.pct(0.99):>8.2f} {1000 * max(r.latencies, default=0):>8.1f} {errors:>6} "
        f"{ratio:>9} {r.server_cpu:>7.0%} {r.client_cpu:>7.0%} {r.host_cpu:>7.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="timed phase per server")
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument(
        "--max-requests",
        type=int,
        default=150_000,
        help="requests pre-generated per server (warm-up + timed)",
    )
    ap.add_argument(
        "--drain",
        type=float,
        default=20.0,
        help="seconds to wait for the background backlog after the load",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="cProfile and phase timers in the server during the timed phase",
    )
    ap.add_argument(
        "--messenger",
        choices=("wecom", "feishu"),
        default="wecom",
        help="the callback measured: WeCom's /wecom/callback or /feishu/events",
    )
    ap.add_argument(
        "--no-background",
        action="store_true",
        help="diagnostic: record and acknowledge only, handle nothing",
    )
    args = ap.parse_args(argv)

    def terminated(signum, _frame):  # clean up (servers, temp dir, database) on SIGTERM
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    return asyncio.run(run(args))


async def run(args) -> int:
    t_start = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="ssj-bench-webhook-"))
    pg_name = None
    servers: list[Server] = []
    try:
        if args.db == "postgres":
            pg_name = "ssj_bench_" + uuid.uuid4().hex[:12]
            await pg_admin(f'CREATE DATABASE "{pg_name}"')
            url = f"postgresql+asyncpg://{PG_ADMIN.split('://', 1)[1].rsplit('/', 1)[0]}/{pg_name}"
        else:
            url = f"sqlite+aiosqlite:///{workdir}/ssj.db"
        t0 = time.perf_counter()
        user = await prepare_database(url, workdir)
        t_db = time.perf_counter() - t0

        cfg = {
            "url": url,
            "secret": secrets.token_urlsafe(24),
            "token": secrets.token_hex(16),
            "aes_key": base64.b64encode(os.urandom(32)).decode().rstrip("="),
            "profile": args.profile,
            "no_background": args.no_background,
            "hook": os.environ.get("SSJ_BENCH_HOOK", ""),
            "messenger": args.messenger,
        }
        assert len(cfg["aes_key"]) == 43
        t0 = time.perf_counter()
        make = make_feishu_callbacks if args.messenger == "feishu" else make_callbacks
        ours_req = make(args.max_requests, cfg, user)
        bare_req = make_bare(args.max_requests, ours_req, user)
        t_gen = time.perf_counter() - t0
        # The load generator holds 2 x max_requests prepared requests: out of the collector's
        # reach, so a full collection of them (~0.1 s) never stalls either measured phase.
        gc.collect()
        gc.freeze()

        print(
            f"webhook benchmark: {args.messenger}, {args.db}, concurrency {args.concurrency}, "
            f"{WARMUP_SECONDS:.0f} s warm-up + {args.seconds:g} s per server, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"aiohttp {aiohttp.__version__}"
        )
        print(
            f"setup: database + demo library {t_db:.1f} s; {args.max_requests} callbacks "
            f"per server generated in {t_gen:.1f} s (not timed); user {user!r}, "
            f"text {TEXT!r}; body {len(ours_req.bodies[0])} B (ours) / "
            f"{len(bare_req.bodies[0])} B (bare)",
            flush=True,
        )

        # 1. bare handler
        bare_srv = Server.start("bare", {})
        servers.append(bare_srv)
        bare_warm, bare = await load(
            bare_srv.port,
            bare_req,
            args.concurrency,
            args.seconds,
            on_timed=lambda: bare_srv.signal(signal.SIGUSR1),
            after_timed=lambda: bare_srv.signal(signal.SIGUSR2),
        )
        bare_srv.stop()
        servers.remove(bare_srv)
        bare.server_cpu = bare_srv.report.get("cpu") or float("nan")

        # 2. ours
        ours_srv = Server.start("ours", cfg)
        servers.append(ours_srv)
        ours_warm, ours = await load(
            ours_srv.port,
            ours_req,
            args.concurrency,
            args.seconds,
            on_timed=lambda: ours_srv.signal(signal.SIGUSR1),
            after_timed=lambda: ours_srv.signal(signal.SIGUSR2),
        )
        backlog_end = await backlog(url)
        t0 = time.perf_counter()
        left = backlog_end
        while left and not args.no_background and time.perf_counter() - t0 < args.drain:
            await asyncio.sleep(0.5)
            left = await backlog(url)
        t_drain = time.perf_counter() - t0
        ours_srv.stop()
        servers.remove(ours_srv)
        ours.server_cpu = ours_srv.report.get("cpu") or float("nan")

        by_status, keys, outbox_rows = await event_counts(url)
    finally:
        for srv in servers:
            srv.stop()
        if pg_name:
            try:
                await pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001
                print(f"could not drop database {pg_name}: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)

    ratio = ours.rps / bare.rps if bare.rps else 0.0
    print()
    print(
        f"{'server':<22} {'requests':>9} {'secs':>6} {'req/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>6} {'ours/bare':>9} {'srv CPU':>7} "
        f"{'cli CPU':>7} {'hostCPU':>7}"
    )
    print("-" * 114)
    print(_row("bare aiohttp JSON", bare, ""))
    route = "/feishu/events" if args.messenger == "feishu" else "/wecom/callback"
    print(_row(f"ours {route}", ours, f"{ratio:.1%}"))
    for name, r in (("bare", bare), ("ours", ours)):
        if r.errors:
            print(f"  {name} errors: {dict(r.errors)}")
        if r.exhausted:
            print(
                f"  {name}: ran out of the {args.max_requests} pre-generated requests "
                f"(raise --max-requests)"
            )
    ncpu = os.cpu_count() or 1
    others = {
        name: r.host_cpu * ncpu
        - (r.server_cpu if r.server_cpu == r.server_cpu else 0)
        - r.client_cpu
        for name, r in (("bare", bare), ("ours", ours))
    }
    print(
        f"  CPU during the timed phase: srv = the server process, cli = this load "
        f"generator (share of one core); host = all {ncpu} cores. Other processes"
        f"{' (incl. PostgreSQL)' if args.db == 'postgres' else ''} used about "
        f"{others['bare']:.1f} / {others['ours']:.1f} cores (bare / ours)"
    )
    print(
        f"  warm-up: bare {bare_warm.ok} requests ({bare_warm.rps:.0f} req/s), "
        f"ours {ours_warm.ok} ({ours_warm.rps:.0f} req/s)"
    )

    acked_ids = {ours_req.msg_ids[i] for r in (ours_warm, ours) for i in r.acked}
    acked_200 = ours_warm.ok + ours.ok
    recorded = sum(by_status.values())
    missing = sum(1 for m in acked_ids if f"{ours_req.key_prefix}{m}" not in keys)
    durable = recorded == len(acked_ids) == acked_200 and missing == 0
    print()
    print(
        f"inbound_events recorded: {recorded}; 200 responses: {acked_200} with "
        f"{len(acked_ids)} distinct message ids; acknowledged but not recorded: {missing} "
        f"-> {'OK' if durable else 'MISMATCH'}"
    )
    print(
        f"background handling: {backlog_end} events still queued when the load stopped, "
        f"{left} after {t_drain:.1f} s of draining"
        + (f" ({(backlog_end - left) / t_drain:.0f} events/s)" if t_drain > 0.1 else "")
        + f"; events by status {dict(by_status)}; outbox by status {dict(outbox_rows)}"
    )

    if ours_srv.report.get("timers"):
        print(
            "\nserver-side timers during the timed phase (wall time; concurrent steps "
            "overlap):\n" + ours_srv.report["timers"]
        )
    if ours_srv.report.get("profile"):
        print(
            "\ncProfile of the server's event-loop thread during the timed phase:\n"
            + ours_srv.report["profile"]
        )

    checks = [
        (
            f"throughput >= {THROUGHPUT_RATIO_TARGET:.0%} of bare",
            ratio >= THROUGHPUT_RATIO_TARGET,
            f"{ratio:.1%}",
        ),
        (
            f"p99 < {P99_TARGET_MS:g} ms at {args.concurrency} connections",
            ours.pct(0.99) < P99_TARGET_MS,
            f"{ours.pct(0.99):.1f} ms",
        ),
        (
            "no errors",
            not ours.errors and not bare.errors,
            f"{sum(ours.errors.values()) + sum(bare.errors.values())}",
        ),
        ("every 200 durably recorded", durable, f"{recorded}/{len(acked_ids)}"),
    ]
    print()
    for name, ok, value in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {value}")
    passed = all(ok for _, ok, _ in checks)
    if args.no_background or cfg["hook"]:
        what = (["no background handling"] if args.no_background else []) + (
            [f"SSJ_BENCH_HOOK={cfg['hook']}"] if cfg["hook"] else []
        )
        print(f"  (diagnostic run: {', '.join(what)})")
    if args.profile:
        print("  (profiled run: the server's figures include the profiler's overhead)")
    print(f"{'PASS' if passed else 'FAIL'} (total run {time.perf_counter() - t_start:.0f} s)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
