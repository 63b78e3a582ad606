"""chinese-calendar's 2026 data, through our fail-closed oracle, against the State
Council's notice (国务院办公厅关于2026年部分节假日安排的通知, 国办发明电〔2025〕7号,
2025-11-04):

  元旦 1月1日至3日放假，1月4日（周日）上班；
  春节 2月15日至23日放假，2月14日（周六）、2月28日（周六）上班；
  清明节 4月4日至6日；劳动节 5月1日至5日，5月9日（周六）上班；端午节 6月19日至21日；
  中秋节 9月25日至27日；国庆节 10月1日至7日放假，9月20日（周日）、10月10日（周六）上班。
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar as cc
import pytest

from bot.domain.model import DomainError
from bot.domain.workdays import Calendar, year_days
from bot.services.calendar import holiday_name, oracle, supported_years

CAL = Calendar(oracle)
D = date


def span(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


OFF_WEEKDAYS_2026 = (
    [D(2026, 1, 1), D(2026, 1, 2)]
    + span(D(2026, 2, 16), D(2026, 2, 20))
    + [
        D(2026, 2, 23),
        D(2026, 4, 6),
        D(2026, 5, 1),
        D(2026, 5, 4),
        D(2026, 5, 5),
        D(2026, 6, 19),
        D(2026, 9, 25),
    ]
    + [D(2026, 10, d) for d in (1, 2, 5, 6, 7)]
)
WORK_WEEKENDS_2026 = [
    D(2026, 1, 4),
    D(2026, 2, 14),
    D(2026, 2, 28),
    D(2026, 5, 9),
    D(2026, 9, 20),
    D(2026, 10, 10),
]


def test_2026_is_known():
    assert 2026 in supported_years()
    assert all(oracle(d) is not None for d in year_days(2026))


def test_national_day_2026():
    for d in span(D(2026, 10, 1), D(2026, 10, 7)):
        assert not CAL.is_workday(d), d
        assert holiday_name(d) == "国庆节"
    # 调休上班: Sunday 20 September and Saturday 10 October
    for d in (D(2026, 9, 20), D(2026, 10, 10)):
        assert d.weekday() >= 5 and CAL.is_workday(d) and holiday_name(d) == "国庆节"
    # the holiday is 7 days (not 8 as in 2025): Thursday 8 October is an ordinary workday
    assert CAL.is_workday(D(2026, 10, 8)) and holiday_name(D(2026, 10, 8)) is None
    assert not CAL.is_workday(D(2026, 10, 11))  # the Sunday after stays a rest day
    # 中秋节 is separate this year: 25-27 September
    assert [CAL.is_workday(d) for d in span(D(2026, 9, 24), D(2026, 9, 28))] == [
        True,
        False,
        False,
        False,
        True,
    ]


def test_twenty_working_days_across_national_day():
    # Oct 8, 9, 10 (调休 Saturday), 12-16, 19-23, 26-30, Nov 2, Nov 3
    assert CAL.add_workdays(D(2026, 9, 30), 20) == D(2026, 11, 3)
    assert CAL.workdays_between(D(2026, 9, 30), D(2026, 11, 3)) == 20
    # the holiday costs 5 weekdays and gives back 1 Saturday: Monday-to-Friday counting
    # would give Wednesday 28 October, 4 working days too early
    assert CAL.workdays_between(D(2026, 10, 28), D(2026, 11, 3)) == 4
    # started in the holiday: the first working day is Thursday 8 October
    assert CAL.add_workdays(D(2026, 10, 3), 1) == D(2026, 10, 8)
    # the 调休 Sunday before it counts
    assert CAL.add_workdays(D(2026, 9, 18), 1) == D(2026, 9, 20)


def test_spring_festival_2026():
    for d in span(D(2026, 2, 15), D(2026, 2, 23)):
        assert not CAL.is_workday(d), d
        assert holiday_name(d) == "春节"
    for d in (D(2026, 2, 14), D(2026, 2, 28)):
        assert d.weekday() == 5 and CAL.is_workday(d)
    assert CAL.is_workday(D(2026, 2, 24))


def test_twenty_working_days_across_spring_festival():
    # From Thursday 12 February, by hand from the notice:
    #  1 Fri 13 Feb, 2 Sat 14 Feb (调休上班), 15-23 Feb off,
    #  3-6 Tue 24 - Fri 27 Feb, 7 Sat 28 Feb (调休上班), 8-12 2-6 Mar, 13-17 9-13 Mar,
    #  18 Mon 16, 19 Tue 17, 20 Wed 18 March.
    assert CAL.add_workdays(D(2026, 2, 12), 20) == D(2026, 3, 18)
    assert CAL.workdays_between(D(2026, 2, 12), D(2026, 3, 18)) == 20
    # the first working day after the eve of the holiday is the 调休 Saturday
    assert CAL.add_workdays(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert CAL.add_workdays(D(2026, 2, 14), 1) == D(2026, 2, 24)


def test_whole_year_2026_matches_the_notice():
    off, on = set(OFF_WEEKDAYS_2026), set(WORK_WEEKENDS_2026)
    for d in year_days(2026):
        expected = (d.weekday() < 5 and d not in off) or d in on
        assert CAL.is_workday(d) == expected, d
    # 261 weekdays - 19 weekday holidays + 6 调休 weekends
    assert CAL.workdays_between(D(2025, 12, 31), D(2026, 12, 31)) == 248


def test_quarter_edges_2026():
    assert CAL.first_workday_of(2026, 1) == D(2026, 1, 4)  # the 调休 Sunday after 元旦
    assert CAL.last_workday_of(2026, 3) == D(2026, 9, 30)
    assert CAL.first_workday_of(2026, 4) == D(2026, 10, 8)  # after the National Day holiday
    assert CAL.last_workday_of(2026, 4) == D(2026, 12, 31)


def test_a_year_beyond_the_library_fails_closed():
    beyond = max(supported_years()) + 1
    assert oracle(D(beyond, 3, 2)) is None  # not a weekday guess
    with pytest.raises(NotImplementedError):  # what the library itself does
        cc.is_workday(D(beyond, 3, 2))
    start = D(beyond - 1, 12, 10)
    with pytest.raises(DomainError) as e:
        CAL.add_workdays(start, 20)
    assert e.value.code == "calendar_unknown_year" and e.value.params["year"] == beyond
    assert oracle(D(2003, 6, 2)) is None  # before the library's first year


def test_a_year_with_only_stray_dates_is_not_known(monkeypatch):
    """chinese-calendar would accept a year once any of its dates is in its tables."""
    beyond = max(supported_years()) + 1
    monkeypatch.setitem(cc.holidays, D(beyond, 1, 1), "New Year's Day")
    supported_years.cache_clear()
    try:
        assert cc.is_workday(D(beyond, 3, 2))  # the library now guesses
        assert oracle(D(beyond, 3, 2)) is None  # we do not
    finally:
        monkeypatch.undo()
        supported_years.cache_clear()
