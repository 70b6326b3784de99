"""Plots of a forecast for the training run's artifacts: PNG bytes (optionally written to a path).

Pure functions over frames (no MLflow): ``forecast_vs_actual`` draws the actuals against P50
with the P10-P90 band, one small panel per series; ``sample_series`` and ``worst_series`` choose
which series to draw from backtest forecasts (``BacktestResult.forecasts``). For the nightly
forecast: ``forecast_overview`` (history vs the total per marketplace, with the total's band)
and ``top_series_plot`` (each marketplace's top SKUs with their own bands).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

SeriesKey = tuple[str, str]  # (sku, marketplace)


def pyplot():
    """matplotlib's pyplot on the Agg backend (every project plot draws through it)."""
    # Agg: no display on servers and in Dagster runs; imported lazily so that importing
    # ml.forecast stays cheap.
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path | None) -> bytes:
    """The figure as PNG bytes (also written to ``path`` if given); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(fig)
    png = buf.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(png)
    return png


def _one_model(frame: pd.DataFrame, model: str | None) -> pd.DataFrame:
    """Backtest frames hold every model's rows: keep ``model``'s when the column is there."""
    if model is not None and "model" in frame.columns:
        return frame[frame["model"] == model]
    return frame


def forecast_vs_actual(
    frame: pd.DataFrame,
    series_keys: Sequence[SeriesKey],
    title: str,
    *,
    model: str | None = "kuajing",
    ncols: int = 3,
    path: str | Path | None = None,
) -> bytes:
    """Actual units vs P50 with the P10-P90 band, one panel per (sku, marketplace) key.

    ``frame``: sku, marketplace, date, actual (may be NaN or absent), p10, p50, p90; rows of
    other models are dropped when it has a ``model`` column. Keys without rows get an empty panel.
    """
    plt = pyplot()
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    data = _one_model(frame, model)
    keys = list(series_keys)
    n = max(len(keys), 1)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 2.6 * nrows), squeeze=False, layout="constrained"
    )
    groups = dict(tuple(data.groupby(["sku", "marketplace"], sort=False)))
    for ax, key in zip(axes.flat, keys, strict=False):
        g = groups.get(tuple(key))
        ax.set_title(f"{key[0]} / {key[1]}", fontsize=9)
        if g is None or g.empty:
            ax.text(0.5, 0.5, "no rows", ha="center", va="center", transform=ax.transAxes)
            continue
        g = g.sort_values("date")
        dates = pd.to_datetime(g["date"])
        ax.fill_between(dates, g["p10"], g["p90"], alpha=0.25, color="tab:blue", label="P10-P90")
        ax.plot(dates, g["p50"], color="tab:blue", lw=1.2, label="P50")
        if "actual" in g.columns:
            ax.plot(dates, g["actual"], color="black", lw=0.9, marker=".", ms=3, label="actual")
        locator = AutoDateLocator(maxticks=5)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    if keys:
        axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=11)
    return save_png(fig, path)


def feature_importance_plot(
    importance_df: pd.DataFrame, *, top: int = 25, path: str | Path | None = None
) -> bytes:
    """Horizontal bars of the ``top`` features by gain (``DemandForecaster.feature_importance()``:
    feature, gain), as shares of the total gain."""
    plt = pyplot()
    imp = importance_df.sort_values("gain", ascending=False).head(top)
    total = float(importance_df["gain"].sum()) or 1.0
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(imp) + 1.2), layout="constrained")
    ax.barh(imp["feature"][::-1], imp["gain"][::-1] / total, color="tab:blue")
    ax.set_xlabel("share of total gain")
    ax.set_title(f"Feature importance (top {len(imp)} by gain)")
    ax.tick_params(labelsize=8)
    return save_png(fig, path)


def _keys(frame: pd.DataFrame) -> list[SeriesKey]:
    pairs = frame[["sku", "marketplace"]].drop_duplicates().sort_values(["sku", "marketplace"])
    return [(str(s), str(m)) for s, m in pairs.itertuples(index=False)]


def sample_series(
    backtest_forecasts: pd.DataFrame, n: int, seed: int = 0, *, model: str | None = "kuajing"
) -> list[SeriesKey]:
    """``n`` (sku, marketplace) keys drawn at random (deterministic for ``seed``), sorted."""
    keys = _keys(_one_model(backtest_forecasts, model))
    if n >= len(keys):
        return keys
    chosen = np.random.default_rng(seed).choice(len(keys), size=n, replace=False)
    return [keys[i] for i in sorted(chosen)]


def worst_series(
    backtest_forecasts: pd.DataFrame, n: int, *, model: str | None = "kuajing"
) -> list[SeriesKey]:
    """The ``n`` keys with the largest share of the total absolute error |actual - mean| (their
    contribution to WAPE, whose denominator is common to all series), largest first."""
    f = _one_model(backtest_forecasts, model)
    err = (f["actual"] - f["mean"]).abs().groupby([f["sku"], f["marketplace"]]).sum()
    share = err / max(float(err.sum()), 1e-12)
    top = share.sort_values(ascending=False, kind="stable").head(n)
    return [(str(s), str(m)) for s, m in top.index]


def _per_period(dates: pd.Series) -> str:
    """ "week" when consecutive forecast dates are 7 days apart (weekly grain), else "day"."""
    gaps = np.diff(np.sort(pd.to_datetime(dates).unique()))
    return "week" if len(gaps) and gaps.min() >= np.timedelta64(7, "D") else "day"


def _market_axes(plt, n: int, ncols: int):
    ncols = max(1, min(ncols, n))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 2.6 * nrows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _date_axis(ax) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=5)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)


def forecast_overview(
    history: pd.DataFrame, forecast: pd.DataFrame, *, ncols: int = 3, path: str | Path | None = None
) -> bytes:
    """Units per marketplace: the recent history, the forecast's total (the sum of the series'
    means) and the total's own P10-P90 band (``totals.total_band``: not the sum of the series'
    quantiles, whose P50s are 0 for sparse SKUs).

    ``history``: marketplace, date, units; ``forecast``: marketplace, date, mean and nb_size
    (or p10/p90, from which the size is inferred).
    """
    from .totals import total_band

    plt = pyplot()
    total = total_band(forecast, by=["marketplace", "date"])
    total["date"] = pd.to_datetime(total["date"])
    markets = sorted(set(total["marketplace"]) | set(history["marketplace"]))
    fig, axes = _market_axes(plt, len(markets), ncols)
    for ax, market in zip(axes.flat, markets, strict=False):
        h = history[history["marketplace"] == market].sort_values("date")
        f = total[total["marketplace"] == market]
        ax.plot(pd.to_datetime(h["date"]), h["units"], color="0.35", lw=1, label="units sold")
        ax.fill_between(f["date"], f["p10"], f["p90"], color="tab:blue", alpha=0.25,
                        label="P10-P90 of the total")  # fmt: skip
        ax.plot(f["date"], f["mean"], color="tab:blue", lw=1.5, label="forecast (sum of means)")
        ax.set_title(market, fontsize=9)
        ax.set_ylim(bottom=0)
        _date_axis(ax)
    if markets:
        axes.flat[0].legend(fontsize=7, loc="upper left")
    unit = _per_period(forecast["date"]) if len(forecast) else "day"
    fig.suptitle(f"Demand forecast by marketplace (units per {unit})", fontsize=11)
    return save_png(fig, path)


def top_series(forecast: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """The ``n`` SKUs of each marketplace with the largest forecast mean over the horizon:
    marketplace, sku, mean (the horizon's total), rank (1 = largest), by marketplace."""
    per = forecast.groupby(["marketplace", "sku"], as_index=False)["mean"].sum()
    per = per.sort_values(["marketplace", "mean", "sku"], ascending=[True, False, True])
    per["rank"] = per.groupby("marketplace").cumcount() + 1
    return per[per["rank"] <= n].reset_index(drop=True)


def top_series_plot(forecast: pd.DataFrame, *, n: int = 3, path: str | Path | None = None) -> bytes:
    """The ``n`` top SKUs by forecast mean of each marketplace (one row of panels per
    marketplace, largest first), each with its mean and its own P10-P90 band.
    ``forecast``: sku, marketplace, date, mean, p10, p90."""
    plt = pyplot()
    top = top_series(forecast, n)
    markets = sorted(top["marketplace"].unique())
    ncols = max(1, min(n, int(top["rank"].max()) if len(top) else 1))
    nrows = max(1, len(markets))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.4 * ncols, 1.9 * nrows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.set_visible(False)
    rows = forecast.merge(top[["marketplace", "sku", "rank"]], on=["marketplace", "sku"])
    rows = rows.assign(date=pd.to_datetime(rows["date"]))
    for (market, rank, sku), g in rows.groupby(["marketplace", "rank", "sku"], sort=True):
        ax = axes[markets.index(market), int(rank) - 1]
        ax.set_visible(True)
        g = g.sort_values("date")
        ax.fill_between(g["date"], g["p10"], g["p90"], color="tab:blue", alpha=0.25,
                        label="P10-P90")  # fmt: skip
        ax.plot(g["date"], g["mean"], color="tab:blue", lw=1.2, label="mean")
        ax.set_title(f"{market} #{int(rank)}: {sku}", fontsize=8)
        ax.set_ylim(bottom=0)
        _date_axis(ax)
    if len(top):
        axes[0, 0].legend(fontsize=6, loc="upper left")
    unit = _per_period(forecast["date"]) if len(forecast) else "day"
    fig.suptitle(f"Top SKUs by forecast mean per marketplace (units per {unit})", fontsize=10)
    return save_png(fig, path)
