"""kill -9 at random moments, on both databases: the real service (``python -m bot.cli
serve``, a subprocess on 127.0.0.1 and a free port) is killed during a burst of web chat
commands and during delivery, then started again, trial after trial. At the end:

* web chat: every command answered exactly once, every outbox row delivered exactly once
  into chat_messages (nothing lost, nothing doubled);
* through a fake WeCom API (an aiohttp server in this process): every attempt of one
  outbox row carried the same key (a card's task_id; a text's duplicate-checked request),
  and each message reached its recipient once.

Bounded: a fixed number of trials, each a few seconds; only 127.0.0.1 is contacted. The
numbers of each run are printed (``pytest -s``) and kept in ``crash-report.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.config import Settings
from bot.demo import write_library
from bot.messages import Button, Card, Outbound
from bot.services import library, outbox
from storage import migrate
from storage.db import make_engine, session_factory
from storage.models_chat import ChatMessage, InboundEvent, OutboxMessage

from .wecom_fake import FakeWeCom

ROOT = Path(__file__).resolve().parents[2]  # this checkout: the service runs its code
WEB_TRIALS = int(os.environ.get("SSJ_CRASH_TRIALS", "20"))
WECOM_TRIALS = int(os.environ.get("SSJ_CRASH_WECOM_TRIALS", "12"))
COMMANDS = 8  # per trial, from several people at once
ROWS = 24  # outbox rows written straight into the database per trial
CORP, AGENT = "wwssjcrash0000001", 1000002
TOKEN, AES = "crashToken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``python -m bot.cli --db URL serve`` from this checkout, started and killed."""

    def __init__(self, url: str, log: Path, env: dict[str, str]):
        self.url, self.log, self.env = url, log, env
        self.proc: asyncio.subprocess.Process | None = None
        self.base = ""
        self.starts = 0
        self.start_seconds: list[float] = []

    async def start(self, http: aiohttp.ClientSession) -> None:
        port = _free_port()
        outer = {k: v for k, v in os.environ.items() if not k.startswith("SSJ_")}
        env = {
            **outer,
            **self.env,
            "SSJ_HOST": "127.0.0.1",
            "SSJ_PORT": str(port),
            "SSJ_SCHEDULER": "0",
            "PYTHONPATH": str(ROOT),
            "NO_PROXY": "127.0.0.1",
        }
        began = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "--db",
                self.url,
                "serve",
                cwd=str(ROOT),
                env=env,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
            )
        self.base = f"http://127.0.0.1:{port}"
        self.starts += 1
        deadline = began + 30
        while time.monotonic() < deadline:
            assert self.proc.returncode is None, self.log.read_text()[-3000:]
            try:
                async with http.get(f"{self.base}/healthz") as r:
                    if r.status == 200:
                        self.start_seconds.append(time.monotonic() - began)
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the service did not start:\n" + self.log.read_text()[-3000:])

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


async def _prepare(url: str, tmp_path: Path) -> list[str]:
    """Migrate, import the demo library; the people's 消息账号."""
    engine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        sf = session_factory(engine)
        settings = Settings.from_env(url)
        paths = write_library(tmp_path / "lib")
        for kind in ("enterprises", "inspectors", "conflicts"):
            async with sf() as s, s.begin():
                assert (await library.import_file(s, settings, kind, paths[kind], "crash")).ok
        from storage.models import InspectorRow

        async with sf() as s:
            return sorted(
                a for a in (await s.execute(select(InspectorRow.msg_account))).scalars() if a
            )
    finally:
        await engine.dispose()


async def _enqueue(sf, people: list[str], trial: int, rnd: random.Random) -> list[str]:
    """ROWS messages (texts and cards) written as a handler would; their texts."""
    msgs = []
    for i in range(ROWS):
        to, text = rnd.choice(people), f"投递测试 {trial}-{i}"
        if i % 3 == 0:
            card = Card(f"卡片 {trial}-{i}", "内容", (Button(f"acc:{trial}{i}", "接收"),))
            msgs.append(Outbound(to, text=text, card=card, subject=f"crash:{trial}:{i}"))
        else:
            msgs.append(Outbound(to, text=text))
    async with sf() as s, s.begin():
        await outbox.enqueue(s, msgs)
    return [m.text for m in msgs]


