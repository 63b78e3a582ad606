"""A fake WeCom API server for tests (aiohttp on 127.0.0.1): records every call and can
answer with scripted error codes (40014, 42001, 45009) and ``invaliduser``."""
from __future__ import annotations

import itertools

from aiohttp import web


class FakeWeCom:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.token_seq = itertools.count(1)
        self.token = ""
        self.script: list[int] = []          # errcodes for the next message/send calls
        self.invalid_users: set[str] = set()
        self.used_response_codes: set[str] = set()
        self.msg_seq = itertools.count(1)
        self.card_codes: dict[str, str] = {}   # task_id -> the response_code its send returned

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
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": self.token,
                                  "expires_in": 7200})

    def _auth(self, request) -> dict | None:
        if request.query.get("access_token") != self.token:
            return {"errcode": 40014, "errmsg": "invalid access_token"}
        return None

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        bad = self._auth(request)
        if bad:
            self.calls.append(("send-refused", body))
            return web.json_response(bad)
        if self.script:
            code = self.script.pop(0)
            if code == 42001:
                self.token = "EXPIRED"   # the token really is dead now
            self.calls.append((f"send-{code}", body))
            return web.json_response({"errcode": code, "errmsg": f"scripted {code}"})
        self.calls.append(("send", body))
        invalid = [u for u in body.get("touser", "").split("|") if u in self.invalid_users]
        n = next(self.msg_seq)
        task_id = body.get("template_card", {}).get("task_id")
        if task_id:
            self.card_codes[task_id] = f"rc{n}"
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid),
                                  "msgid": f"m{n}", "response_code": f"rc{n}"})

    async def update(self, request: web.Request) -> web.Response:
        body = await request.json()
        bad = self._auth(request)
        if bad:
            return web.json_response(bad)
        code = body.get("response_code", "")
        if code in self.used_response_codes:      # single use, as WeCom documents
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
