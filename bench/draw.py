"""National-scale benchmark of the pure draw.

    .venv/bin/python bench/draw.py [--objects 1000000] [--inspectors 45000] [--bureaus 2800]
                                   [--plain] [--profile]

Builds a synthetic library (not timed): objects (~15 % key, 80 % general, 5 % special, a
few 关闭/停产, ~0.5 % with 辐射) and inspectors (~8 % 辐射 experts, a few 离岗 and 辅助人员)
spread over county bureaus (行政区划 codes). Each bureau staffs only its own objects from
its own inspectors, so a national or provincial quarterly draw is one pure ``draw()`` per
bureau. Unless ``--plain``, the objects also carry what risk classes are derived from
(信用风险分类 for ~20 %, 环境信用评级 警示/不良/环保诚信, 绩效分级 A/D, 正面清单) and
each bureau a history (~40 % of its objects drawn in 2024–2026, some with a problem
found), drawn from a generator of their own so the base library is the same either way.
Then measures:

1. tickets: ``Tickets.many`` over every object id and a sort by (ticket, id);
2. the reference: ``consistent_sampler.sampler(ids, seed, output='id')`` over the same ids,
   and whether the order is identical;
3. the whole draw: every bureau's 2027 Q1 ``draw()`` (risk classes, the three-step
   quota, teams); with ``--plain``, untagged objects and empty history.

Peak RSS is measured by a psutil thread sampling this process's RSS every 2 ms while the
phase runs (reported as the absolute peak and the increase over the RSS at the start of
the phase); ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the kernel's lifetime peak) is
printed as a cross-check. Phase 3 runs first, right after the library is built, so its
peak is not inflated by the large temporaries of phases 1-2.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import os
import pstats
import random
import resource
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import consistent_sampler  # noqa: E402
import psutil  # noqa: E402

from bot.domain.draw import draw  # noqa: E402
from bot.domain.model import (  # noqa: E402
    Category,
    DomainError,
    Duty,
    Enterprise,
    History,
    Inspector,
    PersonKind,
    Rules,
    Status,
    TaskSpec,
)
from bot.domain.tickets import Tickets  # noqa: E402
from bot.domain.uscc import ALPHABET, WEIGHTS, is_valid_uscc  # noqa: E402

TICKET_RATIO_TARGET = 3.0
DRAW_SECONDS_TARGET = 10.0
DRAW_RSS_TARGET = 2 * 1024**3
MB = 1024**2
RAD = "辐射"

# Province-level 行政区划 prefixes (the 31 of the mainland).
PROVINCES = (
    11,
    12,
    13,
    14,
    15,
    21,
    22,
    23,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    41,
    42,
    43,
    44,
    45,
    46,
    50,
    51,
    52,
    53,
    54,
    61,
    62,
    63,
    64,
    65,
)


# ---------------------------------------------------------------- memory sampling


class PeakRSS:
    """Samples this process's RSS in a thread; ``peak`` and ``start`` in bytes."""

    def __init__(self, interval: float = 0.002):
        self.proc = psutil.Process()
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.proc.memory_info().rss
            if rss > self.peak:
                self.peak = rss
            self._stop.wait(self.interval)

    def __exit__(self, *exc) -> None:
        rss = self.proc.memory_info().rss
        self.peak = max(self.peak, rss)
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    @property
    def delta(self) -> int:
        return self.peak - self.start


def ru_maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


# ---------------------------------------------------------------- synthetic library


@dataclass
class Bureau:
    code: str
    objects: list[Enterprise] = field(default_factory=list)
    inspectors: list[Inspector] = field(default_factory=list)
    conflicts: frozenset = frozenset()
    seed: str = ""
    history: dict = field(default_factory=dict)


