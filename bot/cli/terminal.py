"""Terminal output: aligned tables that respect CJK width, progress on a TTY only."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from functools import lru_cache

from bot.text import t


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, w: int) -> str:
    return text + " " * (w - width(text))


def table(headers: list[str], rows: list[list], out=None, max_col: int = 48) -> None:
    out = out or sys.stdout
    cells = [[_clip(str(c), max_col) for c in r] for r in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        print("  ".join(pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _clip(text: str, limit: int) -> str:
    if width(text) <= limit:
        return text
    out, w = "", 0
    for c in text:
        cw = width(c)
        if w + cw > limit - 1:
            break
        out, w = out + c, w + cw
    return out + "…"


class Progress:
    """``progress(stage, done, total)`` callback drawing one updating line on stderr.

    Silent unless stderr is a terminal and JSON output was not asked for.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = "#" * int(20 * done / max(total, 1))
        sys.stderr.write(f"\r{t('cli.progress', stage=stage, done=done, total=total)} [{bar:<20}]")
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def print_json(doc) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2))


@lru_cache(maxsize=1)
def _argparse_catalog() -> dict:
    return json.loads(t("argparse.catalog"))


def chinese_argparse() -> None:
    """Make argparse's own messages Chinese (it looks its gettext function up at call time)."""
    catalog = _argparse_catalog()
    argparse._ = lambda msg: catalog.get(msg, msg)  # type: ignore[attr-defined]
