"""The demand forecast as an MLflow pyfunc: what the registry serves and ``make serve-model``
answers REST requests with.

``DemandForecastModel`` wraps a fitted ``DemandForecaster`` (artifact ``forecaster``, a pickle),
or the ``PeerForecaster`` a training run chose to serve instead (``ml.forecast.selection``);
``model_input`` builds its input frame from mart frames, ``example_rows`` a small real request,
``signature`` the logged schema. This module and the modules it imports are the code a
registered version carries (``SERVED_MODULES``): nothing of training, the registry or the
orchestration.
"""

from __future__ import annotations

import pickle
import warnings
from importlib.metadata import version as dist_version
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema, TensorSpec

from .model import DemandForecaster, predict
from .panel import DEMAND_COLUMNS, PERIOD_DAYS, PLAN_COLUMNS, Panel, build_panel
from .peers import PeerForecaster, predict_peer

Forecaster = DemandForecaster | PeerForecaster

ATTRIBUTE_COLUMNS = ("category", "launch_date", "country")  # optional pyfunc input columns
FORECASTER_ARTIFACT = "forecaster"  # artifacts/forecaster.pkl of a version
# The project modules a version imports when it is loaded (with what they import: code_paths).
SERVED_MODULES = (__name__,)
# Distributions the served model imports (the project's modules travel as code_paths).
SERVING_REQUIREMENTS = (
    "mlflow",
    "lightgbm",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "holidays",
    "cloudpickle",
    "pyarrow",
    "pyyaml",
    # A version may serve a peer (``peers.PeerForecaster``): mlforecast, statsforecast.
    "statsforecast",
    "mlforecast",
)


