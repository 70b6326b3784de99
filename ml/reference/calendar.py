"""Market calendars: public holidays and marketplace sales events.

Reference data, not a model of demand: the simulator lifts its demand on these days
(``ml.simulator.calendar``), the forecast turns them into features (``ml.forecast.calendar``)
and pricing will plan around them. Public holidays come from the maintained ``holidays`` library
by the marketplace's country (the reference seed's ``country``: UK keeps GB's holidays); sales
events (Black Friday, Prime Day, Singles' Day, Buen Fin, Golden Week, ...) are public retail
dates encoded here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

import holidays

from .marketplaces import marketplace_values

# Every sales event, in a fixed order (the forecast numbers its event feature by it: append new
# events at the end).
SALES_EVENT_NAMES: tuple[str, ...] = (
    "black_friday",
    "cyber_monday",
    "black_friday_weekend",
    "black_friday_week",
    "prime_day",
    "prime_big_deal_days",
    "singles_day",
    "click_frenzy",
    "buen_fin",
    "hot_sale",
    "golden_week",
    "christmas_run_up",
    "christmas_eve",
    "christmas_day",
    "boxing_day",
    "new_year_sale",
)

# The marketplaces the event calendar covers.
EVENT_MARKETPLACES = ("US", "CA", "MX", "UK", "DE", "FR", "IT", "ES", "JP", "AU")
EU_UK = ("UK", "DE", "FR", "IT", "ES")

# Known Prime Day dates; later years follow the usual second-week-of-July pattern.
_PRIME_DAY = {
    2023: (date(2023, 7, 11), 2),
    2024: (date(2024, 7, 16), 2),
    2025: (date(2025, 7, 8), 4),
}
_BIG_DEAL_DAYS = {2024: date(2024, 10, 8), 2025: date(2025, 10, 7)}


class SalesEvent(NamedTuple):
    name: str  # one of SALES_EVENT_NAMES
    start: date  # first day
    days: int
    marketplaces: tuple[str, ...]  # marketplace codes it runs on


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


def sales_events(year: int) -> list[SalesEvent]:
    """The sales events of one calendar year. Where two overlap on a marketplace the later one
    in the list names the day (a Cyber Monday on 1 or 2 December is a Christmas run-up day).
    The Christmas run-up is listed as two events (1-20 and 21-23 December)."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    bf = thanksgiving + timedelta(days=1)
    pd_start, pd_days = _PRIME_DAY.get(year, (_nth_weekday(year, 7, 1, 2), 2))
    bdd = _BIG_DEAL_DAYS.get(year, _nth_weekday(year, 10, 1, 2))
    revolution_day = _nth_weekday(year, 11, 0, 3)  # Buen Fin ends on this Monday
    all_m = EVENT_MARKETPLACES
    non_jp = tuple(m for m in all_m if m != "JP")
    return [
        SalesEvent("black_friday_week", bf - timedelta(days=7), 7, all_m),
        SalesEvent("black_friday", bf, 1, all_m),
        SalesEvent("black_friday_weekend", bf + timedelta(days=1), 2, all_m),
        SalesEvent("cyber_monday", bf + timedelta(days=3), 1, all_m),
        SalesEvent("prime_day", pd_start, pd_days, all_m),
        SalesEvent("prime_big_deal_days", bdd, 2, ("US", "CA", "JP") + EU_UK),
        SalesEvent("singles_day", date(year, 11, 11), 1, tuple(m for m in all_m if m != "AU")),
        SalesEvent("click_frenzy", _nth_weekday(year, 11, 1, 2), 3, ("AU",)),
        SalesEvent("buen_fin", revolution_day - timedelta(days=3), 4, ("MX",)),
        SalesEvent("hot_sale", _last_weekday(year, 5, 0), 9, ("MX",)),
        SalesEvent("golden_week", date(year, 4, 29), 7, ("JP",)),
        SalesEvent("christmas_run_up", date(year, 12, 1), 20, non_jp),
        SalesEvent("christmas_run_up", date(year, 12, 21), 3, non_jp),
        SalesEvent("christmas_eve", date(year, 12, 24), 1, non_jp),
        SalesEvent("christmas_day", date(year, 12, 25), 1, non_jp),
        SalesEvent("boxing_day", date(year, 12, 26), 1, ("UK", "CA", "AU")),
        SalesEvent("new_year_sale", date(year, 1, 2), 2, ("JP",)),
    ]


@lru_cache(maxsize=256)
def event_days(marketplace: str, year: int) -> Mapping[date, tuple[str, int]]:
    """Day -> (sales event, day number within the event, from 1) on one marketplace in one
    year; later events in ``sales_events`` win."""
    out: dict[date, tuple[str, int]] = {}
    for event in sales_events(year):
        if marketplace in event.marketplaces:
            for k in range(event.days):
                out[event.start + timedelta(days=k)] = (event.name, k + 1)
    return MappingProxyType(out)


@lru_cache(maxsize=256)
def holiday_dates(country: str, year: int) -> frozenset[date]:
    """Public holidays of a country (a code of the ``holidays`` library, e.g. GB) in one year;
    none for a country the library does not know."""
    try:
        return frozenset(holidays.country_holidays(country, years=[year]).keys())
    except NotImplementedError:
        return frozenset()


def holiday_country(marketplace: str) -> str:
    """The country whose public holidays a marketplace keeps: the reference seed's ``country``
    (UK -> GB), else the code itself."""
    return marketplace_values("country").get(marketplace) or marketplace
