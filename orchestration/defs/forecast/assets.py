"""Forecast assets: the registered model (trained weekly, gated) and the nightly forecast.

The forecast asset loads ``models:/demand_forecast@champion`` from the MLflow registry in the data
folder; the training asset only proposes versions, which the gate makes champion or challenger.
"""

import base64
from typing import Literal

import dagster as dg

from ml.forecast.metrics import HEADLINE
from orchestration.metadata import markdown_preview
from orchestration.resources import KuajingResource

GROUP = "forecast"
MODEL_KEY = dg.AssetKey(["forecast", "demand_forecast_model"])
FORECAST_KEY = dg.AssetKey(["forecast", "demand_forecast"])
DEMAND_MARTS = [
    dg.AssetKey(["marts", "fct_daily_demand"]),
    dg.AssetKey(["marts", "dim_sku"]),
    dg.AssetKey(["marts", "dim_marketplace"]),
]
# Planned prices and promotions of the days ahead: what scoring reads besides the history (and
# where pricing will write its recommendations).
PRICE_PLAN = dg.AssetKey(["marts", "fct_price_plan"])


class TrainingConfig(dg.Config):
    """Run config of a training run (Launchpad: ops -> forecast__demand_forecast_model)."""

    grain: Literal["auto", "daily", "weekly"] = "auto"
    horizon: int | None = None  # periods ahead; default 28 days or 8 weeks
    n_folds: int = 3
    models: list[str] | None = None  # default: every peer but AutoETS (see ml.forecast.nightly)


def _png(png: bytes, title: str) -> dg.MetadataValue:
    # Inline, so the plot shows in the asset's metadata without a file server.
    return dg.MetadataValue.md(
        f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
    )


def mlflow_ui_hint(kuajing: KuajingResource) -> str:
    return f"`make mlflow-ui` (store: {kuajing.paths.mlflow})"


@dg.asset(
    key=MODEL_KEY,
    group_name=GROUP,
    deps=DEMAND_MARTS,
    kinds={"lightgbm", "mlflow"},
    description="Backtests a global LightGBM demand model against baselines and peers, logs "
    "the run to MLflow and registers a version of `demand_forecast`: `champion` only if it "
    "beats the current champion on the same backtest, else `challenger` (reason logged).",
)
def demand_forecast_model(
    context: dg.AssetExecutionContext, kuajing: KuajingResource, config: TrainingConfig
) -> dg.MaterializeResult:
    from ml.forecast import ForecastConfig
    from ml.forecast.backtest import InsufficientHistoryError
    from ml.forecast.nightly import TRAINING_MODELS, train

    try:
        outcome = train(
            kuajing.paths,
            config=ForecastConfig(grain=config.grain, horizon=config.horizon),
            models=tuple(config.models or TRAINING_MODELS),
            n_folds=config.n_folds,
            progress=context.log.info,
        )
    except InsufficientHistoryError as error:
        raise dg.Failure(description=str(error)) from None
    if outcome.alias != "champion":
        context.log.warning(f"version {outcome.version} stays challenger: {outcome.reason}")
    if outcome.note:
        context.log.warning(outcome.note)
    backtest = {
        f"backtest_{k}": float(outcome.metrics[k]) for k in HEADLINE if k in outcome.metrics
    }
    return dg.MaterializeResult(
        metadata={
            "model_version": outcome.version,
            "alias": outcome.alias,
            "serves": outcome.served_model,
            "served_because": outcome.served_reason,
            "gate_reason": outcome.reason,
            "champion_before": outcome.champion_version,
            **backtest,
            "backtest_folds": outcome.n_folds,
            "backtest_horizon": outcome.backtest_horizon,
            **({"training_note": outcome.note} if outcome.note else {}),
            "comparison": dg.MetadataValue.md(outcome.comparison.round(4).to_markdown()),
            "mlflow_run_id": outcome.run_id,
            "mlflow_ui": mlflow_ui_hint(kuajing),
        }
    )


@dg.asset(
    key=FORECAST_KEY,
    group_name=GROUP,
    deps=[MODEL_KEY, *DEMAND_MARTS, PRICE_PLAN],
    kinds={"mlflow", "duckdb"},
    description="P10 / P50 / P90 units per SKU x marketplace x day over the horizon, scored by "
    "`models:/demand_forecast@champion` from the registry; table forecast.demand_forecast, "
    "out/demand_forecast.parquet and out/demand_forecast.csv.",
)
def demand_forecast(
    context: dg.AssetExecutionContext, kuajing: KuajingResource
) -> dg.MaterializeResult:
    from ml.forecast import plots, totals
    from ml.forecast.nightly import NoChampionError, score
    from ml.forecast.registry import ChampionUnavailableError, champion_metrics
    from ml.registry import TrackingStore

    try:
        outcome = score(kuajing.paths)
    except (NoChampionError, ChampionUnavailableError) as error:
        raise dg.Failure(description=str(error)) from None
    forecast = outcome.forecast
    metrics = champion_metrics(TrackingStore.from_paths(kuajing.paths))
    context.log.info(
        f"scored {forecast[['sku', 'marketplace']].drop_duplicates().shape[0]:,} series with "
        f"demand_forecast v{outcome.version}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(forecast),
            "model_version": outcome.version,
            "model_uri": "models:/demand_forecast@champion",
            "series": int(forecast[["sku", "marketplace"]].drop_duplicates().shape[0]),
            "date_from": str(forecast["date"].min().date()),
            "date_to": str(forecast["date"].max().date()),
            **totals.forecast_totals(forecast),  # total_mean_units, total_p10/p90_units
            **{f"backtest_{k}": float(v) for k, v in metrics.items()},
            "plot": _png(
                plots.forecast_overview(outcome.history, forecast), "forecast by marketplace"
            ),
            "top_skus_plot": _png(plots.top_series_plot(forecast), "top SKUs by marketplace"),
            "preview": markdown_preview(forecast),
            "parquet": dg.MetadataValue.path(str(outcome.parquet)),
            "csv": dg.MetadataValue.path(str(outcome.csv)),
            "mlflow_ui": mlflow_ui_hint(kuajing),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[demand_forecast_model, demand_forecast])
