"""Closed-loop pricing replay: pricing policies set every listing's price, day by day through the
simulator's holdout, and the true demand answers.

The days before the holdout are the simulated seller's own run (its price list and its
replenishment), the same for every policy (same seed, same decisions). From the holdout's first
day a policy sets, at each opening, the list price of every listed listing from what the seller
knows then (an ``Observation``: FX and duties in force, duties announced, its own sales and
prices so far, stock); listings not yet listed keep the seller's plan. From that day each day's
demand is drawn from a stream of its own (the engine's ``common_demand_from``), so every policy
meets the same shoppers and the profit ratios between policies are not blurred by the draws
(with draws in sequence, kuajing over the oracle moved by about a point between runs).
Replenishment stays the seller's order-up-to policy, which learns the demand each price
brings, so a price that sells more also runs out sooner. Promotions stay the seller's calendar:
a promotion's discount applies on top of any policy's list price, and every policy prices as if
the day had none.

Profit is counted on the realized sales (true demand censored by stock) at the displayed price:
units x (the price kept after VAT and the referral fee - the landed cost of the sale day), the
landed cost being the simulated seller's (goods, ocean freight, insurance, duty, fulfilment:
``ListingEconomics``), in USD at the day's FX. Every policy is given the same economics (a seller
knows its own costs); they differ in what they know of demand.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import numpy as np
import pandas as pd

from ml.pricing.curvature import PRIOR_SD, Curvature, recent_curvature
from ml.pricing.optimizer import (
    DEFAULT_RULES,
    ENDING_OFFSETS,
    MARKETPLACE_ENDINGS,
    PricingRules,
    UnitsFunction,
    ending_nearest,
    optimize_prices,
)
from ml.simulator.demand import DemandModel, price_effect
from ml.simulator.engine import holdout_days, series_fx, simulate
from ml.simulator.observation import Observation, SellerFacts
from ml.simulator.policies import DefaultPricing, Policies
from ml.simulator.world import ListingEconomics, World, listing_economics

TRAILING_DAYS = 28  # the window of recent sales and prices a policy reads from its history
TYPICAL_DAYS = 365  # the window of the typical price (the nightly's default ceiling anchor)
REVIEW_DAYS = 7  # the seller's replenishment ships weekly: part of the time to replenish
REFERENCE_MARKETPLACE = "US"  # fx_parity converts the US price (Build International Listings)
MIN_UNITS = 0.01  # units a day assumed for a listing without recent sales (a level, never 0)
POLICY_NAMES = ("kuajing", "oracle", "cost_plus", "keep_price", "fx_parity")
# Days between kuajing's re-estimates of the elasticities on the history so far (the nightly
# re-estimates every night; the bench every three weeks: each fit takes half a minute to a minute)
REFIT_DAYS = 21
# The holdout's days so far, as rows of marts.fct_daily_demand -> new listing estimates
RefitElasticities = Callable[[pd.DataFrame], pd.DataFrame]


class HoldoutPolicy(Protocol):
    """A benchmarked pricing policy: list prices of every listing at each holdout opening."""

    name: str

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        """Before day 0: forget any earlier run."""
        ...

    def prices(self, obs: Observation, planned: np.ndarray) -> np.ndarray:
        """Today's list price of every listing (only listed ones are used); ``planned`` is the
        seller's own price list of the day."""
        ...


# --- what every policy reads --------------------------------------------------------------------


def landed_local(economics: ListingEconomics, obs: Observation) -> np.ndarray:
    """Today's landed cost per unit of every listing, in its marketplace's currency."""
    rows = np.arange(len(obs.fx_usd))
    return economics.landed_usd(rows, obs.duty_rate, obs.fx_usd) / obs.fx_usd