async def _until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def _outbox_drained(sf) -> bool:
    async with sf() as s:
        left = await s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "sent")
        )
        unhandled = await s.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "received")
        )
    return left == 0 and unhandled == 0


async def _last_id(sf) -> int:
    async with sf() as s:
        return await s.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))


async def _delivering(sf, since: int, timeout: float = 20.0) -> None:
    """Return as soon as the relay claimed or sent a row written after ``since`` (the
    bound is for a loaded machine: it returns at the first claim)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        async with sf() as s:
            if await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.id > since, OutboxMessage.status != "pending")
            ):
                return
        await asyncio.sleep(0.002)
    raise AssertionError("the relay never started delivering")


async def _in_flight(sf) -> list[int]:
    """Rows a killed service left leased (it died while sending them)."""
    async with sf() as s:
        return list(
            (
                await s.execute(select(OutboxMessage.id).where(OutboxMessage.status == "sending"))
            ).scalars()
        )


async def _taken_back(sf, ids: list[int], limit: float = 15.0) -> float:
    """Seconds until the rows a killed service had leased are sent by its successor; far
    less than the 60 s lease, since the successor knows its predecessor is dead."""
    began = time.monotonic()

    async def sent() -> bool:
        async with sf() as s:
            return not await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status != "sent")
            )

    await _until(sent, limit, f"rows {ids} leased by the killed service")
    return time.monotonic() - began


@dataclass
class Commands:
    """Web chat commands, each retried with its client_id until acknowledged."""

    people: list[str]
    next_ref: int = 1_000_000
    pending: dict[int, str] = field(default_factory=dict)  # ref -> user
    acked: dict[int, str] = field(default_factory=dict)
    retries: int = 0

    def burst(self, rnd: random.Random, n: int) -> None:
        for _ in range(n):
            self.next_ref += 1
            self.pending[self.next_ref] = rnd.choice(self.people)

    async def send_all(self, http, base: str) -> None:
        async def one(ref: int, user: str) -> None:
            try:
                async with http.post(
                    f"{base}/chat/api/send",
                    json={
                        "user": user,
                        "room": "private",
                        "text": f"回避 {ref} 理由",
                        "client_id": f"crash-{ref}",
                    },
                ) as r:
                    if r.status == 200:
                        self.acked[ref] = self.pending.pop(ref)
            except (TimeoutError, aiohttp.ClientError):
                self.retries += 1  # killed meanwhile: sent again after the restart

        await asyncio.gather(*(one(ref, u) for ref, u in list(self.pending.items())))


def _report(tmp_path: Path, doc: dict) -> None:
    print("\n" + json.dumps(doc, ensure_ascii=False))
    (tmp_path / "crash-report.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1))


async def test_kill_9_web_chat_nothing_lost_nothing_doubled(db_url, tmp_path):
    began = time.monotonic()
    seed = int(os.environ.get("SSJ_CRASH_SEED", time.time_ns() % 10**6))
    rnd = random.Random(seed)
    people = await _prepare(db_url, tmp_path)
    engine = make_engine(db_url)
    sf = session_factory(engine)
    svc = Service(db_url, tmp_path / "serve.log", {"SSJ_WEB_CHAT": "1"})
    commands = Commands(people[:12])
    texts: list[str] = []
    mid_send = 0
    taken_back: list[float] = []
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
            await svc.start(http)
            for trial in range(WEB_TRIALS):
                since = await _last_id(sf)
                texts += await _enqueue(sf, people, trial, rnd)
                commands.burst(rnd, COMMANDS)
                sending = asyncio.create_task(commands.send_all(http, svc.base))
                if trial % 2:  # during the burst of commands: anywhere in it
                    await asyncio.sleep(rnd.uniform(0.0, 0.4))
                else:  # during delivery: once the relay is at this trial's rows
                    await _delivering(sf, since)
                    await asyncio.sleep(rnd.uniform(0.0, 0.03))
                await svc.kill()
                await sending
                leased = await _in_flight(sf)
                mid_send += bool(leased)
                await svc.start(http)
                if leased:
                    taken_back.append(await _taken_back(sf, leased))
                await commands.send_all(http, svc.base)  # the client retries what failed
            for _ in range(20):
                if not commands.pending:
                    break
                await commands.send_all(http, svc.base)
            assert not commands.pending
            await _until(lambda: _outbox_drained(sf), 60, "the outbox to drain")
            await svc.kill()
        async with sf() as s:
            bot = (
                (await s.execute(select(ChatMessage).where(ChatMessage.sender == "bot")))
                .scalars()
                .all()
            )
            rows = (await s.execute(select(OutboxMessage))).scalars().all()
    finally:
        await svc.kill()
        await engine.dispose()
    answers = Counter()
    for m in bot:
        for ref in commands.acked:
            if str(ref) in m.text:
                answers[ref] += 1
    per_text = Counter((m.owner, m.text) for m in bot if m.replaces is None)
    delivered = Counter(m.text for m in bot if m.replaces is None)
    lost_cmd = [r for r in commands.acked if answers[r] == 0]
    doubled_cmd = [r for r in commands.acked if answers[r] > 1]
    lost_rows = [x for x in texts if delivered[x] == 0]
    doubled_rows = [x for x in texts if delivered[x] > 1]
    external = Counter(r.external_id for r in rows if r.external_id)
    _report(
        tmp_path,
        {
            "database": engine.dialect.name,
            "seed": seed,
            "trials": WEB_TRIALS,
            "starts": svc.starts,
            "kills_with_rows_in_flight": mid_send,
            "max_seconds_to_take_back": round(max(taken_back, default=0), 2),
            "commands": len(commands.acked),
            "client_retries": commands.retries,
            "outbox_rows": len(rows),
            "rows_written_directly": len(texts),
            "bot_messages": len(bot),
            "lost_commands": len(lost_cmd),
            "doubled_commands": len(doubled_cmd),
            "lost_rows": len(lost_rows),
            "doubled_rows": len(doubled_rows),
            "seconds": round(time.monotonic() - began, 1),
            "start_seconds_median": sorted(svc.start_seconds)[len(svc.start_seconds) // 2],
        },
    )
    assert not lost_cmd and not doubled_cmd, (lost_cmd[:5], doubled_cmd[:5])
    assert not lost_rows and not doubled_rows, (lost_rows[:5], doubled_rows[:5])
    assert all(r.status == "sent" for r in rows)
    # one chat message per sent row, and no chat message that no row accounts for
    assert max(per_text.values()) == 1
    assert set(external.values()) == {1}
    assert {str(m.id) for m in bot if m.replaces is None} == set(external)
    assert mid_send >= WEB_TRIALS // 4, "too few kills landed while messages were in flight"


async def _dead(svc: Service) -> bool:
    return svc.proc.returncode is not None


async def _fake_wecom() -> tuple[FakeWeCom, web.AppRunner, str]:
    fake = FakeWeCom()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return fake, runner, f"http://{host}:{port}"


async def test_kill_9_wecom_one_key_per_outbox_row(db_url, tmp_path):
    began = time.monotonic()
    seed = int(os.environ.get("SSJ_CRASH_SEED", time.time_ns() % 10**6))
    rnd = random.Random(seed)
    people = await _prepare(db_url, tmp_path)
    fake, fake_runner, fake_url = await _fake_wecom()
    engine = make_engine(db_url)
    sf = session_factory(engine)
    svc = Service(
        db_url,
        tmp_path / "serve.log",
        {
            "SSJ_WECOM_CORP_ID": CORP,
            "SSJ_WECOM_AGENT_ID": str(AGENT),
            "SSJ_WECOM_SECRET": "secret",
            "SSJ_WECOM_TOKEN": TOKEN,
            "SSJ_WECOM_AES_KEY": AES,
            "SSJ_WECOM_API_BASE": fake_url,
            "SSJ_WECOM_PACE_SECONDS": "0",
        },
    )
    mid_send = 0
    taken_back: list[float] = []
    try:
        async with aiohttp.ClientSession(trust_env=False) as http:
            await svc.start(http)
            for trial in range(WECOM_TRIALS):
                if trial % 2 == 0:  # inside WeCom's handling of the k-th send: delivered,
                    target = len(fake.calls) + rnd.randint(1, ROWS)  # its answer lost

                    def maybe_kill(kind, target=target):
                        if len(fake.calls) >= target and svc.proc.returncode is None:
                            os.kill(svc.proc.pid, signal.SIGKILL)

                    fake.on_send = maybe_kill
                await _enqueue(sf, people, trial, rnd)
                if trial % 2 == 0:
                    await _until(lambda: _dead(svc), 10, "the kill inside a send")
                else:  # anywhere while the relay works through the rows
                    await asyncio.sleep(rnd.uniform(0.0, 1.2))
                fake.on_send = None
                await svc.kill()
                leased = await _in_flight(sf)
                mid_send += bool(leased)
                await svc.start(http)
                if leased:
                    taken_back.append(await _taken_back(sf, leased))
            await _until(lambda: _outbox_drained(sf), 60, "the outbox to drain")
            await svc.kill()
        async with sf() as s:
            rows = (await s.execute(select(OutboxMessage))).scalars().all()
    finally:
        await svc.kill()
        await fake_runner.cleanup()
        await engine.dispose()
    sends = [(k, b) for k, b in fake.calls if k.startswith("send")]
    retried = 0
    two_keys: list = []
    not_once: list = []
    not_its_key: list = []
    for r in rows:
        if r.kind == "card":
            mine = [
                b["template_card"]["task_id"]
                for _, b in sends
                if b.get("template_card", {}).get("task_id", "").startswith(f"ssj-{r.id}-")
            ]
            got = [
                b
                for b in fake.delivered
                if b.get("template_card", {}).get("task_id", "").startswith(f"ssj-{r.id}-")
            ]
        else:
            mine = [
                json.dumps(b, sort_keys=True, ensure_ascii=False)
                for _, b in sends
                if b.get("text", {}).get("content") == r.payload["text"]
            ]
            got = [
                b for b in fake.delivered if b.get("text", {}).get("content") == r.payload["text"]
            ]
        if len(set(mine)) != 1:  # one key for the row's every attempt
            two_keys.append((r.id, sorted(set(mine))))
        if len(got) != 1:  # delivered once
            not_once.append((r.id, len(got)))
        if r.kind == "card" and mine and mine[0] != f"ssj-{r.id}-{r.idem_key}":
            not_its_key.append((r.id, mine[0]))  # the row's own key, nobody else's
        retried += len(mine) > 1
    _report(
        tmp_path,
        {
            "database": engine.dialect.name,
            "seed": seed,
            "trials": WECOM_TRIALS,
            "starts": svc.starts,
            "kills_with_rows_in_flight": mid_send,
            "max_seconds_to_take_back": round(max(taken_back, default=0), 2),
            "outbox_rows": len(rows),
            "send_calls": len(sends),
            "rows_sent_more_than_once": retried,
            "refused_as_duplicates": sum(1 for k, _ in sends if k in ("send-42014", "send-dup")),
            "delivered": len(fake.delivered),
            "rows_with_two_keys": len(two_keys),
            "rows_not_delivered_once": len(not_once),
            "seconds": round(time.monotonic() - began, 1),
        },
    )
    assert not two_keys, two_keys[:5]
    assert not not_once, not_once[:5]
    assert not not_its_key, not_its_key[:5]
    assert all(r.status == "sent" for r in rows)
    assert len(fake.delivered) == len(rows)
    assert mid_send >= WECOM_TRIALS // 4, "too few kills landed while messages were in flight"
