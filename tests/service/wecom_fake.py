"""A fake WeCom API server for tests (aiohttp on 127.0.0.1): records every call and can
answer with scripted error codes (40014, 42001, 45009) and ``invaliduser``.

It keeps WeCom's two duplicate guards: a card whose ``task_id`` was already delivered is
refused with 42014 ("send-42014"), and a message with ``enable_duplicate_check`` whose
request JSON equals one delivered within its ``duplicate_check_interval`` is answered
with success but not delivered again ("send-dup"; what WeCom answers then is not
documented: the fake returns the first delivery's msgid). ``delivered`` lists what
people actually received."""

from __future__ import annotations

import itertools
import json
import time

from aiohttp import web


class FakeWeCom:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.token_seq = itertools.count(1)
        self.token = ""
        self.script: list[int] = []  # errcodes for the next message/send calls
        self.invalid_users: set[str] = set()
        self.used_response_codes: set[str] = set()
        self.msg_seq = itertools.count(1)
        self.card_codes: dict[str, str] = {}  # task_id -> the response_code its send returned
        self._checked: dict[str, tuple[float, str]] = {}  # request JSON -> (when, msgid)
        self.delivered: list[dict] = []
        # called with each message/send call's kind once it is recorded, before WeCom's
        # answer goes back (a crash test kills the caller there)
        self.on_send = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_post("/cgi-bin/message/send", self.send)
        app.router.add_post("/cgi-bin/message/update_template_card", self.update)
        app.router.add_post("/cgi-bin/aibot/response", self.bot_response)
        app.router.add_post("/cgi-bin/webhook/send", self.webhook)
        return app

    def of(self, path: str) -> list[dict]:
        return [body for p, body in self.calls if p == path]

    async def gettoken(self, request: web.Request) -> web.Response:
        self.token = f"TOKEN{next(self.token_seq)}"
        self.calls.append(("gettoken", dict(request.query)))
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": self.token, "expires_in": 7200}
        )

    def _auth(self, request) -> dict | None:
        if request.query.get("access_token") != self.token:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        return None

    async def send(self, request: web.Request) -> web.Response:
        answer = await self._send(request)
        if self.on_send is not None:
            self.on_send(self.calls[-1][0] if self.calls else "")
        return answer

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        bad = self._auth(request)
        if bad:
            self.calls.append(("send-refused", body))
            return web.json_response(bad)
        if self.script:
            code = self.script.pop(0)
            if code == 42001:
                self.token = "EXPIRED"  # the token really is dead now
            self.calls.append((f"send-{code}", body))
            return web.json_response({"errcode": code, "errmsg": f"scripted {code}"})
        task_id = body.get("template_card", {}).get("task_id")
        if task_id and task_id in self.card_codes:
            self.calls.append(("send-42014", body))
            return web.json_response({"errcode": 42014, "errmsg": "task_id exist"})
        same = json.dumps(body, sort_keys=True, ensure_ascii=False)
        if body.get("enable_duplicate_check") == 1 and same in self._checked:
            at, msgid = self._checked[same]
            if time.monotonic() - at < body.get("duplicate_check_interval", 1800):
                self.calls.append(("send-dup", body))
                return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})
        self.calls.append(("send", body))
        self.delivered.append(body)
        invalid = [u for u in body.get("touser", "").split("|") if u in self.invalid_users]
        n = next(self.msg_seq)
        if task_id:
            self.card_codes[task_id] = f"rc{n}"
        if body.get("enable_duplicate_check") == 1:
            self._checked[same] = (time.monotonic(), f"m{n}")
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "invaliduser": "|".join(invalid),
                "msgid": f"m{n}",
                "response_code": f"rc{n}",
            }
        )

    async def update(self, request: web.Request) -> web.Response:
        body = await request.json()
        bad = self._auth(request)
        if bad:
            return web.json_response(bad)
        code = body.get("response_code", "")
        if code in self.used_response_codes:  # single use, as WeCom documents
            self.calls.append(("update-reused", body))
            return web.json_response({"errcode": 40058, "errmsg": "response_code used"})
        self.used_response_codes.add(code)
        self.calls.append(("update", body))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def bot_response(self, request: web.Request) -> web.Response:
        code = request.query.get("response_code", "")
        body = await request.json()
        if code in self.used_response_codes:
            self.calls.append(("bot-response-reused", body))
            return web.json_response({"errcode": 40001, "errmsg": "response_code used"})
        self.used_response_codes.add(code)
        self.calls.append(("bot-response", dict(body, _code=code)))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def webhook(self, request: web.Request) -> web.Response:
        self.calls.append(("webhook", await request.json()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})
