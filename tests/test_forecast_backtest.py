"""Rolling-origin backtest: folds, same rows for every model, baselines by hand, the table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.forecast.backtest import (
    MODEL_KEYS,
    InsufficientHistoryError,
    backtest,
    compare,
    fold_cutoffs,
    plan_backtest,
)
from ml.forecast.model import ForecastConfig
from ml.forecast.panel import Panel, build_panel
from ml.forecast.synthetic import synthetic_mart

CONFIG = ForecastConfig(
    max_rounds=60, learning_rate=0.15, min_data_in_leaf=40, num_leaves=15, num_threads=1
)
FAST = ("kuajing", "seasonal_naive", "moving_average", "oracle", "zero")


class FakeTruth:
    """The simulator's GroundTruth interface over the synthetic mart's known mean."""

    def __init__(self, mart):
        self.mean = mart.true_mean
        keys = mart.true_mean.index.droplevel("demand_date").unique()
        self.series = pd.DataFrame({"nb_size": 1000.0}, index=keys)  # ~Poisson

    def expected_demand(self, sku, marketplace, dates):
        idx = pd.MultiIndex.from_arrays(
            [[sku] * len(dates), [marketplace] * len(dates), pd.DatetimeIndex(dates)]
        )
        return self.mean.reindex(idx).fillna(0.0).to_numpy()


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=10, marketplaces=("US", "DE"), days=200, seed=11)


@pytest.fixture(scope="module")
def result(mart):
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    return panel, backtest(
        panel=panel, config=CONFIG, n_folds=3, models=FAST, truth=FakeTruth(mart)
    )


def test_folds_do_not_overlap_and_the_last_ends_at_the_history_end():
    assert fold_cutoffs(200, 28, 3) == [116, 144, 172]
    with pytest.raises(ValueError, match="100 periods cannot hold 3 folds of 28: they need 142"):
        fold_cutoffs(100, 28, 3)


@pytest.mark.parametrize(
    ("grain", "periods", "folds", "horizon", "note"),
    [
        ("daily", 142, 3, 28, None),
        ("daily", 141, 2, 28, "trained on 141 daily periods: 2 folds instead of 3"),
        # A seller's first 3 months of daily orders.
        ("daily", 91, 1, 28, "trained on 91 daily periods: 1 fold instead of 3"),
        ("daily", 86, 1, 28, "trained on 86 daily periods: 1 fold instead of 3"),
        # Too short for one 28-day fold after a model's minimum history: one shorter fold.
        ("daily", 70, 1, 22, "trained on 70 daily periods: 1 fold of 22 days instead of 3 of 28"),
        ("daily", 58, 1, 18, "trained on 58 daily periods: 1 fold of 18 days instead of 3 of 28"),
        ("weekly", 42, 3, 8, None),
        # Six months of weekly orders: 26 complete weeks, or 25 when they start mid-week.
        ("weekly", 26, 1, 8, "trained on 26 weekly periods: 1 fold instead of 3"),
        ("weekly", 25, 1, 7, "trained on 25 weekly periods: 1 fold of 7 weeks instead of 3 of 8"),
    ],
)
def test_short_histories_are_backtested_on_fewer_folds_and_say_so(
    grain, periods, folds, horizon, note
):
    full = 28 if grain == "daily" else 8
    plan = plan_backtest(periods, grain, full, 3)
    assert (plan.n_folds, plan.horizon) == (folds, horizon)
    assert plan.reduced is (note is not None)
    if note is None:
        assert plan.note is None
    else:
        assert plan.note.startswith(note)
        assert f"3 folds of {full} {'days' if grain == 'daily' else 'weeks'} need" in plan.note
    # The folds fit: every fold's history can train a model of the fold's horizon.
    cuts = fold_cutoffs(periods, plan.horizon, plan.n_folds)
    assert len(cuts) == folds and cuts[-1] + plan.horizon == periods
    assert cuts[0] >= 2 * plan.horizon + 2


def test_below_the_minimum_history_training_is_refused_naming_both():
    with pytest.raises(InsufficientHistoryError) as daily:
        plan_backtest(57, "daily", 28, 3)
    message = str(daily.value)
    assert "57 days of history" in message and "at least 58 days" in message
    assert "28-day horizon" in message and "142 days" in message
    with pytest.raises(InsufficientHistoryError, match="17 weeks of history.*at least 18 weeks"):
        plan_backtest(17, "weekly", 8, 3)
    assert issubclass(InsufficientHistoryError, ValueError)


def test_a_short_history_backtests_every_model_on_its_one_fold():
    """91 days (a seller's first 3 months): one 28-day fold, every model on the same rows."""
    mart = synthetic_mart(n_skus=4, marketplaces=("US",), days=91, seed=8)
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    plan = plan_backtest(panel.n_history, panel.grain, 28, 3)
    res = backtest(panel=panel, config=CONFIG, n_folds=plan.n_folds, models=FAST[:3])
    assert list(res.forecasts["fold"].unique()) == [0] and res.horizon == 28
    assert compare(res)["wape"].notna().all()


def test_every_model_is_scored_on_the_same_observed_rows(result):
    panel, res = result
    f = res.forecasts
    assert sorted(f["fold"].unique()) == [0, 1, 2]
    keys = {
        m: set(zip(g["fold"], g["series"], g["target_index"], strict=True))
        for m, g in f.groupby("model")
    }
    assert set(keys) == set(FAST)
    assert len({frozenset(v) for v in keys.values()}) == 1
    # Censored days have no actual and are not scored; every scored actual is the panel's.
    assert not f["actual"].isna().any()
    assert (f["actual"].to_numpy() == panel.units[f["series"], f["target_index"]]).all()
    assert f["horizon"].between(1, 28).all()
    # Each fold forecasts the 28 days after its cutoff, and nothing before it.
    for fold, cut in enumerate(fold_cutoffs(panel.n_history, 28, 3)):
        idx = f.loc[f["fold"] == fold, "target_index"]
        assert idx.min() >= cut and idx.max() < cut + 28


def test_baselines_match_a_hand_computation(result):
    panel, res = result
    f = res.forecasts
    cut = fold_cutoffs(panel.n_history, 28, 3)[0]
    t = cut - 1
    row = f[(f["fold"] == 0) & (f["model"] == "seasonal_naive")].iloc[0]
    s, d = int(row["series"]), int(row["target_index"])
    y = panel.units[s]
    expected = np.nan
    back = d - 7 * int(np.ceil((d - t) / 7))
    for k in range(4):
        if not np.isnan(y[back - 7 * k]):
            expected = y[back - 7 * k]
            break
    assert row["mean"] == pytest.approx(expected)
    ma = f[(f["fold"] == 0) & (f["model"] == "moving_average") & (f["series"] == s)]
    window = y[t - 27 : t + 1]
    assert ma["mean"].to_numpy() == pytest.approx(np.nanmean(window))


def test_series_without_sales_before_the_cutoff_are_flagged_dormant(mart):
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    cut = fold_cutoffs(panel.n_history, 28, 3)[0]
    units = panel.units.copy()
    units[3, cut - 28 : cut] = 0.0  # series 3 sells nothing in the 28 days before fold 0
    res = backtest(
        panel=replace(panel, units=units), config=CONFIG, n_folds=3, models=("moving_average",)
    )
    f = res.forecasts
    flagged = f.loc[f["dormant"], ["fold", "series"]].drop_duplicates()
    assert list(flagged.itertuples(index=False, name=None)) == [(0, 3)]
    assert (f.loc[f["dormant"], "mean"] == 0).all()  # the moving average forecasts 0
    table = compare(res, by="dormant")
    assert set(table.index.get_level_values("dormant")) == {False, True}


def test_oracle_is_the_truth_and_beats_the_baselines(mart, result):
    panel, res = result
    f = res.forecasts[res.forecasts["model"] == "oracle"]
    truth = mart.true_mean.reindex(pd.MultiIndex.from_frame(f[["sku", "marketplace", "date"]]))
    assert f["mean"].to_numpy() == pytest.approx(truth.to_numpy())
    table = compare(res)
    assert table.loc["oracle", "wape"] < table.loc["seasonal_naive", "wape"]
    assert table.loc["kuajing", "wape"] < table.loc["seasonal_naive", "wape"]


def test_comparison_table_has_every_metric_overall_and_per_marketplace(result):
    _, res = result
    table = compare(res)
    for col in (
        "wape",
        "wape_mean",
        "rmsse",
        "bias",
        "pinball",
        "coverage_p10_p90",
        "coverage_p10_p90_pit",
        "fit_seconds",
        "predict_seconds",
        "wape_vs_oracle",
        "wape_vs_seasonal_naive",
    ):
        assert col in table.columns
    assert table.loc["oracle", "wape_vs_oracle"] == pytest.approx(1.0)
    assert np.isnan(table.loc["moving_average", "coverage_p10_p90"])  # no interval
    assert 0 < table.loc["kuajing", "coverage_p10_p90"] < 1
    assert 0 < table.loc["kuajing", "coverage_p10_p90_pit"] < 1
    by_market = compare(res, by="marketplace")
    assert set(by_market.index.get_level_values("marketplace")) == {"US", "DE"}
    assert "fit_seconds" not in by_market.columns  # one fit serves every marketplace
    us = res.forecasts[
        (res.forecasts["marketplace"] == "US") & (res.forecasts["model"] == "kuajing")
    ]
    # WAPE of the median (P50), wape_mean of the mean
    expected = np.abs(us["actual"] - us["p50"]).sum() / us["actual"].sum()
    assert by_market.loc[("US", "kuajing"), "wape"] == pytest.approx(expected)
    expected = np.abs(us["actual"] - us["mean"]).sum() / us["actual"].sum()
    assert by_market.loc[("US", "kuajing"), "wape_mean"] == pytest.approx(expected)


def test_weighted_rmsse_weights_each_series_by_its_revenue_before_the_cutoff(mart, result):
    """M5's weights: revenue over the last horizon of each fold's history."""
    mart, (panel, res) = mart, result
    cut = fold_cutoffs(panel.n_history, 28, 3)[1]
    d = mart.demand
    last = pd.to_datetime(d["demand_date"]).between(panel.dates[cut - 28], panel.dates[cut - 1])
    revenue = d[last].groupby(["sku", "marketplace"])["revenue"].sum()
    w = res.weights[1]
    keys = pd.MultiIndex.from_frame(panel.series.loc[w.index, ["sku", "marketplace"]])
    assert (w > 0).sum() > 5
    assert w.to_numpy() == pytest.approx(revenue.reindex(keys).fillna(0).to_numpy())
    f = res.forecasts[(res.forecasts["fold"] == 1) & (res.forecasts["model"] == "kuajing")]
    per_series = {
        s: np.sqrt(np.mean((g["actual"] - g["mean"]) ** 2) / res.scales[1][s])
        for s, g in f.groupby("series")
        if res.scales[1][s] > 0
    }
    expected = sum(w[s] * r for s, r in per_series.items()) / sum(w[s] for s in per_series)
    from ml.forecast.metrics import summarize

    assert summarize(f, res.scales[1], w)["wrmsse"] == pytest.approx(expected)
    assert "wrmsse" in compare(res).columns


def test_the_zero_reference_forecasts_nothing_and_scores_wape_one(result):
    _, res = result
    zero = res.forecasts[res.forecasts["model"] == "zero"]
    assert (zero["mean"] == 0).all()
    assert compare(res).loc["zero", "wape"] == pytest.approx(1.0)


def test_unknown_model_keys_are_refused(mart):
    with pytest.raises(ValueError, match="unknown models"):
        backtest(mart.demand, models=("prophet",))


@pytest.mark.slow
def test_peers_run_on_the_same_folds():
    """statsforecast (AutoETS, CrostonOptimized) and mlforecast (slow: numba compiles)."""
    mart = synthetic_mart(n_skus=4, marketplaces=("US",), days=170, seed=12)
    res = backtest(
        mart.demand,
        skus=mart.skus,
        marketplaces=mart.marketplaces,
        config=CONFIG,
        n_folds=3,
        models=tuple(k for k in MODEL_KEYS if k != "oracle"),
    )
    table = compare(res)
    assert set(table.index) == set(MODEL_KEYS) - {"oracle"}
    assert table["wape"].notna().all()
    counts = res.forecasts.groupby("model").size()
    assert counts.nunique() == 1


def test_croston_history_counts_the_wait_before_the_first_sale():
    """A series that starts 20 days into the window: plain history starts at its first listed
    day; Croston's (``since``) starts at the window with zeros, so one sale is not a daily rate."""
    from ml.forecast.baselines import filled_history

    mart = synthetic_mart(n_skus=2, marketplaces=("US",), days=60, seed=5)
    demand = mart.demand
    skus = sorted(demand["sku"].unique())
    start = demand["demand_date"].min()
    late = (demand["sku"] == skus[1]) & (demand["demand_date"] < start + pd.Timedelta(days=20))
    panel = build_panel(demand[~late], grain="daily")
    series = np.arange(panel.n_series)
    plain = filled_history(panel, series, min_periods=14)
    padded = filled_history(panel, series, min_periods=14, since=0)
    late_id = int(panel.series.index[panel.series["sku"] == skus[1]][0])
    assert plain.groupby("unique_id").size()[late_id] == 40
    got = padded[padded["unique_id"] == late_id].reset_index(drop=True)
    assert len(got) == 60 and (got["y"].iloc[:20] == 0).all()
    assert got["y"].iloc[20:].to_numpy() == pytest.approx(
        plain[plain["unique_id"] == late_id]["y"].to_numpy()
    )
    # The early series is the same either way.
    early_id = 1 - late_id
    assert (
        padded[padded["unique_id"] == early_id]["y"].to_numpy()
        == plain[plain["unique_id"] == early_id]["y"].to_numpy()
    ).all()


def _weekly_mart(shape: str):
    """70 weeks of a seller reporting weekly totals, as the demand mart holds them (a row per
    day, each week's units on its Monday) or as one row per SKU, marketplace and Monday."""
    mart = synthetic_mart(
        n_skus=4, marketplaces=("US", "DE"), days=7 * 70, seed=21, weekly_orders=True
    )
    if shape == "one row per Monday":
        demand = mart.demand
        mart.demand = demand[demand["demand_date"].dt.dayofweek == 0].reset_index(drop=True)
    return mart


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["one row per Monday", "a row per day"])
def test_every_peer_runs_on_weekly_data(shape):
    """Weekly data (numba compiles mlforecast, hence slow): every model, oracle included, is
    scored on the same rows of 8-week folds, and mlforecast really forecasts (its lags fit a
    history shorter than two years) instead of falling back to the moving average."""
    mart = _weekly_mart(shape)
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces)
    assert panel.grain == "weekly" and panel.n_history == 70
    assert panel.listed.all() and np.isfinite(panel.units).all()
    res = backtest(panel=panel, config=CONFIG, n_folds=3, models=MODEL_KEYS, truth=FakeTruth(mart))
    table = compare(res)
    assert set(table.index) == set(MODEL_KEYS)
    assert table["wape"].notna().all()
    counts = res.forecasts.groupby("model").size()
    assert counts.nunique() == 1 and counts.iloc[0] == 3 * 8 * panel.n_series
    assert res.forecasts["horizon"].between(1, 8).all()
    assert (res.forecasts["date"].dt.dayofweek == 0).all()
    f = res.forecasts.set_index(["model", "fold", "series", "target_index"])["mean"]
    assert not np.allclose(f.loc["mlforecast"].to_numpy(), f.loc["moving_average"].to_numpy())
    assert table.loc["kuajing", "wape"] < table.loc["zero", "wape"]


def test_series_mostly_without_sales_before_the_cutoff_are_flagged_intermittent():
    from ml.forecast.backtest import intermittent
    from ml.forecast.distribution import INTERMITTENT_ZERO_SHARE

    units = np.full((3, 120), 5.0)
    units[1, -112:] = np.where(np.arange(112) % 2 == 0, 0.0, 5.0)  # half the days without sales
    units[2, -112:] = np.where(np.arange(112) % 10 == 0, 0.0, 5.0)  # one day in ten
    units[2, -5:] = np.nan  # unobserved (censored) days do not count either way
    panel = Panel(
        series=pd.DataFrame({"sku": list("abc"), "marketplace": "US"}),
        dates=pd.date_range("2026-01-01", periods=120),
        grain="daily",
        units=units,
        listed=np.ones_like(units, bool),
        list_price=np.full_like(units, 10.0),
        discount=np.zeros_like(units),
        promoted=np.zeros_like(units),
        ad_spend_usd=np.zeros_like(units),
        revenue=units * 10,
    )
    assert INTERMITTENT_ZERO_SHARE == pytest.approx(0.2424, abs=1e-4)
    assert intermittent(panel, np.arange(3), 28).tolist() == [False, True, False]