def trailing(obs: Observation, days: int = TRAILING_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """Units a day on the recent days a listing could sell (not stocked out), and its average
    displayed price over them (the current list price where it has none)."""
    if obs.history is None or obs.history.n_days == 0:
        return np.full(len(obs.list_price), MIN_UNITS), np.asarray(obs.list_price, float)
    sales = obs.history.sales()[-days:].astype(float)
    could = ~obs.history.stocked_out()[-days:]
    shown = obs.history.shown_price()[-days:]
    n = could.sum(axis=0)
    units = np.where(n > 0, (sales * could).sum(axis=0) / np.maximum(n, 1), 0.0)
    price = np.where(n > 0, (shown * could).sum(axis=0) / np.maximum(n, 1), obs.list_price)
    price = np.where(price > 0, price, obs.list_price)
    return np.maximum(units, MIN_UNITS), price


def typical_prices(obs: Observation, days: int = TYPICAL_DAYS) -> np.ndarray:
    """Each listing's median list price over the last ``days`` it was priced, as the nightly's
    ``typical_price`` (the default ceiling's anchor); the current list price where it has none."""
    current = np.asarray(obs.list_price, float)
    if obs.history is None or obs.history.n_days == 0:
        return current
    shown = obs.history.shown_price()[-days:]
    discount = np.nan_to_num(obs.history.discount()[-days:])
    listed = np.where(shown > 0, shown / np.maximum(1.0 - discount, 1e-9), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a listing never priced: NaN
        median = np.nanmedian(listed, axis=0)
    return np.where(np.isfinite(median) & (median > 0), median, current)


def ending_offsets(marketplaces: np.ndarray) -> np.ndarray:
    """The optimizer's price ending of each listing's marketplace (.99 where it names none)."""
    style = [MARKETPLACE_ENDINGS.get(str(m), "99") for m in marketplaces]
    return np.array([ENDING_OFFSETS[s] for s in style])


def pushed(current: np.ndarray, target: np.ndarray, min_change: float) -> np.ndarray:
    """``target`` where it moves the price by at least ``min_change``, else the current price."""
    move = np.abs(target / current - 1.0) >= min_change
    return np.where(move, target, current)


# --- kuajing and the oracle: the optimizer with a demand model ---------------------------------


@dataclass(frozen=True)
class DemandInputs:
    """A policy's demand model for today's rows: optimizer columns (``units_ref``,
    ``price_ref``, ``elasticity``, optionally ``curvature`` and ``response_reference``) and
    per-listing callables where the columns do not say it."""

    columns: dict[str, np.ndarray]
    responses: dict[tuple[str, str], UnitsFunction] = field(default_factory=dict)


@dataclass
class OptimizedPricing:
    """Prices from ``optimize_prices`` under the default guardrails, with demand from a model:
    ``demand_inputs(obs, rows)`` gives (units_ref, price_ref, elasticity, responses)."""

    name: str
    rules: PricingRules = DEFAULT_RULES
    decisions: list[pd.DataFrame] = field(default_factory=list)
    last_frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # the last day's input
    seconds: float = 0.0

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        self.facts, self.economics = facts, economics
        self.decisions, self.seconds = [], 0.0
        main = np.where(
            facts.ships_by_rail, facts.lane_by_mode["rail"], facts.lane_by_mode["ocean"]
        )
        transit = np.array([ln.transit_typical for ln in facts.lanes])
        self.days_to_replenish = transit[main] + REVIEW_DAYS
        self.sku = facts.sku[facts.sku_idx]

    def demand_inputs(self, obs: Observation, rows: np.ndarray) -> DemandInputs:
        raise NotImplementedError

    def frame(self, obs: Observation, rows: np.ndarray, demand: DemandInputs) -> pd.DataFrame:
        """The optimizer's input for today's listed listings ``rows``."""
        econ = self.economics
        return pd.DataFrame(
            {
                "series": rows,
                "sku": self.sku[rows],
                "marketplace": self.facts.marketplace[rows],
                "date": pd.Timestamp(obs.date),
                "current_price": obs.list_price[rows],
                "landed_cost_local": landed_local(econ, obs)[rows],
                "vat_rate": econ.vat_mult[rows] - 1.0,
                "prices_include_vat": econ.vat_mult[rows] > 1.0,
                "referral_fee_rate": econ.referral[rows],
                "typical_price": typical_prices(obs)[rows],
                "stock_units": (obs.on_hand + obs.in_transit)[rows].astype(float),
                "days_to_replenish": self.days_to_replenish[rows].astype(float),
                **demand.columns,
            }
        )

    def prices(self, obs: Observation, planned: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        rows = np.flatnonzero(obs.listed)
        out = np.array(obs.list_price, dtype=float)
        if len(rows):
            demand = self.demand_inputs(obs, rows)
            frame = self.last_frame = self.frame(obs, rows, demand)
            result = optimize_prices(frame, default_rules=self.rules, responses=demand.responses)
            out[result["series"].to_numpy()] = result["recommended_price"].to_numpy()
            self.decisions.append(
                result[
                    [
                        "series",
                        "date",
                        "previous_price",
                        "recommended_price",
                        "landed_cost_local",
                        "typical_price",
                        "vat_rate",
                        "prices_include_vat",
                        "referral_fee_rate",
                        "status",
                        "binding_guardrail",
                        "reason_codes",
                        "stock_units",
                    ]
                ]
            )
        self.seconds += time.perf_counter() - started
        return out


class KuajingPricing(OptimizedPricing):
    """Kuajing's price policy, as the nightly run would set it each day: the elasticities
    estimated from the history before the holdout (``ml.pricing.elasticity``: a Poisson slope
    on the price offset by the forecast's features, pooled where thin), re-estimated every
    ``refit_days`` on the history so far (which its own prices have moved) when given a
    ``refit``, priced over their posterior spread (``elasticity_se``), the seller's curvature
    (``ml.pricing.curvature``) re-fitted every Monday on the last quarter, the level of each
    listing's recent sales at its recent price, and the optimizer's guardrails."""

    def __init__(
        self,
        estimates: pd.DataFrame,
        rules: PricingRules = DEFAULT_RULES,
        refit: RefitElasticities | None = None,
        refit_days: int = REFIT_DAYS,
    ):
        super().__init__("kuajing", rules)
        self.initial, self.refit, self.refit_days = estimates, refit, refit_days
        self.curvatures: list[tuple[int, Curvature]] = []
        self.refits: list[tuple[int, pd.DataFrame, float]] = []

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        super().start(facts, economics)
        self._use(self.initial)
        fitted = self.estimates.get("curvature", pd.Series([0.0]))
        fitted_se = self.estimates.get("curvature_se", pd.Series([PRIOR_SD]))
        self.curvature = Curvature(float(fitted.median()), float(fitted_se.median()), 0)
        self.curvatures, self.refits = [], []
        self.first_day: int | None = None
        self.fx_seen: dict[int, np.ndarray] = {}

    def _use(self, estimates: pd.DataFrame) -> None:
        """Price with ``estimates`` (one row per listing) from now on."""
        facts = self.facts
        self.estimates = estimates
        self.elasticity = by_series(estimates, "elasticity", self.sku, facts.marketplace)
        self.elasticity_sd = by_series(estimates, "se", self.sku, facts.marketplace)
        self.reference = np.full(facts.n_series, np.nan)
        if "reference_price" in estimates:
            own = estimates.set_index(["sku", "marketplace"])["reference_price"]
            keys = pd.MultiIndex.from_arrays([self.sku, facts.marketplace])
            self.reference = own.reindex(keys).to_numpy(dtype=float)

    def _refit_elasticities(self, obs: Observation) -> None:
        """The nightly's elasticities on the history so far: the holdout's days go to
        ``refit`` as demand rows, beside the history the first estimates came from."""
        assert self.refit is not None and self.first_day is not None
        started = time.perf_counter()
        rows = history_demand(obs, self.sku, self.first_day, self.fx_seen)
        estimates = self.refit(rows)
        self._use(estimates)
        self.refits.append((obs.day, estimates, time.perf_counter() - started))

    def _refit_curvature(self, obs: Observation) -> None:
        """The nightly's curvature on the history so far (series x days)."""
        assert obs.history is not None
        sales = obs.history.sales().T.astype(float)
        shown = obs.history.shown_price().T
        # promotion days sell on visibility as well as price: left out, as in the nightly
        could = ~obs.history.stocked_out().T & (shown > 0) & (obs.history.discount().T == 0)
        self.curvature = recent_curvature(
            np.where(could, sales, np.nan), shown, self.elasticity, self.reference
        )
        self.curvatures.append((obs.day, self.curvature))

    def demand_inputs(self, obs: Observation, rows: np.ndarray) -> DemandInputs:
        if self.first_day is None:
            self.first_day = obs.day
        self.fx_seen[obs.day] = np.array(obs.fx_usd, dtype=float)
        days_in = obs.day - self.first_day
        if self.refit is not None and days_in > 0 and days_in % self.refit_days == 0:
            self._refit_elasticities(obs)
        if obs.weekday == 0:
            self._refit_curvature(obs)
        units, price = trailing(obs)
        reference = np.where(self.reference > 0, self.reference, price)
        return DemandInputs(
            {
                "units_ref": units[rows],
                "price_ref": price[rows],
                "elasticity": self.elasticity[rows],
                "elasticity_se": self.elasticity_sd[rows],
                "curvature": np.full(len(rows), self.curvature.applied),
                "response_reference": reference[rows],
            }
        )


def history_demand(
    obs: Observation,
    sku: np.ndarray,
    first_day: int,
    fx_by_day: dict[int, np.ndarray],
    end_day: int | None = None,
) -> pd.DataFrame:
    """The seller's days ``first_day`` .. ``end_day`` (excluded; default today: the days
    before the opening) as rows of ``marts.fct_daily_demand``
    (``ml.forecast.panel.DEMAND_COLUMNS``): per listed listing and day its units, list price
    and discount, promotion flag, ad spend in USD at that day's FX (``fx_by_day``) and whether
    it was out of stock (its units then censored)."""
    assert obs.history is not None
    h, f = obs.history, obs.facts
    days = np.arange(first_day, obs.day if end_day is None else end_day)
    shown, discount = h.shown_price()[days], h.discount()[days]
    listed = (
        (f.listed_from[None, :] <= days[:, None])
        & (days[:, None] <= f.discontinued[None, :])
        & (shown > 0)
    )
    d, i = np.nonzero(listed)
    fx = np.stack([fx_by_day[int(t)] for t in days])
    cut = discount[d, i]
    return pd.DataFrame(
        {
            "sku": sku[i],
            "marketplace": f.marketplace[i],
            "demand_date": [f.start + timedelta(days=int(t)) for t in days[d]],
            "units": h.sales()[days][d, i].astype(float),
            "list_price_local": shown[d, i] / (1.0 - cut),
            "discount_pct": np.where(cut > 0, cut, np.nan),
            "is_promoted": cut > 0,
            "ad_spend_usd": h.ad_spend()[days][d, i] * fx[d, i],
            "is_censored": h.stocked_out()[days][d, i],
        }
    )


def by_series(
    estimates: pd.DataFrame, column: str, sku: np.ndarray, marketplace: np.ndarray
) -> np.ndarray:
    """Each listing's estimate of ``column``; a listing the estimates do not hold (launched
    after them) takes its marketplace's median estimate, else the overall median."""
    own = estimates.set_index(["sku", "marketplace"])[column]
    keys = pd.MultiIndex.from_arrays([sku, marketplace])
    out = own.reindex(keys).to_numpy(dtype=float)
    by_market = estimates.groupby("marketplace")[column].median()
    fallback = pd.Series(marketplace).map(by_market).to_numpy(dtype=float)
    out = np.where(np.isfinite(out), out, fallback)
    return np.where(np.isfinite(out), out, float(estimates[column].median()))


class OraclePricing(OptimizedPricing):
    """Prices optimal under the true demand (the simulator's, hidden from every other policy),
    within the same guardrails as kuajing."""

    def __init__(self, demand: DemandModel, rules: PricingRules = DEFAULT_RULES):
        super().__init__("oracle", rules)
        self.demand = demand

    def demand_inputs(self, obs: Observation, rows: np.ndarray) -> DemandInputs:
        m = self.demand
        no_promotion = np.zeros(len(m.base))
        level = m.mean(obs.day, m.ref_price, no_promotion, np.asarray(obs.ad_budget))[rows]
        responses: dict[tuple[str, str], UnitsFunction] = {}
        if m.response.shape != "constant":
            responses = {
                (str(self.sku[i]), str(self.facts.marketplace[i])): true_units(m, i, lvl)
                for i, lvl in zip(rows, level, strict=True)
            }
        columns = {
            "units_ref": level,
            "price_ref": m.ref_price[rows],
            "elasticity": m.elasticity[rows],
        }
        return DemandInputs(columns, responses)


def true_units(m: DemandModel, i: int, level: float) -> UnitsFunction:
    """Listing ``i``'s true expected units at any displayed prices, given its level."""
    ref, e = m.ref_price[i], m.elasticity[i]
    share = None if m.ref_share is None else m.ref_share[i]

    def units(prices: np.ndarray) -> np.ndarray:
        return level * price_effect(prices, ref, e, share, m.response)

    return units


# --- the seller's alternatives --------------------------------------------------------------------


class KeepPrice:
    """The last price before the holdout, held."""

    name = "keep_price"

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        pass

    def prices(self, obs: Observation, planned: np.ndarray) -> np.ndarray:
        return np.array(obs.list_price, dtype=float)


@dataclass
class CostPlus:
    """A fixed markup on the day's landed cost: the seller's average at the holdout's start
    (kept price over landed cost, weighted by the last 90 days' units), in price endings,
    changes under ``min_change`` not pushed."""

    name: str = "cost_plus"
    min_change: float = DEFAULT_RULES.min_change
    markup: float | None = None

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        self.economics, self.markup = economics, None
        self.offset = ending_offsets(facts.marketplace)

    def prices(self, obs: Observation, planned: np.ndarray) -> np.ndarray:
        econ, current = self.economics, np.asarray(obs.list_price, dtype=float)
        landed = landed_local(econ, obs)
        if self.markup is None:
            units = obs.history.sales()[-90:].sum(axis=0) if obs.history is not None else None
            weight = units if units is not None and units.sum() > 0 else np.ones(len(current))
            kept = econ.kept_share * current
            self.markup = float((weight * kept).sum() / (weight * landed).sum() - 1.0)
        target = ending_nearest(landed * (1.0 + self.markup) / econ.kept_share, self.offset)
        return pushed(current, np.maximum(target, 0.01), self.min_change)


@dataclass
class FxParity:
    """Build International Listings: each listing's price is its SKU's US price (the seller's
    own plan there) at the day's FX, plus a fixed percentage per marketplace (the median at the
    holdout's start), in price endings, changes under ``min_change`` not pushed. US listings
    and SKUs not sold in the US keep the seller's plan."""

    name: str = "fx_parity"
    min_change: float = DEFAULT_RULES.min_change
    premium: dict[str, float] = field(default_factory=dict)

    def start(self, facts: SellerFacts, economics: ListingEconomics) -> None:
        self.facts, self.premium = facts, {}
        self.offset = ending_offsets(facts.marketplace)
        us = np.flatnonzero(facts.marketplace == REFERENCE_MARKETPLACE)
        ref_row = np.full(facts.n_skus, -1)
        ref_row[facts.sku_idx[us]] = us
        self.ref_row = ref_row[facts.sku_idx]  # each listing's US listing (-1: none)

    def prices(self, obs: Observation, planned: np.ndarray) -> np.ndarray:
        f, current = self.facts, np.asarray(obs.list_price, dtype=float)
        follows = (self.ref_row >= 0) & (f.marketplace != REFERENCE_MARKETPLACE)
        ref = np.maximum(self.ref_row, 0)
        us_usd = planned[ref] * obs.fx_usd[ref]
        converted = us_usd / obs.fx_usd
        if not self.premium:
            ratio = pd.Series(current[follows] / converted[follows])
            self.premium = ratio.groupby(f.marketplace[follows]).median().sub(1.0).to_dict()
        premium = pd.Series(f.marketplace).map(self.premium).fillna(0.0).to_numpy()
        target = ending_nearest(converted * (1.0 + premium), self.offset)
        target = np.where(follows, np.maximum(target, 0.01), planned)
        return np.where(follows, pushed(current, target, self.min_change), planned)


# --- the replay ---------------------------------------------------------------------------------


class _FromHoldout:
    """The engine's pricing policy: the seller's plan before ``first_day``, then ``policy``."""

    def __init__(self, policy: HoldoutPolicy, economics: ListingEconomics, first_day: int):
        self.policy, self.economics, self.first_day = policy, economics, first_day
        self.plan = DefaultPricing()

    def start(self, facts: SellerFacts) -> None:
        self.plan.start(facts)
        self.policy.start(facts, self.economics)

    def list_prices(self, obs: Observation) -> np.ndarray:
        planned = np.array(self.plan.list_prices(obs), dtype=float)
        if obs.day < self.first_day:
            return planned
        return np.where(obs.listed, self.policy.prices(obs, planned), planned)


@dataclass(frozen=True)
class PolicyRun:
    """One policy's holdout: day x series realized sales and displayed prices."""

    name: str
    days: np.ndarray
    sales: np.ndarray
    shown: np.ndarray
    stockout_share: float
    seconds: float


def replay(
    world: World, policy: HoldoutPolicy, days: range | None = None, demand_stream: int = 0
) -> PolicyRun:
    """Simulate the history with ``policy`` pricing the holdout ``days`` (default: the last 90),
    its shoppers from the engine's ``demand_stream``."""
    days = holdout_days(world) if days is None else days
    if days.stop != world.n_hist:
        raise ValueError("the replayed days must run to the end of the history")
    started = time.perf_counter()
    pricing = _FromHoldout(policy, listing_economics(world), days.start)
    result = simulate(
        world,
        Policies(pricing=pricing),
        common_demand_from=days.start,
        demand_stream=demand_stream,
    )
    assert result.history is not None  # simulate keeps it by default
    held = slice(days.start, days.stop)
    sales = result.history.sales()[held]
    out = result.history.stocked_out()[held]
    return PolicyRun(
        name=policy.name,
        days=np.arange(days.start, days.stop),
        sales=np.array(sales, dtype=np.int64),
        shown=np.array(result.history.shown_price()[held]),
        stockout_share=float(out.mean()),
        seconds=time.perf_counter() - started,
    )


def daily_profit(world: World, run: PolicyRun) -> tuple[np.ndarray, np.ndarray]:
    """Day x series profit and revenue (displayed price x units), both in USD."""
    econ = listing_economics(world)
    fx = series_fx(world, run.days)
    duty = world.duty[world.duty_group][:, run.days].T
    rows = np.arange(len(world.series))
    landed = np.stack([econ.landed_usd(rows, duty[j], fx[j]) for j in range(len(run.days))])
    revenue = run.sales * run.shown * fx
    profit = run.sales * (econ.kept_share * run.shown * fx - landed)
    return profit, revenue


def first_duty_change(world: World, days: range) -> int | None:
    """The first day of ``days`` on which some listing's duty differs from the day before."""
    duty = world.duty[world.duty_group]
    for t in days:
        if t > 0 and not np.allclose(duty[:, t], duty[:, t - 1]):
            return t
    return None


AFTER_SHOCK_DAYS = 30


def outcome(world: World, run: PolicyRun, shock_day: int | None) -> dict[str, float | None]:
    """The policy's totals over the holdout, and its profit in the 30 days from ``shock_day``."""
    profit, revenue = daily_profit(world, run)
    total_revenue = float(revenue.sum())
    after = None
    if shock_day is not None:
        window = (run.days >= shock_day) & (run.days < shock_day + AFTER_SHOCK_DAYS)
        after = float(profit[window].sum())
    return {
        "profit_usd": float(profit.sum()),
        "revenue_usd": total_revenue,
        "units": int(run.sales.sum()),
        "margin": float(profit.sum() / total_revenue) if total_revenue else None,
        "profit_after_shock_usd": after,
        "stockout_share": run.stockout_share,
        "seconds": round(run.seconds, 1),
    }


def guardrail_violations(decisions: pd.DataFrame, rules: PricingRules = DEFAULT_RULES) -> dict:
    """Prices of an optimized policy that break a guardrail, checked apart from the optimizer:
    below the margin floor, above the max price, or moving more than the daily limit from a
    previous price that was inside its bounds (a price outside them may jump to the bound).
    Paused listings (no price is allowed) keep their price and count apart, as do markdowns
    past the daily limit, which excess stock allows."""
    d = decisions[decisions["status"] != "paused"]
    k = np.where(d["prices_include_vat"], 1.0 / (1.0 + d["vat_rate"]), 1.0) - d["referral_fee_rate"]
    floor = d["landed_cost_local"] * (1.0 + rules.min_margin) / k
    ceiling = rules.max_price_multiple * d["typical_price"]
    p, prev = d["recommended_price"], d["previous_price"]
    tol = 1e-6
    below = p < floor - tol
    above = (p > ceiling + tol) & (p > prev + tol)  # a held price is never pushed up
    inside = (prev >= floor - tol) & (prev <= ceiling + tol)
    fast = inside & ((p / prev - 1.0).abs() > rules.max_change + tol)
    # Excess stock lifts the downward limit (a markdown): allowed, and counted apart.
    markdown = fast & (p < prev) & d["reason_codes"].str.contains("stock")
    too_fast = fast & ~markdown
    return {
        "checked": int(len(d)),
        "paused": int(len(decisions) - len(d)),
        "below_margin_floor": int(below.sum()),
        "above_max_price": int(above.sum()),
        "over_daily_limit": int(too_fast.sum()),
        "markdowns_past_daily_limit": int(markdown.sum()),
        "total": int((below | above | too_fast).sum()),
    }


def repricing_seconds(frame: pd.DataFrame, n_listings: int = 10_000) -> float:
    """Seconds the optimizer takes to re-price ``n_listings`` listings for one day: ``frame``
    (one day's optimizer input of the replay) copied under new SKU codes up to that size."""
    if frame.empty:
        raise ValueError("the replay recorded no optimizer input to time")
    tiled = tiled_listings(frame, n_listings)
    started = time.perf_counter()
    optimize_prices(tiled)
    return time.perf_counter() - started


def tiled_listings(frame: pd.DataFrame, n_listings: int) -> pd.DataFrame:
    """``frame``'s rows copied under new SKU codes (``sku~1``, ...) up to ``n_listings`` rows:
    a seller of that size, for timing one night's work on it."""
    copies = -(-n_listings // len(frame))
    return pd.concat(
        [frame.assign(sku=frame["sku"].astype(str) + f"~{c}") for c in range(copies)],
        ignore_index=True,
    ).head(n_listings)
