"""The global model on a synthetic mart with a known mean: shape, determinism, planned prices,
new SKUs and weekly grain."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.forecast.model import ForecastConfig, fit, predict
from ml.forecast.panel import build_panel
from ml.forecast.synthetic import synthetic_mart

# Small and quick: few trees are enough to see the structure.
CONFIG = ForecastConfig(
    max_rounds=120, learning_rate=0.1, min_data_in_leaf=40, num_leaves=15, num_threads=1
)


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=24, marketplaces=("US", "DE"), days=240, seed=5)


@pytest.fixture(scope="module")
def trained(mart):
    panel = build_panel(
        mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily", plan_days=28
    )
    return panel, fit(panel=panel.truncate(panel.n_history, keep_plan=28), config=CONFIG)


def test_forecast_covers_every_listed_series_and_day_with_ordered_quantiles(trained):
    panel, model = trained
    fc = predict(model, panel)
    assert len(fc) == panel.listed[:, -1].sum() * 28
    assert set(fc["horizon"]) == set(range(1, 29))
    assert fc["date"].min() == panel.dates[panel.n_history]
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    assert (fc["mean"] >= 0).all() and (fc["p10"] >= 0).all()
    assert (fc["nb_size"] > 0).all()
    # The held-out window's figures use the backtest's definitions: PIT coverage near 80 %.
    cal = model.calibration
    assert set(cal) >= {"wape", "wape_mean", "coverage_p10_p90", "coverage_p10_p90_pit"}
    assert 0.6 < cal["coverage_p10_p90_pit"] < 0.95


def test_training_is_deterministic(mart, trained):
    panel, model = trained
    again = fit(panel=panel.truncate(panel.n_history, keep_plan=28), config=CONFIG)
    pd.testing.assert_frame_equal(predict(model, panel), predict(again, panel))


def test_forecast_tracks_the_true_mean_better_than_a_flat_average(mart):
    """Last 28 days held out: the model's mean is closer to the true mean than the series'
    28-day average (which knows nothing of weekdays, prices or promotions)."""
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    known = panel.truncate(panel.n_history - 28, keep_plan=28)
    fc = predict(fit(panel=known, config=CONFIG), known)
    truth = mart.true_mean.reindex(pd.MultiIndex.from_frame(fc[["sku", "marketplace", "date"]]))
    flat = (
        mart.demand[mart.demand["demand_date"] <= known.dates[known.n_history - 1]]
        .groupby(["sku", "marketplace"])
        .tail(28)
        .query("~is_censored")
        .groupby(["sku", "marketplace"])["units"]
        .mean()
    )
    flat_fc = flat.reindex(pd.MultiIndex.from_frame(fc[["sku", "marketplace"]])).to_numpy()
    model_err = np.abs(fc["mean"].to_numpy() - truth.to_numpy()).sum()
    flat_err = np.abs(flat_fc - truth.to_numpy()).sum()
    assert model_err < 0.8 * flat_err


def test_a_price_rise_planned_inside_the_horizon_lowers_only_the_days_after_it(mart, trained):
    """Demand has elasticity -2: doubling the planned price from day 8 on must cut those days,
    not days 1-7 (the origin's price would give every day the same level)."""
    _, model = trained
    last = mart.demand["demand_date"].max()
    dates = pd.date_range(last + pd.Timedelta(days=1), periods=28, freq="D")
    ref = mart.demand[mart.demand["demand_date"] == last].set_index(["sku", "marketplace"])
    plans = {}
    for label, factor in (("flat", 1.0), ("rise", 2.0)):
        rows = [
            (sku, market, d, price * (factor if k >= 7 else 1.0), 0.0)
            for (sku, market), price in ref["list_price_local"].items()
            for k, d in enumerate(dates)
        ]
        plan = pd.DataFrame(
            rows, columns=["sku", "marketplace", "demand_date", "list_price_local", "discount_pct"]
        )
        panel = build_panel(
            mart.demand,
            skus=mart.skus,
            marketplaces=mart.marketplaces,
            grain="daily",
            plan=plan,
            plan_days=28,
        )
        plans[label] = predict(model, panel).groupby("horizon")["mean"].sum()
    ratio = plans["rise"] / plans["flat"]
    assert ratio.loc[1:7].to_numpy() == pytest.approx(1.0, abs=0.02)
    assert ratio.loc[8:28].max() < 0.75


def test_new_sku_gets_its_category_and_marketplace_level():
    """A SKU launched days ago is forecast near its category x marketplace peers' launch level,
    not at zero and not at the busiest group's level."""
    mart = synthetic_mart(n_skus=30, marketplaces=("US", "DE"), days=240, seed=8, new_sku_share=0.2)
    launches = mart.skus.sort_values("launch_date")
    newest = launches.iloc[-1]
    last = mart.demand["demand_date"].max()
    # The newest SKU launched 5 days before the end: only 5 days of history.
    launch = last - pd.Timedelta(days=4)
    skus = mart.skus.copy()
    skus.loc[skus["sku"] == newest["sku"], "launch_date"] = launch
    demand = mart.demand[
        (mart.demand["sku"] != newest["sku"]) | (mart.demand["demand_date"] >= launch)
    ]
    known = build_panel(
        demand, skus=skus, marketplaces=mart.marketplaces, grain="daily", plan_days=28
    )
    fc = predict(fit(panel=known, config=CONFIG), known)
    new = fc[fc["sku"] == newest["sku"]].groupby("marketplace")["mean"].mean()
    truth = mart.true_mean.loc[newest["sku"]].groupby("marketplace").mean()
    for market in new.index:
        assert 0.3 * truth[market] < new[market] < 3.0 * truth[market]


def test_weekly_data_is_forecast_weekly_8_weeks_ahead():
    mart = synthetic_mart(n_skus=12, days=364, seed=9, weekly_orders=True)
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, plan_days=56)
    assert panel.grain == "weekly"
    model = fit(panel=panel, config=CONFIG)
    fc = predict(model, panel)
    assert model.horizon == 8 and set(fc["horizon"]) == set(range(1, 9))
    assert all(d.dayofweek == 0 for d in fc["date"])
    weekly_truth = mart.true_mean.groupby(level=["sku", "marketplace"]).mean() * 7
    got = fc.groupby(["sku", "marketplace"])["mean"].mean()
    rel = (got / weekly_truth.reindex(got.index)).median()
    assert 0.7 < rel < 1.3
    # A config that names the other grain is refused, not silently ignored.
    with pytest.raises(ValueError, match="config asks for daily grain but the panel is weekly"):
        fit(panel=panel, config=replace(CONFIG, grain="daily"))