def model_input(
    demand: pd.DataFrame,
    *,
    skus: pd.DataFrame | None = None,
    marketplaces: pd.DataFrame | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pyfunc input frame from mart-shaped frames (see ``DemandForecastModel``): history
    rows, plan rows appended with null units, sku and marketplace attributes merged on."""
    rows = demand[list(DEMAND_COLUMNS)].copy()
    rows["units"] = rows["units"].astype(float)
    if plan is not None and len(plan):
        future = plan[list(PLAN_COLUMNS)].copy()
        future["units"] = np.nan
        future["is_promoted"] = future["discount_pct"].fillna(0.0) > 0
        future["ad_spend_usd"] = 0.0
        future["is_censored"] = False
        rows = pd.concat([rows, future[list(DEMAND_COLUMNS)]], ignore_index=True)
    if skus is not None:
        cols = [c for c in ("sku", "category", "launch_date") if c in skus.columns]
        rows = rows.merge(skus[cols].drop_duplicates("sku"), on="sku", how="left")
    if marketplaces is not None and "country" in marketplaces.columns:
        by_code = marketplaces.drop_duplicates("marketplace")[["marketplace", "country"]]
        rows = rows.merge(by_code, on="marketplace", how="left")
    for col in ("demand_date", "launch_date"):
        if col in rows.columns:
            rows[col] = pd.to_datetime(rows[col]).dt.normalize()
    return rows.sort_values(["sku", "marketplace", "demand_date"], ignore_index=True)


def forecast_frame(model: Forecaster, rows: pd.DataFrame) -> pd.DataFrame:
    """``model``'s forecast for a pyfunc input frame (the logic of ``DemandForecastModel``)."""
    panel = input_panel(model, rows)
    out = (
        predict(model, panel) if isinstance(model, DemandForecaster) else predict_peer(model, panel)
    )
    qcols = [c for c in out.columns if c.startswith("p") and c[1:].isdigit()]
    out = out.sort_values(["sku", "marketplace", "horizon"], ignore_index=True)
    return out[["sku", "marketplace", "date", "horizon", "mean", "nb_size", *qcols]]


def input_panel(model: Forecaster, rows: pd.DataFrame) -> Panel:
    """The panel ``model`` forecasts from a pyfunc input frame: history rows (with units, or
    censored) up to the last day with units, plan rows after it."""
    missing = [c for c in ("sku", "marketplace", "demand_date", "units") if c not in rows]
    if missing:
        raise ValueError(f"input lacks column(s) {missing}; it has {list(rows.columns)}")
    rows = rows.copy()
    rows["demand_date"] = pd.to_datetime(rows["demand_date"]).dt.normalize()
    rows["units"] = pd.to_numeric(rows["units"], errors="coerce")
    for col, neutral in (
        ("list_price_local", np.nan),
        ("discount_pct", 0.0),
        ("ad_spend_usd", 0.0),
        ("is_promoted", False),
        ("is_censored", False),
    ):
        if col not in rows:
            rows[col] = neutral
        rows[col] = rows[col].astype(object).where(rows[col].notna(), neutral)
    for col in ("list_price_local", "discount_pct", "ad_spend_usd"):
        rows[col] = rows[col].astype(float)
    for col in ("is_promoted", "is_censored"):
        rows[col] = rows[col].astype(bool)

    observed = rows["units"].notna()
    if not observed.any():
        raise ValueError("input has no history rows (rows with units)")
    last = rows.loc[observed, "demand_date"].max()
    # A stock-out day is history whether or not its (meaningless) units were sent.
    in_history = (rows["demand_date"] <= last) & (observed | rows["is_censored"])
    history = rows.loc[in_history, list(DEMAND_COLUMNS)].fillna({"units": 0.0})
    plan = rows.loc[~observed & (rows["demand_date"] > last), list(PLAN_COLUMNS)]

    skus = markets = None
    sku_cols = [c for c in ("category", "launch_date") if c in rows.columns]
    if sku_cols:
        # groupby.first: the first non-null value per sku.
        skus = rows.groupby("sku", sort=False)[sku_cols].first().reset_index()
        if "launch_date" in skus:
            skus["launch_date"] = pd.to_datetime(skus["launch_date"])
    if "country" in rows.columns:
        markets = rows.groupby("marketplace", sort=False)[["country"]].first().reset_index()
        markets = markets.dropna()

    return build_panel(
        history,
        skus=skus,
        marketplaces=markets,
        grain=model.grain,
        plan=plan if len(plan) else None,
        plan_days=model.horizon * PERIOD_DAYS[model.grain],
    )


class DemandForecastModel(PythonModel):
    """The demand forecast as an MLflow pyfunc (REST: one JSON ``dataframe_split`` frame).

    Input, one DataFrame, one row per sku x marketplace x day:

    - history rows in the ``marts.fct_daily_demand`` shape: sku, marketplace, demand_date
      (datetime; ISO date strings over REST), units, list_price_local, discount_pct,
      is_promoted, ad_spend_usd, is_censored. A stock-out day is ``is_censored = true`` (its
      units are ignored and may be null). The last history date is the last date with units;
      every series to forecast needs a row on it.
    - optional plan rows: a demand_date after the last history date and ``units`` null, with
      the planned list_price_local and discount_pct (other columns may be null). Days without a
      plan row keep the last list price and no discount.
    - optional attribute columns, repeated on each row (the first non-null value per key is
      used): ``category`` and ``launch_date`` per sku (``marts.dim_sku``), ``country`` per
      marketplace (``marts.dim_marketplace``, the holiday calendar; default: the code itself,
      "UK" -> GB). Without them a SKU is category "unknown" with no launch date.

    Output: sku, marketplace, date (period start), horizon (1..H), mean, p10, p50, p90 for the H
    periods (28 days or 8 weeks, the model's grain) after the last history date.
    ``model_input`` builds this frame from mart frames.
    """

    def load_context(self, context) -> None:
        with open(context.artifacts["forecaster"], "rb") as fh:
            self._forecaster: Forecaster = pickle.load(fh)

    @property
    def forecaster(self) -> Forecaster:
        return self._forecaster

    # A DataFrame hint: MLflow infers no schema from it (the logged signature is explicit).
    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return forecast_frame(self._forecaster, pd.DataFrame(model_input))


def pinned_requirements() -> list[str]:
    """``SERVING_REQUIREMENTS`` pinned to the versions installed here."""
    return [f"{name}=={dist_version(name)}" for name in SERVING_REQUIREMENTS]


def example_rows(
    panel: Panel, horizon: int, n_series: int = 2, periods: int | None = None
) -> pd.DataFrame:
    """A small real pyfunc input: ``n_series`` series listed at the end (different
    marketplaces first), their last ``periods`` history periods and ``horizon`` plan periods,
    as daily rows (a weekly panel's units land on each week's first day)."""
    last = panel.n_history - 1
    listed = np.flatnonzero(panel.listed[:, last])
    if len(listed) == 0:
        raise ValueError("no series is listed at the last history period")
    by_market = panel.series.iloc[listed].groupby("marketplace", sort=True).head(1).index
    chosen = list(dict.fromkeys([*by_market, *listed]))[:n_series]
    periods = periods or (56 if panel.grain == "daily" else 12)
    days = PERIOD_DAYS[panel.grain]
    start = max(0, panel.n_history - periods)
    rows = []
    for i in chosen:
        s = panel.series.iloc[i]
        last_price = pd.Series(panel.list_price[i, : panel.n_history]).ffill().iloc[-1]
        for t in range(start, panel.n_history + horizon):
            future = t >= panel.n_history
            if not future and not panel.listed[i, t]:
                continue
            planned = t < panel.list_price.shape[1]  # the panel's own plan, if it has one
            price = panel.list_price[i, t] if planned else np.nan
            disc = panel.discount[i, t] if planned else 0.0
            price = last_price if np.isnan(price) else price
            disc = 0.0 if np.isnan(disc) else disc
            y = np.nan if future else panel.units[i, t]
            first_day = panel.dates[0] + pd.Timedelta(days=int(t * days))
            for d in range(days):
                rows.append(
                    {
                        "sku": s["sku"],
                        "marketplace": s["marketplace"],
                        "demand_date": first_day + pd.Timedelta(days=d),
                        "units": np.nan if future else (0.0 if np.isnan(y) or d else float(y)),
                        "list_price_local": float(price),
                        "discount_pct": float(disc),
                        "is_promoted": bool(disc > 0),
                        "ad_spend_usd": 0.0
                        if future
                        else float(np.nan_to_num(panel.ad_spend_usd[i, t]) if d == 0 else 0.0),
                        "is_censored": bool(not future and np.isnan(y)),
                        "category": s["category"],
                        "launch_date": s["launch_date"],
                        "country": s["country"],
                    }
                )
    frame = pd.DataFrame(rows)
    frame["launch_date"] = pd.to_datetime(frame["launch_date"])
    return frame


def signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """Inferred from a real example and its forecast; the attribute columns are optional and
    always declared (the example may lack a launch date)."""
    with warnings.catch_warnings():
        # Noise here: the integer output column (horizon) never holds missing values.
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer.*")
        inferred = infer_signature(example, output)
    specs = {c.name: c for c in inferred.inputs.inputs}
    cols: list[ColSpec | TensorSpec] = [
        ColSpec(specs[name].type, name, required=True) for name in DEMAND_COLUMNS
    ]
    cols += [
        ColSpec(specs.get(name, ColSpec(kind, name)).type, name, required=False)
        for name, kind in zip(ATTRIBUTE_COLUMNS, ("string", "datetime", "string"), strict=True)
    ]
    return ModelSignature(inputs=Schema(cols), outputs=inferred.outputs)
