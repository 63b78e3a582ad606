"""A draw's inputs as one JSON document, and its digest.

The shell stores the snapshot with the draw; ``ssj draw verify`` (or anyone holding the
published snapshot and the revealed seed) rebuilds the inputs and recomputes the draw.

``ssj-snapshot/2`` (draws of ``Rules.method`` 3) records with every pool object its
信用风险分类 as derived when drawn (``risk_class``), besides the inputs of the derivation
(the library column ``risk``, 环境信用评级, 绩效分级, 正面清单, and each object's
``problems`` in the history); ``recorded_classes`` reads them back so a verifier can
derive them again and compare. ``ssj-snapshot/1`` (earlier draws) has no classes; its
rules carry no ``method`` and are replayed with method 2.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import Enterprise, History, Inspector, Rules, TaskSpec
from .risk import classify

FORMAT_V1 = "ssj-snapshot/1"
FORMAT = "ssj-snapshot/2"


@dataclass(frozen=True)
class DrawInputs:
    pool: tuple[Enterprise, ...]
    inspectors: tuple[Inspector, ...]
    conflicts: frozenset[tuple[str, str]]
    history: Mapping[str, History]
    rules: Rules
    spec: TaskSpec


def make(
    pool: Sequence[Enterprise],
    inspectors: Sequence[Inspector],
    conflicts: Iterable[tuple[str, str]],
    history: Mapping[str, History],
    rules: Rules,
    spec: TaskSpec,
    classes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The snapshot; method 3 adds each pool object's class (``classes``, or derived)."""
    if rules.method >= 3:
        classes = classes if classes is not None else classify(pool, history, spec.year, rules)
        pool_json = [
            {**o.to_json(), "risk_class": classes[o.uscc]}
            for o in sorted(pool, key=lambda o: o.uscc)
        ]
    else:
        pool_json = [o.to_json() for o in sorted(pool, key=lambda o: o.uscc)]
    return {
        "format": FORMAT if rules.method >= 3 else FORMAT_V1,
        "spec": spec.to_json(),
        "rules": rules.to_json(),
        "pool": pool_json,
        "inspectors": [p.to_json() for p in sorted(inspectors, key=lambda p: p.cert)],
        "conflicts": sorted([list(c) for c in conflicts]),
        "history": {u: h.to_json() for u, h in sorted(history.items())},
    }


def inputs(snapshot: dict[str, Any]) -> DrawInputs:
    return DrawInputs(
        tuple(Enterprise.from_json(o) for o in snapshot["pool"]),
        tuple(Inspector.from_json(p) for p in snapshot["inspectors"]),
        frozenset((c[0], c[1]) for c in snapshot["conflicts"]),
        {u: History.from_json(h) for u, h in snapshot["history"].items()},
        Rules.from_json(snapshot["rules"]),
        TaskSpec.from_json(snapshot["spec"]),
    )


def recorded_classes(snapshot: dict[str, Any]) -> dict[str, str]:
    """{USCC: class} as the snapshot recorded them ({} for ssj-snapshot/1)."""
    return {o["uscc"]: o["risk_class"] for o in snapshot["pool"] if "risk_class" in o}


def derived_classes(inp: DrawInputs) -> dict[str, str]:
    """The classes the snapshot's inputs give ({} for draws of method 2)."""
    if inp.rules.method < 3:
        return {}
    return classify(inp.pool, inp.history, inp.spec.year, inp.rules)


def canonical(doc: object) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(snapshot: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON (sorted keys, no spaces, UTF-8)."""
    return hashlib.sha256(canonical(snapshot).encode("utf-8")).hexdigest()
