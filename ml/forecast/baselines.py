"""Baselines and peers a user would otherwise pick, all on the same panel slices as Kuajing.

Each returns a frame with ``series`` (panel row), ``target_index`` (period), ``mean`` and, where
the method gives them, ``p10``/``p50``/``p90``; plus fit and predict seconds.

Peers cannot read NaN, so censored periods are filled with the series' mean of the observed
periods in the preceding 4 weeks (what a careful user would do; zero-filling would teach them the
stock-outs as demand). A series starts at its first listed period.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .distribution import quantiles
from .features import HistoryStats, spec_for
from .panel import Panel, _quiet

FREQ = {"daily": "D", "weekly": "W-MON"}
POISSON_SIZE = 1e6  # an NB this large is Poisson


@dataclass
class PeerForecast:
    frame: pd.DataFrame
    fit_seconds: float
    predict_seconds: float


def _frame(series: np.ndarray, t: int, horizon: int, values: np.ndarray) -> pd.DataFrame:
    """(n_series, horizon) values as long rows."""
    return pd.DataFrame(
        {
            "series": np.repeat(series, horizon),
            "target_index": np.tile(np.arange(t + 1, t + 1 + horizon), len(series)),
            "mean": values.reshape(-1),
        }
    )


def _empty() -> pd.DataFrame:
    """A peer's forecast of no series (every one then takes the fallback)."""
    return pd.DataFrame({"series": [], "target_index": [], "mean": []}).astype(
        {"series": "int64", "target_index": "int64", "mean": "float64"}
    )


def seasonal_naive(panel: Panel, horizon: int, series: np.ndarray) -> PeerForecast:
    """Daily: the same weekday's last observed value (up to 4 weeks back, skipping censored
    days). Weekly: the same week last year, else the last observed week."""
    started = time.perf_counter()
    t = panel.n_history - 1
    y = panel.units[series]
    out = np.full((len(series), horizon), np.nan)
    season = 7 if panel.grain == "daily" else 52
    for h in range(1, horizon + 1):
        d = t + h
        col = np.full(len(series), np.nan)
        back = d - season * int(np.ceil(h / season))
        for k in range(4 if panel.grain == "daily" else 1):
            j = back - season * k
            if j >= 0:
                col = np.where(np.isnan(col), y[:, j], col)
        out[:, h - 1] = col
    # Without a same-season value: the last observed value (naive).
    last = pd.DataFrame(y).ffill(axis=1).to_numpy()[:, -1]
    out = np.where(np.isnan(out), last[:, None], out)
    out = np.nan_to_num(out, nan=0.0)
    return PeerForecast(_frame(series, t, horizon, out), 0.0, time.perf_counter() - started)


def zero(panel: Panel, horizon: int, series: np.ndarray) -> PeerForecast:
    """Nothing sells: the reference a point metric must beat on intermittent demand (its WAPE
    is 1; an unweighted RMSSE can rank it above every model, see ``metrics``)."""
    t = panel.n_history - 1
    return PeerForecast(_frame(series, t, horizon, np.zeros((len(series), horizon))), 0.0, 0.0)


def moving_average(panel: Panel, horizon: int, series: np.ndarray) -> PeerForecast:
    """Mean of the observed periods in the last 4 weeks (28 days or 4 weeks)."""
    started = time.perf_counter()
    t = panel.n_history - 1
    level = HistoryStats(panel.units[series]).mean(t, spec_for(panel.grain).recent)
    level = np.nan_to_num(level, nan=0.0)
    values = np.repeat(level[:, None], horizon, axis=1)
    return PeerForecast(_frame(series, t, horizon, values), 0.0, time.perf_counter() - started)


