"""The true demand function shared by the generator and the ground truth.

Mean daily units of one SKU in one marketplace:

    base * exp(growth * years) * lifecycle * weekly * yearly * event ** event_sensitivity
         * (price / ref_price) ** elasticity * (1 + promo_uplift * on_promotion)
         * (1 + ad_beta * log1p(ad_budget / ad_scale))

All arguments broadcast, so the same function serves one day across all series (the generator)
and many days or prices for one series (the ground truth). ``DemandModel`` holds a run's
parameters and calendar factors for the engine, which never shows them to the seller's policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import calendar as cal

if TYPE_CHECKING:
    from .world import World

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


@dataclass
class DemandModel:
    """The true demand per series (hidden from policies): parameters and calendar factors."""

    m_idx: np.ndarray
    base: np.ndarray
    growth: np.ndarray
    listed_from: np.ndarray
    discontinued: np.ndarray
    ramp_days: np.ndarray
    event_sensitivity: np.ndarray
    elasticity: np.ndarray
    ref_price: np.ndarray
    promo_uplift: np.ndarray
    ad_beta: np.ndarray
    ad_scale: np.ndarray
    nb_size: np.ndarray
    weekly: np.ndarray  # market x day
    event: np.ndarray  # market x day
    yearly_shape: np.ndarray  # profile x day
    profile: np.ndarray  # per series, row of yearly_shape
    yearly_strength: np.ndarray  # season strength x the profile's amplitude
    yearly_norm: np.ndarray

    @classmethod
    def of(cls, world: World) -> DemandModel:
        s = world.series
        dates = pd.date_range(world.start, periods=world.n_total, freq="D")
        dow, doy = dates.dayofweek.to_numpy(), dates.dayofyear.to_numpy()
        pk_codes, pk_uniq = pd.factorize(s["profile_key"].to_numpy())
        amps = np.array([cal.yearly_log_shape(p, doy[:1])[1] for p in pk_uniq])
        strength = s["season_strength"].to_numpy() * amps[pk_codes]
        col = {c: s[c].to_numpy() for c in SERIES_COLUMNS if c in s}
        col["m_idx"] = s["m_idx"].to_numpy()
        return cls(
            m_idx=col["m_idx"],
            base=col["base"],
            growth=col["growth"],
            listed_from=col["listed_from"],
            discontinued=col["discontinued"],
            ramp_days=col["ramp_days"],
            event_sensitivity=col["event_sensitivity"],
            elasticity=col["elasticity"],
            ref_price=col["ref_price"],
            promo_uplift=col["promo_uplift"],
            ad_beta=col["ad_beta"],
            ad_scale=col["ad_scale"],
            nb_size=col["nb_size"],
            weekly=np.stack(
                [cal.weekly_factor(m, dow, world.scenario.weekly_strength) for m in world.markets]
            ),
            event=np.stack([cal.event_factor(m, dates) for m in world.markets]),
            yearly_shape=np.stack([cal.yearly_log_shape(p, doy)[0] for p in pk_uniq]),
            profile=pk_codes,
            yearly_strength=strength,
            yearly_norm=np.i0(strength),
        )

    def mean(
        self, t: int, shown: np.ndarray, discount: np.ndarray, budget: np.ndarray
    ) -> np.ndarray:
        """True expected units of day ``t`` at the displayed prices ``shown``."""
        k = len(self.base)
        shape = self.yearly_shape[self.profile, t]
        yearly = np.exp(self.yearly_strength * shape) / self.yearly_norm
        return mean_demand(
            base=self.base,
            growth=self.growth,
            years=t / 365.25,
            life=lifecycle(np.full(k, t), self.listed_from, self.discontinued, self.ramp_days),
            weekly=self.weekly[self.m_idx, t],
            yearly=yearly,
            event=self.event[self.m_idx, t],
            event_sensitivity=self.event_sensitivity,
            price=shown,
            ref_price=self.ref_price,
            elasticity=self.elasticity,
            on_promo=(discount > 0),
            promo_uplift=self.promo_uplift,
            budget=budget,
            ad_beta=self.ad_beta,
            ad_scale=self.ad_scale,
        )

    def prior_estimate(self, noise: np.ndarray) -> np.ndarray:
        """What the seller believes a listing sells before the run: the true level around its
        first two months, off by the lognormal factor ``noise``."""
        lf = self.listed_from
        life0 = lifecycle(np.maximum(lf, 0) + 60, lf, self.discontinued, self.ramp_days)
        est = self.base * np.exp(self.growth * np.maximum(lf, 0) / 365.25) * np.maximum(life0, 0.3)
        est *= noise
        return np.maximum(est, 0.01)
