"""The price response in the model registry: ``price_response``, its held-out test and its gate.

A version is the table of every listing's elasticity (``ml.pricing.elasticity``) served as a
pyfunc: given a listing's expected units at a reference price, its expected units at other
prices. It is trained by runs of the experiment ``price_response`` through the shared registry
(``ml.registry``): the same store, versions, aliases and gate as ``demand_forecast``.

The held-out test: the elasticities are fitted on the history without its last quarter, then
judged on the quarter's periods whose price differs from the listing's last price before it by
more than 1 %: units = the listing's mean over the 28 days before the quarter x (price / that
last price) ** elasticity, against the same mean without the price response. A candidate
becomes ``champion`` only if its held-out WAPE on those periods is no worse than the
champion's (as logged by the champion's run).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from ml.forecast.panel import Panel
from ml.registry import gate as registry_gate
from ml.registry import versions
from ml.registry.gate import Champion, GateDecision, Verdict
from ml.registry.runs import process_tags
from ml.registry.store import TrackingStore, fluent, open_experiment
from ml.registry.versions import ModelSpec

from .curvature import log_units_shift
from .elasticity import ElasticityEstimates, estimate_elasticities

MODEL_NAME = EXPERIMENT_NAME = "price_response"
ESTIMATES_ARTIFACT = "estimates"
MODEL = ModelSpec(MODEL_NAME, EXPERIMENT_NAME, files=(f"artifacts/{ESTIMATES_ARTIFACT}.json",))
GATE_METRIC = "heldout_wape_price_changes"
HOLDOUT_DAYS = 91
BASE_DAYS = 28
MIN_PRICE_MOVE = 0.01
SERVED_MODULES = ("ml.pricing.registry",)
INPUT_COLUMNS = ("sku", "marketplace", "price", "price_ref", "units_ref")


def units_at(
    units_ref: np.ndarray,
    price: np.ndarray,
    price_ref: np.ndarray,
    elasticity: np.ndarray,
    curvature: np.ndarray | float = 0.0,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Expected units at ``price`` given ``units_ref`` at ``price_ref``: the log-quadratic
    response of ``ml.pricing.curvature`` around ``reference`` (constant elasticity at
    curvature 0, where ``reference`` does not matter)."""
    price = np.maximum(np.asarray(price, float), 1e-9)
    price_ref = np.asarray(price_ref, float)
    reference = price_ref if reference is None else np.asarray(reference, float)
    reference = np.where(reference > 0, reference, price_ref)
    shift = log_units_shift(price, price_ref, elasticity, curvature, reference)
    return np.asarray(units_ref, float) * np.exp(shift)


def curvature_columns(listings: pd.DataFrame) -> pd.DataFrame:
    """The listings' ``curvature`` and ``reference_price`` (a version registered before the
    curvature existed: 0 and NaN, i.e. constant elasticity)."""
    return listings.assign(
        curvature=listings.get("curvature", pd.Series(0.0, index=listings.index)).fillna(0.0),
        reference_price=listings.get("reference_price", pd.Series(np.nan, index=listings.index)),
    )


class PriceResponseModel(PythonModel):
    """``models:/price_response@champion``: rows of ``INPUT_COLUMNS`` -> ``units`` and the
    ``elasticity`` used (a listing it never saw: the median of all listings, ``pooled``)."""

    def load_context(self, context: Any) -> None:
        with open(context.artifacts[ESTIMATES_ARTIFACT]) as fh:
            self.listings = pd.DataFrame(json.load(fh))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        missing = [c for c in INPUT_COLUMNS if c not in model_input]
        if missing:
            raise ValueError(f"price_response input lacks the columns {', '.join(missing)}")
        columns = ["sku", "marketplace", "elasticity", "status", "curvature", "reference_price"]
        table = curvature_columns(self.listings)[columns]
        rows = model_input.merge(table, on=["sku", "marketplace"], how="left")
        unseen = rows["elasticity"].isna()
        rows["elasticity"] = rows["elasticity"].fillna(float(table["elasticity"].median()))
        rows["status"] = rows["status"].where(~unseen, "pooled")
        rows["curvature"] = rows["curvature"].fillna(float(table["curvature"].median()))
        rows["units"] = units_at(
            rows["units_ref"].to_numpy(),
            rows["price"].to_numpy(),
            rows["price_ref"].to_numpy(),
            rows["elasticity"].to_numpy(),
            rows["curvature"].to_numpy(),
            rows["reference_price"].to_numpy(),
        )
        return rows[[*INPUT_COLUMNS, "elasticity", "status", "units"]]


def estimates_of(model: Any) -> ElasticityEstimates:
    """The listings table inside a loaded ``price_response`` pyfunc."""
    return ElasticityEstimates(model.unwrap_python_model().listings, pd.DataFrame())


