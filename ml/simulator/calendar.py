"""The demand calendar: weekly and yearly seasonality, public holidays and sales events.

Everything here is a pure function of the date, so the ground truth can extend it to any day
beyond the simulated history.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

# Day-of-week demand (Monday first); online shopping peaks on Sunday/Monday in the West and on
# the weekend in Japan. Normalised to a mean of 1 below.
_WEEKLY = {
    "western": (1.07, 1.02, 1.00, 0.97, 0.90, 0.92, 1.12),
    "jp": (0.96, 0.95, 0.95, 0.96, 0.99, 1.08, 1.11),
    "latam": (1.04, 1.01, 1.00, 0.98, 0.95, 0.96, 1.06),
}
_WEEKLY_BY_MARKET = {"JP": "jp", "MX": "latam"}

# Yearly profiles: (amplitude of the log-multiplier, day of year of the peak).
YEARLY_PROFILES: dict[str, tuple[float, int]] = {
    "flat": (0.08, 340),
    "gift": (0.25, 350),
    "toys": (0.35, 352),
    "summer": (0.40, 190),
    "winter": (0.35, 15),
    "travel": (0.25, 185),
    "back_to_school": (0.22, 235),
}
SOUTHERN_MARKETS = ("AU",)
# Profiles driven by the weather flip by half a year in the southern hemisphere.
WEATHER_PROFILES = ("summer", "winter", "travel", "back_to_school")

EVENT_NAMES = (
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
    "public_holiday",
)


def weekly_factor(market: str, dow: np.ndarray) -> np.ndarray:
    prof = np.asarray(_WEEKLY[_WEEKLY_BY_MARKET.get(market, "western")])
    return (prof / prof.mean())[dow]


def profile_key(profile: str, market: str) -> str:
    """The yearly profile a series follows: weather profiles flip south of the equator."""
    if market in SOUTHERN_MARKETS and profile in WEATHER_PROFILES:
        return profile + "_south"
    return profile


PROFILE_KEYS: tuple[str, ...] = tuple(
    sorted(set(YEARLY_PROFILES) | {p + "_south" for p in WEATHER_PROFILES})
)


def yearly_log_shape(key: str, day_of_year: np.ndarray) -> tuple[np.ndarray, float]:
    """cos-shaped log seasonality of a profile key and its amplitude (for normalising)."""
    base = key.removesuffix("_south")
    amp, peak = YEARLY_PROFILES[base]
    if key.endswith("_south"):
        peak = (peak + 182) % 365
    return np.cos(2 * np.pi * (day_of_year - peak) / 365.25), amp


def yearly_factor(key: str, day_of_year: np.ndarray, strength: np.ndarray | float) -> np.ndarray:
    """exp(strength * amp * cos(...)) divided by its yearly mean, so the average year is 1."""
    shape, amp = yearly_log_shape(key, day_of_year)
    a = np.asarray(strength) * amp
    return np.exp(a * shape) / np.i0(a)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    d = date(year, month, 1)
    d += timedelta(days=(weekday - d.weekday()) % 7)
    return d + timedelta(weeks=n - 1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    d = nxt - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - weekday) % 7)


# Known Prime Day dates; later years follow the usual second-week-of-July pattern.
_PRIME_DAY = {
    2023: (date(2023, 7, 11), 2),
    2024: (date(2024, 7, 16), 2),
    2025: (date(2025, 7, 8), 4),
}
_BIG_DEAL_DAYS = {2024: date(2024, 10, 8), 2025: date(2025, 10, 7)}

EU_UK = ("UK", "DE", "FR", "IT", "ES")


def sales_events(year: int) -> list[tuple[str, date, int, tuple[str, ...], tuple[float, ...]]]:
    """(event, first day, days, markets, multiplier per day) of one calendar year."""
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    bf = thanksgiving + timedelta(days=1)
    pd_start, pd_days = _PRIME_DAY.get(year, (_nth_weekday(year, 7, 1, 2), 2))
    bdd = _BIG_DEAL_DAYS.get(year, _nth_weekday(year, 10, 1, 2))
    revolution_day = _nth_weekday(year, 11, 0, 3)  # Buen Fin ends on this Monday
    all_m = ("US", "CA", "MX", "UK", "DE", "FR", "IT", "ES", "JP", "AU")
    non_jp = tuple(m for m in all_m if m != "JP")
    run_up = tuple(np.linspace(1.12, 1.55, 20).round(3))
    return [
        ("black_friday_week", bf - timedelta(days=7), 7, all_m, (1.2,) * 7),
        ("black_friday", bf, 1, all_m, (2.6,)),
        ("black_friday_weekend", bf + timedelta(days=1), 2, all_m, (1.7, 1.55)),
        ("cyber_monday", bf + timedelta(days=3), 1, all_m, (2.2,)),
        ("prime_day", pd_start, pd_days, all_m, (2.3,) * pd_days),
        ("prime_big_deal_days", bdd, 2, ("US", "CA", "JP") + EU_UK, (1.6, 1.5)),
        ("singles_day", date(year, 11, 11), 1, tuple(m for m in all_m if m != "AU"), (1.3,)),
        ("click_frenzy", _nth_weekday(year, 11, 1, 2), 3, ("AU",), (1.6, 1.45, 1.2)),
        ("buen_fin", revolution_day - timedelta(days=3), 4, ("MX",), (1.9, 1.7, 1.6, 1.5)),
        ("hot_sale", _last_weekday(year, 5, 0), 9, ("MX",), (1.35,) * 9),
        ("golden_week", date(year, 4, 29), 7, ("JP",), (1.3,) * 7),
        ("christmas_run_up", date(year, 12, 1), 20, non_jp, run_up),
        ("christmas_run_up", date(year, 12, 21), 3, non_jp, (1.3, 1.2, 1.05)),
        ("christmas_eve", date(year, 12, 24), 1, non_jp, (0.8,)),
        ("christmas_day", date(year, 12, 25), 1, non_jp, (0.55,)),
        ("boxing_day", date(year, 12, 26), 1, ("UK", "CA", "AU"), (1.9,)),
        ("new_year_sale", date(year, 1, 2), 2, ("JP",), (1.5, 1.35)),
    ]


@lru_cache(maxsize=64)
def _event_table(market: str, year: int) -> dict[date, tuple[str, float]]:
    """Day -> (event, multiplier) for one market and year; events beat public holidays."""
    out: dict[date, tuple[str, float]] = {}
    from .reference import MARKETPLACES

    country = MARKETPLACES[market].holiday_country if market in MARKETPLACES else market
    for day, _name in holidays.country_holidays(country, years=[year]).items():
        out[day] = ("public_holiday", 0.85)
    for name, start, days, markets, mults in sales_events(year):
        if market in markets:
            for k in range(days):
                out[start + timedelta(days=k)] = (name, mults[k])
    return out


def event_factor(market: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """Multiplier of holidays and sales events on each date (1 on ordinary days)."""
    out = np.ones(len(dates))
    for i, d in enumerate(dates.date):
        hit = _event_table(market, d.year).get(d)
        if hit is not None:
            out[i] = hit[1]
    return out


def event_name(market: str, day: date) -> str | None:
    hit = _event_table(market, day.year).get(day)
    return hit[0] if hit else None


# Share of a day's orders by local hour (0-23): quiet at night, peaks in the evening.
HOURLY_SHARE = np.array(
    [
        1.5,
        0.9,
        0.6,
        0.4,
        0.4,
        0.6,
        1.2,
        2.2,
        3.2,
        4.0,
        4.6,
        5.0,
        5.4,
        5.2,
        5.0,
        5.0,
        5.2,
        5.6,
        6.2,
        7.2,
        8.0,
        7.6,
        5.8,
        3.2,
    ]
)
HOURLY_SHARE = HOURLY_SHARE / HOURLY_SHARE.sum()