def filled_history(
    panel: Panel, series: np.ndarray, min_periods: int, since: int | None = None
) -> pd.DataFrame:
    """Long (unique_id, ds, y) history for peers: from each series' first listed period,
    censored / unlisted periods filled with the preceding 4 weeks' observed mean. Series with
    fewer than ``min_periods`` periods are left out (peers fall back to the moving average).

    ``since`` (a period index) starts every series there instead, with zeros before its first
    listed period: the full grid a user gives an intermittent-demand model."""
    y = panel.units[series]
    stats = HistoryStats(y)
    recent = spec_for(panel.grain).recent
    filled = y.copy()
    rows, cols = np.nonzero(np.isnan(y))
    for j in np.unique(cols):
        r = rows[cols == j]
        prev = stats.mean(j - 1, recent)[r] if j > 0 else np.zeros(len(r))
        filled[r, j] = np.nan_to_num(prev, nan=0.0)
    listed = panel.listed[series]
    first = np.where(listed.any(axis=1), listed.argmax(axis=1), y.shape[1])
    if since is not None:
        before = np.arange(y.shape[1])[None, :] < first[:, None]
        filled = np.where(before, 0.0, filled)
    frames = []
    for i, s in enumerate(series):
        start = first[i] if since is None else min(since, first[i])
        if y.shape[1] - start >= min_periods and first[i] < y.shape[1]:
            frames.append(
                pd.DataFrame(
                    {
                        "unique_id": int(s),
                        "ds": panel.history_dates[start:],
                        "y": filled[i, start:],
                    }
                )
            )
    if not frames:
        return pd.DataFrame(
            {
                "unique_id": pd.Series([], dtype="int64"),
                "ds": pd.Series([], dtype="datetime64[ns]"),
                "y": pd.Series([], dtype="float64"),
            }
        )
    return pd.concat(frames, ignore_index=True)


def _with_fallback(
    panel: Panel, horizon: int, series: np.ndarray, frame: pd.DataFrame
) -> pd.DataFrame:
    """Rows of ``series`` the peer did not forecast take the moving average."""
    missing = np.setdiff1d(series, frame["series"].unique()) if len(frame) else series
    if len(missing) == 0:
        return frame
    fallback = moving_average(panel, horizon, missing).frame
    if "p10" in frame.columns:
        # Keep the peer's interval metrics defined: Poisson quantiles around the average.
        for q, v in quantiles(fallback["mean"].to_numpy(), POISSON_SIZE, (0.1, 0.5, 0.9)).items():
            fallback[f"p{round(q * 100)}"] = v
        fallback["nb_size"] = POISSON_SIZE
    return pd.concat([frame, fallback], ignore_index=True)


