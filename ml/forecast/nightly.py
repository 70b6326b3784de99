"""The two forecast jobs a data folder runs: train (and gate) a model, score with the champion.

Both read the marts from the warehouse; scoring loads ``models:/demand_forecast@champion`` from
the registry (never an in-memory training result) and writes ``forecast.demand_forecast`` in the
warehouse, ``out/demand_forecast.parquet`` and, for spreadsheets, ``out/demand_forecast.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import duckdb
import pandas as pd

from ml.settings import DataPaths

from .backtest import MODEL_KEYS
from .data import PLAN_HORIZON_VAR, PLAN_TABLE, load_demand, load_price_plan, plan_horizon_days
from .model import ForecastConfig
from .panel import PERIOD_DAYS, build_panel

FORECAST_SCHEMA = "forecast"
FORECAST_TABLE = f"{FORECAST_SCHEMA}.demand_forecast"
# Every night's forecast of its first weeks, kept to compare with what then sold (the risk
# alerts' forecast bias); a night scored again replaces its own rows.
HISTORY_TABLE = f"{FORECAST_SCHEMA}.forecast_history"
HISTORY_DAYS = 28
# The training run's comparison: every peer but AutoETS (six minutes on the default scenario;
# `kuajing bench forecast` runs it). The oracle needs the simulator's truth, which the pipeline
# never reads.
TRAINING_MODELS = tuple(m for m in MODEL_KEYS if m not in ("statsforecast_autoets", "oracle"))
FORECAST_COLUMNS = ("sku", "marketplace", "date", "horizon", "p10", "p50", "p90", "mean")
UNIT_COLUMNS = ("p10", "p50", "p90", "mean")
# The negative-binomial size of each row's demand around its mean (variance mean + mean^2 /
# size; inf: Poisson), kept in the table for the plans' safety stocks, not in the exports.
# A champion registered before the pyfunc returned it leaves it null.
SIZE_COLUMN = "nb_size"
CSV_DECIMALS = 2  # units in the CSV export (the parquet and the table keep full precision)


class NoChampionError(RuntimeError):
    """Scoring was asked for before any model was registered as champion."""


@dataclass(frozen=True)
class ScoringOutcome:
    forecast: pd.DataFrame  # FORECAST_COLUMNS + model_version
    version: int
    history: pd.DataFrame  # daily units per marketplace, the last 90 days (for the plot)
    parquet: Path
    csv: Path | None = None


def read_marts(paths: DataPaths) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if not paths.warehouse.exists():
        raise FileNotFoundError(
            f"No warehouse at {paths.warehouse}: build the marts first (`make run`)."
        )
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return load_demand(con)
    finally:
        con.close()


def train(
    paths: DataPaths,
    *,
    config: ForecastConfig | None = None,
    models: tuple[str, ...] = TRAINING_MODELS,
    n_folds: int = 3,
    progress: Callable[[str], None] | None = None,
):
    """Backtest, gate and register a model trained on the warehouse's demand mart."""
    from ml.registry import TrackingStore

    from .registry import data_fingerprint
    from .training import train_and_register

    config = config or ForecastConfig()
    demand, skus, markets = read_marts(paths)
    if demand.empty:
        raise ValueError("marts.fct_daily_demand is empty: there is no demand to learn from.")
    panel = build_panel(demand, skus=skus, marketplaces=markets, grain=config.grain)
    return train_and_register(
        panel,
        config=config,
        store=TrackingStore.from_paths(paths),
        data_info=data_fingerprint(demand),
        models=models,
        n_folds=n_folds,
        progress=progress,
        demand=demand,
        demand_source=str(paths.warehouse),
    )


