"""What every import reports (the libraries, declared conflicts, imported history), and
the progress callback the command line passes in.

``library`` and ``history`` both use these; ``library`` hands ``history`` files on, so
they live here, below both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sheets.library_io import RowError

Progress = Callable[[str, int, int], None]


@dataclass
class ImportOutcome:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
