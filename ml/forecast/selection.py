"""Which model a training run serves: Kuajing's own, unless a peer of the same backtest beats it.

A peer is judged as it would be served (``ml.forecast.peers``): its point forecast as the mean
and a negative binomial around it, sized on its own backtest errors, so its WAPE is that of its
P50 and it has a calibration like Kuajing's. It replaces Kuajing when it passes the registry
gate's own rule against Kuajing on these folds (``backtest.is_better``: lower WAPE, WRMSSE at
most 2 % higher, coverage no further from 80 %), with a coverage tolerance of 5 points instead
of 1: both are sized on these same rows, so both land near 80 % and a point between them is
noise, not calibration (a peer 17 % better on WAPE and pinball lost at 81.3 % against 80.1 %).
Among several, the lowest WAPE is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ml.registry import tracking

from .backtest import BacktestResult, compare, is_better
from .baselines import SERVABLE_PEERS
from .distribution import fit_dispersion
from .peers import with_quantiles

KUAJING = "kuajing"
COVERAGE_TOLERANCE = 0.05  # PIT points a peer's P10-P90 may be further from 80 % than Kuajing's


@dataclass(frozen=True)
class Served:
    name: str  # "kuajing" or a key of SERVABLE_PEERS
    metrics: dict[str, float]  # its backtest metrics as served
    reason: str
    sizes: dict[str, float] = field(default_factory=dict)  # a peer's NB sizes
    p50_levels: dict[str, float] = field(default_factory=dict)  # and its P50 levels


def served_metrics(result: BacktestResult, name: str) -> Served:
    """``name``'s backtest metrics as it would be served (a peer: with fitted quantiles)."""
    if name == KUAJING:
        metrics = tracking.finite(compare(result).loc[KUAJING].to_dict())
        return Served(KUAJING, metrics, "Kuajing's own model")
    forecasts = result.forecasts
    rows = forecasts["model"] == name
    if not rows.any():
        raise ValueError(f"{name} is not in the backtest")
    mine = forecasts[rows]
    markets = mine["marketplace"].to_numpy()
    classes = mine["intermittent"].to_numpy(bool)
    y, mean = mine["actual"].to_numpy(float), np.maximum(mine["mean"].to_numpy(float), 0.0)
    sizes, levels = fit_dispersion(y, mean, markets, classes, mine["series"].to_numpy())
    bare = mine.drop(columns=["nb_size", "p10", "p50", "p90"], errors="ignore")
    served = with_quantiles(bare, markets, sizes, classes, levels)
    only = replace(result, forecasts=served.reset_index(drop=True))
    metrics = tracking.finite(compare(only).loc[name].to_dict())
    return Served(
        name, metrics, f"{name} as served (NB quantiles on its backtest errors)", sizes, levels
    )


def choose_served(result: BacktestResult) -> Served:
    """Kuajing, or the peer of this backtest that beats it by the gate's rule."""
    own = served_metrics(result, KUAJING)
    in_backtest = set(result.forecasts["model"].unique())
    winners = []
    for name in SERVABLE_PEERS:
        if name not in in_backtest:
            continue
        peer = served_metrics(result, name)
        better, why = is_better(peer.metrics, own.metrics, coverage_tolerance=COVERAGE_TOLERANCE)
        if better:
            winners.append(replace(peer, reason=f"{name} beats Kuajing on the backtest: {why}"))
    if not winners:
        return replace(own, reason="Kuajing's model: no peer of the backtest beats it")
    return min(winners, key=lambda s: s.metrics.get("wape", np.inf))
