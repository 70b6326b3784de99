"""Rolling-origin backtest of Kuajing against baselines and peers on the same folds.

Fold k ends its history at a cutoff and forecasts the next ``horizon`` periods; cutoffs step back
``horizon`` periods from the end, so the last fold ends at the last observed period and folds do
not overlap. Each model sees only the truncated panel (history up to the cutoff, plus the planned
prices and discounts of the forecast periods). Every model is scored on the same rows: series
listed at the cutoff, target periods whose demand was observed (censored periods have no actual).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import baselines
from .distribution import intermittent_series
from .metrics import revenue_weights, rmsse_scale, summarize
from .model import ForecastConfig, fit, min_fit_periods, predict
from .panel import Panel, build_panel

MODEL_KEYS = (
    "kuajing",
    "seasonal_naive",
    "moving_average",
    "statsforecast_autoets",
    "statsforecast_croston",
    "mlforecast",
    "oracle",
    "zero",
)
TARGET_COVERAGE = 0.80


@dataclass
class BacktestResult:
    forecasts: pd.DataFrame  # model, fold, series, sku, marketplace, date, horizon, actual, ...
    timings: pd.DataFrame  # model, fold, fit_seconds, predict_seconds
    scales: dict[int, pd.Series]  # fold -> RMSSE scale per series
    weights: dict[int, pd.Series]  # fold -> revenue per series over the horizon before the cutoff
    grain: str
    horizon: int
    cutoffs: list[pd.Timestamp]

    def metrics(self, by: str | None = None) -> pd.DataFrame:
        return compare(self, by=by)


def periods_needed(horizon: int, n_folds: int) -> int:
    """History that holds ``n_folds`` folds of ``horizon`` periods after the first fold's
    training history (``min_fit_periods``)."""
    return min_fit_periods(horizon) + n_folds * horizon


def fold_cutoffs(n_history: int, horizon: int, n_folds: int, step: int | None = None) -> list[int]:
    """History lengths of each fold (the cutoff is the period before the forecast)."""
    step = step or horizon
    cuts = [n_history - horizon - k * step for k in range(n_folds)][::-1]
    if cuts[0] < min_fit_periods(horizon):
        raise ValueError(
            f"{n_history} periods cannot hold {n_folds} folds of {horizon}: they need "
            f"{n_history - cuts[0] + min_fit_periods(horizon)} (a training history of "
            f"{min_fit_periods(horizon)} before the first); use fewer folds or a shorter horizon "
            "(plan_backtest chooses them)"
        )
    return cuts


class InsufficientHistoryError(ValueError):
    """Too little history to train a model for the horizon (see ``plan_backtest``)."""


UNIT = {"daily": ("day", "days"), "weekly": ("week", "weeks")}


@dataclass(frozen=True)
class BacktestPlan:
    """The folds a training run backtests on: the requested ones when the history holds them,
    else fewer (and, below one full fold, one shorter fold). ``note`` says what changed."""

    grain: str
    n_periods: int  # history length
    n_folds: int
    horizon: int  # periods per fold
    requested_folds: int
    requested_horizon: int

    @property
    def reduced(self) -> bool:
        return (self.n_folds, self.horizon) != (self.requested_folds, self.requested_horizon)

    @property
    def note(self) -> str | None:
        """E.g. "trained on 91 daily periods: 1 fold instead of 3 (3 folds of 28 days need 142
        periods)"; None when the backtest is the requested one."""
        if not self.reduced:
            return None
        unit = UNIT.get(self.grain, ("period", "periods"))[1]
        folds = f"{self.n_folds} fold{'' if self.n_folds == 1 else 's'}"
        if self.horizon == self.requested_horizon:
            what = f"{folds} instead of {self.requested_folds}"
        else:
            what = (
                f"{folds} of {self.horizon} {unit} instead of {self.requested_folds} of "
                f"{self.requested_horizon}"
            )
        need = periods_needed(self.requested_horizon, self.requested_folds)
        return (
            f"trained on {self.n_periods} {self.grain} periods: {what} ({self.requested_folds} "
            f"folds of {self.requested_horizon} {unit} need {need} periods)"
        )


