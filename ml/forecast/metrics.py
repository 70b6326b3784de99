"""Forecast accuracy metrics (vectorised; ``test_forecast_metrics`` checks them against loops).

- WAPE: sum |y - f| / sum y.  Bias: sum (f - y) / sum y (positive = over-forecast).
- RMSSE (M5): per series sqrt(mean((y - f)^2) / scale), scale = mean squared one-step change of
  the series' own history from its first sale (censored periods skipped); averaged over series
  with a positive scale (M5 weights by revenue; an unweighted mean is reported here).
- Pinball loss at level q: mean(max(q (y - f), (q - 1) (y - f))).
- Coverage: share of actuals inside [P10, P90].
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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


def rmsse(actual: np.ndarray, forecast: np.ndarray, series: np.ndarray, scale: pd.Series) -> float:
    """Mean RMSSE over series; ``scale`` maps a series key to its in-sample scale."""
    frame = pd.DataFrame({"s": series, "e2": (np.asarray(actual) - np.asarray(forecast)) ** 2})
    mse = frame.groupby("s")["e2"].mean()
    sc = scale.reindex(mse.index)
    ok = sc.to_numpy() > 0
    return float(np.sqrt(mse.to_numpy()[ok] / sc.to_numpy()[ok]).mean()) if ok.any() else np.nan


def summarize(frame: pd.DataFrame, scale: pd.Series) -> dict[str, float]:
    """Metrics of a forecast frame with actual, mean, series and optional p10/p50/p90."""
    y, f = frame["actual"].to_numpy(), frame["mean"].to_numpy()
    out = {
        "wape": wape(y, f),
        "rmsse": rmsse(y, f, frame["series"].to_numpy(), scale),
        "bias": bias(y, f),
        "rows": float(len(frame)),
    }
    if {"p10", "p50", "p90"} <= set(frame.columns) and frame["p10"].notna().all():
        losses = [pinball(y, frame[f"p{q}"].to_numpy(), q / 100) for q in (10, 50, 90)]
        out.update(
            pinball_p10=losses[0],
            pinball_p50=losses[1],
            pinball_p90=losses[2],
            pinball=float(np.mean(losses)),
            coverage_p10_p90=coverage(y, frame["p10"], frame["p90"]),
        )
    else:
        out.update(
            pinball_p10=np.nan,
            pinball_p50=np.nan,
            pinball_p90=np.nan,
            pinball=np.nan,
            coverage_p10_p90=np.nan,
        )
    return out