def future_plan(paths: DataPaths, demand: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """Planned list prices and promotions of the ``horizon_days`` days after the history, from
    the plan mart ``marts.fct_price_plan`` (built by dbt from the prices and promotions
    entities). A day with no planned price keeps the series' last list price; a day with no
    promotion has none. Only series in the demand mart are kept."""
    covered = plan_horizon_days()
    if horizon_days > covered:
        raise ValueError(
            f"The forecast needs {horizon_days} days of planned prices, but {PLAN_TABLE} covers "
            f"{covered} days after the history: raise the dbt var {PLAN_HORIZON_VAR} in "
            "dbt_project/dbt_project.yml and rebuild the marts."
        )
    last = pd.to_datetime(demand["demand_date"]).max()
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        plan = load_price_plan(
            con, last + pd.Timedelta(days=1), last + pd.Timedelta(days=horizon_days)
        )
    finally:
        con.close()
    series = demand[["sku", "marketplace"]].drop_duplicates()
    plan = plan.merge(series, on=["sku", "marketplace"])
    last_price = (
        demand.dropna(subset=["list_price_local"])
        .sort_values("demand_date")
        .groupby(["sku", "marketplace"])["list_price_local"]
        .last()
        .rename("last_price")
    )
    plan = plan.join(last_price, on=["sku", "marketplace"])
    plan["list_price_local"] = plan["list_price_local"].fillna(plan["last_price"])
    plan["discount_pct"] = plan["discount_pct"].fillna(0.0)
    plan["demand_date"] = pd.to_datetime(plan["demand_date"])
    plan = plan.drop(columns="last_price").dropna(subset=["list_price_local"])
    return plan.sort_values(["sku", "marketplace", "demand_date"], ignore_index=True)


def score(paths: DataPaths, *, horizon_days: int | None = None) -> ScoringOutcome:
    """Forecast every series with the registry's champion and store the result.

    Raises ``NoChampionError`` before any champion, ``ChampionUnavailableError`` (one line)
    when the champion's artifacts are missing or corrupt."""
    from ml.registry import TrackingStore

    from .pyfunc import model_input
    from .registry import current_champion, latest_version, load_champion

    store = TrackingStore.from_paths(paths)
    if current_champion(store) is None:
        newest = latest_version(store)
        if newest is None:
            raise NoChampionError(
                "No model has the alias 'champion' in the registry at "
                f"{store.describe()}: run the `forecast_training` job (or `make run`) first."
            )
        version, alias, reason = newest
        raise NoChampionError(
            f"No model has the alias 'champion' in the registry at {store.describe()}: its "
            f"newest version, demand_forecast v{version} was registered as "
            f"{alias or 'no champion'} because {reason or 'of no logged reason'}."
        )
    model, version = load_champion(store)  # ChampionUnavailableError: one line
    demand, skus, markets = read_marts(paths)
    days = horizon_days or _champion_horizon_days(model)
    plan = future_plan(paths, demand, days)
    rows = model_input(demand, skus=skus, marketplaces=markets, plan=plan)
    predicted = cast(pd.DataFrame, model.predict(rows))  # the pyfunc returns a frame
    predicted = predicted.assign(model_version=version)
    write_forecast(paths, predicted)  # with the champion's nb_size where it gives one
    forecast = predicted[[*FORECAST_COLUMNS, "model_version"]]
    parquet, csv = write_exports(paths, forecast)
    return ScoringOutcome(forecast, version, recent_history(demand), parquet, csv)


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``: a reader (or a
    spreadsheet re-opening the file) never sees half a forecast."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named by pid (not mkstemp, whose file is private to its owner: the export keeps the
    # umask's permissions).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def csv_frame(forecast: pd.DataFrame) -> pd.DataFrame:
    """The forecast as a seller's spreadsheet shows it: units to ``CSV_DECIMALS`` decimals,
    dates as ISO ``YYYY-MM-DD``."""
    out = forecast.copy()
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    for col in UNIT_COLUMNS:
        out[col] = out[col].astype(float).round(CSV_DECIMALS)
    return out


def write_exports(paths: DataPaths, forecast: pd.DataFrame) -> tuple[Path, Path]:
    """``out/demand_forecast.parquet`` (full precision) and ``out/demand_forecast.csv`` beside
    it (``csv_frame``; UTF-8 with a byte-order mark, so spreadsheets read non-ASCII SKUs)."""
    parquet = paths.out / "demand_forecast.parquet"
    csv = paths.out / "demand_forecast.csv"
    _replace_atomically(parquet, lambda tmp: forecast.to_parquet(tmp, index=False))
    rows = csv_frame(forecast)
    _replace_atomically(csv, lambda tmp: rows.to_csv(tmp, index=False, encoding="utf-8-sig"))
    return parquet, csv


def _champion_horizon_days(model) -> int:
    """The plan must cover the champion's horizon (periods x days per period)."""
    forecaster = model.unwrap_python_model().forecaster
    return forecaster.horizon * PERIOD_DAYS[forecaster.grain]


def write_forecast(paths: DataPaths, forecast: pd.DataFrame) -> None:
    """Replace the forecast table in one transaction (readers never see half a forecast).
    A frame without ``nb_size`` (an older champion) keeps the column, as NULL."""
    if SIZE_COLUMN not in forecast:
        forecast = forecast.assign(**{SIZE_COLUMN: float("nan")})
    con = duckdb.connect(str(paths.warehouse))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {FORECAST_SCHEMA}")
        con.register("forecast_rows", forecast)
        con.execute("BEGIN")
        con.execute(
            f"CREATE OR REPLACE TABLE {FORECAST_TABLE} AS "
            "SELECT sku, marketplace, CAST(date AS DATE) AS date, CAST(horizon AS INTEGER) AS "
            "horizon, p10, p50, p90, mean, CAST(model_version AS INTEGER) AS model_version, "
            f"current_timestamp AS scored_at, CAST({SIZE_COLUMN} AS DOUBLE) AS {SIZE_COLUMN} "
            "FROM forecast_rows"
        )
        _keep_history(con)
        con.execute("COMMIT")
    finally:
        con.close()


def _keep_history(con: duckdb.DuckDBPyConnection) -> None:
    """Tonight's forecast of its first ``HISTORY_DAYS`` days into ``HISTORY_TABLE``, dated by
    its first forecast day (``forecast_from``); rows of the same night are replaced."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (forecast_from DATE, sku VARCHAR, "
        "marketplace VARCHAR, date DATE, mean DOUBLE, p10 DOUBLE, p90 DOUBLE, "
        "model_version INTEGER, scored_at TIMESTAMP)"
    )
    first = f"(SELECT min(date) FROM {FORECAST_TABLE})"
    con.execute(f"DELETE FROM {HISTORY_TABLE} WHERE forecast_from = {first}")
    con.execute(
        f"INSERT INTO {HISTORY_TABLE} SELECT {first}, sku, marketplace, date, mean, p10, p90, "
        f"model_version, scored_at FROM {FORECAST_TABLE} "
        f"WHERE date < {first} + {HISTORY_DAYS}"
    )


def recent_history(demand: pd.DataFrame, days: int = 90) -> pd.DataFrame:
    dates = pd.to_datetime(demand["demand_date"])
    recent = demand[dates > dates.max() - pd.Timedelta(days=days)]
    return (
        recent.assign(date=pd.to_datetime(recent["demand_date"]))
        .groupby(["marketplace", "date"], as_index=False)["units"]
        .sum()
    )