def plan_backtest(n_history: int, grain: str, horizon: int, n_folds: int = 3) -> BacktestPlan:
    """The most folds of ``horizon`` (up to ``n_folds``) the history holds; if it holds none,
    one fold of the longest horizon it holds (at least two thirds of ``horizon``, since the
    history holds the final model's ``min_fit_periods``). Below that, the final model cannot be
    trained: ``InsufficientHistoryError`` names the minimum and the history there is.

    A shorter fold is scored on fewer periods ahead than the model serves: its metrics say how
    the model does on the first ``plan.horizon`` periods only (``note`` says so)."""
    if n_folds < 1:
        raise ValueError(f"n_folds must be at least 1, not {n_folds}")
    minimum = min_fit_periods(horizon)
    if n_history < minimum:
        one, many = UNIT.get(grain, ("period", "periods"))
        raise InsufficientHistoryError(
            f"{n_history} {many if n_history != 1 else one} of history: a {horizon}-{one} "
            f"horizon needs at least {minimum} {many} to train and backtest a model (twice "
            f"the horizon plus 2; {periods_needed(horizon, n_folds)} {many} for the full "
            f"backtest of {n_folds} folds). Train again when the data holds {minimum} {many}, "
            "or set a shorter horizon."
        )
    for folds in range(n_folds, 0, -1):
        if n_history >= periods_needed(horizon, folds):
            return BacktestPlan(grain, n_history, folds, horizon, n_folds, horizon)
    # One fold of h periods needs 3h + 2: the longest that fits.
    shorter = (n_history - 2) // 3
    return BacktestPlan(grain, n_history, 1, shorter, n_folds, horizon)


def dormant(known: Panel, series: np.ndarray, horizon: int) -> np.ndarray:
    """Per series: no sales in the ``horizon`` periods before the cutoff. A moving average
    forecasts these 0; splitting the comparison on it shows where a model wins or loses."""
    start = max(known.n_history - horizon, 0)
    return np.nansum(known.units[series][:, start:], axis=1) == 0


def intermittent(known: Panel, series: np.ndarray, horizon: int) -> np.ndarray:
    """Per series: more than ``INTERMITTENT_ZERO_SHARE`` of its observed periods in the
    ``4 * horizon`` before the cutoff had no sales. On such series a median of 0 is right; the
    P50-no-worse-than-the-mean target applies to the others (smooth or erratic series)."""
    return intermittent_series(known.units[series], known.n_history, horizon)


