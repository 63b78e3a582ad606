"""The library import is dated by the caller's clock, not the wall clock."""

from __future__ import annotations

import csv
from datetime import datetime

from sqlalchemy import select

from bot.demo import write_library
from bot.services import library
from storage.models import InspectorRow


async def test_a_changed_row_is_dated_by_the_clock_passed_in(bot, tmp_path):
    path = write_library(tmp_path / "csv", fmt="csv")["inspectors"]
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header, first = rows[0], rows[1]
    first[header.index("业务专长")] = "固体废物"  # one person's field changes
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    then = datetime(2027, 3, 9, 14, 30)
    async with bot.sf() as s, s.begin():
        out = await library.import_file(s, bot.settings, "inspectors", path, "test", now=then)
    assert out.ok and out.updated == 1, out
    async with bot.sf() as s:
        changed = await s.scalar(
            select(InspectorRow).where(InspectorRow.cert == first[header.index("执法证号")])
        )
        others = (
            await s.execute(select(InspectorRow.updated_at).where(InspectorRow.id != changed.id))
        ).scalars()
    assert changed.expertise == ["固体废物"]
    assert changed.updated_at == then
    assert then not in set(others)
