"""多项合一: which items of the list one visit to an object covers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .model import Category

AUTOMATIC_MONITORING = "自动监控"


def applicable(
    items: Iterable[tuple[int, str, str]], pollutants: Sequence[str], category: Category | str
) -> list[tuple[int, str]]:
    """(seq, name) of every item that applies: items tagged with a pollutant type apply
    when the object has it; untagged items apply to every object; automatic-monitoring
    checks apply to key objects (they are required to install monitoring)."""
    tags = set(pollutants)
    if Category(category) is Category.KEY:
        tags.add(AUTOMATIC_MONITORING)
    return [(seq, name) for seq, name, tag in items if not tag or tag in tags]
