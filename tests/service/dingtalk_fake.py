"""A fake DingTalk for tests (aiohttp on 127.0.0.1): the open API the sender calls and the
Stream gateway the receiver connects to.

API: ``/v1.0/oauth2/accessToken`` (tokens TOKEN1, TOKEN2 …), the robot's 1:1 and group
sends, ``card/instances/createAndDeliver`` (a reused ``outTrackId`` is refused, as
DingTalk refuses a duplicate card) and ``PUT card/instances``. Every call is recorded in
``calls`` as (kind, body); ``script`` holds HTTP statuses for the next sends (429:
throttled; 401: the token dies now, as when it expires mid-quarter).

Stream: ``/v1.0/gateway/connections/open`` names the WebSocket ``/gateway`` with a ticket;
``push`` sends a CALLBACK frame to the connected client and ``acks`` collects what it
answers (messageId → ack)."""

from __future__ import annotations

import asyncio
import itertools
import json

from aiohttp import WSMsgType, web

ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"


class FakeDingTalk:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.token_seq = itertools.count(1)
        self.token = ""
        self.expire_in = 7200
        self.script: list[int] = []
        self.invalid_users: set[str] = set()
        self.cards: dict[str, dict] = {}  # outTrackId -> the createAndDeliver body
        self.frame_seq = itertools.count(1)
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: dict[str, dict] = {}
        self.tickets: set[str] = set()
        self.connections = 0
        self.base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self.access_token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self.one_to_one)
        app.router.add_post("/v1.0/robot/groupMessages/send", self.group)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self.create_card)
        app.router.add_put("/v1.0/card/instances", self.update_card)
        app.router.add_post("/v1.0/gateway/connections/open", self.open_connection)
        app.router.add_get("/gateway", self.gateway)
        app.on_shutdown.append(lambda app: self.drop())
        return app

    def of(self, kind: str) -> list[dict]:
        return [body for k, body in self.calls if k == kind]

    # -- the open API ----------------------------------------------------------------
    async def access_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("token", body))
        if body.get("appSecret") != "dt-secret":
            return web.json_response({"code": "invalidClientSecret", "message": "bad"}, status=400)
        self.token = f"TOKEN{next(self.token_seq)}"
        return web.json_response({"accessToken": self.token, "expireIn": self.expire_in})

    async def _checked(self, request: web.Request, kind: str) -> tuple[dict, web.Response | None]:
        body = await request.json()
        if request.headers.get("x-acs-dingtalk-access-token") != self.token or not self.token:
            self.calls.append((f"{kind}-401", body))
            return body, web.json_response(
                {"code": "InvalidAuthentication", "message": "token invalid"}, status=401
            )
        if self.script:
            status = self.script.pop(0)
            if status == 401:
                self.token = "EXPIRED"  # the token really is dead now
            self.calls.append((f"{kind}-{status}", body))
            code = (
                "Forbidden.AccessDenied.QpsLimitForApi"
                if status == 429
                else "InvalidAuthentication"
            )
            return body, web.json_response({"code": code, "message": "scripted"}, status=status)
        return body, None

    async def one_to_one(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request, "send")
        if refused:
            return refused
        self.calls.append(("send", body))
        invalid = [u for u in body["userIds"] if u in self.invalid_users]
        return web.json_response(
            {
                "processQueryKey": f"pq{len(self.calls)}",
                "invalidStaffIdList": invalid,
                "flowControlledStaffIdList": [],
            }
        )

    async def group(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request, "group")
        if refused:
            return refused
        self.calls.append(("group", body))
        return web.json_response({"processQueryKey": f"pq{len(self.calls)}"})

    async def create_card(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request, "card")
        if refused:
            return refused
        track = body["outTrackId"]
        if track in self.cards:
            self.calls.append(("card-duplicate", body))
            return web.json_response(
                {"code": "param.outTrackIdExisted", "message": "outTrackId exists"}, status=400
            )
        self.cards[track] = body
        self.calls.append(("card", body))
        return web.json_response({"success": True, "result": {"outTrackId": track}})

    async def update_card(self, request: web.Request) -> web.Response:
        body, refused = await self._checked(request, "update")
        if refused:
            return refused
        if body.get("outTrackId") not in self.cards:
            self.calls.append(("update-unknown", body))
            return web.json_response(
                {"code": "resource.not.found", "message": "no card"}, status=404
            )
        self.calls.append(("update", body))
        return web.json_response({"success": True})

    # -- the Stream gateway ----------------------------------------------------------
    async def open_connection(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("open", body))
        if body.get("clientSecret") != "dt-secret":
            return web.json_response({"code": "invalidClientSecret"}, status=400)
        ticket = f"ticket-{len(self.tickets) + 1}"
        self.tickets.add(ticket)
        ws_base = self.base.replace("http://", "ws://")
        return web.json_response({"endpoint": f"{ws_base}/gateway", "ticket": ticket})

    async def gateway(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self.tickets:
            return web.Response(status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    doc = json.loads(msg.data)
                    self.acks[doc["headers"].get("messageId", "")] = doc
        finally:
            self.sockets.remove(ws)
        return ws

    async def push(
        self, topic: str, data: dict, message_id: str | None = None, kind: str = "CALLBACK"
    ) -> str:
        """Send one frame to the connected client; its messageId."""
        message_id = message_id or f"frame-{next(self.frame_seq)}"
        for _ in range(200):
            if self.sockets:
                break
            await asyncio.sleep(0.05)
        frame = {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "topic": topic,
                "messageId": message_id,
                "contentType": "application/json",
                "appId": "dt-app",
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        await self.sockets[-1].send_str(json.dumps(frame, ensure_ascii=False))
        return message_id

    async def drop(self) -> None:
        """The gateway closes every connection (DingTalk does, e.g. every ~12 h)."""
        for ws in list(self.sockets):
            await ws.close()
