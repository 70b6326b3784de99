"""The demand forecast in the model registry (``ml.registry``): its name, how its configuration
is stored in a run, its data fingerprint, its comparison rule, and what the pipeline asks the
registry about it.

Versions of the registered model ``demand_forecast`` are trained by runs of the experiment
``demand_forecast`` (``ml.forecast.training``) and served as ``DemandForecastModel``
(``ml.forecast.pyfunc``). The store is a ``TrackingStore``: by default the data folder's SQLite
store (``TrackingStore.from_paths``), or a tracking server (``KUAJING_MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import pandas as pd
from mlflow.pyfunc import PyFuncModel

from ml.registry import gate as registry_gate
from ml.registry import tracking, versions
from ml.registry.gate import FIRST_MODEL_REASON, Champion, GateDecision, Verdict
from ml.registry.store import TrackingStore, open_experiment
from ml.registry.versions import CHALLENGER, CHAMPION, ChampionUnavailableError, ModelSpec

from .backtest import BacktestResult, backtest, compare, is_better, wrmsse_missing
from .metrics import HEADLINE
from .model import ForecastConfig
from .panel import Panel

# Models registered before the registry was split pickled the class as
# ml.forecast.registry.DemandForecastModel: loaded in this process, they find it here.
from .pyfunc import FORECASTER_ARTIFACT, DemandForecastModel

MODEL_NAME = "demand_forecast"
EXPERIMENT_NAME = "demand_forecast"
MODEL = ModelSpec(MODEL_NAME, EXPERIMENT_NAME, files=(f"artifacts/{FORECASTER_ARTIFACT}.pkl",))
NEWER_DATA_REASON = "same configuration retrained on newer data, same backtest score"
DATA_KEYS = ("sku", "marketplace", "demand_date")

Progress = Callable[[str], None]

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "EXPERIMENT_NAME",
    "FIRST_MODEL_REASON",
    "MODEL",
    "MODEL_NAME",
    "NEWER_DATA_REASON",
    "ChampionUnavailableError",
    "DemandForecastModel",
    "ForecastComparison",
    "TrackingStore",
    "champion_metrics",
    "champion_training_note",
    "config_from_params",
    "config_params",
    "current_champion",
    "data_fingerprint",
    "gate",
    "latest_version",
    "load_champion",
    "open_store",
    "retrain_hint",
]


# --------------------------------------------------------------------------- data and config


def data_fingerprint(demand_df: pd.DataFrame) -> dict[str, Any]:
    """rows, date_from, date_to, n_series and a sha256 of the demand rows sorted by sku,
    marketplace and date (``ml.registry.tracking.fingerprint``): row order, column order and
    dtype details do not change it; any value does."""
    return tracking.fingerprint(
        demand_df, keys=DATA_KEYS, date_column="demand_date", series=DATA_KEYS[:2]
    )


def config_params(config: ForecastConfig) -> dict[str, str]:
    """The config as MLflow params (``config_from_params`` reads them back)."""
    return {k: str(v) for k, v in asdict(config).items()}


# A run logged before a config field existed trained with this value of it.
VALUES_BEFORE_FIELD: dict[str, Any] = {"relative_target": False, "year_ago_origins": 0}


def config_from_params(params: Mapping[str, str]) -> ForecastConfig:
    """A ``ForecastConfig`` from a run's params; a field the run lacks takes its value from
    before the field existed, else its default."""
    values: dict[str, Any] = {}
    for f in fields(ForecastConfig):
        if f.name not in params:
            if f.name in VALUES_BEFORE_FIELD:
                values[f.name] = VALUES_BEFORE_FIELD[f.name]
            continue
        raw = params[f.name]
        try:
            values[f.name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            values[f.name] = raw  # plain strings: "auto", "tweedie"
    return ForecastConfig(**values)


def served_model(tags: Mapping[str, str]) -> str:
    """What a training run's version serves (tag ``served_model``; before it: Kuajing)."""
    return tags.get("served_model") or "kuajing"


def has_config(params: Mapping[str, str]) -> bool:
    return any(f.name in params for f in fields(ForecastConfig))


# --------------------------------------------------------------------------- comparison rule


def kuajing_metrics(result: BacktestResult) -> dict[str, float]:
    """Kuajing's overall backtest metrics (the finite ones)."""
    return tracking.finite(compare(result).loc["kuajing"].to_dict())


