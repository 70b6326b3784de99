"""The predictive distribution of a period's units: negative binomial around the model's mean.

Why not three quantile models: demand here is mostly small counts (80 % of days are zero), where
pinball-trained trees put P10 = P50 = 0 and a P90 that jumps between integers; a count
distribution gives coherent P10 <= P50 <= P90 from one mean model, and its dispersion is fitted
by maximum likelihood on held-out periods, so forecast error (not only sampling noise) widens it.

Quantiles are those of the demand spread evenly over the unit below each count (Y - U, U uniform
on [0, 1)): P_q(Y - U <= x) = q exactly, and rounding a quantile up gives the usual integer
quantile of Y. With integer quantiles a P10-P90 interval of daily counts covers ~95 % of days
(the true distribution does too), which says nothing about calibration; ``pit_bounds`` gives
what does (see ``metrics.pit_coverage``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# Candidate sizes (NB "n"): small = over-dispersed, large = close to Poisson.
SIZE_GRID = np.geomspace(0.05, 200.0, 60)
MIN_ROWS_PER_GROUP = 300


def _nb(mean: np.ndarray, size: np.ndarray | float):
    mean = np.maximum(np.asarray(mean, dtype=float), 1e-9)
    size = np.broadcast_to(np.asarray(size, dtype=float), mean.shape)
    return size, size / (size + mean)


def nb_log_likelihood(y: np.ndarray, mean: np.ndarray, size: float) -> float:
    n, p = _nb(mean, size)
    return float(stats.nbinom.logpmf(np.asarray(y), n, p).sum())


def fit_size(y: np.ndarray, mean: np.ndarray) -> float:
    """Maximum-likelihood NB size on a log grid (robust, no optimiser settings to tune)."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        raise ValueError("cannot fit a dispersion on no rows")
    ll = [nb_log_likelihood(y, mean, s) for s in SIZE_GRID]
    return float(SIZE_GRID[int(np.argmax(ll))])


def fit_sizes(y: np.ndarray, mean: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """One size per group (marketplace), the pooled size for groups with few rows; key "*"
    holds the pooled size for groups never seen."""
    out = {"*": fit_size(y, mean)}
    for g in np.unique(groups):
        rows = groups == g
        out[str(g)] = (
            fit_size(y[rows], mean[rows]) if rows.sum() >= MIN_ROWS_PER_GROUP else out["*"]
        )
    return out


def continuous_quantile(mean: np.ndarray, size: np.ndarray | float, q: float) -> np.ndarray:
    """Quantile ``q`` of Y - U with Y ~ NB(mean, size), floored at 0."""
    if not 0 < q < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    n, p = _nb(mean, size)
    m = stats.nbinom.ppf(q, n, p)
    below = np.where(m > 0, stats.nbinom.cdf(m - 1, n, p), 0.0)
    mass = np.maximum(stats.nbinom.pmf(m, n, p), 1e-12)
    x = m - 1.0 + np.clip((q - below) / mass, 0.0, 1.0)
    return np.maximum(x, 0.0)


def quantiles(
    mean: np.ndarray, size: np.ndarray | float, levels: tuple[float, ...]
) -> dict[float, np.ndarray]:
    return {q: continuous_quantile(mean, size, q) for q in levels}


def pit_bounds(y: np.ndarray, mean: np.ndarray, size: np.ndarray | float):
    """(F(y - 1), F(y)) under NB(mean, size): the range of the randomised PIT of a count."""
    n, p = _nb(mean, size)
    y = np.asarray(y, dtype=float)
    below = np.where(y > 0, stats.nbinom.cdf(y - 1, n, p), 0.0)
    return below, stats.nbinom.cdf(y, n, p)