def holdout_error(panel: Panel, seed: int = 0) -> dict[str, float]:
    """The held-out test of the module docstring: WAPE with and without the price response on
    the last quarter's periods with a price move, and how many there were."""
    holdout = max(HOLDOUT_DAYS // panel.period_days, 1)
    base_periods = max(BASE_DAYS // panel.period_days, 1)
    cut = panel.n_history - holdout
    if cut <= base_periods:
        raise ValueError(f"{panel.n_history} periods: too short for a held-out quarter")
    estimates = estimate_elasticities(panel.truncate(cut), seed=seed)
    displayed = panel.list_price * (1.0 - panel.discount)
    before = displayed[:, cut - 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a listing without sales then: NaN
        base = np.nanmean(panel.units[:, cut - base_periods : cut], axis=1)
    actual = panel.units[:, cut : panel.n_history]
    price = displayed[:, cut : panel.n_history]
    moved = np.abs(price / before[:, None] - 1) > MIN_PRICE_MOVE
    keep = moved & ~np.isnan(actual) & np.isfinite(base)[:, None] & (before > 0)[:, None]
    key = pd.MultiIndex.from_frame(panel.series[["sku", "marketplace"]].astype(str))
    table = curvature_columns(estimates.listings).set_index(["sku", "marketplace"])
    elasticity = table["elasticity"].reindex(key).fillna(table["elasticity"].median()).to_numpy()
    curvature = table["curvature"].reindex(key).fillna(0.0).to_numpy()
    reference = table["reference_price"].reindex(key).to_numpy()
    rows, cols = np.nonzero(keep)
    y = actual[rows, cols]
    plain = base[rows]
    priced = units_at(
        plain,
        price[rows, cols],
        before[rows],
        elasticity[rows],
        curvature[rows],
        reference[rows],
    )
    total = float(np.sum(y))
    if len(y) == 0 or total <= 0:
        return {"heldout_rows": float(len(y))}
    return {
        GATE_METRIC: float(np.abs(y - priced).sum() / total),
        "heldout_wape_without_price_response": float(np.abs(y - plain).sum() / total),
        "heldout_rows": float(len(y)),
    }


@dataclass(frozen=True)
class HeldOutRule:
    """Champion only if the held-out WAPE on price-change periods is no worse."""

    def refusal(self, candidate: Mapping[str, float]) -> str | None:
        if GATE_METRIC not in candidate:
            return "no held-out price changes to judge it on (the last quarter kept its prices)"
        return None

    def compare(self, champion: Champion, candidate: Mapping[str, float]) -> Verdict:
        run = champion.run_id
        logged = mlflow_metric(run, GATE_METRIC) if run else None
        mine = float(candidate[GATE_METRIC])
        if logged is None:
            return Verdict(True, f"champion v{champion.version} has no {GATE_METRIC}: replaced")
        better = mine <= logged
        word = "no worse than" if better else "worse than"
        return Verdict(
            better,
            f"{GATE_METRIC} {mine:.4f} {word} champion v{champion.version}'s {logged:.4f}",
            {GATE_METRIC: logged},
        )


def mlflow_metric(run_id: str, name: str) -> float | None:
    value = mlflow.get_run(run_id).data.metrics.get(name)
    return None if value is None else float(value)


@dataclass(frozen=True)
class PriceResponseOutcome:
    estimates: ElasticityEstimates
    version: int
    alias: str
    reason: str
    metrics: dict[str, float]
    run_id: str


def train_and_register(
    panel: Panel, store: TrackingStore, *, progress: Any = None
) -> PriceResponseOutcome:
    """Fit on the whole history, test on the held-out quarter, log, register and gate."""
    say = progress or (lambda _msg: None)
    experiment_id = open_experiment(store, EXPERIMENT_NAME)
    with (
        fluent(store),
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=experiment_id, tags=process_tags()) as run,
    ):
        say("price response: held-out test on the last quarter")
        try:
            metrics = holdout_error(panel)
        except ValueError as error:
            say(str(error))
            metrics = {}
        say(f"price response: fitting {panel.n_series:,} listings")
        estimates = estimate_elasticities(panel)
        listings = estimates.listings
        metrics = {
            **metrics,
            "identified_share": float((listings["status"] == "identified").mean()),
            "median_elasticity": float(listings["elasticity"].median()),
            "curvature": float(listings["curvature"].median()),
            "curvature_se": float(listings["curvature_se"].median()),
            "listings": float(len(listings)),
        }
        mlflow.log_params({"grain": panel.grain, "periods": str(panel.n_history)})
        mlflow.log_metrics(metrics)
        path = Path(tmp) / f"{ESTIMATES_ARTIFACT}.json"
        path.write_text(listings.to_json(orient="records"))
        mlflow.log_text(estimates.group_means.to_csv(index=False), "pooling_groups.csv")
        example = pd.DataFrame(
            {
                "sku": listings["sku"].head(3),
                "marketplace": listings["marketplace"].head(3),
                "price": 10.0,
                "price_ref": 11.0,
                "units_ref": 1.0,
            }
        )
        _, version = versions.log_pyfunc(
            MODEL,
            PriceResponseModel(),
            artifacts={ESTIMATES_ARTIFACT: str(path)},
            code_modules=SERVED_MODULES,
            workdir=Path(tmp),
            input_example=example,
        )
        decision: GateDecision = registry_gate.decide(store, MODEL, HeldOutRule(), metrics)
        registry_gate.record(store, MODEL, decision, version=version, run_id=run.info.run_id)
    return PriceResponseOutcome(
        estimates, version, decision.alias, decision.reason, metrics, run.info.run_id
    )


def load_champion_estimates(store: TrackingStore) -> tuple[ElasticityEstimates, int]:
    """``models:/price_response@champion``'s elasticities and its version."""
    model, version = versions.load_champion(
        store, MODEL, retrain_hint="materialize pricing/price_elasticities to register one"
    )
    return estimates_of(model), version
