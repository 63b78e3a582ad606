"""The push to the national credit publicity system: a local fake endpoint (aiohttp on
127.0.0.1) records every request; a controllable clock skips the backoff waits.

Order 发布结果 → 基础库推送 → 任务推送 per task; an endpoint down for a while loses
nothing; the Idempotency-Key is stable across retries; a 409 counts as delivered; a
permanent failure is parked and reported; two relays on one database deliver each message
once per key; tasks do not block each other.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot import localtime
from bot.config import Settings
from bot.push_runtime import HttpPushTransport
from bot.services import push
from bot.services.push import PushRelay
from bot.services.tasks import ensure_task
from storage import migrate
from storage.db import make_engine, session_factory
from storage.models import AuditRow, EnterpriseRow
from storage.models_push import PushMessage

KINDS = ["发布结果", "基础库推送", "任务推送"]
T0 = datetime(2027, 4, 20, 10, 0)


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


@dataclass
class Request:
    key: str
    kind: str
    task: str
    headers: dict
    body: dict


class FakeEndpoint:
    """The receiving system as the relay sees it: records every request, accepts each
    Idempotency-Key once (a repeat gets 409), and misbehaves when told to."""

    def __init__(self):
        self.requests: list[Request] = []
        self.accepted: dict[str, dict] = {}  # key -> body, in acceptance order
        self.behaviour = None  # (request, index) -> web.Response | None
        self.delay = 0.0  # before answering
        self.lose_response = 0.0  # accept, then hang this long

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/push", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        req = Request(
            request.headers.get("Idempotency-Key", ""),
            body["kind"],
            body["task"]["id"],
            dict(request.headers),
            body,
        )
        index = len(self.requests)
        self.requests.append(req)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.behaviour is not None:
            answer = self.behaviour(req, index)
            if answer is not None:
                return answer
        if req.key in self.accepted:
            return web.json_response({"error": "duplicate"}, status=409)
        self.accepted[req.key] = body
        if self.lose_response:
            await asyncio.sleep(self.lose_response)
        return web.json_response({"ok": True})

    def order(self, task: str) -> list[str]:
        return [b["kind"] for b in self.accepted.values() if b["task"]["id"] == task]

    def keys_per_message(self) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for r in self.requests:
            out.setdefault((r.task, r.kind), set()).add(r.key)
        return out


@pytest.fixture
async def sf(db_url):
    engine = make_engine(db_url)
    await migrate.upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def endpoint(aiohttp_server):
    fake = FakeEndpoint()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("/push"))
    return fake


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def uscc(n: int) -> str:
    return f"91410724MA{n:07d}X"


async def publish(
    sf, task_id: str, clock: Clock, objects=(1, 2), stamp: str = "10:00", **extra
) -> dict:
    settings = Settings(database_url="unused")
    publication = {
        **extra,
        "published_at": f"2027-04-20T{stamp}:00+08:00",
        "completed_on": "2027-03-31",
        "objects": [
            {
                "uscc": uscc(n),
                "name": f"获嘉县测试企业{n}",
                "inspected_on": "2027-02-0{n}",
                "items": ["水污染防治监督检查"],
                "conclusion": "未发现问题" if n % 2 else "发现问题已责令整改",
            }
            for n in objects
        ],
        "summary": {"drawn": len(objects), "inspected": len(objects)},
        "verification": {"commitment": "c" * 64, "secret": "s" * 64, "entropy": ""},
    }
    async with sf() as s, s.begin():
        await ensure_task(s, settings, task_id, "test", localtime.today())
        for n in objects:
            if not await s.scalar(select(EnterpriseRow.id).where(EnterpriseRow.uscc == uscc(n))):
                s.add(
                    EnterpriseRow(
                        uscc=uscc(n),
                        name=f"获嘉县测试企业{n}",
                        bureau="410724",
                        category="重点监管" if n % 2 else "一般监管",
                        industry="化学原料和化学制品制造业",
                        pollutants=["废水", "废气"],
                        region="获嘉县",
                        status="在产",
                        contact="张三",
                        phone="13800000000",
                    )
                )
        await push.enqueue_publication(s, task_id, publication, now=clock())
    return publication


async def rows(sf) -> list[PushMessage]:
    async with sf() as s:
        return (await s.execute(select(PushMessage).order_by(PushMessage.id))).scalars().all()


def relay(sf, endpoint, http, clock, **kw) -> PushRelay:
    kw.setdefault("rnd", random.Random(7))
    return PushRelay(sf, endpoint.url, HttpPushTransport(http), clock, **kw)


async def drain(r: PushRelay, clock: Clock, rounds: int = 30, step=timedelta(hours=2)):
    for _ in range(rounds):
        await r.run_once()
        clock.now += step


async def test_three_messages_in_order_with_headers_and_schema(sf, endpoint, http):
    clock = Clock()
    pub = await publish(sf, "2027Q1", clock)
    stats = await relay(sf, endpoint, http, clock, token="s3cret").run_once()
    assert stats.sent == 3 and stats.failed == 0
    assert [r.kind for r in endpoint.requests] == KINDS
    first = endpoint.requests[0]
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer s3cret"
    assert len({r.key for r in endpoint.requests}) == 3
    assert all(len(r.key) == 64 for r in endpoint.requests)
    results, base, task = (r.body for r in endpoint.requests)
    assert [b["seq"] for b in (results, base, task)] == [1, 2, 3]
    assert [b["kind_code"] for b in (results, base, task)] == ["results", "base", "task"]
    assert results["results"] == pub["objects"] and results["verification"]["secret"] == "s" * 64
    assert [b["audit_anchor"] for b in (results, base, task)] == [None] * 3  # none given
    assert results["task"] == {
        "id": "2027Q1",
        "plan_no": "202701",
        "name": "新乡市生态环境局获嘉分局2027年第1季度随机抽查",
    }
    e1 = base["enterprises"][0]
    assert (e1["uscc"], e1["category"], e1["region"], e1["pollutants"]) == (
        uscc(1),
        "重点监管",
        "获嘉县",
        ["废水", "废气"],
    )
    assert "phone" not in e1 and "contact" not in e1
    rec = task["task"]
    assert len(rec["items"]) == 14 and rec["items"][0]["seq"] == 1 and rec["items"][0]["name"]
    assert rec["scope"].startswith("获嘉县行政区域内") and rec["deadline"] == "2027-03-31"
    assert rec["counts"] == {
        "objects": 2,
        "by_category": {"一般监管": 1, "重点监管": 1},
        "by_conclusion": {"发现问题已责令整改": 1, "未发现问题": 1},
    }
    assert [m.status for m in await rows(sf)] == ["sent"] * 3


async def test_endpoint_down_for_a_while_loses_nothing_and_keeps_order(sf, endpoint, http):
    clock, down = Clock(), 5
    endpoint.behaviour = lambda req, i: web.Response(status=503) if i < down else None
    await publish(sf, "2027Q1", clock)
    r = relay(sf, endpoint, http, clock)
    await r.run_once()
    [m1, m2, m3] = await rows(sf)
    assert (m1.status, m1.attempts, m1.http_status) == ("pending", 1, 503)
    assert (m2.status, m3.status, m2.attempts) == ("pending", "pending", 0)
    clock.advance(seconds=5)
    await r.run_once()
    assert len(endpoint.requests) == 1  # still backing off
    waits = [(m1.next_attempt_at - T0).total_seconds()]
    for _ in range(down + 5):
        pending = [m for m in await rows(sf) if m.status == "pending"]
        if not pending:
            break
        clock.now = max(clock.now, pending[0].next_attempt_at)  # the task's head
        before = clock.now
        await r.run_once()
        head = (await rows(sf))[0]
        if head.status == "pending":
            waits.append((head.next_attempt_at - before).total_seconds())
    assert endpoint.order("2027Q1") == KINDS
    assert [q.kind for q in endpoint.requests[: down + 1]] == ["发布结果"] * (down + 1)
    assert len(endpoint.requests) == down + 3
    assert all(len(keys) == 1 for keys in endpoint.keys_per_message().values())
    ms = await rows(sf)
    assert [m.status for m in ms] == ["sent"] * 3 and ms[0].attempts == down + 1
    assert len(waits) == down and 8 <= waits[0] <= 12  # 10 s ± 20 % jitter, then doubling
    assert all(b > a for a, b in itertools.pairwise(waits))


async def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rnd = random.Random(3)
    values = [push.backoff(n, rnd) for n in range(1, 16)]
    for n, v in enumerate(values[:8], start=1):
        assert 0.8 * 10 * 2 ** (n - 1) <= v <= 1.2 * 10 * 2 ** (n - 1)
    assert max(values) <= 1.2 * push.MAX_DELAY
    assert len({round(v, 6) for v in values}) == len(values)


@pytest.mark.parametrize(
    "status, outcome",
    [
        (200, "sent"),
        (201, "sent"),
        (204, "sent"),
        (409, "duplicate"),
        (429, "retry"),
        (408, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (504, "retry"),
        (400, "park"),
        (401, "park"),
        (403, "park"),
        (404, "park"),
        (422, "park"),
        (301, "park"),
    ],
)
def test_classify(status, outcome):
    assert push.classify(status) == outcome


def test_retry_after_seconds_or_http_date():
    now = datetime(2027, 4, 20, 2, 0, tzinfo=UTC)
    assert push.retry_after("120") == 120
    assert push.retry_after("Tue, 20 Apr 2027 02:01:30 GMT", now) == 90
    assert push.retry_after("999999") == push.MAX_DELAY
    assert push.retry_after("soon") is None and push.retry_after(None) is None


async def test_429_honours_retry_after(sf, endpoint, http):
    clock = Clock()
    endpoint.behaviour = lambda req, i: (
        web.Response(status=429, headers={"Retry-After": "120"}) if i == 0 else None
    )
    await publish(sf, "2027Q1", clock)
    r = relay(sf, endpoint, http, clock)
    await r.run_once()
    m1 = (await rows(sf))[0]
    assert m1.status == "pending" and m1.next_attempt_at == clock.now + timedelta(seconds=120)
    clock.advance(seconds=100)
    await r.run_once()
    assert len(endpoint.requests) == 1
    clock.advance(seconds=21)
    await r.run_once()
    assert endpoint.order("2027Q1") == KINDS


async def test_lost_response_then_409_counts_as_delivered(sf, endpoint, http):
    clock = Clock()
    endpoint.lose_response = 2.0  # the endpoint takes it, the answer never arrives
    await publish(sf, "2027Q1", clock)
    r = relay(sf, endpoint, http, clock, timeout=0.3)
    stats = await r.run_once()
    assert stats.failed == 1 and "TimeoutError" in (await rows(sf))[0].last_error
    endpoint.lose_response = 0.0
    await drain(r, clock, rounds=3)
    assert [(x.kind, x.key == endpoint.requests[0].key) for x in endpoint.requests[:2]] == [
        ("发布结果", True),
        ("发布结果", True),
    ]
    ms = await rows(sf)
    assert [m.status for m in ms] == ["sent"] * 3 and ms[0].http_status == 409
    assert len(endpoint.accepted) == 3 and endpoint.order("2027Q1") == KINDS


async def test_a_crash_mid_send_is_taken_over_after_the_lease(sf, endpoint, http):
    clock = Clock()
    endpoint.lose_response = 30.0
    await publish(sf, "2027Q1", clock)
    dying = asyncio.create_task(relay(sf, endpoint, http, clock).run_once())
    for _ in range(200):
        if endpoint.accepted:
            break
        await asyncio.sleep(0.01)
    dying.cancel()  # the instance dies mid-send
    await asyncio.gather(dying, return_exceptions=True)
    endpoint.lose_response = 0.0
    assert (await rows(sf))[0].status == "sending"
    other = relay(sf, endpoint, http, clock)
    await other.run_once()
    assert len(endpoint.requests) == 1  # the lease still holds
    clock.now += push.LEASE + timedelta(seconds=1)
    await other.run_once()
    assert [r.kind for r in endpoint.requests] == ["发布结果", "发布结果", "基础库推送", "任务推送"]
    assert endpoint.requests[0].key == endpoint.requests[1].key
    assert len(endpoint.accepted) == 3 and [m.status for m in await rows(sf)] == ["sent"] * 3


async def test_permanent_failure_is_parked_reported_and_blocks_its_task_only(sf, endpoint, http):
    clock, parked = Clock(), []

    async def on_parked(row):
        parked.append((row.task_id, row.kind, row.attempts, row.last_error))

    endpoint.behaviour = lambda req, i: (
        web.json_response({"error": "bad uscc"}, status=422)
        if req.kind == "基础库推送" and req.task == "2027Q1"
        else None
    )
    await publish(sf, "2027Q1", clock)
    await publish(sf, "2027Q2", clock, objects=(3,))
    r = relay(sf, endpoint, http, clock, on_parked=on_parked)
    await drain(r, clock, rounds=4)
    assert parked == [("2027Q1", "基础库推送", 1, 'HTTP 422: {"error": "bad uscc"}')]
    assert endpoint.order("2027Q1") == ["发布结果"]
    assert endpoint.order("2027Q2") == KINDS  # the other task went on
    assert "任务推送" not in [q.kind for q in endpoint.requests if q.task == "2027Q1"]
    async with sf() as s:
        doc = await push.summary(s)
    assert doc["push"] == {"pending": 1, "sending": 0, "sent": 4, "parked": 1}
    assert [(p["outbox"], p["task"], p["kind"], p["http_status"]) for p in doc["parked"]] == [
        ("push", "2027Q1", "基础库推送", 422)
    ]
    # fixed on the other side; an operator retries it: the rest of the task follows in order
    endpoint.behaviour = None
    async with sf() as s, s.begin():
        await push.retry(s, doc["parked"][0]["id"], "admin", now=clock())
    await r.run_once()
    assert endpoint.order("2027Q1") == KINDS
    async with sf() as s:
        assert "push.retry" in (await s.execute(select(AuditRow.action))).scalars().all()


async def test_keeps_failing_then_parked_after_max_attempts(sf, endpoint, http):
    clock, parked = Clock(), []

    async def on_parked(row):
        parked.append(row.attempts)

    endpoint.behaviour = lambda req, i: web.Response(status=503)
    await publish(sf, "2027Q1", clock)
    await drain(relay(sf, endpoint, http, clock, on_parked=on_parked, max_attempts=4), clock)
    assert parked == [4] and len(endpoint.requests) == 4
    assert [m.status for m in await rows(sf)] == ["parked", "pending", "pending"]


async def test_connection_refused_is_retried(sf, endpoint, http, unused_tcp_port):
    clock = Clock()
    await publish(sf, "2027Q1", clock)
    dead = PushRelay(sf, f"http://127.0.0.1:{unused_tcp_port}/push", HttpPushTransport(http), clock)
    stats = await dead.run_once()
    m1 = (await rows(sf))[0]
    assert stats.failed == 1 and m1.status == "pending" and m1.http_status is None
    assert "Connect" in m1.last_error
    clock.advance(hours=1)
    await relay(sf, endpoint, http, clock).run_once()
    assert endpoint.order("2027Q1") == KINDS


async def test_two_relays_on_one_database_deliver_each_message_once(sf, db_url, endpoint, http):
    clock = Clock()
    tasks = ["2026Q1", "2026Q2", "2027Q1", "2027Q2", "2027Q3", "2027Q4"]
    for i, task in enumerate(tasks):
        await publish(sf, task, clock, objects=(i + 1, i + 2))
    endpoint.delay = 0.01
    engine2 = make_engine(db_url)
    try:
        sf2 = session_factory(engine2)
        a, b = relay(sf, endpoint, http, clock), relay(sf2, endpoint, http, clock)
        for _ in range(6):
            await asyncio.gather(a.run_once(), b.run_once())
    finally:
        await engine2.dispose()
    assert len(endpoint.requests) == len({r.key for r in endpoint.requests}) == 3 * len(tasks)
    for task in tasks:
        assert endpoint.order(task) == KINDS
    assert all(m.status == "sent" for m in await rows(sf))


async def test_two_tasks_interleave_without_blocking_each_other(sf, endpoint, http):
    clock = Clock()
    await publish(sf, "2027Q1", clock, objects=(1,))
    await publish(sf, "2027Q2", clock, objects=(2,))
    endpoint.delay = 0.05
    await relay(sf, endpoint, http, clock).run_once()
    arrival = [r.task for r in endpoint.requests]
    assert arrival.index("2027Q2") < len(arrival) - 1 - arrival[::-1].index("2027Q1")
    assert endpoint.order("2027Q1") == endpoint.order("2027Q2") == KINDS
    # one task's endpoint trouble holds back that task only
    endpoint.delay = 0.0
    endpoint.behaviour = lambda req, i: web.Response(status=500) if req.task == "2027Q3" else None
    await publish(sf, "2027Q3", clock, objects=(3,))
    await publish(sf, "2027Q4", clock, objects=(4,))
    await relay(sf, endpoint, http, clock).run_once()
    assert endpoint.order("2027Q4") == KINDS and endpoint.order("2027Q3") == []


async def test_enqueue_is_idempotent_per_publication_and_republication_follows(sf, endpoint, http):
    clock = Clock()
    await publish(sf, "2027Q1", clock)
    await publish(sf, "2027Q1", clock)
    assert [(m.seq, m.kind) for m in await rows(sf)] == list(zip((1, 2, 3), KINDS, strict=True))
    await publish(sf, "2027Q1", clock, stamp="15:30")  # a corrected publication
    ms = await rows(sf)
    assert [m.seq for m in ms] == [1, 2, 3, 1, 2, 3] and len({m.idempotency_key for m in ms}) == 6
    await relay(sf, endpoint, http, clock).run_once()
    assert endpoint.order("2027Q1") == KINDS * 2


async def test_every_message_carries_the_publications_audit_anchor(sf, endpoint, http):
    clock = Clock()
    anchor = {"seq": 418, "hash": "5d" * 32}
    await publish(sf, "2027Q1", clock, audit_anchor=anchor)
    await relay(sf, endpoint, http, clock).run_once()
    assert [r.kind for r in endpoint.requests] == KINDS
    assert [r.body["audit_anchor"] for r in endpoint.requests] == [anchor] * 3


async def test_unknown_task_is_refused(sf):
    from bot.domain.model import DomainError

    async with sf() as s, s.begin():
        with pytest.raises(DomainError) as err:
            await push.enqueue_publication(s, "2031Q1", {"published_at": "x", "objects": []})
    assert err.value.code == "no_task"


async def test_the_service_pushes_and_tells_the_supervisors_of_a_parked_message(
    bot, aiohttp_client, endpoint
):
    from bot.app import create_app
    from storage.models_chat import OutboxMessage

    class Recorder:
        pace_seconds = 0.0

        def __init__(self):
            self.sent = []

        async def send(self, msg, outbox_id):
            self.sent.append(msg)
            return str(outbox_id)

    clock = Clock(datetime.now().replace(microsecond=0) - timedelta(minutes=1))
    endpoint.behaviour = lambda req, i: (
        web.Response(status=403, text="forbidden") if req.task == "2027Q2" else None
    )
    await publish(bot.sf, "2027Q1", clock, objects=(1,))
    await publish(bot.sf, "2027Q2", clock, objects=(2,))
    people = await bot.people()
    admins = {a for a, p in people.items() if p.role == "管理员"}
    sender = Recorder()
    settings = replace(bot.settings, publish_endpoint=endpoint.url, publish_token="tok")
    await aiohttp_client(create_app(settings, sender=sender))
    loop = asyncio.get_running_loop()
    end = loop.time() + 15
    while {m.to for m in sender.sent if "推送失败" in m.text} != admins:
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)
    assert endpoint.order("2027Q1") == KINDS and endpoint.order("2027Q2") == []
    assert endpoint.requests[0].headers["Authorization"] == "Bearer tok"
    note = next(m.text for m in sender.sent if "推送失败" in m.text)
    assert "2027Q2" in note and "发布结果" in note and "ssj outbox retry" in note
    async with bot.sf() as s:
        audit = (await s.execute(select(AuditRow.action, AuditRow.subject))).all()
        chat = (await s.execute(select(OutboxMessage))).scalars().all()
    assert ("push.parked", "2027Q2") in audit
    assert {m.recipient for m in chat} == admins
