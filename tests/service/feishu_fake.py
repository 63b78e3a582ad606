"""A fake of Feishu's open platform for tests (aiohttp on 127.0.0.1): tenant tokens,
``im/v1/messages`` (send, with Feishu's ``uuid`` duplicate guard) and PATCH of a card.
It records every call and answers scripted codes (99991663 token invalid, 99991400 /
HTTP 429 throttled with ``x-ogw-ratelimit-reset``, 230013 user unreachable).

It also plays the long connection's server side for lark-oapi's ws client: the endpoint
discovery (``/callback/ws/endpoint``) and a WebSocket (``/ws``) that pushes event frames
(the SDK's protobuf ``Frame``) and collects the client's answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from aiohttp import WSMsgType, web


class FakeFeishu:
    def __init__(self, app_id: str, app_secret: str):
        self.app_id, self.app_secret = app_id, app_secret
        self.calls: list[tuple[str, dict]] = []
        self.token_seq = itertools.count(1)
        self.token = ""
        self.expire = 7200
        self.script: list[int] = []  # codes for the next im/v1/messages sends
        self.unreachable: set[str] = set()  # user_ids answered 230013
        self.msg_seq = itertools.count(1)
        self.uuids: dict[str, str] = {}  # uuid -> message_id of its first delivery
        self.messages: dict[str, dict] = {}  # message_id -> the send body (content kept fresh)
        self.first_content: dict[str, str] = {}  # message_id -> its content as sent
        self.delivered: list[dict] = []
        self.ws_answers: list[dict] = []
        self._ws: web.WebSocketResponse | None = None
        self.ws_connected = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self.tenant_token)
        app.router.add_post("/open-apis/im/v1/messages", self.send)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self.patch)
        app.router.add_post("/callback/ws/endpoint", self.ws_endpoint)
        app.router.add_get("/ws", self.ws)
        app.on_shutdown.append(self._close_ws)
        return app

    async def _close_ws(self, app: web.Application) -> None:
        if self._ws is not None:
            await self._ws.close()

    def of(self, kind: str) -> list[dict]:
        return [body for k, body in self.calls if k == kind]

    async def tenant_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("token", body))
        if body != {"app_id": self.app_id, "app_secret": self.app_secret}:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        self.token = f"t-{next(self.token_seq)}"
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": self.token, "expire": self.expire}
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def send(self, request: web.Request) -> web.Response:
        body = dict(await request.json(), receive_id_type=request.query.get("receive_id_type"))
        if not self._authorized(request):
            self.calls.append(("send-refused", body))
            return web.json_response({"code": 99991663, "msg": "invalid access token"})
        if self.script:
            code = self.script.pop(0)
            self.calls.append((f"send-{code}", body))
            if code == 429:
                return web.json_response(
                    {"code": 99991400, "msg": "too many requests"},
                    status=429,
                    headers={"x-ogw-ratelimit-reset": "2"},
                )
            if code == 99991663:
                self.token = "dead"
            return web.json_response(
                {"code": code, "msg": f"scripted {code}"}, headers={"x-ogw-ratelimit-reset": "2"}
            )
        if body["receive_id"] in self.unreachable:
            self.calls.append(("send-230013", body))
            return web.json_response({"code": 230013, "msg": "Bot has NO availability"})
        if body.get("uuid") in self.uuids:  # Feishu's guard: one message per uuid
            self.calls.append(("send-dup", body))
            return web.json_response({"code": 0, "data": {"message_id": self.uuids[body["uuid"]]}})
        message_id = f"om_{next(self.msg_seq):06d}"
        self.uuids[body.get("uuid") or message_id] = message_id
        self.messages[message_id] = body
        self.first_content[message_id] = body["content"]
        self.calls.append(("send", body))
        self.delivered.append(body)
        return web.json_response(
            {
                "code": 0,
                "msg": "success",
                "data": {"message_id": message_id, "msg_type": body["msg_type"]},
            }
        )

    async def patch(self, request: web.Request) -> web.Response:
        message_id = request.match_info["message_id"]
        body = dict(await request.json(), message_id=message_id)
        if not self._authorized(request):
            self.calls.append(("patch-refused", body))
            return web.json_response({"code": 99991663, "msg": "invalid access token"})
        sent = self.messages.get(message_id)
        if sent is None or sent["msg_type"] != "interactive":
            self.calls.append(("patch-missing", body))
            return web.json_response({"code": 230001, "msg": "invalid message_id"})
        sent["content"] = body["content"]
        self.calls.append(("patch", body))
        return web.json_response({"code": 0, "msg": "success"})

    # ---- the long connection --------------------------------------------------------

    async def ws_endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("ws-endpoint", body))
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return web.json_response({"code": 1000040345, "msg": "bad credentials"})
        host = request.host
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "URL": f"ws://{host}/ws?device_id=dev1&service_id=7",
                    "ClientConfig": {
                        "ReconnectCount": 1,
                        "ReconnectInterval": 1,
                        "ReconnectNonce": 0,
                        "PingInterval": 120,
                    },
                },
            }
        )

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.ws_connected.set()
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            from lark_oapi.ws.pb.pbbp2_pb2 import Frame

            frame = Frame()
            frame.ParseFromString(msg.data)
            headers = {h.key: h.value for h in frame.headers}
            if headers.get("type") == "ping":
                continue
            self.ws_answers.append(
                {"headers": headers, "payload": json.loads(frame.payload or b"{}")}
            )
        return ws

    async def push(self, event: dict, message_id: str) -> None:
        """Send one event frame to the connected client (as Feishu does)."""
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        frame = Frame()
        for key, value in (
            ("type", "event"),
            ("message_id", message_id),
            ("trace_id", "trace-" + message_id),
            ("sum", "1"),
            ("seq", "0"),
        ):
            h = frame.headers.add()
            h.key, h.value = key, value
        frame.service, frame.method, frame.SeqID, frame.LogID = 7, 1, 1, 1
        frame.payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        assert self._ws is not None
        await self._ws.send_bytes(frame.SerializeToString())