def _to_frame(forecast: pd.DataFrame, panel: Panel, column: str) -> pd.DataFrame:
    ds = pd.to_datetime(forecast["ds"])
    target = ((ds - panel.dates[0]).dt.days // panel.period_days).to_numpy()
    return pd.DataFrame(
        {
            "series": forecast["unique_id"].astype(int).to_numpy(),
            "target_index": target,
            "mean": np.maximum(forecast[column].to_numpy(float), 0.0),
        }
    )


# Local statistical models see the last year: older data barely moves an exponential smoother's
# forecast, and AutoETS's model search costs time linear in the history (2 cores, 1,000+ series).
STATS_HISTORY = {"daily": 364, "weekly": 104}


def _statsforecast_class():
    """StatsForecast whose worker pool is spawned, not forked: a fork of a process that runs
    threads (Dagster, DuckDB, LightGBM's OpenMP) can deadlock in the child, and did."""
    import multiprocessing

    from statsforecast import StatsForecast

    class SpawnedStatsForecast(StatsForecast):
        def _get_pool(self):
            # AutoETS warns "divide by zero" for every series too short for a model's variance
            # (it then scores that model as infinitely bad, as it should): hundreds of lines of
            # noise per fold in a worker's output.
            quiet = ("ignore", "divide by zero", RuntimeWarning, "statsforecast")
            return multiprocessing.get_context("spawn").Pool, {
                "initializer": warnings.filterwarnings,
                "initargs": quiet,
            }

    return SpawnedStatsForecast


STATS_KEYS = ("statsforecast_autoets", "statsforecast_croston")


def statsforecast_models(
    panel: Panel,
    horizon: int,
    series: np.ndarray,
    n_jobs: int = 1,
    keys: tuple[str, ...] = STATS_KEYS,
) -> dict[str, PeerForecast]:
    """AutoETS (weekly season at daily grain) with its 80 % interval as P10/P90, and
    CrostonOptimized (intermittent demand; point forecast only), on the last year; only the
    models in ``keys`` are fitted. ``n_jobs`` is AutoETS's: Croston is quicker in-process than
    the seconds a spawned worker pool takes to start, twice per fold (fit, predict)."""
    from statsforecast.models import AutoETS, CrostonOptimized

    StatsForecast = _statsforecast_class()

    season = 7 if panel.grain == "daily" else 1
    since = max(panel.n_history - STATS_HISTORY[panel.grain], 0)
    out: dict[str, PeerForecast] = {}
    for key, model, level, jobs in (
        ("statsforecast_autoets", AutoETS(season_length=season), [80], n_jobs),
        ("statsforecast_croston", CrostonOptimized(), None, 1),
    ):
        if key not in keys:
            continue
        # Croston counts the wait before a series' first sale as an interval: started at its
        # first sale, a series that sold once would be forecast that sale every period (on
        # Online Retail: WAPE 8.1 against 1.5 on the full grid).
        history = filled_history(
            panel,
            series,
            min_periods=2 * max(season, 7),
            since=since if key == "statsforecast_croston" else None,
        )
        history = history[history["ds"] >= panel.history_dates[since]]
        if history.empty:  # no series long enough: every one takes the moving average
            out[key] = PeerForecast(_with_fallback(panel, horizon, series, _empty()), 0.0, 0.0)
            continue
        started = time.perf_counter()
        sf = StatsForecast(models=[model], freq=FREQ[panel.grain], n_jobs=jobs)
        sf.fit(df=history)
        fitted = time.perf_counter()
        fc = sf.predict(h=horizon, level=level) if level else sf.predict(h=horizon)
        name = [
            c
            for c in fc.columns
            if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c
        ][0]
        frame = _to_frame(fc, panel, name)
        if level:
            frame["p10"] = np.maximum(fc[f"{name}-lo-80"].to_numpy(float), 0.0)
            frame["p50"] = frame["mean"]
            frame["p90"] = np.maximum(fc[f"{name}-hi-80"].to_numpy(float), 0.0)
        frame = _with_fallback(panel, horizon, series, frame)
        out[key] = PeerForecast(frame, fitted - started, time.perf_counter() - fitted)
    return out


def mlforecast_lags(grain: str, n_history: int) -> list[int]:
    """The usual lags (daily 1, 7, 14, 28; weekly 1, 2, 4, 52), without those the history
    cannot hold twice: a user with one year of weekly data does not ask for last year's week,
    and with it every series would be too short and fall back to the moving average."""
    lags = [1, 7, 14, 28] if grain == "daily" else [1, 2, 4, 52]
    return [lag for lag in lags if 2 * lag <= n_history] or [1]


def mlforecast_lightgbm(
    panel: Panel, horizon: int, series: np.ndarray, seed: int = 42, n_jobs: int = 2
) -> PeerForecast:
    """mlforecast's recursive LightGBM with default hyper-parameters, the usual lags (those
    the history can hold, see ``mlforecast_lags``) and rolling means, calendar, and the planned
    price and discount as dynamic features."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean

    daily = panel.grain == "daily"
    lags = mlforecast_lags(panel.grain, panel.n_history)
    rolls: dict[int, list[Any]] = (
        {1: [RollingMean(7), RollingMean(28)]} if daily else {1: [RollingMean(4)]}
    )
    history = filled_history(panel, series, min_periods=2 * max(lags))
    if history.empty:  # no series long enough: every one takes the moving average
        return PeerForecast(_with_fallback(panel, horizon, series, _empty()), 0.0, 0.0)
    ids = history["unique_id"].to_numpy().astype(int)
    cols = ((history["ds"] - panel.dates[0]).dt.days // panel.period_days).to_numpy()
    history["price"] = panel.list_price[ids, cols] * (1 - panel.discount[ids, cols])
    history["discount"] = panel.discount[ids, cols]
    t = panel.n_history - 1
    uids = np.unique(ids)
    fut_cols = np.arange(t + 1, t + 1 + horizon)
    future = pd.DataFrame(
        {
            "unique_id": np.repeat(uids, horizon),
            "ds": np.tile(panel.dates[fut_cols], len(uids)),
            "price": (
                panel.list_price[uids][:, fut_cols] * (1 - panel.discount[uids][:, fut_cols])
            ).reshape(-1),
            "discount": panel.discount[uids][:, fut_cols].reshape(-1),
        }
    )
    started = time.perf_counter()
    mf = MLForecast(
        models={"lgbm": lgb.LGBMRegressor(random_state=seed, n_jobs=n_jobs, verbose=-1)},
        freq=FREQ[panel.grain],
        lags=lags,
        lag_transforms=rolls,
        date_features=["dayofweek", "month"] if daily else ["month"],
    )
    with warnings.catch_warnings():
        # A price is unknown before a series' first listing (NaN, which LightGBM handles);
        # mlforecast warns about it on every fit and predict.
        warnings.filterwarnings("ignore", "Found null values", UserWarning)
        mf.fit(history, static_features=[])
        fitted = time.perf_counter()
        fc = mf.predict(h=horizon, X_df=future)
    frame = _with_fallback(panel, horizon, series, _to_frame(fc, panel, "lgbm"))
    return PeerForecast(frame, fitted - started, time.perf_counter() - fitted)


def oracle(panel: Panel, horizon: int, series: np.ndarray, truth) -> PeerForecast:
    """The simulator's true expected demand (the noise floor), with the true NB quantiles at
    daily grain (weekly: the sum of daily means, no quantiles)."""
    started = time.perf_counter()
    t = panel.n_history - 1
    days = pd.date_range(panel.dates[t + 1], periods=horizon * panel.period_days, freq="D")
    means = np.full((len(series), horizon), np.nan)
    sizes = np.full(len(series), np.nan)
    for i, s in enumerate(series):
        sku, market = panel.series.loc[s, ["sku", "marketplace"]]
        try:
            daily = truth.expected_demand(sku, market, days)
            sizes[i] = float(truth.series.loc[(sku, market), "nb_size"])
        except KeyError:
            continue
        means[i] = daily.reshape(horizon, panel.period_days).sum(axis=1)
    frame = _frame(series, t, horizon, means)
    if panel.grain == "daily":
        size = np.repeat(sizes, horizon)
        with _quiet():
            qs = quantiles(np.nan_to_num(frame["mean"].to_numpy()), size, (0.1, 0.5, 0.9))
        for q, v in qs.items():
            frame[f"p{round(q * 100)}"] = v
        frame["nb_size"] = size
    return PeerForecast(frame, 0.0, time.perf_counter() - started)


# The peers a trained model can be served as (see ``ml.forecast.peers``): functions of the
# history alone, so the served model re-runs them on the history it is sent.
SERVABLE_PEERS = (
    "seasonal_naive",
    "moving_average",
    "mlforecast",
    "statsforecast_autoets",
    "statsforecast_croston",
)


def peer_forecast(
    name: str, panel: Panel, horizon: int, series: np.ndarray, *, seed: int = 42, n_jobs: int = 1
) -> PeerForecast:
    """One servable peer's forecast of ``series`` over the ``horizon`` after the panel's end."""
    if name == "seasonal_naive":
        return seasonal_naive(panel, horizon, series)
    if name == "moving_average":
        return moving_average(panel, horizon, series)
    if name == "mlforecast":
        return mlforecast_lightgbm(panel, horizon, series, seed=seed, n_jobs=n_jobs)
    if name in STATS_KEYS:
        return statsforecast_models(panel, horizon, series, n_jobs, keys=(name,))[name]
    raise ValueError(f"{name!r} is not a servable peer; known: {', '.join(SERVABLE_PEERS)}")