def test_too_short_a_history_is_a_clear_error(mart):
    first = mart.demand["demand_date"].min()
    short = mart.demand[mart.demand["demand_date"] < first + pd.Timedelta(days=40)]
    with pytest.raises(ValueError, match="need at least"):
        fit(short, config=CONFIG.__class__(grain="daily"))


def test_trees_predict_a_multiple_of_the_recent_level_and_older_models_units(trained):
    """The default model learns demand relative to each series' recent level; a model pickled
    before ``relative_target`` existed has no such attribute and its trees predict units."""
    from ml.forecast.registry import config_from_params, config_params

    panel, model = trained
    assert model.relative_target
    legacy = copy.copy(model)
    del legacy.__dict__["relative_target"]
    assert legacy.relative_target is False
    relative, units = predict(model, panel), predict(legacy, panel)
    # Same trees read in another unit: the forecasts differ by the recent level per series.
    assert not np.allclose(relative["mean"], units["mean"])
    assert pickle.loads(pickle.dumps(model)).relative_target
    # A registry run logged before the field existed is re-backtested as it was trained.
    assert config_from_params({"learning_rate": "0.1"}).relative_target is False
    assert config_from_params(config_params(ForecastConfig())).relative_target is True


def test_daily_training_origins_reach_the_same_season_a_year_earlier():
    from ml.forecast.model import training_origins

    recent = training_origins(700, 28, 10, 24)
    assert recent.tolist() == list(range(698 - 230, 699, 10))  # the last 8 months only
    seasonal = training_origins(700, 28, 10, 24, year=364, year_ago_origins=8)
    year_ago = sorted(set(seasonal) - set(recent))
    assert year_ago == [698 - 364 + 14 + 10 * k for k in range(-4, 4)]
    # Weekly: 52 recent origins already span the year, nothing is added.
    assert training_origins(150, 8, 1, 52, year=52, year_ago_origins=8).tolist() == list(
        range(148 - 51, 149)
    )
    # A history shorter than a year has no year-ago origins to add.
    assert training_origins(300, 28, 10, 24, year=364, year_ago_origins=8).tolist() == (
        training_origins(300, 28, 10, 24).tolist()
    )
