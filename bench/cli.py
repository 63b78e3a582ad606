"""How long the ``ssj`` command takes to answer: CPU time of a fresh process.

    .venv/bin/python bench/cli.py [--runs 15] [--task 2027Q1] [--tree DIR]

Sets up (not timed) a temporary SQLite database with the demo library and one drawn task
(``ssj demo-data``, then ``ssj draw run``), then runs, interleaved, ``--runs`` times each:

1. ``python -c pass``: the interpreter's own start-up, the baseline;
2. ``ssj --help`` (as ``python -m bot.cli --help``);
3. ``ssj draw show --task T`` on that database (a read command that opens it).

The figure is the child's CPU time, user + system, from ``resource.getrusage(
RUSAGE_CHILDREN)`` before and after each run (wall time on a shared machine says more
about the neighbours than about the command). Printed: median and min per command, the
ratio of each median to the baseline's, and to the target (0.3 s for ``--help``, 0.8 s
for ``draw show``). Exits 1 if a median misses its target. ``--tree DIR`` measures the
code of another checkout (e.g. the commit before a change) with this same script.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"ssj --help": 0.3, "ssj draw show": 0.8}


def cpu_of(cmd: list[str], env: dict[str, str], root: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one run of ``cmd`` to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def setup(url: str, work: Path, task: str, env: dict[str, str], root: Path) -> None:
    ssj = [sys.executable, "-m", "bot.cli", "--db", url]
    for args in (["demo-data", "--dir", str(work / "demo")], ["draw", "run", "--task", task]):
        done = subprocess.run(
            [*ssj, *args], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"setup: ssj {' '.join(args)} failed: {done.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--task", default="2027Q1")
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    opts = ap.parse_args()

    root = opts.tree.resolve()
    env = dict(os.environ, PYTHONPATH=str(root))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("SSJ_DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="ssj-bench-cli-") as tmp:
        work = Path(tmp)
        url = f"sqlite+aiosqlite:///{work / 'ssj.db'}"
        print(
            f"code: {root}\nsetup: demo library and a drawn {opts.task} in {work / 'ssj.db'} …",
            flush=True,
        )
        setup(url, work, opts.task, env, root)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "ssj --help": [sys.executable, "-m", "bot.cli", "--help"],
            "ssj draw show": [
                sys.executable,
                "-m",
                "bot.cli",
                "--db",
                url,
                "draw",
                "show",
                "--task",
                opts.task,
            ],
        }
        for cmd in commands.values():  # warm the page cache and the .pyc files
            cpu_of(cmd, env, root)
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        wall: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(opts.runs):
            for name, cmd in commands.items():
                c, w = cpu_of(cmd, env, root)
                cpu[name].append(c)
                wall[name].append(w)

    base = statistics.median(cpu["python -c pass"])
    print(f"\n{opts.runs} runs each, CPU time (user + sys) of the child process, seconds")
    print(
        f"{'command':<16}{'median':>8}{'min':>8}{'wall med':>10}{'x base':>8}"
        f"{'target':>8}{'of target':>11}"
    )
    missed: list[str] = []
    for name in commands:
        med, low = statistics.median(cpu[name]), min(cpu[name])
        target = TARGETS.get(name)
        share = f"{med / target:>10.0%}" if target else f"{'':>10}"
        print(
            f"{name:<16}{med:>8.3f}{low:>8.3f}{statistics.median(wall[name]):>10.3f}"
            f"{med / base:>8.1f}{target if target else '':>8} {share}"
        )
        if target and med > target:
            missed.append(name)
    print(
        "\n"
        + ("targets met: " if not missed else "targets MISSED: ")
        + ", ".join(f"{n} <= {v} s" for n, v in TARGETS.items() if not missed or n in missed)
    )
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
