from datetime import datetime

import pytest

from .harness import Clock, Harness


@pytest.fixture
async def bot(db_url, tmp_path):
    h = Harness(db_url, Clock(datetime(2027, 1, 4, 9, 0)))
    await h.setup_library(tmp_path)
    yield h
    await h.close()
