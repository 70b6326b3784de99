"""One training run of the demand forecast, through the registry (``ml.registry``).

``train_and_register`` runs one MLflow run: backtest (Kuajing and the requested baselines on the
same folds), metrics and artifacts, the registry gate (``ForecastComparison``), the final fit on
the whole panel, and a new version of ``demand_forecast`` with alias ``champion`` or
``challenger``. No Dagster here: the orchestration layer calls these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset

from ml.registry import gate as registry_gate
from ml.registry import tracking, versions
from ml.registry.runs import mark_dead_runs_failed, process_tags
from ml.registry.store import TrackingStore, fluent, open_experiment

from . import plots, pyfunc, selection
from .backtest import MODEL_KEYS, BacktestResult, backtest, compare, plan_backtest
from .data import DEMAND_TABLE
from .metrics import summarize
from .model import DemandForecaster, ForecastConfig, fit
from .panel import Panel
from .peers import PeerForecaster
from .registry import (
    EXPERIMENT_NAME,
    MODEL,
    MODEL_NAME,
    Progress,
    config_params,
    data_fingerprint,
    gate,
)

MARKET_METRICS = ("wape", "coverage_p10_p90", "coverage_p10_p90_pit", "bias")


@dataclass
class TrainingOutcome:
    run_id: str
    version: int
    alias: str  # champion | challenger
    reason: str
    comparison: pd.DataFrame  # one row per model (compare(result))
    by_marketplace: pd.DataFrame  # compare(result, by="marketplace")
    metrics: dict[str, float]  # the served model's overall backtest metrics
    champion_version: int | None = None  # the champion before this run
    champion_metrics: dict[str, float] | None = None
    n_folds: int = 3  # backtest folds used (fewer than asked on a short history)
    backtest_horizon: int | None = None  # periods per fold
    note: str | None = None  # why the backtest differs from the one asked for (BacktestPlan)
    served_model: str = "kuajing"  # what the version serves: Kuajing's model or a peer
    served_reason: str = ""

    @property
    def model_uri(self) -> str:
        return MODEL.uri(self.version)


def run_name(panel: Panel, data_info: Mapping[str, Any], started: dt.datetime) -> str:
    """What the MLflow UI lists the run as: model, grain, data range, start (local time), e.g.
    ``demand_forecast daily 2024-01-01..2026-11-30 2026-12-01T08:00``."""
    first = data_info.get("date_from") or str(panel.history_dates[0].date())
    last = data_info.get("date_to") or str(panel.history_dates[-1].date())
    return f"{MODEL_NAME} {panel.grain} {first}..{last} {started:%Y-%m-%dT%H:%M}"


def training_dataset(
    panel: Panel,
    data_info: Mapping[str, Any],
    demand: pd.DataFrame | None = None,
    source: str | None = None,
) -> PandasDataset:
    """The training data as an MLflow dataset (``tracking.dataset``): ``demand`` (the mart's
    rows) named ``marts.fct_daily_demand``, or without it the panel's units as long rows. The
    digest is the data fingerprint's sha256, the source the warehouse file where given."""
    if demand is None:
        name = "demand_panel"
        demand = pd.DataFrame(
            {
                "sku": np.repeat(panel.series["sku"].to_numpy(), panel.n_history),
                "marketplace": np.repeat(panel.series["marketplace"].to_numpy(), panel.n_history),
                "period": np.tile(panel.history_dates.to_numpy(), panel.n_series),
                "units": panel.units.reshape(-1),
            }
        )
    else:
        name = DEMAND_TABLE
    sha256 = str(data_info.get("sha256") or data_fingerprint(demand)["sha256"])
    return tracking.dataset(demand, name=name, sha256=sha256, targets="units", source=source)


