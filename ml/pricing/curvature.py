"""The shape of the price response away from the prices a listing has had: one pooled curvature.

The elasticity of ``ml.pricing.elasticity`` is a slope at the listing's usual prices, learnt from
moves of a few percent. The optimizer may move a price much further (a margin far below the
optimum), and there a constant elasticity is a guess: under a linear or a choice (logit)
response demand falls away faster than it says, and a seller whose customers care less about
price loses less. So the response is log-quadratic in the log price:

    log units(p) = level + elasticity * L(p) + curvature * L(p) ** 2,  L(p) = log(p / reference)

with the listing's elasticity and reference price and one curvature for the seller, learnt
from the seller's own larger price moves: a Poisson regression of the units of the last
quarter on ``L(p) ** 2``, with the elasticity part as an offset, one intercept per listing
(its level) and one per week (seasonality and events move every listing alike), under a normal
prior centred on 0 (constant elasticity) with standard deviation ``PRIOR_SD``. Small moves say
little about it (their squares are tiny) and the estimate stays near 0; the large moves of an
optimizer pin it down within weeks. Promotion periods are left out: they sell on visibility as
well as on price, and their lift would read as demand that falls off less far below the usual
price.

The curvature is at most 0 (``CURVATURE_BOUNDS``): demand does not get less elastic as the
price rises. The optimizer takes it only when it is clear of 0 (``Curvature.applied``). Units
never rise with price: beyond the quadratic's vertex the log price is held at the vertex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

PRIOR_SD = 2.0  # curvature a priori: 0 +- 2 (a linear response at elasticity -2 is about -3)
# At most 0: demand gets no less elastic as the price rises (Marshall's second law of demand;
# linear and logit responses have a negative curvature, the constant elasticity 0). A positive
# fit, mostly noise from small moves, would have demand flatten at high prices and send prices
# to their ceiling; the posterior mode under this bound is the fit held at 0.
CURVATURE_BOUNDS = (-20.0, 0.0)
# The optimizer bends the response only on a fit this many standard deviations from 0.
APPLIED_MIN_Z = 2.0


@dataclass(frozen=True)
class Curvature:
    value: float
    se: float  # posterior standard deviation
    rows: int  # listing-periods it was fitted on

    @property
    def applied(self) -> float:
        """What the optimizer uses: the fit where the data say it (at least ``APPLIED_MIN_Z``
        standard deviations from 0), else 0, the constant elasticity. Small price moves fit
        curvatures of +-2 and more by chance (their squares are tiny), and a chance value bends
        every listing's prices for the weeks until the seller's own moves correct it."""
        return self.value if abs(self.value) >= APPLIED_MIN_Z * self.se else 0.0


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


def _profiled_means(
    eta: np.ndarray, y: np.ndarray, groups: tuple[np.ndarray, np.ndarray], rounds: int = 25
) -> np.ndarray:
    """Expected units exp(eta + a[listing] + b[period]) with both sets of intercepts at their
    maximum likelihood for this ``eta`` (iterative proportional fitting: each set in turn makes
    its groups' expected units equal their units)."""
    base = np.exp(np.clip(eta, -30, 30))
    scale = [np.ones(int(g.max()) + 1) for g in groups]
    for _ in range(rounds):
        for k, g in enumerate(groups):
            other = scale[1 - k][groups[1 - k]]
            total = np.bincount(g, y, len(scale[k]))
            expected = np.bincount(g, base * other, len(scale[k]))
            scale[k] = np.where(total > 0, total / np.maximum(expected, 1e-300), 0.0)
    return base * scale[0][groups[0]] * scale[1][groups[1]]


def fit_curvature(
    units: npt.ArrayLike,
    offset: npt.ArrayLike,
    change: npt.ArrayLike,
    listing: npt.ArrayLike,
    period: npt.ArrayLike,
    prior_sd: float = PRIOR_SD,
) -> Curvature:
    """The posterior mode of the curvature ``g`` in units ~ Poisson(exp(a[listing] + b[period]
    + offset + g * change)) with g ~ N(0, prior_sd^2) and flat intercepts ``a`` and ``b``
    (profiled out), by Newton's method on the profile likelihood; the posterior standard
    deviation from its curvature. ``offset``: the elasticity part, elasticity x L(p);
    ``change``: L(p)^2."""
    y = np.asarray(units, dtype=float)
    off, z = np.asarray(offset, dtype=float), np.asarray(change, dtype=float)
    if not len(y) or y.sum() <= 0:
        return Curvature(0.0, prior_sd, int(len(y)))
    groups = (
        np.unique(np.asarray(listing), return_inverse=True)[1],
        np.unique(np.asarray(period), return_inverse=True)[1],
    )

    def score(g: float) -> float:
        """d/dg of the profile log posterior (the intercepts' own scores are 0 there)."""
        return float((z * (y - _profiled_means(off + g * z, y, groups))).sum()) - g / prior_sd**2

    g, info, h = 0.0, 1.0 / prior_sd**2, 1e-4
    for _ in range(30):
        here = score(g)
        info = max((score(g - h) - score(g + h)) / (2 * h), 1.0 / prior_sd**2)
        moved = float(np.clip(g + np.clip(here / info, -2.0, 2.0), *CURVATURE_BOUNDS))
        g, step = moved, moved - g
        if abs(step) < 1e-7:
            break
    return Curvature(g, float(1.0 / np.sqrt(info)), int(len(y)))


RECENT_DAYS = 91  # the history the curvature is fitted on: the last quarter
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
    units where a period does not tell the price response (not listed, out of stock, a
    promotion). One intercept per listing (its level) and per week (the calendar)."""
    window = min(max(RECENT_DAYS // period_days, 1), units.shape[1])
    y, price = units[:, units.shape[1] - window :], displayed[:, units.shape[1] - window :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(price / reference[:, None])
    ok = np.isfinite(y) & (price > 0) & np.isfinite(lp) & np.isfinite(elasticity)[:, None]
    listing, column = np.nonzero(ok)
    week = column * period_days // WEEK_DAYS
    offset = (elasticity[:, None] * lp)[ok]
    return fit_curvature(y[ok], offset, (lp * lp)[ok], listing, week, prior_sd)
