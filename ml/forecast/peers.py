"""A baseline or peer served as the demand forecast, when the training run's backtest found it
better than Kuajing's own model (``ml.forecast.selection``): never serve a worse forecast than
one the same run measured.

``PeerForecaster`` re-runs the peer on the history it is sent (these peers are functions of the
history) and gives its point forecast as the mean; P10/P50/P90 come from a negative binomial
around that mean whose size per marketplace was fitted on the peer's own backtest errors
(``distribution.fit_sizes``: coverage-matched on dense data, maximum likelihood on
intermittent), so the served quantiles are calibrated like Kuajing's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .baselines import peer_forecast
from .distribution import (
    intermittent_series,
    p50_levels_for,
    quantiles,
    sizes_for,
)
from .panel import Grain, Panel

QUANTILE_LEVELS = (0.1, 0.5, 0.9)


@dataclass
class PeerForecaster:
    name: str  # a key of baselines.SERVABLE_PEERS
    grain: Grain
    horizon: int
    sizes: dict[str, float]  # NB size per marketplace and class (``sizes_for``; "*": pooled)
    seed: int = 42
    num_threads: int = 2
    p50_levels: dict[str, float] | None = None  # ``distribution.fit_p50_levels``


def with_quantiles(
    frame: pd.DataFrame,
    markets: np.ndarray,
    sizes: dict[str, float],
    intermittent: np.ndarray | None = None,
    p50_levels: dict[str, float] | None = None,
) -> pd.DataFrame:
    """``frame`` (a ``mean`` column) with ``nb_size`` and P10/P50/P90 of NB(mean, size), the
    size and P50 level of each row's marketplace and series class (``distribution``)."""
    size = sizes_for(sizes, markets, intermittent)
    mean = np.maximum(frame["mean"].to_numpy(float), 0.0)
    out = frame.assign(mean=mean, nb_size=size)
    median_level = p50_levels_for(p50_levels, markets, intermittent)
    for q, values in quantiles(mean, size, QUANTILE_LEVELS, median_level).items():
        out[f"p{round(q * 100)}"] = values
    return out


def predict_peer(model: PeerForecaster, panel: Panel) -> pd.DataFrame:
    """The peer's forecast of every series listed at the panel's last period, in the columns of
    ``model.predict``: sku, marketplace, date, horizon, mean, nb_size, p10, p50, p90."""
    if panel.grain != model.grain:
        raise ValueError(f"model is {model.grain}, panel is {panel.grain}")
    last = panel.n_history - 1
    series = np.flatnonzero(panel.listed[:, last])
    fc = peer_forecast(
        model.name, panel, model.horizon, series, seed=model.seed, n_jobs=model.num_threads
    ).frame
    keys = panel.series.iloc[fc["series"].to_numpy()]
    out = pd.DataFrame(
        {
            "sku": keys["sku"].to_numpy(),
            "marketplace": keys["marketplace"].to_numpy(),
            "date": panel.dates[fc["target_index"].to_numpy()],
            "horizon": (fc["target_index"].to_numpy() - last).astype(int),
            "mean": fc["mean"].to_numpy(float),
        }
    )
    classes = intermittent_series(panel.units, panel.n_history, model.horizon)
    return with_quantiles(
        out,
        out["marketplace"].to_numpy(),
        model.sizes,
        classes[fc["series"].to_numpy()],
        model.p50_levels,
    )