def _log_backtest_metrics(
    result: BacktestResult, table: pd.DataFrame, by_market: pd.DataFrame
) -> None:
    metrics: dict[str, float] = {}
    kj = result.forecasts[result.forecasts["model"] == "kuajing"]
    for fold, g in kj.groupby("fold"):
        scores = summarize(g, result.scales[fold], result.weights[fold])
        for k, v in tracking.finite(scores).items():
            metrics[f"fold{fold}_{k}"] = v
    for model, row in table.iterrows():
        for k, v in tracking.finite(row.to_dict()).items():
            metrics[f"{model}_{k}"] = v
    for (market, model), row in by_market.iterrows():
        if model == "kuajing":
            for k in MARKET_METRICS:
                if np.isfinite(row.get(k, np.nan)):
                    metrics[f"kuajing_{k}_{market}"] = float(row[k])
    mlflow.log_metrics(metrics)


def _log_plots(result: BacktestResult, workdir: Path, n: int = 6) -> None:
    f = result.forecasts
    for stem, keys, title in (
        ("sample_series", plots.sample_series(f, n, seed=0), "Backtest: sample series"),
        ("worst_series", plots.worst_series(f, n), "Backtest: largest share of absolute error"),
    ):
        path = workdir / f"{stem}.png"
        plots.forecast_vs_actual(f, keys, title, path=path)
        tracking.log_file(path, "plots")


def _log_final_fit(final: DemandForecaster, workdir: Path) -> None:
    importance = final.feature_importance()
    mlflow.log_text(importance.to_csv(index=False), "feature_importance/feature_importance.csv")
    plots.feature_importance_plot(importance, path=workdir / "feature_importance.png")
    tracking.log_file(workdir / "feature_importance.png", "feature_importance")
    mlflow.log_metrics(
        {
            "final_best_iteration": float(final.best_iteration),
            "final_train_rows": float(final.train_rows),
            **{f"final_calibration_{k}": v for k, v in tracking.finite(final.calibration).items()},
        }
    )


def _log_model(final: pyfunc.Forecaster, panel: Panel, workdir: Path) -> int:
    """Log the fitted model as ``DemandForecastModel`` and register a new version."""
    pkl = workdir / f"{pyfunc.FORECASTER_ARTIFACT}.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump(final, fh)
    example = pyfunc.example_rows(panel, final.horizon)
    output = pyfunc.forecast_frame(final, example)
    _, version = versions.log_pyfunc(
        MODEL,
        pyfunc.DemandForecastModel(),
        artifacts={pyfunc.FORECASTER_ARTIFACT: str(pkl)},
        code_modules=pyfunc.SERVED_MODULES,
        workdir=workdir,
        signature=pyfunc.signature(example, output),
        input_example=example,
        pip_requirements=pyfunc.pinned_requirements(),
    )
    return version


