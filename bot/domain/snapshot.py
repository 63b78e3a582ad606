"""A draw's inputs as one JSON document, and its digest.

The shell stores the snapshot with the draw; ``ssj draw verify`` (or anyone holding the
published snapshot and the revealed seed) rebuilds the inputs and recomputes the draw.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

from .model import Enterprise, History, Inspector, Rules, TaskSpec

FORMAT = "ssj-snapshot/1"


@dataclass(frozen=True)
class DrawInputs:
    pool: tuple[Enterprise, ...]
    inspectors: tuple[Inspector, ...]
    conflicts: frozenset
    history: Mapping[str, History]
    rules: Rules
    spec: TaskSpec


def make(pool: Sequence[Enterprise], inspectors: Sequence[Inspector], conflicts,
         history: Mapping[str, History], rules: Rules, spec: TaskSpec) -> dict:
    return {
        "format": FORMAT,
        "spec": spec.to_json(),
        "rules": rules.to_json(),
        "pool": [o.to_json() for o in sorted(pool, key=lambda o: o.uscc)],
        "inspectors": [p.to_json() for p in sorted(inspectors, key=lambda p: p.cert)],
        "conflicts": sorted([list(c) for c in conflicts]),
        "history": {u: h.to_json() for u, h in sorted(history.items())},
    }


def inputs(snapshot: dict) -> DrawInputs:
    return DrawInputs(
        tuple(Enterprise.from_json(o) for o in snapshot["pool"]),
        tuple(Inspector.from_json(p) for p in snapshot["inspectors"]),
        frozenset((c[0], c[1]) for c in snapshot["conflicts"]),
        {u: History.from_json(h) for u, h in snapshot["history"].items()},
        Rules.from_json(snapshot["rules"]),
        TaskSpec.from_json(snapshot["spec"]),
    )


def canonical(doc) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(snapshot: dict) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(canonical(snapshot).encode("utf-8")).hexdigest()
