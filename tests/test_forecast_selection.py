"""A training run never serves a worse forecast than a peer it just measured: the peer is served
instead, through the same pyfunc, registry and gate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ml.forecast import baselines
from ml.forecast.backtest import backtest
from ml.forecast.model import ForecastConfig
from ml.forecast.panel import build_panel
from ml.forecast.peers import PeerForecaster
from ml.forecast.pyfunc import model_input
from ml.forecast.registry import (
    champion_metrics,
    champion_serves,
    data_fingerprint,
    load_champion,
)
from ml.forecast.selection import KUAJING, choose_served, served_metrics
from ml.forecast.synthetic import synthetic_mart
from ml.forecast.training import train_and_register
from ml.registry import TrackingStore

GOOD = ForecastConfig(
    grain="daily", max_rounds=40, learning_rate=0.15, min_data_in_leaf=40, num_leaves=15,
    num_threads=1,
)  # fmt: skip
# One two-leaf tree predicting units: about one level for every series, which a moving average
# of each series' own history beats.
POOR = replace(GOOD, max_rounds=1, num_leaves=2, relative_target=False)


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=6, marketplaces=("US", "DE"), days=175, seed=3)


@pytest.fixture(scope="module")
def panel(mart):
    return build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")


def test_a_peer_is_judged_as_served_with_quantiles_fitted_on_its_own_errors(panel):
    result = backtest(panel=panel, config=POOR, n_folds=2, models=("kuajing", "moving_average"))
    served = served_metrics(result, "moving_average")
    assert set(served.sizes) >= {"*", "US", "DE"}
    # Calibrated on its own backtest errors, as Kuajing's quantiles are on held-out rows.
    assert 0.70 <= served.metrics["coverage_p10_p90_pit"] <= 0.90
    assert np.isfinite(served.metrics["pinball"]) and np.isfinite(served.metrics["wrmsse"])
    choice = choose_served(result)
    assert choice.name == "moving_average"
    assert choice.reason.startswith("moving_average beats Kuajing on the backtest: WAPE")
    good = backtest(panel=panel, config=GOOD, n_folds=2, models=("kuajing", "seasonal_naive"))
    assert choose_served(good).name == KUAJING


def test_the_run_registers_the_peer_and_the_champion_serves_it(mart, panel, tmp_path):
    store = TrackingStore.local(tmp_path / "mlflow")
    outcome = train_and_register(
        panel, config=POOR, store=store, data_info=data_fingerprint(mart.demand),
        models=("kuajing", "moving_average"), n_folds=2,
    )  # fmt: skip
    assert (outcome.served_model, outcome.alias) == ("moving_average", "champion")
    assert champion_serves(store) == "moving_average"
    assert champion_metrics(store)["wape"] == pytest.approx(outcome.metrics["wape"])

    model, version = load_champion(store)
    assert isinstance(model.unwrap_python_model().forecaster, PeerForecaster)
    forecast = model.predict(
        model_input(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces)
    )
    listed = np.flatnonzero(panel.listed[:, -1])
    expected = baselines.moving_average(panel, 28, listed).frame
    assert len(forecast) == len(expected)
    assert np.sort(forecast["mean"].to_numpy()) == pytest.approx(
        np.sort(np.maximum(expected["mean"].to_numpy(), 0.0))
    )
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    assert pd.api.types.is_datetime64_any_dtype(forecast["date"])
