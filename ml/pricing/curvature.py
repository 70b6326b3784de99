"""The shape of the price response away from the prices a listing has had: one pooled curvature.

The elasticity of ``ml.pricing.elasticity`` is a slope at the listing's usual prices, learnt from
moves of a few percent. The optimizer may move a price much further (a margin far below the
optimum), and there a constant elasticity is a guess: under a linear or a choice (logit)
response demand falls away faster than it says, and a seller whose customers care less about
price loses less. So the response is log-quadratic in the log price:

    log units(p) = level + elasticity * L(p) + curvature * L(p) ** 2,  L(p) = log(p / reference)

with the listing's elasticity and reference price and one curvature for the seller, learnt
from the seller's own larger price moves: a Poisson regression of the units of the last
quarter on the change of ``L(p) ** 2`` since the four weeks before it, with the elasticity
part as an offset and one intercept per week (seasonality and events move every listing
alike), under a normal
prior centred on 0 (constant elasticity) with standard deviation ``PRIOR_SD``. Small moves say
little about it (their squares are tiny) and the estimate stays near 0; the large moves of an
optimizer pin it down within weeks.

Units never rise with price: beyond the quadratic's vertex the log price is held at the vertex.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PRIOR_SD = 2.0  # curvature a priori: 0 +- 2 (a linear response at elasticity -2 is about -3)
CURVATURE_BOUNDS = (-20.0, 5.0)


@dataclass(frozen=True)
class Curvature:
    value: float
    se: float  # posterior standard deviation
    rows: int  # listing-periods it was fitted on


NO_CURVATURE = Curvature(0.0, PRIOR_SD, 0)


def decreasing_log_price(
    log_price: npt.ArrayLike, elasticity: npt.ArrayLike, curvature: npt.ArrayLike
) -> np.ndarray:
    """``log_price`` held on the side of the quadratic's vertex where units fall with price."""
    lp = np.asarray(log_price, dtype=float)
    e, g = np.asarray(elasticity, dtype=float), np.asarray(curvature, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(g != 0, -e / (2.0 * np.where(g != 0, g, 1.0)), np.nan)
    held = np.where(g > 0, np.minimum(lp, vertex), np.where(g < 0, np.maximum(lp, vertex), lp))
    return np.where(np.isfinite(held), held, lp)


def log_units_shift(
    price: npt.ArrayLike,
    price_ref: npt.ArrayLike,
    elasticity: npt.ArrayLike,
    curvature: npt.ArrayLike,
    reference: npt.ArrayLike,
) -> np.ndarray:
    """log(units(price) / units(price_ref)) under the log-quadratic response."""
    e, g = np.asarray(elasticity, dtype=float), np.asarray(curvature, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.asarray(reference, dtype=float)
        lp = decreasing_log_price(np.log(np.asarray(price, dtype=float) / ref), e, g)
        l0 = decreasing_log_price(np.log(np.asarray(price_ref, dtype=float) / ref), e, g)
    return e * (lp - l0) + g * (lp * lp - l0 * l0)


def response_elasticity(
    price: npt.ArrayLike,
    elasticity: npt.ArrayLike,
    curvature: npt.ArrayLike,
    reference: npt.ArrayLike,
) -> np.ndarray:
    """d log units / d log price at ``price``: elasticity + 2 curvature L(p) (0 past the
    vertex, where units are held)."""
    e, g = np.asarray(elasticity, dtype=float), np.asarray(curvature, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(np.asarray(price, dtype=float) / np.asarray(reference, dtype=float))
    slope = e + 2.0 * g * lp
    return np.where(decreasing_log_price(lp, e, g) != lp, 0.0, slope)


def fit_curvature(
    units: npt.ArrayLike,
    offset: npt.ArrayLike,
    change: npt.ArrayLike,
    period: npt.ArrayLike,
    prior_sd: float = PRIOR_SD,
) -> Curvature:
    """The posterior mode of the curvature ``g`` in units ~ Poisson(exp(a[period] + offset +
    g * change)) with g ~ N(0, prior_sd^2) and a flat intercept ``a`` per period (profiled
    out: for a given g each period's expected units equal its units), by Newton's method.
    ``offset``: log of the base level plus the elasticity part; ``change``: L(p)^2 - L(p0)^2."""
    y = np.asarray(units, dtype=float)
    off, z = np.asarray(offset, dtype=float), np.asarray(change, dtype=float)
    _, blk = np.unique(np.asarray(period), return_inverse=True)
    n_blocks = int(blk.max()) + 1 if len(blk) else 0
    if not len(y) or y.sum() <= 0:
        return Curvature(0.0, prior_sd, int(len(y)))
    g, info = 0.0, 1.0 / prior_sd**2
    for _ in range(50):
        raw = np.exp(np.clip(off + g * z, -30, 30))
        scale = np.bincount(blk, y, n_blocks) / np.maximum(np.bincount(blk, raw, n_blocks), 1e-300)
        mu = raw * scale[blk]
        centre = np.bincount(blk, mu * z, n_blocks) / np.maximum(
            np.bincount(blk, mu, n_blocks), 1e-300
        )
        zc = z - centre[blk]
        score = float((zc * (y - mu)).sum()) - g / prior_sd**2
        info = float((mu * zc * zc).sum()) + 1.0 / prior_sd**2
        step = float(np.clip(score / info, -2.0, 2.0))
        g = float(np.clip(g + step, *CURVATURE_BOUNDS))
        if abs(step) < 1e-8:
            break
    return Curvature(g, float(1.0 / np.sqrt(info)), int(len(y)))


RECENT_DAYS = 91  # the history the curvature is fitted on: the last quarter
BASE_DAYS = 28  # each listing's level and price before it: the base its moves are measured from
WEEK_DAYS = 7  # one intercept per week (seasonality and events move every listing alike)


def recent_curvature(
    units: np.ndarray,
    displayed: np.ndarray,
    elasticity: np.ndarray,
    reference: np.ndarray,
    period_days: int = 1,
    prior_sd: float = PRIOR_SD,
) -> Curvature:
    """The curvature from the last ``RECENT_DAYS`` of a history: ``units`` and ``displayed``
    prices are series (rows) x periods (columns, oldest first) of ``period_days`` days, NaN
    where a listing could not sell (not listed, out of stock). Each listing's base is its mean
    units and price over the ``BASE_DAYS`` before the window."""
    n_periods = units.shape[1]
    window = max(RECENT_DAYS // period_days, 1)
    base = max(BASE_DAYS // period_days, 1)
    cut = n_periods - window
    if cut < base or not units.size:
        return Curvature(0.0, prior_sd, 0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a listing without a base: NaN
        base_units = np.nanmean(units[:, cut - base : cut], axis=1)
        base_price = np.nanmean(
            np.where(displayed[:, cut - base : cut] > 0, displayed[:, cut - base : cut], np.nan),
            axis=1,
        )
    y, price = units[:, cut:], displayed[:, cut:]
    usable = np.isfinite(y) & (price > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(price / reference[:, None])
        l0 = np.log(base_price / reference)
    ok = (
        usable
        & np.isfinite(lp)
        & (np.isfinite(l0) & (base_units > 0) & np.isfinite(elasticity))[:, None]
    )
    safe_base = np.where(base_units > 0, base_units, 1.0)
    offset = np.log(safe_base)[:, None] + elasticity[:, None] * (lp - l0[:, None])
    change = lp * lp - (l0 * l0)[:, None]
    week = np.broadcast_to(np.arange(window) * period_days // WEEK_DAYS, y.shape)
    return fit_curvature(y[ok], offset[ok], change[ok], week[ok], prior_sd)
