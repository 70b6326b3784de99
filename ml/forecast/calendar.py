"""Each marketplace's calendar as features: public holidays and marketplace sales events.

Holidays come from the maintained ``holidays`` library (by the marketplace's country); sales
events (Black Friday, Prime Day, Singles' Day, Buen Fin, Golden Week, ...) from the event
calendar in ``ml.simulator.calendar.sales_events``, which encodes public retail dates, not the
simulator's demand response (event multipliers are never used as features).
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from ml.simulator.calendar import EVENT_NAMES, sales_events

# 0 = no event; public holidays are a separate flag, so they are not an event code here.
EVENT_CODES: dict[str, int] = {
    name: i + 1 for i, name in enumerate(n for n in EVENT_NAMES if n != "public_holiday")
}


@lru_cache(maxsize=256)
def _holiday_days(country: str, year: int) -> frozenset:
    try:
        return frozenset(holidays.country_holidays(country, years=[year]).keys())
    except NotImplementedError:
        # A country the library does not know has no holiday features (stated in the docs).
        return frozenset()


@lru_cache(maxsize=256)
def _event_days(marketplace: str, year: int) -> dict:
    """Day -> (event code, day number within the event); later entries win, as in the
    simulator's table (a Christmas run-up day inside Black Friday week is Black Friday week)."""
    out: dict = {}
    for name, start, days, markets, _multipliers in sales_events(year):
        if marketplace in markets:
            for k in range(days):
                out[start + timedelta(days=k)] = (EVENT_CODES[name], k + 1)
    return out


def daily_calendar(marketplace: str, country: str, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Per date: is_holiday, event (code, 0 = none), event_day (1-based day of the event),
    days_to_event (days until the next event day, capped at 60)."""
    days = [d.date() for d in dates]
    years = sorted({d.year for d in days} | {days[-1].year + 1})
    hol = set().union(*(_holiday_days(country, y) for y in years))
    events: dict = {}
    for y in years:
        events.update(_event_days(marketplace, y))
    code = np.array([events.get(d, (0, 0))[0] for d in days])
    day_of_event = np.array([events.get(d, (0, 0))[1] for d in days])
    # Days until the next event start, looking past the end of ``dates``.
    starts = sorted(d for d, (_, k) in events.items() if k == 1)
    start_ord = np.array([d.toordinal() for d in starts]) if starts else np.array([10**9])
    ords = np.array([d.toordinal() for d in days])
    nxt = np.searchsorted(start_ord, ords, side="left")
    gap = np.where(nxt < len(start_ord), start_ord[np.minimum(nxt, len(start_ord) - 1)] - ords, 60)
    return pd.DataFrame(
        {
            "is_holiday": np.array([d in hol for d in days], dtype=float),
            "event": code,
            "event_day": day_of_event,
            "days_to_event": np.minimum(gap, 60),
        },
        index=dates,
    )


def calendar_arrays(
    marketplaces: list[str], countries: list[str], dates: pd.DatetimeIndex, period_days: int
) -> dict[str, np.ndarray]:
    """Calendar features as (n_marketplaces, n_periods) arrays for period starts ``dates``.

    At weekly grain a week carries its holiday count, its number of event days and the code of
    its first event.
    """
    out: dict[str, list[np.ndarray]] = {
        "is_holiday": [],
        "event": [],
        "event_day": [],
        "days_to_event": [],
    }
    daily = pd.date_range(dates[0], periods=len(dates) * period_days, freq="D")
    for market, country in zip(marketplaces, countries, strict=True):
        cal = daily_calendar(market, country, daily)
        if period_days == 1:
            for k in out:
                out[k].append(cal[k].to_numpy(float))
            continue
        weeks = len(dates)
        block = {k: cal[k].to_numpy(float).reshape(weeks, period_days) for k in out}
        out["is_holiday"].append(block["is_holiday"].sum(axis=1))
        out["event_day"].append((block["event"] > 0).sum(axis=1).astype(float))
        ev = block["event"]
        first = np.argmax(ev > 0, axis=1)
        out["event"].append(ev[np.arange(weeks), first])
        out["days_to_event"].append(block["days_to_event"][:, 0] / period_days)
    return {k: np.vstack(v) for k, v in out.items()}
