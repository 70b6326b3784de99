"""A seller's first months: training on a short history uses fewer backtest folds, says so in
the MLflow run and to the run summary, and refuses below the minimum (real SQLite store)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
from mlflow import MlflowClient

from ml.forecast.backtest import InsufficientHistoryError
from ml.forecast.model import ForecastConfig
from ml.forecast.panel import build_panel
from ml.forecast.registry import (
    CHAMPION,
    EXPERIMENT_NAME,
    champion_training_note,
    data_fingerprint,
    open_store,
)
from ml.forecast.synthetic import synthetic_mart
from ml.forecast.training import train_and_register
from ml.registry import TrackingStore

CONFIG = ForecastConfig(
    max_rounds=30, learning_rate=0.15, min_data_in_leaf=20, num_leaves=15, num_threads=1
)
MODELS = ("kuajing", "seasonal_naive")


@pytest.fixture(autouse=True)
def no_default_store(tmp_path, monkeypatch):
    """An MLflow call not pointed at the data folder's store would create this one."""
    stray = tmp_path / "stray" / "mlflow.db"
    stray.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


def _store(mlflow_dir) -> TrackingStore:
    return TrackingStore.local(mlflow_dir)


def _client(mlflow_dir) -> MlflowClient:
    return open_store(_store(mlflow_dir)).client()


def _train(demand: pd.DataFrame, mart, mlflow_dir, grain: str):
    panel = build_panel(demand, skus=mart.skus, marketplaces=mart.marketplaces, grain=grain)
    return panel, train_and_register(
        panel,
        config=replace(CONFIG, grain=grain),
        store=_store(mlflow_dir),
        data_info=data_fingerprint(demand),
        models=MODELS,
    )


@pytest.mark.parametrize(
    ("grain", "days", "periods", "note"),
    [
        ("daily", 91, 91, "trained on 91 daily periods: 1 fold instead of 3"),
        # 26 weeks from a Monday: six months of weekly totals.
        ("weekly", 182, 26, "trained on 26 weekly periods: 1 fold instead of 3"),
    ],
)
def test_a_short_history_trains_on_one_fold_and_says_so(tmp_path, grain, days, periods, note):
    mart = synthetic_mart(
        n_skus=4, marketplaces=("US", "DE"), days=days, seed=4, weekly_orders=grain == "weekly"
    )
    mlflow_dir = tmp_path / "mlflow"
    assert champion_training_note(_store(mlflow_dir)) is None  # no champion yet
    panel, outcome = _train(mart.demand, mart, mlflow_dir, grain)
    assert panel.n_history == periods
    assert outcome.alias == CHAMPION
    assert (outcome.n_folds, outcome.backtest_horizon) == (1, 28 if grain == "daily" else 8)
    assert outcome.note.startswith(note)
    run = _client(mlflow_dir).get_run(outcome.run_id)
    params, tags = run.data.params, run.data.tags
    assert params["n_folds"] == "1" and params["n_folds_requested"] == "3"
    assert params["backtest_horizon"] == str(outcome.backtest_horizon)
    assert tags["backtest_folds"] == "1" and tags["training_note"] == outcome.note
    assert "fold0_wape" in run.data.metrics and "fold1_wape" not in run.data.metrics
    # What `make run`'s summary prints about the model that made the forecast.
    assert champion_training_note(_store(mlflow_dir)) == outcome.note


def test_a_full_history_has_no_training_note(tmp_path):
    mart = synthetic_mart(n_skus=3, marketplaces=("US",), days=150, seed=4)
    _, outcome = _train(mart.demand, mart, tmp_path / "mlflow", "daily")
    assert (outcome.n_folds, outcome.note) == (3, None)
    assert champion_training_note(_store(tmp_path / "mlflow")) is None
    tags = _client(tmp_path / "mlflow").get_run(outcome.run_id).data.tags
    assert tags["backtest_folds"] == "3" and "training_note" not in tags


def test_below_the_minimum_history_training_fails_before_any_run(tmp_path):
    mart = synthetic_mart(n_skus=3, marketplaces=("US",), days=50, seed=4)
    mlflow_dir = tmp_path / "mlflow"
    with pytest.raises(InsufficientHistoryError, match="50 days of history.*at least 58 days"):
        _train(mart.demand, mart, mlflow_dir, "daily")
    client = _client(mlflow_dir)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    assert client.search_runs([experiment.experiment_id]) == []
