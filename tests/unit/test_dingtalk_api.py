"""The DingTalk API client against a tiny local server: the token cached until
expireIn − 300 s and fetched once for concurrent callers, refetched on a 401, throttling
retried with backoff then given up; the sender's duplicate outTrackId and its errors."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from bot.messages import Button, Card, Delivered, Outbound, SendError
from bot.messengers.dingtalk.api import DingTalkClient, DingTalkConfig, DingTalkError
from bot.messengers.dingtalk.sender import DingTalkSender


class Server:
    def __init__(self):
        self.fetches, self.token, self.statuses = 0, "", []
        self.bodies: list[dict] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self.access_token)
        app.router.add_route("*", "/v1.0/{tail:.*}", self.api)
        return app

    async def access_token(self, request):
        await asyncio.sleep(0.05)  # slow enough for callers to pile up
        self.fetches += 1
        self.token = f"T{self.fetches}"
        return web.json_response({"accessToken": self.token, "expireIn": 7200})

    async def api(self, request):
        self.bodies.append(await request.json())
        if request.headers.get("x-acs-dingtalk-access-token") != self.token:
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        if self.statuses:
            status, code = self.statuses.pop(0)
            return web.json_response({"code": code, "message": "scripted"}, status=status)
        return web.json_response({"processQueryKey": "pq"})


@pytest.fixture
async def api(aiohttp_server):
    server = Server()
    srv = await aiohttp_server(server.app(), host="127.0.0.1")
    now = [1000.0]
    async with aiohttp.ClientSession() as http:
        slept: list[float] = []

        async def sleep(s: float) -> None:
            slept.append(s)

        client = DingTalkClient(
            DingTalkConfig("k", "s", "r", str(srv.make_url("")).rstrip("/")),
            http,
            clock=lambda: now[0],
            sleep=sleep,
        )
        yield server, client, now, slept


async def test_token_single_flight_cached_and_refreshed(api):
    server, client, now, _ = api
    tokens = await asyncio.gather(*(client.token() for _ in range(10)))
    assert set(tokens) == {"T1"} and server.fetches == 1
    now[0] += 7200 - 300 - 1
    assert await client.token() == "T1" and server.fetches == 1
    now[0] += 2  # within the last five minutes: a new one
    assert await client.token() == "T2" and server.fetches == 2
    server.token = "revoked"  # dies early, mid-quarter: 401, refetch, retry
    assert await client.call("POST", "/v1.0/robot/x", {}) == {"processQueryKey": "pq"}
    assert server.fetches == 3


async def test_throttling_retried_then_given_up(api):
    server, client, now, slept = api
    server.statuses = [(429, "Throttling"), (403, "Forbidden.AccessDenied.QpsLimitForApi")]
    assert await client.call("POST", "/v1.0/robot/x", {}) == {"processQueryKey": "pq"}
    assert len(slept) == 2 and slept[1] > slept[0] * 1.2
    server.statuses = [(400, "90018")] * 10
    with pytest.raises(DingTalkError) as exc:
        await client.call("POST", "/v1.0/robot/x", {})
    assert exc.value.throttled
    server.statuses = [(400, "param.invalid")]
    with pytest.raises(DingTalkError) as exc:
        await client.call("POST", "/v1.0/robot/x", {})
    assert not exc.value.throttled


async def test_sender_duplicate_card_is_delivered_and_errors_mapped(api):
    server, client, now, _ = api
    sender = DingTalkSender(client, "r")
    card = Card("任务", "正文", (Button("acc:1", "接收"), Button("rec:1", "申请回避")), 1)
    msg = Outbound("user1", card=card, key="abc")
    assert await sender.send(msg, 7) == Delivered("ssj-7-abc")
    server.statuses = [(400, "param.outTrackIdExisted")]
    assert await sender.send(msg, 7) == Delivered("ssj-7-abc")  # a retry of a delivered card
    server.statuses = [(429, "Throttling")] * 10
    with pytest.raises(SendError) as exc:
        await sender.send(Outbound("user1", text="你好"), 8)
    assert exc.value.retry_after and not exc.value.permanent
    server.statuses = []
    assert await sender.send(Outbound("user1", text=""), 9) == ""