def backtest(
    demand: pd.DataFrame | None = None,
    *,
    panel: Panel | None = None,
    skus: pd.DataFrame | None = None,
    marketplaces: pd.DataFrame | None = None,
    config: ForecastConfig | None = None,
    n_folds: int = 3,
    models: tuple[str, ...] = MODEL_KEYS,
    truth: Any = None,
    n_jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> BacktestResult:
    """Run the backtest; ``truth`` (a simulator ``GroundTruth``) adds the oracle.

    ``progress`` is called with "<model> fold <k>" after each model finishes a fold (for a
    progress bar: ``len(models) * n_folds`` calls in all).
    """
    config = config or ForecastConfig()
    unknown = set(models) - set(MODEL_KEYS)
    if unknown:
        raise ValueError(f"unknown models {sorted(unknown)}; known: {MODEL_KEYS}")
    if panel is None:
        if demand is None:
            raise ValueError("backtest needs demand rows or a panel")
        panel = build_panel(demand, skus=skus, marketplaces=marketplaces, grain=config.grain)
    horizon = config.resolved_horizon(panel.grain)
    wanted = [m for m in models if m != "oracle" or truth is not None]
    frames, timings, scales, weights, cutoffs = [], [], {}, {}, []
    cut_indexes = fold_cutoffs(panel.n_history, horizon, n_folds)
    for fold, cut in enumerate(cut_indexes):
        known = panel.truncate(cut, keep_plan=horizon)
        series = np.flatnonzero(known.listed[:, cut - 1])
        cutoffs.append(panel.dates[cut - 1])
        scale = rmsse_scale(known.units)
        scales[fold] = pd.Series(scale[series], index=series)
        weights[fold] = pd.Series(revenue_weights(known.revenue, horizon)[series], index=series)
        actual = panel.units[series][:, cut : cut + horizon]
        truth_rows = pd.DataFrame(
            {
                "series": np.repeat(series, horizon),
                "target_index": np.tile(np.arange(cut, cut + horizon), len(series)),
                "actual": actual.reshape(-1),
                "dormant": np.repeat(dormant(known, series, horizon), horizon),
                "intermittent": np.repeat(intermittent(known, series, horizon), horizon),
            }
        ).dropna(subset=["actual"])
        jobs = n_jobs or config.num_threads
        for name, fc in _run_models(known, horizon, series, wanted, config, truth, jobs):
            scored = truth_rows.merge(fc.frame, on=["series", "target_index"], how="left")
            if scored["mean"].isna().any():
                raise RuntimeError(f"{name} left {int(scored['mean'].isna().sum())} rows empty")
            scored.insert(0, "model", name)
            scored.insert(1, "fold", fold)
            frames.append(scored)
            timings.append((name, fold, fc.fit_seconds, fc.predict_seconds))
            if progress is not None:
                progress(f"{name} fold {fold}")
    forecasts = pd.concat(frames, ignore_index=True)
    keys = panel.series.iloc[forecasts["series"].to_numpy()]
    forecasts["sku"] = keys["sku"].to_numpy()
    forecasts["marketplace"] = keys["marketplace"].to_numpy()
    forecasts["date"] = panel.dates[forecasts["target_index"].to_numpy()]
    first_target = np.array(cut_indexes)[forecasts["fold"].to_numpy()]
    forecasts["horizon"] = forecasts["target_index"].to_numpy() - first_target + 1
    return BacktestResult(
        forecasts=forecasts,
        timings=pd.DataFrame(timings, columns=["model", "fold", "fit_seconds", "predict_seconds"]),
        scales=scales,
        weights=weights,
        grain=panel.grain,
        horizon=horizon,
        cutoffs=cutoffs,
    )


def _run_models(known, horizon, series, wanted, config, truth, n_jobs):
    """Yield (model key, PeerForecast) for one fold."""
    for name in wanted:
        if name == "kuajing":
            started = time.perf_counter()
            model = fit(panel=known, config=config)
            fitted = time.perf_counter()
            mask = np.zeros(known.n_series, bool)
            mask[series] = True
            fc = predict(model, known, series_mask=mask)
            done = time.perf_counter()
            keys = pd.MultiIndex.from_frame(known.series[["sku", "marketplace"]])
            fc["series"] = keys.get_indexer(pd.MultiIndex.from_frame(fc[["sku", "marketplace"]]))
            fc["target_index"] = known.n_history - 1 + fc["horizon"]
            cols = ["series", "target_index", "mean", "nb_size", "p10", "p50", "p90"]
            yield name, baselines.PeerForecast(fc[cols], fitted - started, done - fitted)
        elif name in ("seasonal_naive", "moving_average", "mlforecast"):
            yield (
                name,
                baselines.peer_forecast(
                    name, known, horizon, series, seed=config.seed, n_jobs=config.num_threads
                ),
            )
        elif name == "oracle":
            yield name, baselines.oracle(known, horizon, series, truth)
        elif name == "zero":
            yield name, baselines.zero(known, horizon, series)
    stats_keys = tuple(k for k in baselines.STATS_KEYS if k in wanted)
    if stats_keys:
        yield from baselines.statsforecast_models(
            known, horizon, series, n_jobs, keys=stats_keys
        ).items()


def _metrics_of(
    frame: pd.DataFrame, scales: dict[int, pd.Series], weights: dict[int, pd.Series]
) -> dict[str, float]:
    # RMSSE per fold (each fold has its own in-sample scale and weights), averaged over folds.
    per_fold = [summarize(g, scales[f], weights[f]) for f, g in frame.groupby("fold")]
    out = summarize(frame, pd.concat(scales.values()).groupby(level=0).last())
    for key in ("rmsse", "wrmsse"):
        values = [m[key] for m in per_fold if np.isfinite(m[key])]
        out[key] = float(np.mean(values)) if values else np.nan
    return out


def compare(result: BacktestResult, by: str | None = None) -> pd.DataFrame:
    """The comparison table: one row per model (and per ``by`` value, e.g. "marketplace"),
    metrics over all folds, WAPE relative to the oracle and to seasonal naive, and (overall
    only: a fit covers every marketplace at once) fit/predict seconds summed over folds."""
    rows = []
    groups = [("all", result.forecasts)] if by is None else result.forecasts.groupby(by)
    timing = result.timings.groupby("model")[["fit_seconds", "predict_seconds"]].sum()
    for key, frame in groups:
        for model, g in frame.groupby("model", sort=False):
            m: dict[str, Any] = dict(_metrics_of(g, result.scales, result.weights))
            m["model"] = model
            if by is not None:
                m[by] = key
            if by is None and model in timing.index:
                m.update(timing.loc[model].to_dict())
            rows.append(m)
    table = pd.DataFrame(rows)
    index = ["model"] if by is None else [by, "model"]
    table = table.set_index(index)
    for ref in ("oracle", "seasonal_naive"):
        if ref in table.index.get_level_values("model"):
            base = table.xs(ref, level="model")["wape"] if by else table.loc[ref, "wape"]
            if by:
                table[f"wape_vs_{ref}"] = (
                    table["wape"] / base.reindex(table.index.get_level_values(by)).to_numpy()
                )
            else:
                table[f"wape_vs_{ref}"] = table["wape"] / base
    return table


def calibration_coverage(metrics: dict[str, float]) -> float | None:
    """The coverage that measures calibration: the PIT coverage where the model has it (counts),
    else the share of actuals inside [P10, P90]."""
    for key in ("coverage_p10_p90_pit", "coverage_p10_p90"):
        value = metrics.get(key)
        if value is not None and np.isfinite(value):
            return float(value)
    return None


def is_better(
    candidate: dict[str, float],
    champion: dict[str, float],
    coverage_tolerance: float = 0.01,
    wrmsse_tolerance: float = 0.02,
) -> tuple[bool, str]:
    """The registry gate, on metrics of the same backtest.

    The candidate wins when its WAPE is strictly lower AND its P10-P90 coverage (PIT coverage
    for count distributions, see ``metrics``) is not further from the 80 % target than the
    champion's by more than ``coverage_tolerance`` (one point: a model must not buy accuracy
    with miscalibrated intervals) AND, where both have one, its revenue-weighted RMSSE of the
    mean is at most ``wrmsse_tolerance`` (2 %) above the champion's. WAPE is of the median,
    which on zero-heavy data a model can lower by forecasting 0 nearly everywhere; the
    squared error of the mean, which sizes stock, does not reward that. Missing or NaN WAPE,
    coverage or WRMSSE lose (``wrmsse_missing``): a guard that cannot be read does not let a
    model through. Returns (decision, reason) so the reason can be logged.
    """
    errors = []
    for name, metrics in (("candidate", candidate), ("champion", champion)):
        value, cover = metrics.get("wape"), calibration_coverage(metrics)
        if value is None or not np.isfinite(value):
            return False, f"{name} has no wape"
        if cover is None:
            return False, f"{name} has no coverage_p10_p90"
        missing = wrmsse_missing(metrics, name)
        if missing:
            return False, missing
        errors.append(abs(cover - TARGET_COVERAGE))
    wape_c, wape_ch = candidate["wape"], champion["wape"]
    err_c, err_ch = errors
    if wape_c >= wape_ch:
        return False, f"WAPE {wape_c:.4f} is not lower than the champion's {wape_ch:.4f}"
    if err_c > err_ch + coverage_tolerance:
        return False, (
            f"coverage error {err_c:.3f} is worse than the champion's {err_ch:.3f} "
            f"(+{coverage_tolerance:.3f} allowed)"
        )
    why = (
        f"WAPE {wape_c:.4f} < {wape_ch:.4f} and coverage error {err_c:.3f} "
        f"<= {err_ch:.3f} + {coverage_tolerance:.3f}"
    )
    sq_c, sq_ch = float(candidate["wrmsse"]), float(champion["wrmsse"])
    if sq_c > sq_ch * (1 + wrmsse_tolerance):
        return False, (
            f"WAPE {wape_c:.4f} < {wape_ch:.4f}, but WRMSSE {sq_c:.4f} is more than "
            f"{wrmsse_tolerance:.0%} above the champion's {sq_ch:.4f}"
        )
    why += f" and WRMSSE {sq_c:.4f} within {wrmsse_tolerance:.0%} of {sq_ch:.4f}"
    return True, why


def wrmsse_missing(metrics: dict[str, float], name: str = "candidate") -> str | None:
    """The gate's reason to refuse when ``metrics`` lack a finite revenue-weighted RMSSE (no
    series had revenue in the horizon before a cutoff, or no revenue column), else None."""
    value = metrics.get("wrmsse")
    try:
        finite = value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        finite = False
    if finite:
        return None
    shown = "missing" if value is None else str(value)
    return (
        f"{name} has no wrmsse (revenue-weighted RMSSE {shown}: no series had revenue in the "
        "periods before a backtest cutoff), so the gate's guard against a WAPE bought with "
        "worse squared errors cannot be checked"
    )
