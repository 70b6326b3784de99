"""Forecast accuracy metrics (vectorised; ``test_forecast_metrics`` checks them against loops).

- WAPE: sum |y - f| / sum y, of each model's median (P50) where it has one, else of its point
  forecast: absolute error is minimised by the median (Gneiting 2011, "Making and evaluating
  point forecasts"). With 80 % zero days the mean of a calibrated model scores WAPE > 1, worse
  than forecasting 0, so ``wape_mean`` (WAPE of the mean) is reported beside it.
- Bias: sum (f - y) / sum y of the mean (positive = over-forecast): totals are what it is about.
- RMSSE (M5): per series sqrt(mean((y - f)^2) / scale), scale = mean squared one-step change of
  the series' own history from its first sale (censored periods skipped); averaged over series
  with a positive scale. ``wrmsse`` weights each series' RMSSE by its revenue over the last
  horizon of its history (USD where the warehouse has rates), M5's weights at the bottom level: the
  unweighted mean counts a SKU that sold once last year like a best seller, and on intermittent
  data forecasting 0 everywhere beats every model on it (Online Retail: 0.46 against 0.48 for
  the best peer), so it cannot rank models there; the revenue-weighted one can.
- Pinball loss at level q: mean(max(q (y - f), (q - 1) (y - f))).
- Coverage: share of actuals inside [P10, P90]. For counts this is not a calibration measure: a
  day with P(0) >= 10 % has P10 = 0, so every zero day is "inside" and the true distribution
  itself covers ~87 % of the built-in data's days. ``coverage_p10_p90_pit`` is the count-data
  measure (Czado, Gneiting & Held 2009): an actual y has a PIT spread uniformly over
  [F(y-1), F(y)] and counts by the share of that range inside [0.1, 0.9]; a calibrated model
  scores 80 %. Models without a count distribution (continuous intervals) score the plain share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .distribution import pit_bounds, pit_coverage

# The figures shown wherever a model is summarised (MLflow, Dagster metadata, the gate's inputs).
HEADLINE = ("wape", "wape_mean", "rmsse", "wrmsse", "bias", "pinball", "coverage_p10_p90",
            "coverage_p10_p90_pit")  # fmt: skip


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    total = actual.sum()
    return float(np.abs(actual - forecast).sum() / total) if total > 0 else float("nan")


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    total = actual.sum()
    return float((forecast - actual).sum() / total) if total > 0 else float("nan")


def pinball(actual: np.ndarray, quantile: np.ndarray, level: float) -> float:
    diff = np.asarray(actual, float) - np.asarray(quantile, float)
    return float(np.mean(np.maximum(level * diff, (level - 1.0) * diff)))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    actual = np.asarray(actual, float)
    return float(np.mean((actual >= np.asarray(lower)) & (actual <= np.asarray(upper))))


def rmsse_scale(history: np.ndarray) -> np.ndarray:
    """Per series (rows): mean squared one-step change from the first sale on, over pairs of
    consecutive observed periods; NaN where there is no such pair."""
    history = np.asarray(history, float)
    started = np.cumsum(np.nan_to_num(history) > 0, axis=1) > 0
    h = np.where(started, history, np.nan)
    diff = np.diff(h, axis=1) ** 2
    ok = ~np.isnan(diff)
    n = ok.sum(axis=1)
    total = np.where(ok, diff, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def revenue_weights(revenue: np.ndarray, periods: int) -> np.ndarray:
    """Per series (rows): revenue over the last ``periods`` columns (NaN periods add nothing)."""
    last = np.asarray(revenue, float)[:, max(revenue.shape[1] - periods, 0) :]
    return np.where(np.isfinite(last), last, 0.0).sum(axis=1)


def rmsse(
    actual: np.ndarray,
    forecast: np.ndarray,
    series: np.ndarray,
    scale: pd.Series,
    weights: pd.Series | None = None,
) -> float:
    """RMSSE over series: the mean, or with ``weights`` (series key -> weight, e.g. revenue) the
    weighted mean; ``scale`` maps a series key to its in-sample scale. NaN when no series has a
    positive scale (and, weighted, a positive total weight)."""
    frame = pd.DataFrame({"s": series, "e2": (np.asarray(actual) - np.asarray(forecast)) ** 2})
    mse = frame.groupby("s")["e2"].mean()
    sc = scale.reindex(mse.index).to_numpy()
    ok = sc > 0
    if not ok.any():
        return np.nan
    per_series = np.sqrt(mse.to_numpy()[ok] / sc[ok])
    if weights is None:
        return float(per_series.mean())
    w = np.nan_to_num(weights.reindex(mse.index).to_numpy()[ok], nan=0.0)
    return float((w * per_series).sum() / w.sum()) if w.sum() > 0 else np.nan


def _pit_ranges(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """PIT ranges: NB where the row has an ``nb_size``, else the point 1{P10 <= y <= P90}
    mapped to a range inside (or outside) [0.1, 0.9]."""
    y = frame["actual"].to_numpy(float)
    inside = (y >= frame["p10"].to_numpy()) & (y <= frame["p90"].to_numpy())
    point = np.where(inside, 0.5, 0.0)
    below, at = point.copy(), point.copy()
    if "nb_size" in frame.columns:
        size = frame["nb_size"].to_numpy(float)
        has = ~np.isnan(size)
        if has.any():
            b, a = pit_bounds(y[has], frame["mean"].to_numpy(float)[has], size[has])
            below[has], at[has] = b, a
    return below, at


def summarize(
    frame: pd.DataFrame, scale: pd.Series, weights: pd.Series | None = None
) -> dict[str, float]:
    """Metrics of a forecast frame with actual, mean, series and optional p10/p50/p90 (and
    ``nb_size`` for a negative-binomial predictive distribution). ``weights`` (series key ->
    revenue) gives ``wrmsse``; NaN without them."""
    y, f = frame["actual"].to_numpy(), frame["mean"].to_numpy()
    has_interval = {"p10", "p50", "p90"} <= set(frame.columns) and frame["p10"].notna().all()
    median = frame["p50"].to_numpy() if has_interval else f
    out = {
        "wape": wape(y, median),
        "wape_mean": wape(y, f),
        "rmsse": rmsse(y, f, frame["series"].to_numpy(), scale),
        "wrmsse": np.nan
        if weights is None
        else rmsse(y, f, frame["series"].to_numpy(), scale, weights),
        "bias": bias(y, f),
        "rows": float(len(frame)),
    }
    if has_interval:
        losses = [pinball(y, frame[f"p{q}"].to_numpy(), q / 100) for q in (10, 50, 90)]
        out.update(
            pinball_p10=losses[0],
            pinball_p50=losses[1],
            pinball_p90=losses[2],
            pinball=float(np.mean(losses)),
            coverage_p10_p90=coverage(y, frame["p10"], frame["p90"]),
            coverage_p10_p90_pit=pit_coverage(*_pit_ranges(frame)),
        )
    else:
        out.update(
            pinball_p10=np.nan,
            pinball_p50=np.nan,
            pinball_p90=np.nan,
            pinball=np.nan,
            coverage_p10_p90=np.nan,
            coverage_p10_p90_pit=np.nan,
        )
    return out
