"""``ssj webchat invite|revoke|list`` and ``ssj serve``'s refusal to serve the web chat
without login beyond this machine (both databases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import query, ssj

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = "https://ssj.example.gov.cn"


def _accounts(url: str) -> tuple[str, str]:
    rows = query(
        url, "SELECT msg_account, name FROM inspectors WHERE msg_account IS NOT NULL ORDER BY cert"
    )
    return rows[0][0], rows[0][1]


@pytest.fixture
def login_env(monkeypatch):
    monkeypatch.setenv("SSJ_WEB_CHAT_LOGIN", "1")
    monkeypatch.setenv("SSJ_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("SSJ_WEB_CHAT_INVITE_HOURS", "2")


def test_invite_prints_the_link_queues_it_and_stores_its_hash(library, capsys, login_env):
    account, name = _accounts(library)
    code, out, err = ssj(capsys, library, "webchat", "invite", account)
    assert code == 0, err
    link = next(w for w in out.split() if w.startswith(f"{PUBLIC}/chat/login/"))
    token = link.rsplit("/", 1)[1]
    assert name in out and "北京时间" in out and "只能使用一次" in out
    rows = query(library, "SELECT token_hash, account, used_at FROM webchat_invites")
    assert len(rows) == 1 and rows[0][1] == account and rows[0][2] is None
    assert rows[0][0] != token and token not in json.dumps([list(r) for r in rows], default=str)
    sent = query(library, "SELECT recipient, payload FROM outbox")
    assert [r[0] for r in sent] == [account]
    payload = sent[0][1] if isinstance(sent[0][1], dict) else json.loads(sent[0][1])
    assert link in payload["text"] and "2 小时内有效" in payload["text"]
    audit = query(library, "SELECT action, subject FROM audit_log WHERE action LIKE 'webchat.%'")
    assert [tuple(r) for r in audit] == [("webchat.invite", account)]
    # JSON, and a second invitation voids the first
    code, out, err = ssj(capsys, library, "webchat", "invite", account, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["account"] == account and doc["url"].startswith(f"{PUBLIC}/chat/login/")
    rows = query(library, "SELECT revoked_at IS NULL FROM webchat_invites ORDER BY id")
    assert [bool(r[0]) for r in rows] == [False, True]
    code, out, _ = ssj(capsys, library, "webchat", "list")
    assert code == 0 and account in out and "邀请链接" in out


def test_invite_refusals(library, capsys, monkeypatch):
    account, _ = _accounts(library)
    code, _, err = ssj(capsys, library, "webchat", "invite", account)
    assert code == 1 and "SSJ_WEB_CHAT_LOGIN=1" in err  # login is off
    monkeypatch.setenv("SSJ_WEB_CHAT_LOGIN", "1")
    monkeypatch.setenv("SSJ_HOST", "0.0.0.0")
    code, _, err = ssj(capsys, library, "webchat", "invite", account)
    assert code == 1 and "SSJ_PUBLIC_URL" in err  # a link to 0.0.0.0 is no link
    monkeypatch.setenv("SSJ_PUBLIC_URL", PUBLIC)
    code, _, err = ssj(capsys, library, "webchat", "invite", "nobody-here")
    assert code == 1 and "nobody-here" in err
    monkeypatch.setenv("SSJ_WEB_CHAT_INVITE_HOURS", "0")
    code, _, err = ssj(capsys, library, "webchat", "invite", account)
    assert code == 1 and "SSJ_WEB_CHAT_INVITE_HOURS" in err
    assert query(library, "SELECT COUNT(*) FROM webchat_invites")[0][0] == 0
    assert query(library, "SELECT COUNT(*) FROM outbox")[0][0] == 0


def test_revoke_voids_links_and_is_audited(library, capsys, login_env):
    account, _ = _accounts(library)
    assert ssj(capsys, library, "webchat", "invite", account)[0] == 0
    code, out, err = ssj(capsys, library, "webchat", "revoke", account)
    assert code == 0, err
    assert "0 个登录" in out and "1 个未使用" in out
    usable = "SELECT COUNT(*) FROM webchat_invites WHERE revoked_at IS NULL"
    assert query(library, usable)[0][0] == 0
    code, out, _ = ssj(capsys, library, "webchat", "list")
    assert code == 0 and "没有有效" in out
    actions = [
        r[0]
        for r in query(
            library, "SELECT action FROM audit_log WHERE action LIKE 'webchat.%' ORDER BY id"
        )
    ]
    assert actions == ["webchat.invite", "webchat.revoke"]


def _serve(url: str, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SSJ_")}
    environ.update({"SSJ_DATABASE_URL": url, "SSJ_SCHEDULER": "0", "SSJ_PORT": "18931", **env})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_serve_refuses_the_web_chat_without_login_beyond_this_machine(library, host):
    started = time.monotonic()
    done = _serve(library, SSJ_HOST=host, SSJ_WEB_CHAT="1")
    assert done.returncode != 0
    assert (
        "拒绝启动" in done.stderr and host in done.stderr and "SSJ_WEB_CHAT_LOGIN=1" in done.stderr
    )
    assert "Traceback" not in done.stderr and "已启动" not in done.stdout
    assert time.monotonic() - started < 30


def test_serve_refuses_the_web_chat_flag_too(library, capsys, monkeypatch):
    monkeypatch.setenv("SSJ_HOST", "0.0.0.0")
    code, out, err = ssj(capsys, library, "serve", "--web-chat")
    assert code == 1 and "拒绝启动" in err and "已启动" not in out
