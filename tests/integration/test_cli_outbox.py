"""``ssj outbox`` on SQLite and PostgreSQL: status of both outboxes, one push relay round
against a local endpoint (a stdlib HTTP server in a thread), parking and retry."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot import localtime
from bot.config import Settings
from bot.services import push
from bot.services.tasks import ensure_task
from storage.db import make_engine, session_factory

from .helpers import execute, query, ssj, ssj_json


class Endpoint:
    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []  # (key, kind, task)
        self.answers: list[int] = []  # statuses to give first
        self.refuse_task = ""  # 400 for this task's messages

    def serve(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append(
                    (self.headers["Idempotency-Key"], body["kind"], body["task"]["id"])
                )
                status = endpoint.answers.pop(0) if endpoint.answers else 200
                if body["task"]["id"] == endpoint.refuse_task:
                    status = 400
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "no"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/push"


@pytest.fixture
def endpoint():
    e = Endpoint()
    e.url = e.serve()
    yield e
    e.server.shutdown()


@pytest.fixture
def url(db_url, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SSJ_PUBLISH_ENDPOINT", raising=False)
    assert ssj(capsys, db_url, "init")[0] == 0
    assert ssj(capsys, db_url, "demo-data", "--dir", str(tmp_path / "demo"))[0] == 0
    return db_url


def publish(url: str, task_id: str) -> None:
    usccs = [u for (u,) in query(url, "SELECT uscc FROM enterprises ORDER BY uscc LIMIT 2")]

    async def go():
        engine = make_engine(url)
        try:
            async with session_factory(engine)() as s, s.begin():
                await ensure_task(s, Settings(database_url=url), task_id, "test", localtime.today())
                await push.enqueue_publication(
                    s,
                    task_id,
                    {
                        "published_at": f"{task_id}-published",
                        "objects": [{"uscc": u, "conclusion": "未发现问题"} for u in usccs],
                    },
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_status_relay_park_and_retry(url, capsys, endpoint, monkeypatch):
    publish(url, "2027Q1")
    doc = ssj_json(capsys, url, "outbox", "status")
    assert doc["push"] == {"pending": 3, "sending": 0, "sent": 0, "parked": 0}
    assert doc["chat"]["parked"] == 0 and doc["parked"] == []
    code, out, err = ssj(capsys, url, "outbox", "relay", "--once")
    assert code == 1 and "SSJ_PUBLISH_ENDPOINT" in err

    monkeypatch.setenv("SSJ_PUBLISH_ENDPOINT", endpoint.url)
    endpoint.answers = [503]
    doc = ssj_json(capsys, url, "outbox", "relay", "--once")
    assert (doc["sent"], doc["failed"], doc["parked"]) == (0, 1, 0)
    assert doc["attempts"][0]["outcome"] == "retry" and doc["attempts"][0]["http_status"] == 503
    code, out, _ = ssj(capsys, url, "outbox", "relay", "--once")
    assert code == 0 and "没有到期待推送的消息" in out  # backing off
    execute(url, "UPDATE push_outbox SET next_attempt_at = '2000-01-01 00:00:00'")
    code, out, _ = ssj(capsys, url, "outbox", "relay", "--once")
    assert code == 0 and "送达 3 条" in out
    assert "已推送：任务 2027Q1 第 1 步“发布结果”" in out
    assert [k for _, k, _ in endpoint.requests] == [
        "发布结果",
        "发布结果",
        "基础库推送",
        "任务推送",
    ]
    assert endpoint.requests[0][0] == endpoint.requests[1][0]

    publish(url, "2027Q2")
    endpoint.refuse_task = "2027Q2"
    code, out, _ = ssj(capsys, url, "outbox", "relay", "--once")
    assert "推送失败，已搁置" in out and "HTTP 400" in out
    code, out, _ = ssj(capsys, url, "outbox", "status")
    assert code == 0 and "已搁置的消息（共 1 条）" in out and "2027Q2" in out
    doc = ssj_json(capsys, url, "outbox", "status")
    assert doc["push"] == {"pending": 2, "sending": 0, "sent": 3, "parked": 1}
    parked = doc["parked"][0]
    assert (parked["task"], parked["kind"], parked["http_status"]) == ("2027Q2", "发布结果", 400)
    admins = {
        a
        for (a,) in query(
            url,
            "SELECT msg_account FROM inspectors WHERE role = '管理员' AND msg_account IS NOT NULL",
        )
    }
    notices = query(url, "SELECT recipient FROM outbox")
    assert admins and {r for (r,) in notices} == admins
    assert query(url, "SELECT COUNT(*) FROM audit_log WHERE action = 'push.parked'")[0][0] == 1

    endpoint.refuse_task = ""
    code, out, _ = ssj(capsys, url, "outbox", "retry", str(parked["id"]))
    assert code == 0 and "已重新排队" in out
    code, out, err = ssj(capsys, url, "outbox", "retry", str(parked["id"]))
    assert code == 1 and "不是已搁置的消息" in err
    code, out, _ = ssj(capsys, url, "outbox", "relay", "--once")
    assert "送达 3 条" in out
    assert [k for _, k, t in endpoint.requests if t == "2027Q2"] == [
        "发布结果",
        "发布结果",
        "基础库推送",
        "任务推送",
    ]
    assert ssj_json(capsys, url, "outbox", "status")["push"]["sent"] == 6
    assert ssj(capsys, url, "audit", "verify")[0] == 0
