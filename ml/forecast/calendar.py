"""Each marketplace's calendar as features: public holidays and marketplace sales events.

Both come from the reference calendar ``ml.reference.calendar``: holidays from the maintained
``holidays`` library (by the marketplace's country), sales events (Black Friday, Prime Day,
Singles' Day, Buen Fin, Golden Week, ...) from its table of public retail dates. How much an
event lifts demand is for the model to learn (the simulator's multipliers are never features).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ml.reference.calendar import SALES_EVENT_NAMES, event_days, holiday_dates

# 0 = no event; public holidays are a separate flag, so they are not an event code here.
EVENT_CODES: dict[str, int] = {name: i + 1 for i, name in enumerate(SALES_EVENT_NAMES)}


@lru_cache(maxsize=256)
def _event_days(marketplace: str, year: int) -> dict:
    """Day -> (event code, day number within the event), from ``event_days`` (where events
    overlap, the later one in the reference's list names the day)."""
    return {day: (EVENT_CODES[name], k) for day, (name, k) in event_days(marketplace, year).items()}


def daily_calendar(marketplace: str, country: str, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Per date: is_holiday, event (code, 0 = none), event_day (1-based day of the event),
    days_to_event (days until the next event day, capped at 60)."""
    days = [d.date() for d in dates]
    years = sorted({d.year for d in days} | {days[-1].year + 1})
    hol = set().union(*(holiday_dates(country, y) for y in years))
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
