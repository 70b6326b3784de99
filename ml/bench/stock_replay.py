"""Closed-loop allocation replay: replenishment policies move the stock, day by day through the
simulator's holdout, and the true demand answers.

The days before the holdout are the simulated seller's own run, the same for every policy. From
the holdout's first day a policy decides, at each close, what to ship from the hub to each
market warehouse and by which mode, and what to order from the factory into the hub, from what
the seller knows then (an ``Observation``: stock on hand, in transit and in the hub, its own
sales, FX and the duties in force and announced). Prices stay the seller's price list for every
policy, so the replay measures the stock decisions alone. True demand is censored by the market
warehouse's stock (every policy meets the same shoppers); shipments land after their realized
transit, the same for every policy's departure on a lane and day, with the scenario's lane
delays. Launch batches of listings opening during the holdout stay the seller's (the same for
every policy that keeps forward stock), as do its hub orders for the policies that have no
restock rule of their own.

Policies:

- ``kuajing``: tonight's allocation plan (``ml.allocation.nightly.plan_sku``: critical-ratio
  targets, hub units where they add most profit, air or express surges only where a stock-out
  looms before the next ocean shipment and the surge beats its lane's fixed cost), re-planned
  every night; ocean base shipments leave with the weekly (Monday) sailing; the restock plan
  (``ml.allocation.nightly.restock``) every Monday. Its demand is tonight's LightGBM forecast
  (``ml.bench.forecast_feed``: trained on the marts before the holdout, scored every night on
  the history so far and the seller's price and promotion plan ahead), its daily mean and
  negative binomial variance over the planning window; a listing the forecast does not cover
  (launched too recently) takes its rate over its last 56 in-stock days with an overdispersion
  pooled over the seller's listings (``pooled_nb_size``). Either way the window's variance adds
  the error of a level estimated from the days seen;
- ``oracle``: the same planner knowing the true expected demand of every future day (the
  simulator's mean, promotions and surges included) and the lane delays ahead;
- ``base_stock``: an order-up-to level per listing of the mean demand over ocean lead time plus
  a week and a safety stock (z = 1.645 of the daily standard deviation), weekly by ocean, with
  the hub's fair share when it is short; the seller's hub orders;
- ``proportional``: every week each SKU's shipment tops its markets up to 5 weeks beyond the
  ocean transit of their trailing 30-day sales, split between markets in proportion to those
  sales (not to their gaps), by ocean; the seller's hub orders;
- ``direct_parcel``: no new forward stock: once a market warehouse's stock runs out, every
  order ships from the hub as an express parcel (``engine.PARCEL_RETENTION`` of those shoppers
  still buy); the seller's hub orders.

Costs, in USD: goods at unit cost on units sold; the fulfilment fee on units sold from a market
warehouse; each shipment's freight (1.2 x the lane's rate per kg, as the landed cost counts it),
insurance and the duty of its arrival day, plus the lane's fixed cost per departure; parcels pay
the express rate on at least ``PARCEL_MIN_KG``, a handling fee, and the duty a parcel owes on its
day (the de minimis relief or the flat per-item duty where in force: ``tariffs.parcel_terms``);
holding (capital and storage) at ``HOLDING_RATE`` a year of landed cost in the market
warehouses, of unit cost in the hub. The stock the markets hold at the end beyond what they held
at the start is credited its import cost by ocean (a policy that builds stock pays for it once
it sells; goods are charged on units sold), except for a listing that has ended by the last day:
its stock has no sale ahead. Profit is the price kept after VAT and the referral fee less all
of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import numpy as np
import pandas as pd

from ml.allocation.nightly import (
    HOLDING_RATE,
    AllocationSettings,
    RestockSettings,
    plan_sku,
    restock,
)
from ml.allocation.plan import (
    LEVEL_DAYS,
    MAX_SAILING_WEEKS,
    SAILING_WEEKDAY,
    sailing_interval,
    weekly_holding,
    worth_departing,
)
from ml.allocation.plan import days_to_sailing as _days_to_sailing
from ml.bench.forecast_feed import ReplayForecast, window_rates
from ml.bench.replay import first_duty_change, tiled_listings
from ml.simulator.demand import DemandModel
from ml.simulator.engine import holdout_days, lane_delay, series_fx, simulate
from ml.simulator.observation import Observation, SellerFacts
from ml.simulator.policies import HubDelivery, Logistics, OrderUpToReplenishment, Policies
from ml.simulator.state import IntervalTrack, SimulationResult
from ml.simulator.tariffs import parcel_terms
from ml.simulator.world import ListingEconomics, World, listing_economics

POLICY_NAMES = ("kuajing", "direct_parcel", "proportional", "base_stock", "oracle")
MODES = ("ocean", "rail", "air", "express")
TRAILING_DAYS = LEVEL_DAYS  # kuajing's demand window (in-stock days)
POOLED_MIN_DAYS = 14  # in-stock days a listing needs to count in the pooled overdispersion
BASELINE_TRAILING_DAYS = 30  # the baselines' trailing sales
MIN_DAYS_SEEN = 7  # in-stock days below which a listing's rate is the seller's prior
REVIEW_DAYS = 7
PROPORTIONAL_COVER_DAYS = 35  # transit + 5 weeks of trailing sales
SAFETY_Z = 1.645  # base_stock's safety factor (95 % of the lead-time demand)
PARCEL_MIN_KG = 0.5  # chargeable weight of a small parcel
PARCEL_FEE_USD = 3.0  # per parcel: pick, pack and the carrier's registration fee
HUB = "HUB"


# --- what every policy reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class Economics:
    """The seller's unit economics per listing, with its stock brought in by each mode."""

    by_mode: dict[str, ListingEconomics]
    lanes: tuple  # LaneSpec, as in SellerFacts.lanes

    @classmethod
    def of(cls, world: World) -> Economics:
        return cls({m: listing_economics(world, m) for m in MODES}, tuple(world.lanes))

    @property
    def ocean(self) -> ListingEconomics:
        return self.by_mode["ocean"]

    def import_cost(self, mode: str, rows: np.ndarray, duty: np.ndarray) -> np.ndarray:
        """USD per unit to bring listings ``rows`` in by ``mode``: freight, insurance, duty."""
        e = self.by_mode[mode]
        return e.freight[rows] + e.insurance[rows] + duty * e.customs_value[rows]