def train_and_register(
    panel: Panel,
    *,
    config: ForecastConfig,
    store: TrackingStore,
    data_info: dict[str, Any],
    truth: Any = None,
    models: tuple[str, ...] = MODEL_KEYS,
    n_folds: int = 3,
    progress: Progress | None = None,
    demand: pd.DataFrame | None = None,
    demand_source: str | None = None,
) -> TrainingOutcome:
    """Backtest, gate, fit on the whole panel and register, in one MLflow run in ``store``.

    ``data_info``: ``data_fingerprint(demand)`` (and anything else to log, as ``data_*``
    params); its ``sha256`` tells "retrained on newer data" from "retrained on the same data".
    ``demand`` (the mart rows the panel was built from) and ``demand_source`` (where they were
    read) describe the run's dataset (``training_dataset``); the run is named by ``run_name``.

    A history too short for ``n_folds`` folds is backtested on fewer (``plan_backtest``): the
    run's params ``n_folds`` / ``n_folds_requested`` / ``backtest_horizon``, its tags
    ``backtest_folds`` and ``training_note``, and the outcome say so. Below the minimum
    history ``InsufficientHistoryError`` is raised before any run starts.
    """
    say = progress or (lambda _msg: None)
    models = tuple(dict.fromkeys(("kuajing", *models)))  # the gate needs Kuajing's metrics
    experiment_id = open_experiment(store, EXPERIMENT_NAME)
    for run_id in mark_dead_runs_failed(store, [EXPERIMENT_NAME]):
        say(f"run {run_id} was left RUNNING by a process that is gone: marked FAILED")
    data_sha = str(data_info["sha256"]) if data_info.get("sha256") is not None else None
    horizon = config.resolved_horizon(panel.grain)
    plan = plan_backtest(panel.n_history, panel.grain, horizon, n_folds)
    # The backtest's config: the model's, at the fold's horizon when the history is short.
    backtest_config = config if plan.horizon == horizon else replace(config, horizon=plan.horizon)
    with (
        fluent(store),
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name(panel, data_info, dt.datetime.now()),
            tags=process_tags(),
        ) as run,
    ):
        workdir = Path(tmp)
        tracking.log_dataset(training_dataset(panel, data_info, demand, demand_source))
        mlflow.log_params(
            {
                **config_params(config),
                **{f"data_{k}": str(v) for k, v in data_info.items()},
                "resolved_grain": panel.grain,
                "resolved_horizon": str(horizon),
                "n_folds": str(plan.n_folds),
                "n_folds_requested": str(n_folds),
                "backtest_horizon": str(plan.horizon),
                "backtest_models": ",".join(models),
                "panel_series": str(panel.n_series),
                "panel_periods": str(panel.n_history),
            }
        )
        if data_sha:
            mlflow.set_tag("data_sha256", data_sha)
        mlflow.set_tag("backtest_folds", str(plan.n_folds))
        if plan.note:
            mlflow.set_tag("training_note", plan.note)
            say(plan.note)
        mlflow.log_text(json.dumps(asdict(config), indent=2, default=str), "config.json")

        say(f"backtest: {', '.join(models)} on {plan.n_folds} folds of {plan.horizon}")
        result = backtest(
            panel=panel,
            config=backtest_config,
            n_folds=plan.n_folds,
            models=models,
            truth=truth,
            progress=lambda step: say(f"backtest: {step} done"),
        )
        table = compare(result)
        by_market = compare(result, by="marketplace")
        served = selection.choose_served(result)
        candidate = served.metrics
        say(f"serving {served.name}: {served.reason}")
        mlflow.set_tags({"served_model": served.name, "served_reason": served.reason[:500]})
        _log_backtest_metrics(result, table, by_market)
        mlflow.log_metrics({f"served_{k}": v for k, v in candidate.items()})
        tracking.log_table(table, "overall")
        tracking.log_table(by_market, "by_marketplace")
        tracking.log_table(compare(result, by="dormant"), "by_dormancy")
        _log_plots(result, workdir)

        say("gate: comparing with the champion")
        decision = gate(
            store,
            panel=panel,
            config=config,
            n_folds=plan.n_folds,
            candidate=candidate,
            data_sha256=data_sha,
            progress=say,
            backtest_horizon=plan.horizon,
            served_model=served.name,
        )

        final: pyfunc.Forecaster
        if served.name == selection.KUAJING:
            say("fitting the final model on the whole panel")
            final = fit(panel=panel, config=config)
            _log_final_fit(final, workdir)
        else:
            # A peer re-runs on the history it is sent: nothing to fit but its quantiles.
            final = PeerForecaster(
                served.name,
                panel.grain,
                horizon,
                served.sizes,
                config.seed,
                config.num_threads,
                served.p50_levels,
            )

        say("logging and registering the model")
        version = _log_model(final, panel, workdir)
        registry_gate.record(
            store,
            MODEL,
            decision,
            version=version,
            run_id=run.info.run_id,
            version_tags={"data_sha256": data_sha or ""},
        )
        say(f"version {version} -> {decision.alias}: {decision.reason}")
        return TrainingOutcome(
            run_id=run.info.run_id,
            version=version,
            alias=decision.alias,
            reason=decision.reason,
            comparison=table,
            by_marketplace=by_market,
            metrics=candidate,
            champion_version=decision.champion_version,
            champion_metrics=decision.champion_metrics,
            n_folds=plan.n_folds,
            backtest_horizon=plan.horizon,
            note=plan.note,
            served_model=served.name,
            served_reason=served.reason,
        )