def bureau_codes(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct county-level codes: province (2) + city (2) + county (2) digits."""
    codes: set[str] = set()
    while len(codes) < n:
        codes.add(f"{rng.choice(PROVINCES):02d}{rng.randint(1, 40):02d}{rng.randint(1, 30):02d}")
    return sorted(codes)


def _value(c: str) -> int:
    return ALPHABET.index(c)


# check character of "91" + region(6) + serial(9): weighted sums of the fixed part plus
# three 3-digit groups of the serial, from tables (building 1,000,000 codes fast).
_GROUP_TABLES = [
    [sum(int(d) * WEIGHTS[8 + 3 * g + k] for k, d in enumerate(f"{v:03d}")) for v in range(1000)]
    for g in range(3)
]


def _prefix_sum(prefix8: str) -> int:
    return sum(_value(c) * w for c, w in zip(prefix8, WEIGHTS, strict=False))  # the first 8 weights


def uscc_for(prefix_sum: int, prefix8: str, serial: int) -> str:
    t0, t1, t2 = _GROUP_TABLES
    total = prefix_sum + t0[serial // 1_000_000] + t1[serial // 1000 % 1000] + t2[serial % 1000]
    return f"{prefix8}{serial:09d}{ALPHABET[(31 - total % 31) % 31]}"


def split(total: int, weights: list[float]) -> list[int]:
    s = sum(weights)
    counts = [int(total * w / s) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def build(n_objects: int, n_inspectors: int, n_bureaus: int, seed: int = 20270101) -> list[Bureau]:
    rng = random.Random(seed)
    codes = bureau_codes(n_bureaus, rng)
    weights = [rng.uniform(0.4, 1.6) for _ in codes]  # bureaus differ in size
    obj_counts = split(n_objects, weights)
    insp_counts = split(n_inspectors, weights)
    pollutant_sets = [
        ("废水",),
        ("废气",),
        ("废水", "废气"),
        ("固体废物",),
        ("噪声",),
        ("废气", "危险废物"),
        (),
    ]
    rad_sets = [p + (RAD,) for p in pollutant_sets]
    cats = [Category.KEY] * 15 + [Category.GENERAL] * 80 + [Category.SPECIAL] * 5
    bureaus: list[Bureau] = []
    cert_no = 0
    for code, n_obj, n_insp in zip(codes, obj_counts, insp_counts, strict=True):
        b = Bureau(code)
        prefix8 = "91" + code
        psum = _prefix_sum(prefix8)
        rand = rng.random
        objs = b.objects
        for j in range(n_obj):
            r = rand()
            status = Status.CLOSED if r < 0.01 else Status.STOPPED if r < 0.04 else Status.RUNNING
            polls = rng.choice(rad_sets if rand() < 0.005 else pollutant_sets)
            objs.append(
                Enterprise(
                    uscc_for(psum, prefix8, j),
                    f"企业{code}-{j}",
                    cats[int(rand() * 100)],
                    polls,
                    status,
                    code,
                )
            )
        n_insp = max(n_insp, 6)
        n_experts = max(1, round(n_insp * 0.08))
        for k in range(n_insp):
            cert_no += 1
            kind = PersonKind.AUXILIARY if k >= 5 and rand() < 0.03 else PersonKind.OFFICER
            duty = Duty.OFF if k >= 5 and rand() < 0.05 else Duty.ON
            skills = (RAD,) if k < n_experts else ()
            b.inspectors.append(
                Inspector(
                    f"{code}{cert_no:07d}",
                    f"检查员{cert_no}",
                    "" if rand() < 0.5 else "生态环境",
                    kind,
                    duty,
                    skills,
                    code,
                )
            )
        # a few declared conflicts (about one per 200 objects)
        pairs = set()
        for _ in range(n_obj // 200):
            pairs.add((rng.choice(b.inspectors).cert, rng.choice(objs).uscc))
        b.conflicts = frozenset(pairs)
        b.seed = hashlib.sha256(f"bench-secret-{code}".encode()).hexdigest() + ":"
        bureaus.append(b)
    return bureaus


def add_risk(bureaus: list[Bureau], seed: int = 20270102) -> None:
    """Risk tags and a history, from a generator of their own (see the module doc)."""
    from dataclasses import replace

    rng = random.Random(seed)
    rand = rng.random
    for b in bureaus:
        objs = b.objects
        for j, o in enumerate(objs):
            r = rand()
            if r < 0.2:
                objs[j] = replace(o, risk="ABCD"[int(rand() * 4)])
            elif r < 0.27:
                objs[j] = replace(o, credit="警示" if rand() < 0.7 else "不良")
            elif r < 0.37:
                objs[j] = replace(o, credit="环保诚信企业")
            elif r < 0.45:
                objs[j] = replace(o, grade="A" if rand() < 0.6 else "D")
            elif r < 0.5:
                objs[j] = replace(o, positive=True)
            if rand() < 0.4:
                problems = ()
                if rand() < 0.15:
                    problems = ((2026, 2 if rand() < 0.7 else 3),)
                b.history[o.uscc] = History(
                    0, last_period=(2024 + int(rand() * 3), 1 + int(rand() * 4)), problems=problems
                )


# ---------------------------------------------------------------- phases


def phase_draw(bureaus: list[Bureau], rules: Rules, spec: TaskSpec, profile: bool):
    selections = slots = 0
    refused: Counter = Counter()
    prof = cProfile.Profile() if profile else None
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        c0 = time.thread_time()
        if prof:
            prof.enable()
        for b in bureaus:
            try:
                res = draw(b.objects, b.inspectors, b.conflicts, b.history, rules, spec, b.seed)
            except DomainError as e:
                refused[(e.code, e.params.get("reason"))] += 1
                continue
            selections += len(res.selections)
            slots += sum(len(s.inspectors) for s in res.selections)
        if prof:
            prof.disable()
        wall = time.perf_counter() - t0
        phase_draw.cpu = time.thread_time() - c0  # this thread only: not the RSS sampler
    return wall, mem, selections, slots, refused, prof


def phase_tickets(ids: list[str], seed: str):
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        tickets = Tickets(seed).many(ids)
        order = [i for _, i in sorted(zip(tickets, ids, strict=True))]
        wall = time.perf_counter() - t0
        del tickets
    return wall, mem, order


def phase_reference(ids: list[str], seed: str):
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        order = list(consistent_sampler.sampler(ids, seed, output="id"))
        wall = time.perf_counter() - t0
    return wall, mem, order


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--inspectors", type=int, default=45_000)
    ap.add_argument("--bureaus", type=int, default=2_800)
    ap.add_argument("--seed", default="0f" * 32 + ":3-1-4-1-5")
    ap.add_argument(
        "--plain",
        action="store_true",
        help="untagged objects and empty history (the library before risk classes)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="run the draw phase under cProfile and print the top functions",
    )
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    bureaus = build(args.objects, args.inspectors, args.bureaus)
    if not args.plain:
        add_risk(bureaus)
    n_obj = sum(len(b.objects) for b in bureaus)
    n_insp = sum(len(b.inspectors) for b in bureaus)
    sample = [o.uscc for b in bureaus[:50] for o in b.objects[:20]]
    assert all(is_valid_uscc(u) for u in sample)
    cats = Counter(o.category for b in bureaus for o in b.objects)
    gen_s = time.perf_counter() - t0
    rss0 = psutil.Process().memory_info().rss
    print(
        f"library: {n_obj:,} objects (key {cats[Category.KEY]:,}, general "
        f"{cats[Category.GENERAL]:,}, special {cats[Category.SPECIAL]:,}; "
        f"关闭 {sum(o.status is Status.CLOSED for b in bureaus for o in b.objects):,}; "
        f"辐射 {sum(RAD in o.pollutants for b in bureaus for o in b.objects):,}), "
        f"{n_insp:,} inspectors "
        f"({sum(RAD in p.expertise for b in bureaus for p in b.inspectors):,} 辐射 experts) "
        f"in {len(bureaus):,} bureaus; built in {gen_s:.1f} s (not timed), "
        f"RSS {rss0 / MB:,.0f} MB",
        flush=True,
    )
    if not args.plain:
        tagged = sum(
            1 for b in bureaus for o in b.objects if o.risk or o.credit or o.grade or o.positive
        )
        print(
            f"risk data: {tagged:,} objects tagged, "
            f"{sum(len(b.history) for b in bureaus):,} with a history",
            flush=True,
        )

    rules = Rules()
    spec = TaskSpec("2027Q1", year=2027, quarter=1, on=date(2027, 1, 1))
    d_wall, d_mem, n_sel, n_slots, refused, prof = phase_draw(bureaus, rules, spec, args.profile)
    d_maxrss = ru_maxrss_bytes()
    print(f"draw done in {d_wall:.2f} s", flush=True)

    ids = [o.uscc for b in bureaus for o in b.objects]
    t_wall, t_mem, ours = phase_tickets(ids, args.seed)
    print(f"tickets done in {t_wall:.2f} s", flush=True)
    r_wall, r_mem, ref = phase_reference(ids, args.seed)
    identical = ours == ref
    ratio = r_wall / t_wall
    del ref, ours
    gc.collect()

    draw_ok = d_wall <= DRAW_SECONDS_TARGET
    rss_ok = d_mem.peak <= DRAW_RSS_TARGET
    rows = [
        ("phase", "wall s", "peak RSS MB", "RSS Δ MB", "notes", "target", "result"),
        (
            f"(1) tickets: Tickets.many + sort, {len(ids):,} ids",
            f"{t_wall:.2f}",
            f"{t_mem.peak / MB:,.0f}",
            f"{t_mem.delta / MB:,.0f}",
            "",
            "",
            "",
        ),
        (
            "(2) reference: consistent_sampler.sampler",
            f"{r_wall:.2f}",
            f"{r_mem.peak / MB:,.0f}",
            f"{r_mem.delta / MB:,.0f}",
            f"ratio ref/ours {ratio:.1f}x",
            f">= {TICKET_RATIO_TARGET:.0f}x",
            verdict(ratio >= TICKET_RATIO_TARGET),
        ),
        (
            "    order identical to the reference",
            "",
            "",
            "",
            str(identical),
            "True",
            verdict(identical),
        ),
        (
            f"(3) whole draw: {len(bureaus):,} bureaus x draw(), Q1",
            f"{d_wall:.2f}",
            f"{d_mem.peak / MB:,.0f}",
            f"{d_mem.delta / MB:,.0f}",
            f"{n_sel:,} selections, {n_slots:,} team slots; CPU {phase_draw.cpu:.2f} s",
            f"<= {DRAW_SECONDS_TARGET:.0f} s",
            verdict(draw_ok),
        ),
        (
            "    peak RSS during the draw (psutil, 2 ms)",
            "",
            f"{d_mem.peak / MB:,.0f}",
            "",
            f"ru_maxrss after draw {d_maxrss / MB:,.0f} MB",
            f"<= {DRAW_RSS_TARGET / MB:,.0f} MB",
            verdict(rss_ok),
        ),
    ]
    if refused:
        rows.append(
            (
                "    bureaus refused by draw()",
                "",
                "",
                "",
                ", ".join(f"{c}/{r}: {n}" for (c, r), n in refused.items()),
                "",
                "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print(
        f"\nRSS: peak = highest RSS seen by a psutil sampling thread (2 ms) during the "
        f"phase; Δ = peak minus RSS at phase start. ru_maxrss (lifetime peak) at exit: "
        f"{ru_maxrss_bytes() / MB:,.0f} MB"
    )
    if prof:
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print("\ncProfile of the draw phase (by own time):")
        print(out.getvalue())
    ok = identical and ratio >= TICKET_RATIO_TARGET and draw_ok and rss_ok
    print("ALL PASS" if ok else "SOME TARGETS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