@dataclass(frozen=True)
class ForecastComparison:
    """The demand forecast's ``ComparisonRule``: the champion is scored on the candidate's
    backtest (same panel and folds) and ``is_better`` decides.

    The champion's configuration is read from its run's params and backtested at the
    candidate's grain and backtest horizon (``backtest_horizon`` or the config's, so the folds
    match), unless it equals the candidate's, whose metrics are then reused. A candidate
    without a finite ``wrmsse`` cannot be judged (its guard). The same configuration on
    different data (the same score by construction) takes over: retrained on newer data."""

    panel: Panel
    config: ForecastConfig
    n_folds: int
    data_sha256: str | None
    backtest_horizon: int | None = None
    progress: Progress | None = None
    served_model: str = "kuajing"  # what the candidate serves (``selection.choose_served``)

    def refusal(self, candidate: Mapping[str, float]) -> str | None:
        return wrmsse_missing(dict(candidate))

    def compare(self, champion: Champion, candidate: Mapping[str, float]) -> Verdict:
        version, params = champion.version, champion.params
        if not has_config(params):
            return Verdict(False, f"champion v{version} has no logged configuration to compare")
        champ_config = config_from_params(params)
        champ_serves = served_model(champion.tags)
        same_config = champ_config == self.config and champ_serves == self.served_model
        champ_metrics = (
            dict(candidate) if same_config else self._backtest(champion, champ_config, champ_serves)
        )
        better, why = is_better(dict(candidate), champ_metrics)
        if better:
            return Verdict(True, f"beats champion v{version}: {why}", champ_metrics)
        same_data = self.data_sha256 is not None and params.get("data_sha256") == self.data_sha256
        if same_config and self.data_sha256 is not None and not same_data:
            return Verdict(True, NEWER_DATA_REASON, champ_metrics)
        if same_config and same_data:
            why = f"same configuration and same data as champion v{version}: nothing new"
            return Verdict(False, why, champ_metrics)
        return Verdict(False, f"does not beat champion v{version}: {why}", champ_metrics)

    def _backtest(
        self, champion: Champion, champ_config: ForecastConfig, serves: str
    ) -> dict[str, float]:
        from .selection import served_metrics

        say = self.progress
        if say:
            say(f"backtesting champion v{champion.version} ({serves}) on the same folds")
        # Same grain and horizon as the candidate: otherwise the folds would differ.
        on_same_folds = replace(
            champ_config,
            grain=self.config.grain,
            horizon=self.backtest_horizon or self.config.horizon,
        )
        result = backtest(
            panel=self.panel,
            config=on_same_folds,
            n_folds=self.n_folds,
            models=(serves,),
            progress=(lambda step: say(f"champion backtest: {step} done")) if say else None,
        )
        return served_metrics(result, serves).metrics


def gate(
    store: TrackingStore,
    *,
    panel: Panel,
    config: ForecastConfig,
    n_folds: int,
    candidate: dict[str, float],
    data_sha256: str | None,
    progress: Progress | None = None,
    backtest_horizon: int | None = None,
    served_model: str = "kuajing",
) -> GateDecision:
    """Champion or challenger for a candidate with backtest metrics ``candidate``
    (``ml.registry.gate.decide`` with ``ForecastComparison``)."""
    rule = ForecastComparison(
        panel, config, n_folds, data_sha256, backtest_horizon, progress, served_model
    )
    return registry_gate.decide(open_store(store), MODEL, rule, candidate)


# --------------------------------------------------------------------------- the registry


def open_store(store: TrackingStore) -> TrackingStore:
    """``store`` with the ``demand_forecast`` experiment created if missing (and a copied or
    moved local store re-based); every function here opens it first."""
    open_experiment(store, EXPERIMENT_NAME)
    return store


def current_champion(store: TrackingStore) -> versions.VersionRef | None:
    """(version, run_id) of the version with alias ``champion``, or None."""
    return versions.current_champion(open_store(store), MODEL)


def latest_version(store: TrackingStore) -> tuple[int, str, str] | None:
    """(version, alias, gate reason) of the newest version of ``demand_forecast``, or None."""
    return registry_gate.latest_decision(open_store(store), MODEL)


def retrain_hint(store: TrackingStore) -> str:
    """How to register a new champion for the data folder that holds a local ``store``."""
    root = store.artifact_root.parent.parent if store.artifact_root else "<data folder>"
    return (
        "retrain to register a new champion: run the job forecast_training (Dagster UI, `make "
        f"ui`), or from the project folder `KUAJING_DATA_DIR={root} DAGSTER_HOME={root}/dagster "
        ".venv/bin/dagster job execute -m orchestration.definitions -j forecast_training`"
    )


def load_champion(store: TrackingStore) -> tuple[PyFuncModel, int]:
    """The champion, loaded from ``models:/demand_forecast@champion``, and its version; missing
    or corrupt artifacts raise ``ChampionUnavailableError`` (one line, how to retrain)."""
    return versions.load_champion(open_store(store), MODEL, retrain_hint=retrain_hint(store))


def champion_training_note(store: TrackingStore) -> str | None:
    """What the champion's training changed because its history was short, e.g. "trained on
    91 daily periods: 1 fold instead of 3 (3 folds of 28 days need 142 periods)" (its run's
    ``training_note`` tag); None without a champion or when it had the full backtest."""
    run = versions.champion_run(open_store(store), MODEL)
    return (run.data.tags.get("training_note") or None) if run else None


def champion_metrics(store: TrackingStore) -> dict[str, float]:
    """The champion's headline backtest metrics as served (``served_<metric>`` of its training
    run; ``kuajing_<metric>`` for runs before a peer could be served)."""
    run = versions.champion_run(open_store(store), MODEL)
    if run is None:
        return {}
    logged = run.data.metrics
    prefix = "served" if any(k.startswith("served_") for k in logged) else "kuajing"
    return {k: logged[f"{prefix}_{k}"] for k in HEADLINE if f"{prefix}_{k}" in logged}


def champion_serves(store: TrackingStore) -> str | None:
    """What the champion serves ("kuajing" or a peer's name), or None without a champion."""
    run = versions.champion_run(open_store(store), MODEL)
    return served_model(run.data.tags) if run else None
