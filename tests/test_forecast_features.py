"""The demand panel and the features: censoring, horizon discipline, planned prices, calendar."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ml.forecast.calendar import EVENT_CODES, daily_calendar
from ml.forecast.features import Levels, feature_rows, panel_context
from ml.forecast.panel import build_panel, infer_grain, to_weekly
from ml.forecast.synthetic import synthetic_mart


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=6, marketplaces=("US", "UK"), days=120, seed=1)


def _panel(mart, **kw):
    return build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, **kw)


def test_panel_marks_censored_days_unobserved_not_zero(mart):
    panel = _panel(mart, grain="daily")
    d = mart.demand
    row = d[d["is_censored"]].iloc[0]
    i = panel.series.index[
        (panel.series["sku"] == row["sku"]) & (panel.series["marketplace"] == row["marketplace"])
    ][0]
    j = (row["demand_date"] - panel.dates[0]).days
    assert np.isnan(panel.units[i, j]) and panel.listed[i, j]
    assert np.nansum(panel.units) == d.loc[~d["is_censored"], "units"].sum()
    # UK's holidays come from the GB calendar.
    assert set(panel.series.loc[panel.series["marketplace"] == "UK", "country"]) == {"GB"}


def test_panel_rejects_bad_input(mart):
    with pytest.raises(ValueError, match="lacks column"):
        build_panel(mart.demand.drop(columns=["list_price_local"]))
    with pytest.raises(ValueError, match="repeats"):
        build_panel(pd.concat([mart.demand, mart.demand.head(1)]))
    bad = mart.demand.copy()
    bad.loc[0, "units"] = -1
    with pytest.raises(ValueError, match="negative"):
        build_panel(bad)


def test_grain_is_inferred_from_order_dates():
    daily = synthetic_mart(n_skus=3, days=84, seed=2)
    weekly = synthetic_mart(n_skus=3, days=84, seed=2, weekly_orders=True)
    assert infer_grain(daily.demand) == "daily"
    assert infer_grain(weekly.demand) == "weekly"
    assert build_panel(weekly.demand).grain == "weekly"


def test_weekly_panel_sums_complete_weeks_and_drops_censored_weeks(mart):
    daily = _panel(mart, grain="daily")
    weekly = to_weekly(daily)
    first = (7 - daily.dates[0].dayofweek) % 7
    assert all(d.dayofweek == 0 for d in weekly.dates)
    for i in range(daily.n_series):
        for w in range(weekly.n_history):
            days = daily.units[i, first + 7 * w : first + 7 * w + 7]
            if np.isnan(days).any():
                assert np.isnan(weekly.units[i, w])
            else:
                assert weekly.units[i, w] == days.sum()
    # The trailing partial week is not a week of low demand: it is not there.
    assert first + 7 * weekly.n_history <= daily.n_history < first + 7 * (weekly.n_history + 1)


def test_window_means_skip_censored_days_and_use_only_the_past(mart):
    panel = _panel(mart, grain="daily")
    ctx = panel_context(panel, Levels.of(panel.series))
    t = 90
    rows = feature_rows(ctx, [t], 28, training=False)
    h1 = rows[rows["h"] == 1].set_index("series")
    for i in range(panel.n_series):
        window = panel.units[i, t - 27 : t + 1]
        seen = window[~np.isnan(window)]
        expected = seen.mean() if len(seen) else np.nan
        assert h1.loc[i, "mean_28"] == pytest.approx(expected, nan_ok=True)
        assert h1.loc[i, "lag_0"] == pytest.approx(panel.units[i, t], nan_ok=True)

    # Changing anything after the origin changes no feature (only the target moves).
    future = panel.units.copy()
    future[:, t + 1 :] = 1000.0
    altered = panel.__class__(**{**panel.__dict__, "units": future})
    rows2 = feature_rows(panel_context(altered, Levels.of(panel.series)), [t], 28, training=False)
    pd.testing.assert_frame_equal(rows, rows2)


def test_each_horizon_reads_the_price_planned_for_its_own_day():
    """Fails if the origin's price (or the first step's) is used for every horizon."""
    mart = synthetic_mart(n_skus=2, marketplaces=("US",), days=150, seed=4)
    demand = mart.demand
    last = demand["demand_date"].max()
    # History at a flat price so the reference price is known exactly.
    demand = demand.assign(list_price_local=10.0, discount_pct=0.0, is_promoted=False)
    plan_dates = pd.date_range(last + pd.Timedelta(days=1), periods=28, freq="D")
    plan = pd.DataFrame(
        [
            (sku, "US", d, 10.0 if k < 7 else 20.0, 0.25 if k == 20 else 0.0)
            for sku in demand["sku"].unique()
            for k, d in enumerate(plan_dates)
        ],
        columns=["sku", "marketplace", "demand_date", "list_price_local", "discount_pct"],
    )
    panel = build_panel(demand, grain="daily", plan=plan, plan_days=28)
    ctx = panel_context(panel, Levels.of(panel.series))
    rows = feature_rows(ctx, [panel.n_history - 1], 28, training=False)
    for h, g in rows.groupby("h"):
        k = int(h) - 1
        shown = (10.0 if k < 7 else 20.0) * (0.75 if k == 20 else 1.0)
        assert g["rel_price"].to_numpy() == pytest.approx(shown / 10.0)
        assert g["price_vs_origin"].to_numpy() == pytest.approx(shown / 10.0 - 1.0)
        assert g["promoted"].to_numpy() == pytest.approx(1.0 if k == 20 else 0.0)


def test_days_without_a_plan_keep_the_last_list_price_and_no_promotion(mart):
    panel = _panel(mart, grain="daily", plan_days=5)
    h = panel.n_history
    last_price = panel.list_price[:, h - 1]
    assert np.allclose(panel.list_price[:, h:], last_price[:, None])
    assert (panel.discount[:, h:] == 0).all()


def test_market_calendars_have_their_own_holidays_and_events():
    days = pd.date_range("2025-11-20", "2025-12-31", freq="D")
    us = daily_calendar("US", "US", days)
    de = daily_calendar("DE", "DE", days)
    jp = daily_calendar("JP", "JP", days)
    bf = pd.Timestamp("2025-11-28")  # the Friday after Thanksgiving 2025
    assert us.loc[bf, "event"] == EVENT_CODES["black_friday"]
    assert us.loc[pd.Timestamp("2025-11-27"), "is_holiday"] == 1  # Thanksgiving: US only
    assert de.loc[pd.Timestamp("2025-11-27"), "is_holiday"] == 0
    assert de.loc[pd.Timestamp("2025-12-26"), "is_holiday"] == 1  # 2. Weihnachtstag
    assert jp.loc[pd.Timestamp("2025-12-10"), "event"] == 0  # no Christmas run-up in JP
    assert us.loc[pd.Timestamp("2025-12-10"), "event"] == EVENT_CODES["christmas_run_up"]
    assert (
        us.loc[pd.Timestamp("2025-11-20"), "days_to_event"]
        == (dt.date(2025, 11, 21) - dt.date(2025, 11, 20)).days
    )  # Black Friday week starts 7 days before Black Friday
