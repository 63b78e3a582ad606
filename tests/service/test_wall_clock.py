"""People's timestamps follow the bureau's wall clock (Asia/Shanghai), not the server's
time zone: with the server on UTC, a chat command's "now" (an inspection's 今天, accepted,
entered and reviewed times) and a draw's time are Beijing time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from bot import localtime
from bot.dispatch import Dispatcher
from bot.services import draws

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def server_on_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _close(a: datetime, b: datetime) -> bool:
    return abs(a - b) < timedelta(seconds=30)


async def test_chat_and_draw_times_are_beijing_time(bot, server_on_utc):
    beijing = datetime.now(BEIJING).replace(tzinfo=None)
    assert not _close(datetime.now(), beijing)  # the server really is on UTC here
    assert _close(localtime.now(), beijing)
    assert localtime.today() == beijing.date()
    assert _close(Dispatcher(bot.sf, bot.settings).clock(), beijing)
    async with bot.sf() as s, s.begin():
        run = await draws.run(s, bot.settings, "2027Q1", "test", localtime.now())
    async with bot.sf() as s:
        _, row = await draws.valid_draw(s, "2027Q1")
    assert run is not None and _close(row.drawn_at, beijing)
