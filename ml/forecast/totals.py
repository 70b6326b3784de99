"""Totals of a forecast over series (per marketplace and day, or overall), with an honest band.

The point of a total is the sum of the per-series **means**. Summing P50s is wrong: a sparse
SKU's P50 is 0, so on intermittent data the summed P50 is a fraction of what is expected to
sell. A band for a total is not a sum of per-series quantiles either. The sum of the P90s is the
P90 of the total only if every series hits its P90 on the same day (perfectly dependent errors),
so it overstates the width.

Each forecast row is a negative binomial around its mean (``mean``, ``nb_size`` = k: variance
mean + mean^2 / k, ``ml.forecast.distribution``), that is Poisson(lambda) with lambda ~ Gamma(k,
mean / k). Rows are independent given the model, so a total is Poisson(L) with L the sum of the
rows' gammas, which have different scales and no closed-form sum. L is approximated by a
**translated gamma** c + Gamma(alpha, theta) with L's first three cumulants (k1 = sum mean,
k2 = sum mean^2 / k, k3 = 2 sum mean^3 / k^2: theta = k3 / (2 k2), alpha = k2 / theta^2,
c = k1 - alpha theta, >= 0 by Cauchy-Schwarz). The total is then Poisson(c) + NB(alpha, mean
alpha theta), whose distribution is computed exactly (the convolution of the two). This matches
the total's mean, variance and skewness. It is exact for one row, and for rows that share
mean / k. Its quantiles follow the forecast's own convention: quantiles of Y - U, U uniform
(``distribution.continuous_quantile``).

Why not fewer moments. A normal approximation puts a small total's P10 below 0. A negative
binomial matched on mean and variance misses the floor that many slow SKUs put under a total. A
marketplace-day with one over-dispersed best seller (mean 30, size 0.8) and 50 slow SKUs (13
units in all) has a true P10 of 14.1. The two-moment NB says 8.5, the normal -0.3, and this
one 14.2. ``tests/test_forecast_totals.py`` checks the band against a brute-force simulation.

What the band leaves out: errors that move many series together (a marketplace-wide slump, a
level error the model makes for every series) and a series' errors across days. Those widen a
real total's interval. The band is the model's own uncertainty of the total, not more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, signal, stats

from .distribution import SIZE_GRID, continuous_quantile

LEVELS = (0.1, 0.9)
MAX_SIZE = 1e10  # a total with (almost) no excess variance: Poisson
# Candidate sizes when a frame has only quantiles: a log grid to Poisson-like sizes and the
# model's maximum-likelihood grid (recovered exactly); the best is refined between neighbours.
_SIZE_CANDIDATES = np.unique(np.r_[np.geomspace(0.01, 1e6, 81), SIZE_GRID])
_ROWS_PER_FIT = 300
_TAIL = 1e-12  # probability left out of each side of a pmf window
_MAX_WINDOW = 20_000_000


def level_column(q: float) -> str:
    """p10 for 0.1, p2.5 for 0.025 (the model's quantile columns are named alike)."""
    if not 0 < q < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {q}")
    return f"p{q * 100:g}"


def implied_nb_size(forecast: pd.DataFrame, by: str = "marketplace") -> np.ndarray:
    """One NB size per row, for frames that carry quantiles but no ``nb_size``.

    The model fits one size per marketplace (``model.sizes``), so each ``by`` group gets the
    size whose P10 and P90 are nearest the rows' (up to 300 rows of the group with P90 > P10):
    the best of a log grid, refined between its neighbours. A group with no such row (every
    mean tiny, where the size hardly changes the variance) takes the size fitted on all rows.
    Needs mean, p10, p90.
    """
    missing = sorted({"mean", "p10", "p90"} - set(forecast.columns))
    if missing:
        raise ValueError(f"cannot infer nb_size: the frame has no {', '.join(missing)}")
    mean = forecast["mean"].to_numpy(float)
    p10, p90 = forecast["p10"].to_numpy(float), forecast["p90"].to_numpy(float)
    informative = (p90 - p10 > 1e-6) & (mean > 0)

    def fit(rows: np.ndarray) -> float | None:
        if not len(rows):
            return None
        rows = rows[np.linspace(0, len(rows) - 1, min(len(rows), _ROWS_PER_FIT)).astype(int)]
        m, lo, hi = mean[rows], p10[rows], p90[rows]

        def loss(size: float) -> float:
            return float(
                np.abs(continuous_quantile(m, size, 0.1) - lo).sum()
                + np.abs(continuous_quantile(m, size, 0.9) - hi).sum()
            )

        grid = [loss(float(s)) for s in _SIZE_CANDIDATES]
        i = int(np.argmin(grid))
        best, best_loss = float(_SIZE_CANDIDATES[i]), grid[i]
        if best_loss > 0:
            a = np.log(_SIZE_CANDIDATES[max(i - 1, 0)])
            b = np.log(_SIZE_CANDIDATES[min(i + 1, len(_SIZE_CANDIDATES) - 1)])
            res = optimize.minimize_scalar(
                lambda x: loss(float(np.exp(x))),
                bounds=(a, b),
                method="bounded",
                options={"xatol": 1e-5},
            )
            if res.fun < best_loss:
                best = float(np.exp(res.x))
        return best

    pooled = fit(np.flatnonzero(informative))
    out = np.full(len(forecast), pooled if pooled is not None else 1e6)
    if by in forecast.columns:
        codes, _ = pd.factorize(forecast[by])
        for g in np.unique(codes):
            size = fit(np.flatnonzero(informative & (codes == g)))
            if size is not None:
                out[codes == g] = size
    return out


def _window(dist) -> tuple[int, np.ndarray] | None:
    """(first count, pmf) over the counts holding all but ~1e-12 of ``dist``'s mass; None
    when that is more than ``_MAX_WINDOW`` counts."""
    lo = max(int(dist.ppf(_TAIL)) - 1, 0)
    hi = int(dist.ppf(1 - _TAIL)) + 1
    if hi - lo > _MAX_WINDOW:
        return None
    return lo, dist.pmf(np.arange(lo, hi + 1))


def _mixed_quantiles(
    c: float, alpha: float, theta: float, levels: Sequence[float]
) -> list[float] | None:
    """Quantiles of Y - U, Y = Poisson(c) + NB(alpha, mean alpha * theta), U uniform; None
    when a pmf would be too long to convolve."""
    a = _window(stats.poisson(c))
    b = _window(stats.nbinom(alpha, 1.0 / (1.0 + theta)))
    if a is None or b is None:
        return None
    (lo_a, pa), (lo_b, pb) = a, b
    pmf = np.maximum(signal.fftconvolve(pa, pb), 0.0)
    pmf /= pmf.sum()
    cdf = np.cumsum(pmf)
    out = []
    for q in levels:
        m = min(int(np.searchsorted(cdf, q)), len(cdf) - 1)
        below = cdf[m - 1] if m > 0 else 0.0
        x = lo_a + lo_b + m - 1 + float(np.clip((q - below) / max(pmf[m], 1e-300), 0.0, 1.0))
        out.append(max(x, 0.0))
    return out


def total_band(
    forecast: pd.DataFrame,
    by: Sequence[str] = ("marketplace", "date"),
    levels: Sequence[float] = LEVELS,
) -> pd.DataFrame:
    """The total units per ``by`` group (``by=[]``: one overall row), with its band.

    ``forecast``: one row per series and period with ``mean`` and ``nb_size`` (without
    ``nb_size``, it is inferred from p10/p90 by ``implied_nb_size``). Returns the ``by``
    columns, ``mean`` (the sum of the rows' means), ``variance`` (the sum of their NB variances)
    and one column per level (``p10``, ``p90``): quantiles of the total under the translated
    gamma approximation of the module docstring. Sorted by ``by``.
    """
    keys = list(by)
    for q in levels:
        level_column(q)  # validates
    mean = np.maximum(forecast["mean"].to_numpy(float), 0.0)
    if "nb_size" in forecast.columns:
        size = forecast["nb_size"].to_numpy(float)
    else:
        size = implied_nb_size(forecast)
    if (~(size > 0)).any():
        raise ValueError("nb_size must be > 0 (inf for Poisson)")
    # Cumulants of the rows' gamma rates: mean, mean^2 / k, 2 mean^3 / k^2.
    rows = pd.DataFrame({"k1": mean, "k2": mean**2 / size, "k3": 2 * mean**3 / size**2})
    for k in keys:
        rows[k] = forecast[k].to_numpy()
    cols = ["k1", "k2", "k3"]
    if keys:
        total = rows.groupby(keys, as_index=False, sort=True)[cols].sum()
    else:
        total = pd.DataFrame({c: [float(rows[c].sum())] for c in cols})
    k1, k2, k3 = (total[c].to_numpy(float) for c in cols)
    out = total[keys].copy()
    out["mean"] = k1
    out["variance"] = k1 + k2
    gamma = (k1 > 0) & (k2 > k1**2 / MAX_SIZE)  # else Poisson(k1)
    theta = np.where(gamma, k3 / np.where(gamma, 2 * k2, 1.0), 1.0)
    alpha = np.where(gamma, k2 / theta**2, MAX_SIZE)
    c = np.where(gamma, np.maximum(k1 - alpha * theta, 0.0), 0.0)
    # One NB (c ~ 0: no Poisson part) or Poisson: vectorised; the rest one group at a time.
    simple = ~gamma | (c <= 1e-9 * k1)
    size_simple = np.where(gamma, alpha, MAX_SIZE)
    quantiles = {q: np.zeros(len(total)) for q in levels}
    for q in levels:
        quantiles[q][simple] = np.where(
            k1[simple] > 0, continuous_quantile(k1[simple], size_simple[simple], q), 0.0
        )
    for i in np.flatnonzero(~simple):
        mixed = _mixed_quantiles(c[i], alpha[i], theta[i], levels)
        if mixed is None:  # a huge total: its NB matched on mean and variance is as good
            mixed = [float(continuous_quantile(k1[i], k1[i] ** 2 / k2[i], q)) for q in levels]
        for q, x in zip(levels, mixed, strict=True):
            quantiles[q][i] = x
    for q in levels:
        out[level_column(q)] = quantiles[q]
    return out.reset_index(drop=True)


def forecast_totals(forecast: pd.DataFrame) -> dict[str, float]:
    """The forecast asset's totals over every series and period: ``total_mean_units`` (the sum
    of the means) and ``total_p10_units`` / ``total_p90_units`` (the band of that total)."""
    band = total_band(forecast, by=[], levels=LEVELS)
    row = band.iloc[0]
    return {
        "total_mean_units": float(row["mean"]),
        "total_p10_units": float(row["p10"]),
        "total_p90_units": float(row["p90"]),
    }
