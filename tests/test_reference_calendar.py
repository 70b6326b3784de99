"""The reference calendar (market holidays and sales events) and the simulator's lift of it."""

from datetime import date

import pytest

from ml.reference import calendar
from ml.simulator.calendar import EVENT_NAMES, event_lift

YEARS = range(2020, 2031)


def test_every_sales_event_is_named_and_runs_on_known_marketplaces():
    for year in YEARS:
        for event in calendar.sales_events(year):
            assert event.name in calendar.SALES_EVENT_NAMES
            assert set(event.marketplaces) <= set(calendar.EVENT_MARKETPLACES)
            assert event.start.year == year and event.days >= 1


def test_event_days_number_each_day_and_later_events_win():
    us = calendar.event_days("US", 2024)
    assert us[date(2024, 11, 29)] == ("black_friday", 1)
    assert us[date(2024, 12, 21)] == ("christmas_run_up", 1)  # the run-up's second part
    # Thanksgiving 2024 is on 28 November: Cyber Monday (2 December) is a Christmas run-up day
    assert us[date(2024, 12, 2)] == ("christmas_run_up", 2)
    assert date(2024, 4, 29) not in us  # Golden Week is Japan's
    assert calendar.event_days("JP", 2024)[date(2024, 4, 29)] == ("golden_week", 1)


def test_holidays_by_the_reference_country():
    assert calendar.holiday_country("UK") == "GB"  # from the marketplace reference seed
    assert calendar.holiday_country("ZZ") == "ZZ"
    assert date(2025, 12, 26) in calendar.holiday_dates("GB", 2025)
    assert calendar.holiday_dates("ZZ", 2025) == frozenset()


@pytest.mark.parametrize("year", YEARS)
def test_the_simulator_lifts_every_day_of_every_event(year):
    assert EVENT_NAMES == (*calendar.SALES_EVENT_NAMES, "public_holiday")
    for event in calendar.sales_events(year):
        lift = event_lift(event)
        assert len(lift) == event.days and all(x > 0 for x in lift), event
