"""The pure working-day rules (bot/domain/workdays.py) against a fake oracle: overrides
win, unknown years fail closed, deadlines count working days after the start date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.model import DomainError
from bot.domain.workdays import Calendar, quarter_bounds, year_days
from bot.text import domain_message

from .strategies import examples

KNOWN = range(2030, 2033)  # the fake oracle's years
ONE = timedelta(days=1)


def fake_oracle(off=frozenset(), on=frozenset(), known=KNOWN):
    """Monday-Friday, minus ``off`` (holidays), plus ``on`` (adjusted working weekends);
    None outside ``known``."""

    def oracle(d: date):
        if d.year not in known:
            return None
        if d in on:
            return True
        if d in off:
            return False
        return d.weekday() < 5

    return oracle


def refused(code: str, fn, *args) -> dict:
    with pytest.raises(DomainError) as e:
        fn(*args)
    assert e.value.code == code, e.value.params
    assert domain_message(e.value)  # every code renders a Chinese message
    return e.value.params


CAL = Calendar(fake_oracle())
days = st.dates(date(2030, 1, 1), date(2031, 12, 31))
day_sets = st.frozensets(st.dates(date(2030, 1, 1), date(2032, 12, 31)), max_size=40)


@st.composite
def calendars(draw):
    overrides = draw(
        st.dictionaries(st.dates(date(2030, 1, 1), date(2032, 12, 31)), st.booleans(), max_size=20)
    )
    return Calendar(fake_oracle(draw(day_sets), draw(day_sets)), overrides)


# --- examples ------------------------------------------------------------------------


def test_start_day_is_not_counted_and_weekends_are_skipped():
    fri = date(2030, 1, 4)
    assert fri.weekday() == 4
    assert CAL.add_workdays(fri, 1) == date(2030, 1, 7)  # the Monday
    assert CAL.add_workdays(date(2030, 1, 5), 1) == date(2030, 1, 7)  # from a Saturday
    assert CAL.add_workdays(fri, 20) == date(2030, 2, 1)
    assert CAL.workdays_between(fri, date(2030, 2, 1)) == 20


def test_holidays_and_adjusted_working_days_of_the_oracle():
    cal = Calendar(fake_oracle(off={date(2030, 1, 7)}, on={date(2030, 1, 5)}))
    assert cal.add_workdays(date(2030, 1, 4), 1) == date(2030, 1, 5)  # the 班 Saturday
    assert cal.add_workdays(date(2030, 1, 4), 2) == date(2030, 1, 8)  # Monday is off


def test_overrides_win_over_the_oracle():
    mon, sun = date(2030, 1, 7), date(2030, 1, 6)
    cal = Calendar(fake_oracle(), {mon: False, sun: True})
    assert not cal.is_workday(mon) and cal.is_workday(sun)
    assert cal.add_workdays(date(2030, 1, 4), 1) == sun
    assert cal.add_workdays(date(2030, 1, 4), 2) == date(2030, 1, 8)


def test_overrides_are_copied():
    entered = {date(2030, 1, 7): False}
    cal = Calendar(fake_oracle(), entered)
    entered[date(2030, 1, 7)] = True
    assert not cal.is_workday(date(2030, 1, 7))


def test_unknown_year_fails_closed():
    params = refused("calendar_unknown_year", CAL.is_workday, date(2099, 1, 5))
    assert params == {"year": 2099, "day": "2099-01-05"}
    # a deadline running into an unknown year fails at its first undecided day
    params = refused("calendar_unknown_year", CAL.add_workdays, date(2032, 12, 20), 20)
    assert params["day"] == "2033-01-01"
    refused("calendar_unknown_year", CAL.workdays_between, date(2032, 12, 1), date(2033, 1, 3))
    refused("calendar_unknown_year", CAL.last_workday_of, 2033, 1)


def test_overrides_decide_only_their_own_dates_of_an_unknown_year():
    cal = Calendar(fake_oracle(), {date(2099, 1, 5): True, date(2099, 1, 6): False})
    assert cal.is_workday(date(2099, 1, 5)) and not cal.is_workday(date(2099, 1, 6))
    assert cal.add_workdays(date(2099, 1, 4), 1) == date(2099, 1, 5)
    # the 7th was not entered: no Monday-to-Friday guess, the deadline fails
    assert (
        refused("calendar_unknown_year", cal.add_workdays, date(2099, 1, 4), 2)["day"]
        == "2099-01-07"
    )


@pytest.mark.parametrize("n", [0, -1, True, 2.0, "3"])
def test_count_must_be_a_positive_integer(n):
    assert refused("calendar_bad_count", CAL.add_workdays, date(2030, 1, 4), n) == {"n": n}


def test_quarters():
    assert quarter_bounds(2030, 1) == (date(2030, 1, 1), date(2030, 3, 31))
    assert quarter_bounds(2030, 4) == (date(2030, 10, 1), date(2030, 12, 31))
    for q in (0, 5, True):
        refused("calendar_bad_quarter", quarter_bounds, 2030, q)
    cal = Calendar(fake_oracle(off={date(2030, 1, 1), date(2030, 12, 31)}))
    assert cal.first_workday_of(2030, 1) == date(2030, 1, 2)
    assert cal.last_workday_of(2030, 4) == date(2030, 12, 30)
    assert cal.last_workday_of(2030, 1) == date(2030, 3, 29)  # the 30th/31st: weekend
    assert cal.first_workday_of(2030, 2) == date(2030, 4, 1)


def test_a_calendar_without_working_days_is_an_error_not_a_hang():
    never = Calendar(lambda d: False)
    refused("calendar_no_workday", never.add_workdays, date(2030, 1, 1), 1)
    assert refused("calendar_no_workday", never.first_workday_of, 2030, 3) == {
        "start": "2030-07-01",
        "days": 92,
    }


def test_year_days():
    assert len(year_days(2030)) == 365 and len(year_days(2032)) == 366


# --- properties ----------------------------------------------------------------------


@settings(max_examples=examples(300), deadline=None)
@given(calendars(), days, st.integers(1, 60))
def test_deadline_is_the_nth_working_day_after_start(cal, start, n):
    due = cal.add_workdays(start, n)
    assert due > start
    assert cal.is_workday(due)
    assert cal.workdays_between(start, due) == n
    assert cal.workdays_between(start, due - ONE) == n - 1  # and not a day later than needed


@settings(max_examples=examples(200), deadline=None)
@given(calendars(), days, st.integers(1, 30), st.integers(1, 30))
def test_deadlines_compose(cal, start, m, n):
    assert cal.add_workdays(cal.add_workdays(start, m), n) == cal.add_workdays(start, m + n)


@settings(max_examples=examples(200), deadline=None)
@given(calendars(), days, days, days)
def test_counting_is_additive_and_antisymmetric(cal, a, b, c):
    assert cal.workdays_between(a, b) == -cal.workdays_between(b, a)
    assert cal.workdays_between(a, b) + cal.workdays_between(b, c) == cal.workdays_between(a, c)
    assert cal.workdays_between(a, a) == 0


@settings(max_examples=examples(200), deadline=None)
@given(day_sets, day_sets, st.dictionaries(days, st.booleans(), max_size=20), days)
def test_an_override_always_wins(off, on, overrides, d):
    cal = Calendar(fake_oracle(off, on), overrides)
    assert cal.is_workday(d) == overrides.get(d, fake_oracle(off, on)(d))
    for day, value in overrides.items():
        assert cal.is_workday(day) is value


@settings(max_examples=examples(100), deadline=None)
@given(calendars(), st.sampled_from(list(KNOWN)), st.integers(1, 4))
def test_first_and_last_working_day_of_a_quarter(cal, year, quarter):
    first, last = quarter_bounds(year, quarter)
    lo, hi = cal.first_workday_of(year, quarter), cal.last_workday_of(year, quarter)
    assert first <= lo <= hi <= last and cal.is_workday(lo) and cal.is_workday(hi)
    assert cal.workdays_between(first - ONE, lo) == 1
    assert cal.workdays_between(hi, last) == 0


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(1900, 2200).filter(lambda y: y not in KNOWN), st.integers(1, 365))
def test_any_date_of_an_unknown_year_is_undecided(year, ordinal):
    d = date(year, 1, 1) + timedelta(days=ordinal - 1)
    assert refused("calendar_unknown_year", CAL.is_workday, d)["year"] == d.year
