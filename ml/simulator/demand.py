"""The true demand function shared by the generator and the ground truth.

Mean daily units of one SKU in one marketplace:

    base * exp(growth * years) * lifecycle * weekly * yearly * event ** event_sensitivity
         * (price / ref_price) ** elasticity * (1 + promo_uplift * on_promotion)
         * (1 + ad_beta * log1p(ad_budget / ad_scale))

All arguments broadcast, so the same function serves one day across all series (the generator)
and many days or prices for one series (the ground truth).
"""

from __future__ import annotations

import numpy as np

# Columns of the per-series parameter table the truth stores (truth/series.parquet).
SERIES_COLUMNS = (
    "sku",
    "marketplace",
    "base",
    "growth",
    "listed_from",
    "discontinued",
    "ramp_days",
    "launched",
    "currency",
    "profile_key",
    "season_strength",
    "event_sensitivity",
    "elasticity",
    "ref_price",
    "promo_uplift",
    "ad_beta",
    "ad_scale",
    "nb_size",
)


def lifecycle(
    day: np.ndarray, listed_from: np.ndarray, discontinued: np.ndarray, ramp_days: np.ndarray
) -> np.ndarray:
    """0 before listing and after end of life; a new listing ramps up over ``ramp_days``
    (reviews and ranking build up), so old listings sit at 1."""
    age = np.asarray(day - listed_from, dtype=float)
    ramp = -np.expm1(-(np.maximum(age, 0) + 1) / ramp_days)
    return np.where((age >= 0) & (day <= discontinued), ramp, 0.0)


def price_effect(price: np.ndarray, ref_price: np.ndarray, elasticity: np.ndarray) -> np.ndarray:
    """Constant-elasticity response to the displayed price."""
    return np.power(np.maximum(price, 1e-9) / ref_price, elasticity)


def ad_effect(budget: np.ndarray, ad_beta: np.ndarray, ad_scale: np.ndarray) -> np.ndarray:
    """Advertising lifts demand with diminishing returns (log of the daily budget)."""
    return 1.0 + ad_beta * np.log1p(np.maximum(budget, 0.0) / ad_scale)


def mean_demand(
    *,
    base,
    growth,
    years,
    life,
    weekly,
    yearly,
    event,
    event_sensitivity,
    price,
    ref_price,
    elasticity,
    on_promo,
    promo_uplift,
    budget,
    ad_beta,
    ad_scale,
) -> np.ndarray:
    """True expected units (unconstrained by stock)."""
    return (
        base
        * np.exp(growth * years)
        * life
        * weekly
        * yearly
        * np.power(event, event_sensitivity)
        * price_effect(price, ref_price, elasticity)
        * (1.0 + promo_uplift * on_promo)
        * ad_effect(budget, ad_beta, ad_scale)
    )


def sample_demand(rng: np.random.Generator, mu: np.ndarray, nb_size: np.ndarray) -> np.ndarray:
    """Negative binomial units with mean ``mu`` (gamma-Poisson; variance mu + mu^2 / size)."""
    lam = rng.gamma(nb_size, np.maximum(mu, 0.0) / nb_size)
    return rng.poisson(lam)
