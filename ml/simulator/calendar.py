"""The demand calendar: weekly and yearly seasonality, and how much public holidays and sales
events lift simulated demand.

The holidays and events themselves are reference data (``ml.reference.calendar``, which the
forecast and pricing read too); what is the simulator's own is their effect on demand. Everything
here is a pure function of the date, so the ground truth can extend it to any day beyond the
simulated history.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from ml.reference.calendar import (
    SALES_EVENT_NAMES,
    SalesEvent,
    holiday_country,
    holiday_dates,
)
from ml.reference.calendar import sales_events as reference_sales_events

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

# The day names event_name() returns: the sales events, then public holidays.
EVENT_NAMES = (*SALES_EVENT_NAMES, "public_holiday")


def weekly_factor(market: str, dow: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Day-of-week multiplier (mean 1 over a week); ``strength`` is a power on the profile
    (2 doubles its log swing, 0 flattens it)."""
    prof = np.asarray(_WEEKLY[_WEEKLY_BY_MARKET.get(market, "western")])
    if strength != 1.0:
        prof = prof**strength
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


# How much a sales event lifts demand on each of its days (one value: every day alike).
EVENT_LIFT: dict[str, tuple[float, ...]] = {
    "black_friday_week": (1.2,),
    "black_friday": (2.6,),
    "black_friday_weekend": (1.7, 1.55),
    "cyber_monday": (2.2,),
    "prime_day": (2.3,),
    "prime_big_deal_days": (1.6, 1.5),
    "singles_day": (1.3,),
    "click_frenzy": (1.6, 1.45, 1.2),
    "buen_fin": (1.9, 1.7, 1.6, 1.5),
    "hot_sale": (1.35,),
    "golden_week": (1.3,),
    "christmas_eve": (0.8,),
    "christmas_day": (0.55,),
    "boxing_day": (1.9,),
    "new_year_sale": (1.5, 1.35),
}
# The Christmas run-up by day of December from the 1st: a ramp to the 20th, then easing off to
# the 23rd (the reference lists the two parts as two events).
CHRISTMAS_RUN_UP_LIFT: tuple[float, ...] = (
    *np.linspace(1.12, 1.55, 20).round(3),
    1.3,
    1.2,
    1.05,
)
PUBLIC_HOLIDAY_LIFT = 0.85


def event_lift(event: SalesEvent) -> tuple[float, ...]:
    """The demand multiplier of each day of ``event``."""
    if event.name == "christmas_run_up":
        offset = (event.start - date(event.start.year, 12, 1)).days
        return CHRISTMAS_RUN_UP_LIFT[offset : offset + event.days]
    lift = EVENT_LIFT[event.name]
    return lift * event.days if len(lift) == 1 else lift


def sales_events(year: int) -> list[tuple[str, date, int, tuple[str, ...], tuple[float, ...]]]:
    """(event, first day, days, markets, multiplier per day) of one calendar year: the
    reference's sales events with their lift."""
    return [
        (e.name, e.start, e.days, e.marketplaces, event_lift(e))
        for e in reference_sales_events(year)
    ]


@lru_cache(maxsize=64)
def _event_table(market: str, year: int) -> dict[date, tuple[str, float]]:
    """Day -> (event, multiplier) for one market and year; events beat public holidays."""
    out: dict[date, tuple[str, float]] = {}
    for day in holiday_dates(holiday_country(market), year):
        out[day] = ("public_holiday", PUBLIC_HOLIDAY_LIFT)
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
