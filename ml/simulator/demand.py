"""The true demand function shared by the generator and the ground truth.

Mean daily units of one SKU in one marketplace:

    base * exp(growth * years) * lifecycle * weekly * yearly * event ** event_sensitivity
         * price_effect(price / ref_price) * (1 + promo_uplift * on_promotion)
         * (1 + ad_beta * log1p(ad_budget / ad_scale))

``price_effect`` has the scenario's shape (``PriceResponse``): constant elasticity
``(price / ref_price) ** elasticity`` by default, or a linear or logit curve. Every shape is 1 at
the reference price and has the listing's ``elasticity`` as its point elasticity there, so the
parameters mean the same in each; ``price_elasticity`` is the analytic point elasticity.

All arguments broadcast, so the same function serves one day across all series (the generator)
and many days or prices for one series (the ground truth). ``DemandModel`` holds a run's
parameters and calendar factors for the engine, which never shows them to the seller's policies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

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


# Shapes of the response to the displayed price (scenario key ``price_response``).
PRICE_RESPONSES = ("constant", "linear", "logit")


@dataclass(frozen=True)
class PriceResponse:
    """The shape of shoppers' response to the displayed price, one for every listing of a run.

    With x = price / ref_price (the listing's reference price):

    - ``constant``: x ** elasticity;
    - ``linear``: max(0, 1 + elasticity * (x - 1)), no demand from x = 1 - 1 / elasticity on;
    - ``logit``: s(x) / s(1) with the choice share s(x) = 1 / (1 + exp(-(a - beta * x))), whose
      share at the reference is the listing's ``ref_share``; its elasticity -beta * x * (1 - s)
      equals ``elasticity`` at x = 1, so beta = -elasticity / (1 - ref_share). Above the
      reference price shoppers also feel a loss: a further factor x ** -reference_effect, i.e.
      ``reference_effect`` more elasticity on that side only (a kink at the reference).

    The reference price is the listing's fixed ``ref_price`` (its first list price), not a
    moving average of past prices: a moving reference would make the units of a day depend on
    the prices a policy set before it, and the truth could no longer answer for any price and
    date (nor an oracle optimise one day at a time).
    """

    shape: str = "constant"
    reference_effect: float = 0.0  # extra elasticity above the reference price (logit only)


CONSTANT_RESPONSE = PriceResponse()
MAX_EXP = 700.0  # exp overflows float64 a little above 709; the share is 0 by then anyway


def logit_beta(elasticity: np.ndarray, ref_share: np.ndarray) -> np.ndarray:
    """The logit's price coefficient (on x = price / ref_price) that gives ``elasticity`` at
    the reference price for a share ``ref_share`` there."""
    return -np.asarray(elasticity) / (1.0 - np.asarray(ref_share))


def _relative_price(price: np.ndarray, ref_price: np.ndarray) -> np.ndarray:
    return np.maximum(price, 1e-9) / ref_price


def _logit_terms(
    x: np.ndarray, elasticity: np.ndarray, ref_share: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """beta, the share at the reference s(1), and the odds (1 - s(x)) / s(x), which are
    (1 - s(1)) / s(1) * exp(beta * (x - 1))."""
    if ref_share is None:
        raise ValueError("the logit price response needs each listing's ref_share")
    share = np.asarray(ref_share, dtype=float)
    beta = logit_beta(elasticity, share)
    z = np.minimum(beta * (x - 1.0), MAX_EXP)
    return beta, share, (1.0 - share) / share * np.exp(z)


def price_effect(
    price: np.ndarray,
    ref_price: np.ndarray,
    elasticity: np.ndarray,
    ref_share: np.ndarray | None = None,
    response: PriceResponse = CONSTANT_RESPONSE,
) -> np.ndarray:
    """Demand at the displayed price relative to demand at the reference price."""
    x = _relative_price(price, ref_price)
    if response.shape == "constant":
        return np.power(x, elasticity)
    if response.shape == "linear":
        effect = np.maximum(1.0 + np.asarray(elasticity) * (x - 1.0), 0.0)
    elif response.shape == "logit":
        _, share, odds = _logit_terms(x, elasticity, ref_share)
        effect = 1.0 / (share * (1.0 + odds))  # s(x) / s(1)
    else:
        raise ValueError(f"unknown price response {response.shape!r}; one of {PRICE_RESPONSES}")
    if response.reference_effect:
        effect = effect * np.power(np.maximum(x, 1.0), -response.reference_effect)
    return effect


def price_elasticity(
    price: np.ndarray,
    ref_price: np.ndarray,
    elasticity: np.ndarray,
    ref_share: np.ndarray | None = None,
    response: PriceResponse = CONSTANT_RESPONSE,
) -> np.ndarray:
    """The point elasticity d log(units) / d log(price) of ``price_effect`` at ``price``.

    Linear: -inf where demand is zero. With a reference effect, the reference price itself
    takes the elasticity from below (the loss starts strictly above it).
    """
    x = _relative_price(price, ref_price)
    e = np.asarray(elasticity, dtype=float)
    if response.shape == "constant":
        out = e * np.ones_like(x)
    elif response.shape == "linear":
        level = 1.0 + e * (x - 1.0)
        out = np.where(level > 0, e * x / np.where(level > 0, level, 1.0), -np.inf)
    elif response.shape == "logit":
        beta, _, odds = _logit_terms(x, e, ref_share)
        out = -beta * x * odds / (1.0 + odds)  # -beta * x * (1 - s(x))
    else:
        raise ValueError(f"unknown price response {response.shape!r}; one of {PRICE_RESPONSES}")
    if response.reference_effect:
        out = out - np.where(x > 1.0, response.reference_effect, 0.0)
    return out


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
    ref_share=None,
    response: PriceResponse = CONSTANT_RESPONSE,
) -> np.ndarray:
    """True expected units (unconstrained by stock)."""
    return (
        base
        * np.exp(growth * years)
        * life
        * weekly
        * yearly
        * np.power(event, event_sensitivity)
        * price_effect(price, ref_price, elasticity, ref_share, response)
        * (1.0 + promo_uplift * on_promo)
        * ad_effect(budget, ad_beta, ad_scale)
    )


def surge_factors(surges, markets: list[str], dates: pd.DatetimeIndex) -> np.ndarray | None:
    """Market x day: the product of the scenario's demand surges in force (None: none)."""
    if not surges:
        return None
    out = np.ones((len(markets), len(dates)))
    day = dates.date
    for s in surges:
        if s.marketplace in markets:
            on = (day >= s.first_day) & (day <= s.last_day)
            out[markets.index(s.marketplace), on] *= s.factor
    return out


def sample_demand(rng: np.random.Generator, mu: np.ndarray, nb_size: np.ndarray) -> np.ndarray:
    """Negative binomial units with mean ``mu`` (gamma-Poisson; variance mu + mu^2 / size)."""
    lam = rng.gamma(nb_size, np.maximum(mu, 0.0) / nb_size)
    return rng.poisson(lam)


def coupled_demand(rng: np.random.Generator, mu: np.ndarray, nb_size: np.ndarray) -> np.ndarray:
    """``sample_demand``'s negative binomial, drawn so that each listing's units depend on its
    own mean only, and rise with it: the gamma's uniforms depend on its shape alone (``nb_size``),
    and the Poisson is its inverse CDF at one uniform per listing. numpy's Poisson sampler takes
    as many uniforms as its mean asks for, so one listing's price would shift every later
    listing's shoppers; here two runs that price one listing differently meet the same shoppers
    everywhere else (common random numbers that stay coupled)."""
    lam = rng.gamma(nb_size, np.maximum(mu, 0.0) / nb_size)
    u = rng.random(len(lam))
    return np.maximum(stats.poisson.ppf(u, lam), 0).astype(np.int64)


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
    ref_share: np.ndarray | None = None  # the logit's share at the reference price
    response: PriceResponse = field(default_factory=PriceResponse)
    surge: np.ndarray | None = None  # market x day demand multiplier (None: no surge)

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
            ref_share=s["ref_share"].to_numpy() if "ref_share" in s else None,
            response=PriceResponse(world.scenario.price_response, world.scenario.reference_effect),
            surge=surge_factors(world.scenario.demand_surges, world.markets, dates),
        )

    def mean(
        self, t: int, shown: np.ndarray, discount: np.ndarray, budget: np.ndarray
    ) -> np.ndarray:
        """True expected units of day ``t`` at the displayed prices ``shown``."""
        k = len(self.base)
        shape = self.yearly_shape[self.profile, t]
        yearly = np.exp(self.yearly_strength * shape) / self.yearly_norm
        mu = mean_demand(
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
            ref_share=self.ref_share,
            response=self.response,
        )
        return mu if self.surge is None else mu * self.surge[self.m_idx, t]

    def prior_estimate(self, noise: np.ndarray) -> np.ndarray:
        """What the seller believes a listing sells before the run: the true level around its
        first two months, off by the lognormal factor ``noise``."""
        lf = self.listed_from
        life0 = lifecycle(np.maximum(lf, 0) + 60, lf, self.discontinued, self.ramp_days)
        est = self.base * np.exp(self.growth * np.maximum(lf, 0) / 365.25) * np.maximum(life0, 0.3)
        est *= noise
        return np.maximum(est, 0.01)