def in_stock_rate(obs: Observation, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per listing, over its last ``days`` days listed with stock: the mean and variance of its
    daily sales, and how many such days there were."""
    h = obs.history
    assert h is not None, "the replay keeps the history"
    first = max(h.n_days - days, 0)
    sales = h.sales()[first:].astype(float)
    day = np.arange(first, h.n_days)[:, None]
    seen = ~h.stocked_out()[first:] & (day >= obs.facts.listed_from[None, :])
    seen &= day <= obs.facts.discontinued[None, :]
    n = seen.sum(axis=0)
    mean = np.where(n > 0, (sales * seen).sum(axis=0) / np.maximum(n, 1), 0.0)
    sq = (((sales - mean) ** 2) * seen).sum(axis=0)
    var = np.where(n > 1, sq / np.maximum(n - 1, 1), mean)
    return mean, var, n


def main_lane(facts: SellerFacts) -> np.ndarray:
    return np.asarray(facts.lane_by_mode["ocean"])


def typical_transit(facts: SellerFacts) -> np.ndarray:
    return np.array([ln.transit_typical for ln in facts.lanes], dtype=float)


def days_to_sailing(obs: Observation) -> int:
    return _days_to_sailing(obs.weekday, SAILING_WEEKDAY)


class StockPolicy(Protocol):
    """A benchmarked replenishment policy, acting at each holdout close."""

    name: str

    def start(self, facts: SellerFacts, economics: Economics) -> None:
        """Before day 0: forget any earlier run."""
        ...

    def replenish(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> None:
        """Ship and order through ``desk``; ``seller`` is the seller's own policy, kept learning
        (its launch batches and hub orders are there to reuse)."""
        ...


# --- kuajing and the oracle: the nightly allocation plan -----------------------------------------


@dataclass(frozen=True)
class WindowRates:
    """Per listing: the daily mean and variance the planner uses over its planning window."""

    mean: np.ndarray
    var: np.ndarray
    days_seen: np.ndarray | float = np.inf  # the in-stock days the level was estimated from


@dataclass
class PlannedAllocation:
    """The nightly allocation and restock plan with a demand model: ``rates(obs, window)``."""

    name: str
    settings: AllocationSettings = field(default_factory=AllocationSettings)
    max_sailing_weeks: int = MAX_SAILING_WEEKS
    plan_seconds: float = 0.0
    last_rows: pd.DataFrame = field(default_factory=pd.DataFrame)

    def start(self, facts: SellerFacts, economics: Economics) -> None:
        self.facts, self.economics, self.plan_seconds = facts, economics, 0.0
        self.sku = np.asarray(facts.sku)[facts.sku_idx]
        by_mode = facts.lane_by_mode
        self.base_lane = main_lane(facts)
        air, express = np.asarray(by_mode["air"]), np.asarray(by_mode["express"])
        self.fast_lane = np.where(air >= 0, air, express)
        self.fast_mode = np.where(air >= 0, "air", "express")
        self.typical = typical_transit(facts)
        self.fixed_cost = {i: ln.fixed_cost for i, ln in enumerate(facts.lanes)}
        self.series_of = {
            (s, m): i for i, (s, m) in enumerate(zip(self.sku, facts.marketplace, strict=True))
        }
        self.next_sailing = np.full(len(facts.lanes), -1, dtype=np.int64)  # -1: the first Monday
        self.interval = np.ones(len(facts.lanes), dtype=np.int64)  # weeks between sailings

    def base_days(self, obs: Observation) -> np.ndarray:
        return self.typical[self.base_lane]

    def rates(self, obs: Observation, window: np.ndarray) -> WindowRates:
        raise NotImplementedError

    def inputs(self, obs: Observation, active: np.ndarray) -> pd.DataFrame:
        """``plan_sku``'s rows for the active listings: the same columns as the nightly's
        ``listing_inputs``, from what the seller knows tonight."""
        rows = np.flatnonzero(active)
        base_days = self.base_days(obs)
        fast_days = self.typical[self.fast_lane]
        first = obs.day + days_to_sailing(obs)
        wait = (np.where(self.next_sailing < 0, first, self.next_sailing) - obs.day)[self.base_lane]
        wait = np.maximum(wait, days_to_sailing(obs))
        review = 7.0 * self.interval[self.base_lane]
        window = wait + base_days + review
        # the days a listing still sells: the planner stops its windows there
        days_left = (np.asarray(obs.facts.discontinued) - obs.day).astype(float)
        rates = self.rates(obs, np.clip(window, 1.0, np.maximum(days_left, 1.0)))
        horizon = int(window.max(initial=0))
        duty = obs.announced_duty(obs.day, obs.day + horizon + 1)
        idx = np.arange(len(base_days))
        base_duty = duty[idx, np.minimum(wait + base_days, horizon).astype(int)]
        fast_duty = duty[idx, np.minimum(fast_days, horizon).astype(int)]
        econ = self.economics
        fee_usd = econ.ocean.fee_local * obs.fx_usd
        base_landed = econ.ocean.cost + econ.import_cost("ocean", idx, base_duty) + fee_usd
        fast_landed = (
            econ.ocean.cost
            + fee_usd
            + np.choose(
                (self.fast_mode == "express").astype(int),
                [
                    econ.import_cost("air", idx, fast_duty),
                    econ.import_cost("express", idx, fast_duty),
                ],
            )
        )
        kept = econ.ocean.kept_share * obs.list_price * obs.fx_usd
        arriving = self._arriving(obs, window)
        frame = pd.DataFrame(
            {
                "series": idx,
                "sku": self.sku,
                "marketplace": obs.facts.marketplace,
                "warehouse_id": obs.facts.marketplace,
                "on_hand": np.asarray(obs.on_hand),
                "in_transit": arriving,
                "hub_id": HUB,
                "hub_units": np.asarray(obs.hub)[obs.facts.sku_idx],
                "hub_on_order": np.asarray(obs.hub_on_order)[obs.facts.sku_idx],
                "supplier_lead_days": np.asarray(obs.facts.supplier_lead_days)[obs.facts.sku_idx],
                "daily_mean": rates.mean,
                "daily_var": rates.var,
                "days_seen": rates.days_seen,
                "days_left": days_left,
                "base_lane_id": self.base_lane,
                "base_days": base_days,
                "base_wait_days": wait.astype(float),
                "review_days": review,
                "base_landed_usd": base_landed,
                "margin_usd": kept - base_landed,
                "fast_lane_id": self.fast_lane,
                "fast_mode": self.fast_mode,
                "fast_days": fast_days,
                "fast_landed_usd": fast_landed,
            }
        )
        return frame.iloc[rows]

    @staticmethod
    def _arriving(obs: Observation, window: np.ndarray) -> np.ndarray:
        """Units in transit that land within each listing's window (a delayed shipment that
        lands after it does not cover that window's demand)."""
        out = np.zeros(len(window), dtype=np.int64)
        for w in np.unique(window):
            sel = window == w
            out[sel] = obs.arriving(obs.day + 1, obs.day + int(w))[sel]
        return out

    def replenish(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> None:
        started = time.perf_counter()
        seller.ship_launch_batches(obs, desk)
        # every listed listing, to its last day: the planning windows stop at its end instead
        # of the seller's rule of no stock in its last two months
        active = (self.facts.listed_from <= obs.day) & (obs.day <= self.facts.discontinued)
        if days_to_sailing(obs) == 0:
            self._schedule(obs, active)
        rows = self.last_rows = self.inputs(obs, active)
        usable = rows[(rows["daily_mean"] > 0) & (rows["margin_usd"] > 0)]
        lines: list[dict] = []
        for _, group in usable.groupby("sku", sort=False):
            lines += plan_sku(group, self.settings, obs.date)
        self._ship(obs, desk, pd.DataFrame(lines))
        if days_to_sailing(obs) == 0:
            self._restock(obs, desk, rows)
        self.plan_seconds += time.perf_counter() - started

    def _schedule(self, obs: Observation, active: np.ndarray) -> None:
        """Each Monday: weeks between each market's sailings (``sailing_interval`` of its lane's
        fixed cost against holding its demand), and whether it sails today."""
        lanes = len(self.facts.lanes)
        mean = self.rates(obs, self.typical[self.base_lane] + REVIEW_DAYS).mean * active
        econ = self.economics.ocean
        rows = np.arange(len(mean))
        landed = econ.landed_usd(rows, np.asarray(obs.duty_rate), np.asarray(obs.fx_usd))
        holding = weekly_holding(self.base_lane, mean, landed, HOLDING_RATE, lanes)
        fixed = np.array([ln.fixed_cost for ln in self.facts.lanes])
        self.interval = sailing_interval(fixed, holding, self.max_sailing_weeks)
        self.next_sailing = np.where(self.next_sailing < 0, obs.day, self.next_sailing)

    def _ship(self, obs: Observation, desk: Logistics, plan: pd.DataFrame) -> None:
        if plan.empty:
            return
        series = np.array(
            [self.series_of[(s, m)] for s, m in zip(plan["sku"], plan["marketplace"], strict=True)],
            dtype=np.int64,
        )
        fast = (plan["mode"] != "ocean").to_numpy()
        lane = np.where(fast, self.fast_lane[series], self.base_lane[series])
        # a surge goes when it earns its lane's fixed cost; the ocean base on its sailing day
        paid = worth_departing(lane, plan["expected_profit_usd"], self.fixed_cost)
        sails = (self.next_sailing[lane] <= obs.day) & (days_to_sailing(obs) == 0)
        keep = np.where(fast, paid, sails)
        qty = plan["quantity"].to_numpy(np.int64)
        if keep.any():
            desk.ship(lane[keep], series[keep], qty[keep])
        if days_to_sailing(obs) == 0:
            sailed = np.unique(lane[keep & ~fast])
            self.next_sailing[sailed] = obs.day + 7 * self.interval[sailed]
            due = self.next_sailing <= obs.day  # due, nothing to ship: look again next week
            self.next_sailing[due] = obs.day + 7

    def _restock(self, obs: Observation, desk: Logistics, rows: pd.DataFrame) -> None:
        """The restock plan (its demand stops at each listing's end); a SKU that has not
        launched yet keeps the seller's launch stock."""
        f = self.facts
        orders = restock(rows, RestockSettings(), obs.date)
        sku_index = {s: j for j, s in enumerate(f.sku)}
        js = np.array([sku_index[s] for s in orders["sku"]], dtype=np.int64)
        launched = np.asarray(f.launch_day)[js] <= obs.day
        desk.order_from_suppliers(js, orders["order_quantity"].to_numpy(np.int64) * launched)


def pooled_nb_size(mean: np.ndarray, var: np.ndarray, pooled: np.ndarray) -> float:
    """One negative-binomial size k for the seller's listings (variance = mean + mean^2 / k),
    by the method of moments over the ``pooled`` listings: sum(mean^2) / sum(excess variance).
    One listing's own sample variance from a few weeks is too noisy to size its safety stock
    (a quiet month sets it near zero, one big order far above); the overdispersion is shared.
    ``inf`` (Poisson) when no pooled listing varies beyond its mean.

    Not the forecast's ``ml.forecast.distribution.fit_sizes`` (likelihood or P10-P90 coverage
    per marketplace x class): that fit is made for held-out errors of a model, and on the
    in-sample window means here it sized the safety stocks lower (measured on the default
    scenario: 100.5k USD profit, 93.1 % fill, against 103.5k and 94.2 % with this one)."""
    excess = float(np.maximum(var[pooled] - mean[pooled], 0.0).sum())
    return float((mean[pooled] ** 2).sum()) / excess if excess > 0 else float("inf")


def nb_variance(mean: np.ndarray, size: float) -> np.ndarray:
    """The daily variance of a negative binomial of ``mean`` and ``size`` (Poisson at inf)."""
    return mean + mean**2 / size


class KuajingAllocation(PlannedAllocation):
    """Kuajing's plan with the demand it learns from its own sales (see the module's text):
    the LightGBM forecast where one is given (``ml.bench.forecast_feed``), else, and for the
    listings it does not cover, the trailing in-stock rate."""

    def __init__(self, forecast: ReplayForecast | None = None) -> None:
        super().__init__("kuajing")
        self.forecast = forecast

    def start(self, facts: SellerFacts, economics: Economics) -> None:
        super().start(facts, economics)
        if self.forecast is not None:
            self.forecast.start(facts)

    def rates(self, obs: Observation, window: np.ndarray) -> WindowRates:
        mean, var, n = in_stock_rate(obs, TRAILING_DAYS)
        size = pooled_nb_size(mean, var, n >= POOLED_MIN_DAYS)
        prior = np.asarray(obs.facts.prior_demand_estimate)
        mean = np.where(n < MIN_DAYS_SEEN, prior, mean)
        var = nb_variance(mean, size)
        if self.forecast is not None:
            daily = self.forecast.at_close(obs)
            f_mean, f_var = window_rates(daily, obs.day, window)
            mean = np.where(daily.known, f_mean, mean)
            var = np.where(daily.known, f_var, var)
        # the level is itself an estimate from n days in stock: the planner widens each of
        # its windows by that error (``window_variance``), as the nightly does
        return WindowRates(mean, var, n.astype(float))


class OracleAllocation(PlannedAllocation):
    """The same planner with the true expected demand of the days ahead and the lane delays
    ahead (perfect foresight of the demand's mean; the draws stay random)."""

    def __init__(self, world: World):
        super().__init__("oracle")
        self.world = world
        self.mu = true_daily_mean(world)  # day x series, from day 0 to the end of the plan
        nb = np.asarray(world.series["nb_size"], dtype=float)
        self.var = self.mu + self.mu**2 / nb[None, :]

    def base_days(self, obs: Observation) -> np.ndarray:
        sailing = obs.day + days_to_sailing(obs)
        delay = np.array(
            [lane_delay(self.world, ln, sailing) for ln in obs.facts.lanes], dtype=float
        )
        return (self.typical + delay)[self.base_lane]

    def rates(self, obs: Observation, window: np.ndarray) -> WindowRates:
        mean, var = np.zeros(len(window)), np.zeros(len(window))
        last = len(self.mu)
        for w in np.unique(window):
            sel = window == w
            a, b = obs.day + 1, min(obs.day + 1 + int(w), last)
            mean[sel] = self.mu[a:b, sel].mean(axis=0)
            var[sel] = self.var[a:b, sel].mean(axis=0)
        return WindowRates(mean, var)


def true_daily_mean(world: World) -> np.ndarray:
    """Day x series: the true expected demand at the seller's planned prices, promotions and
    ad budgets, over the history and the planning horizon."""
    m = DemandModel.of(world)
    k, n = len(world.series), world.n_total
    plan = world.price_changes.sort_values("day", kind="stable")
    day = np.maximum(plan["day"].to_numpy(), 0)
    cut = np.searchsorted(day, np.arange(n + 1), side="left")
    ser, price = plan["series"].to_numpy(), plan["list_price"].to_numpy()
    promo, camp = world.promotions, world.campaigns
    promotions = IntervalTrack(
        k, promo["series"], promo["start"], promo["end"], promo["discount"], n
    )
    campaigns = IntervalTrack(k, camp["series"], camp["start"], camp["end"], camp["budget"], n)
    current = np.zeros(k)
    out = np.zeros((n, k))
    for t in range(n):
        current[ser[cut[t] : cut[t + 1]]] = price[cut[t] : cut[t + 1]]
        discount = promotions.advance(t).copy()
        budget = campaigns.advance(t)
        out[t] = m.mean(t, current * (1 - discount), discount, budget)
    return out


# --- the seller's alternatives --------------------------------------------------------------------


class WeeklyOcean:
    """A baseline that ships by ocean on the weekly sailing (and the seller's launches)."""

    def start(self, facts: SellerFacts, economics: Economics) -> None:
        self.facts = facts
        self.lane = main_lane(facts)
        self.lead = typical_transit(facts)[self.lane]

    def sails(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> bool:
        """Ship the seller's launch batches due today; whether today is a sailing day."""
        seller.ship_launch_batches(obs, desk)
        return days_to_sailing(obs) == 0


@dataclass
class BaseStock(WeeklyOcean):
    """Order-up-to per listing by ocean, weekly; the hub's fair share when short."""

    name: str = "base_stock"
    z: float = SAFETY_Z

    def replenish(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> None:
        if not self.sails(obs, desk, seller):
            return
        active = seller.active(obs.day)
        mean, var, _ = in_stock_rate(obs, BASELINE_TRAILING_DAYS)
        cover = self.lead + REVIEW_DAYS
        level = mean * cover + self.z * np.sqrt(var * cover)
        position = np.asarray(obs.on_hand) + np.asarray(obs.in_transit)
        qty = np.where(active, np.maximum(np.ceil(level - position), 0), 0).astype(np.int64)
        rows = np.flatnonzero(qty)
        desk.ship(self.lane[rows], rows, qty[rows])  # the desk shares a short hub fairly
        seller.buy(obs, desk, active)


@dataclass
class Proportional(WeeklyOcean):
    """Each SKU's weekly ocean shipment split by its markets' trailing 30-day sales."""

    name: str = "proportional"

    def replenish(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> None:
        if not self.sails(obs, desk, seller):
            return
        f = self.facts
        active = seller.active(obs.day)
        h = obs.history
        assert h is not None
        rate = h.sales()[-BASELINE_TRAILING_DAYS:].sum(axis=0) / BASELINE_TRAILING_DAYS
        rate = np.where(active, rate, 0.0)
        position = (np.asarray(obs.on_hand) + np.asarray(obs.in_transit)) * active
        need = rate * (self.lead + PROPORTIONAL_COVER_DAYS)
        sku = np.asarray(f.sku_idx)
        gap = np.bincount(sku, weights=need - position, minlength=f.n_skus)
        total = np.minimum(np.maximum(np.floor(gap), 0), np.asarray(obs.hub))
        sku_rate = np.bincount(sku, weights=rate, minlength=f.n_skus)
        share = np.where(sku_rate[sku] > 0, rate / np.maximum(sku_rate[sku], 1e-12), 0.0)
        qty = np.floor(total[sku] * share).astype(np.int64)
        rows = np.flatnonzero(qty)
        desk.ship(self.lane[rows], rows, qty[rows])
        seller.buy(obs, desk, active)


@dataclass
class DirectParcel:
    """No new forward stock: every order the market warehouse cannot serve ships by parcel."""

    name: str = "direct_parcel"
    switched: bool = False

    def start(self, facts: SellerFacts, economics: Economics) -> None:
        self.facts, self.switched = facts, False

    def replenish(self, obs: Observation, desk: Logistics, seller: OrderUpToReplenishment) -> None:
        if not self.switched:
            desk.sell_by_parcel(np.arange(self.facts.n_series))
            self.switched = True
        seller.launch_batches.pop(obs.day, None)  # launches sell by parcel too
        seller.buy(obs, desk, seller.active(obs.day))


# --- the replay -----------------------------------------------------------------------------------


@dataclass
class StockLog:
    """The stock at each close from the day before the holdout (row 0) to its last day."""

    on_hand: list[np.ndarray] = field(default_factory=list)
    in_transit: list[np.ndarray] = field(default_factory=list)
    hub: list[np.ndarray] = field(default_factory=list)

    def record(self, obs: Observation) -> None:
        self.on_hand.append(np.array(obs.on_hand))
        self.in_transit.append(np.array(obs.in_transit))
        self.hub.append(np.array(obs.hub))


class _FromHoldout:
    """The engine's replenishment: the seller's before ``first_day``, then ``policy`` (with the
    seller's policy still learning the demand, for the hub orders and launches it reuses)."""

    def __init__(self, policy: StockPolicy, economics: Economics, first_day: int):
        self.policy, self.economics, self.first_day = policy, economics, first_day
        self.seller = OrderUpToReplenishment()
        self.log = StockLog()

    def start(self, facts: SellerFacts) -> list[HubDelivery]:
        self.log = StockLog()
        deliveries = self.seller.start(facts)
        self.policy.start(facts, self.economics)
        return deliveries

    def replenish(self, obs: Observation, desk: Logistics) -> None:
        if obs.day < self.first_day:
            self.seller.replenish(obs, desk)
        else:
            self.seller.learn(obs)
            self.policy.replenish(obs, desk, self.seller)
        if obs.day >= self.first_day - 1:
            self.log.record(obs)


@dataclass(frozen=True)
class StockRun:
    """One policy's holdout: the engine's result, the stock at each close, and its seconds."""

    name: str
    days: np.ndarray
    result: SimulationResult
    log: StockLog
    seconds: float
    plan_seconds: float


def replay(
    world: World, policy: StockPolicy, days: range | None = None, demand_stream: int = 0
) -> StockRun:
    """Simulate the history with ``policy`` moving the stock over the holdout ``days``, its
    shoppers from the engine's ``demand_stream``."""
    days = holdout_days(world) if days is None else days
    if days.stop != world.n_hist or days.start < 1:
        raise ValueError("the replayed days must start after day 0 and run to the history's end")
    started = time.perf_counter()
    wrapper = _FromHoldout(policy, Economics.of(world), days.start)
    result = simulate(
        world,
        Policies(replenishment=wrapper),
        common_demand_from=days.start,
        demand_stream=demand_stream,
        common_transit=True,
    )
    return StockRun(
        name=policy.name,
        days=np.arange(days.start, days.stop),
        result=result,
        log=wrapper.log,
        seconds=time.perf_counter() - started,
        plan_seconds=float(getattr(policy, "plan_seconds", 0.0)),
    )


# --- the ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """A run's money and stock by holdout day (USD; arrays of the holdout's length)."""

    kept: np.ndarray  # the price kept after VAT and the referral fee, on units sold
    revenue: np.ndarray  # displayed price x units
    goods: np.ndarray
    fulfilment: np.ndarray
    shipping: np.ndarray  # freight, insurance, duty and fixed costs of the day's departures
    parcels: np.ndarray  # parcel freight, handling and duty
    holding: np.ndarray
    units: np.ndarray
    demanded: np.ndarray
    market_on_hand: np.ndarray  # units in market warehouses at the close
    stockout_days: np.ndarray  # listings opening with no stock to sell
    stock_credit: float  # the markets' stock built over the holdout, at ocean landed cost

    @property
    def logistics(self) -> np.ndarray:
        return self.shipping + self.parcels + self.holding

    @property
    def profit(self) -> np.ndarray:
        return self.kept - self.goods - self.fulfilment - self.logistics


def ledger(world: World, run: StockRun) -> Ledger:
    """Every cost and sale of ``run`` by holdout day, as the module's text counts them."""
    days, res = run.days, run.result
    assert res.history is not None
    econ = Economics.of(world)
    ocean = econ.ocean
    fx = series_fx(world, days)
    duty = world.duty[world.duty_group][:, days].T  # day x series, bulk
    held = slice(days[0], days[-1] + 1)
    sales = res.history.sales()[held].astype(float)
    shown = res.history.shown_price()[held]
    parcel_units = res.parcel_units[held].astype(float)
    warehouse_units = sales - parcel_units
    rows = np.arange(len(world.series))
    kept = (sales * ocean.kept_share * shown * fx).sum(axis=1)
    revenue = (sales * shown * fx).sum(axis=1)
    goods = (sales * ocean.cost).sum(axis=1)
    fulfilment = (warehouse_units * ocean.fee_local * fx).sum(axis=1)
    shipping = _shipping(world, econ, run, duty)
    parcels = (parcel_units * parcel_cost(world, days, shown, fx, duty)).sum(axis=1)
    on_hand = np.stack(run.log.on_hand[1:]).astype(float)
    hub = np.stack(run.log.hub[1:]).astype(float)
    landed = np.stack([ocean.landed_usd(rows, duty[j], fx[j]) for j in range(len(days))])
    sku_cost = np.asarray(world.catalog["cost_usd"], dtype=float)
    holding = (on_hand * landed).sum(axis=1) + (hub * sku_cost).sum(axis=1)
    holding = holding * HOLDING_RATE / 365.0
    market = [a + b for a, b in zip(run.log.on_hand, run.log.in_transit, strict=True)]
    built = (market[-1] - market[0]).astype(float)
    # stock built up for a listing that has ended has no sale ahead: it earns no credit (the
    # stock it ran down is still charged)
    ended = np.asarray(world.series["discontinued"]) <= days[-1]
    built = np.where(ended, np.minimum(built, 0.0), built)
    credit = float((built * econ.import_cost("ocean", rows, duty[-1])).sum())
    return Ledger(
        kept=kept,
        revenue=revenue,
        goods=goods,
        fulfilment=fulfilment,
        shipping=shipping,
        parcels=parcels,
        holding=holding,
        units=sales.sum(axis=1),
        demanded=res.demanded[held].sum(axis=1).astype(float),
        market_on_hand=on_hand.sum(axis=1),
        stockout_days=res.history.stocked_out()[held].sum(axis=1).astype(float),
        stock_credit=credit,
    )


def _shipping(world: World, econ: Economics, run: StockRun, duty: np.ndarray) -> np.ndarray:
    """Per holdout day: the departures' freight, insurance, arrival-day duty and fixed cost."""
    out = np.zeros(len(run.days))
    first, last = int(run.days[0]), int(run.days[-1])
    for dep in run.result.departures:
        if not first <= dep.day <= last:
            continue
        lane = econ.lanes[dep.lane]
        arrival = min(max(dep.arrival, first), last) - first  # duty of the (clamped) arrival
        per_unit = econ.import_cost(lane.mode, dep.series, duty[arrival, dep.series])
        out[dep.day - first] += float((per_unit * dep.qty).sum()) + lane.fixed_cost
    return out


def parcel_cost(
    world: World, days: np.ndarray, shown: np.ndarray, fx: np.ndarray, duty: np.ndarray
) -> np.ndarray:
    """Day x series: USD per parcel unit: express freight on at least ``PARCEL_MIN_KG``, the
    handling fee, and the duty a parcel owes that day on its value (the price net of VAT): the
    flat per-item duty below its threshold where one is in force, nothing below a de minimis
    threshold, else the bulk ad valorem duty."""
    econ = listing_economics(world, "express")
    weight = np.asarray(world.catalog["weight_kg"], dtype=float)[world.series["sku_idx"]]
    per_kg = econ.freight / (1.2 * weight)
    freight = per_kg * np.maximum(weight, PARCEL_MIN_KG) + PARCEL_FEE_USD
    value = shown * fx / econ.vat_mult
    threshold, flat = _parcel_terms_usd(world, days)
    below = value < threshold[:, world.duty_group]
    parcel_duty = np.where(below, flat[:, world.duty_group], duty * value)
    return freight[None, :] + parcel_duty


def _parcel_terms_usd(world: World, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day x duty group: the parcel threshold and the flat per-item duty, in USD."""
    usd_per: Callable[[str | None, int], float] = _usd_rate(world)
    threshold = np.zeros((len(days), len(world.duty_keys)))
    flat = np.zeros_like(threshold)
    for j, t in enumerate(days):
        d = world.date_of(int(t))
        for g, key in enumerate(world.duty_keys):
            terms = parcel_terms(world.tariff_rows, *key, d)
            threshold[j, g] = terms.threshold * usd_per(terms.threshold_currency, int(t))
            flat[j, g] = terms.per_item * usd_per(terms.per_item_currency, int(t))
    return threshold, flat


def _usd_rate(world: World) -> Callable[[str | None, int], float]:
    row = {c: i for i, c in enumerate(world.fx_currencies)}

    def usd_per(currency: str | None, day: int) -> float:
        if currency is None or currency == "USD":
            return 1.0
        if currency not in row:
            raise ValueError(f"no FX rate for {currency} in the simulated world")
        return float(world.fx[row[currency], day])

    return usd_per


def disruption_day(world: World, days: range) -> int | None:
    """The day a scenario's disruption starts inside ``days``: the first duty change, else the
    first delayed departure, else the first day of a demand surge."""
    shock = first_duty_change(world, days)
    if shock is not None:
        return shock
    sc = world.scenario
    starts = [world.day(x.first_departure) for x in sc.lane_delays]
    starts += [world.day(x.first_day) for x in sc.demand_surges]
    inside = [t for t in starts if days.start <= t < days.stop]
    return min(inside) if inside else None


AFTER_EVENT_DAYS = 30


def own_stock_day(world: World, days: range) -> int:
    """The first holdout day on which every policy's own first ocean shipment can have landed
    (a week to the first sailing, then the longest typical ocean transit): before it, each
    policy sells the stock that the history left in the markets, whatever it decides."""
    ocean = [ln.transit_typical for ln in world.lanes if ln.mode == "ocean"]
    return days.start + 7 + int(max(ocean, default=0))


def outcome(
    book: Ledger, days: np.ndarray, event_day: int | None, own_from: int | None = None
) -> dict[str, float | None]:
    """The figures of one run over the holdout, in the 30 days from ``event_day``, and the fill
    rate and days of supply from ``own_from`` (``own_stock_day``) on."""
    units = float(book.units.sum())
    profit = float(book.profit.sum()) + book.stock_credit
    logistics = float(book.logistics.sum()) - book.stock_credit
    out: dict[str, float | None] = {
        "profit_usd": profit,
        "revenue_usd": float(book.revenue.sum()),
        "units_sold": units,
        "units_demanded": float(book.demanded.sum()),
        "units_lost": float(book.demanded.sum() - units),
        "fill_rate": units / float(book.demanded.sum()) if book.demanded.sum() else None,
        "logistics_cost_usd": logistics,
        "cost_per_unit_sold_usd": logistics / units if units else None,
        "days_of_supply": _days_of_supply(book.market_on_hand, book.units),
        "stockout_days": float(book.stockout_days.sum()),
    }
    if own_from is not None:
        w = days >= own_from
        wanted = float(book.demanded[w].sum())
        out["own_stock_fill_rate"] = float(book.units[w].sum()) / wanted if wanted else None
        out["own_stock_days_of_supply"] = _days_of_supply(book.market_on_hand[w], book.units[w])
    if event_day is not None:
        w = (days >= event_day) & (days < event_day + AFTER_EVENT_DAYS)
        sold, wanted = float(book.units[w].sum()), float(book.demanded[w].sum())
        out["after_event_profit_usd"] = float(book.profit[w].sum())
        out["after_event_fill_rate"] = sold / wanted if wanted else None
        out["after_event_units_lost"] = wanted - sold
    return out


def _days_of_supply(on_hand: np.ndarray, units: np.ndarray) -> float | None:
    """Average units in the market warehouses over average units sold a day."""
    return float(on_hand.mean() / max(units.mean(), 1e-9)) if len(units) else None


def planning_seconds(rows: pd.DataFrame, n_listings: int = 10_000) -> float:
    """Seconds the nightly planner takes for ``n_listings`` listings: one night's ``plan_sku``
    rows of the replay copied under new SKU codes up to that size, planned SKU by SKU."""
    if rows.empty:
        raise ValueError("the replay recorded no planning input to time")
    tiled = tiled_listings(rows, n_listings)
    settings, today = AllocationSettings(), date(2026, 1, 5)
    started = time.perf_counter()
    for _, group in tiled.groupby("sku", sort=False):
        plan_sku(group, settings, today)
    return time.perf_counter() - started
