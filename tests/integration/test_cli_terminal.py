"""What people see at the terminal: Chinese help, Chinese errors, no progress in JSON."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cli import main


def _help(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("init",),
        ("import",),
        ("draw",),
        ("draw", "run"),
        ("draw", "verify"),
        ("recuse",),
        ("audit", "verify"),
        ("export", "draw"),
        ("demo-data",),
    ],
)
def test_every_help_is_chinese_plain_words(capsys, args):
    out = _help(capsys, *args)
    assert "用法：" in out and "选项" in out
    assert "usage:" not in out and "show this help" not in out
    assert sum(1 for c in out if "\u4e00" <= c <= "\u9fff") > 10


def test_usage_error_is_chinese(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["draw", "run"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "缺少必需的参数" in err and "--task" in err


def test_bad_task_id_message(capsys, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    assert main(["--db", url, "init"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "draw", "run", "--task", "2027-1"]) == 1
    assert "2027Q1" in capsys.readouterr().err


def test_uninitialised_database_asks_for_init(capsys, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/new.db"
    assert main(["--db", url, "draw", "show", "--task", "2027Q1"]) == 1
    assert "ssj init" in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    exe = __import__("shutil").which("ssj") or str(
        __import__("pathlib").Path(sys.executable).parent / "ssj"
    )
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "双随机" in out.stdout


def test_json_output_has_no_progress_even_on_a_tty(tmp_path):
    """Run under a pseudo-terminal: progress goes to stderr, never into --json stdout."""
    import json
    import os
    import pty

    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    code = (
        "import sys; from bot.cli import main; "
        f"main(['--db', {url!r}, 'demo-data', '--dir', {str(tmp_path / 'd')!r}]); "
        f"sys.exit(main(['--db', {url!r}, 'draw', 'run', '--task', '2027Q1', '--json']))"
    )
    master, slave = pty.openpty()
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=w, stderr=slave, cwd=os.getcwd())
    os.close(w)
    os.close(slave)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    assert proc.wait(timeout=120) == 0
    os.close(r)
    text = data.decode()
    doc = json.loads(text[text.index("{") :])
    assert doc["task"] == "2027Q1" and "[" not in text[: text.index("{")]
    import select as select_

    shown = b""
    while select_.select([master], [], [], 0.5)[0]:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    assert "导入" in shown.decode(errors="replace")  # the terminal did get progress


def test_serve_banner_is_on_separate_lines():
    """Regression: trim_blocks ate the newlines of the start-up banner."""
    from bot.text import t

    lines = t(
        "webchat.serving", url="http://127.0.0.1:8080", chat="http://127.0.0.1:8080/chat"
    ).splitlines()
    assert lines == [
        "双随机助手已启动：http://127.0.0.1:8080",
        "网页聊天：http://127.0.0.1:8080/chat",
        "按 Ctrl+C 停止。",
    ]
