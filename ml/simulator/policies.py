"""The seller's decisions as pluggable policies, and the simulated seller's own as defaults.

Each day the engine asks the ``PricingPolicy`` for the list prices at the opening, sells, then
lets the ``ReplenishmentPolicy`` act at the close through a ``Logistics`` desk: ship from the hub
to market warehouses and order from suppliers. A policy sees only an ``Observation`` (what the
seller knows that day); it keeps whatever it learns in its own attributes, and ``start`` resets
them, so one policy object can serve several runs (one at a time).

A benchmark plugs its own policy in with ``Policies(pricing=MyPricing())`` (the other default
stays) and runs ``engine.simulate(world, policies)``, or drives ``engine.step`` day by day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .observation import Observation, SellerFacts

__all__ = [
    "DefaultPricing",
    "HubDelivery",
    "Logistics",
    "OrderUpToReplenishment",
    "Policies",
    "PricingPolicy",
    "ReplenishmentPolicy",
]


@dataclass(frozen=True)
class HubDelivery:
    """A supplier order placed before the history, with its confirmed delivery day."""

    sku: int  # index into the SKU arrays
    qty: int
    day: int


class Logistics(Protocol):
    """What a replenishment policy can do at the close of its day; each call happens at once,
    so the next observation already shows it."""

    def ship(self, lanes: np.ndarray, series: np.ndarray, qty: np.ndarray) -> np.ndarray:
        """Send ``qty`` units to each listing's warehouse on lane ``lanes`` (indices into
        ``SellerFacts.lanes``) today. The hub ships what it holds: when one call asks for more
        of a SKU than it has, every line of that SKU gets the same share, rounded down.
        Returns the units shipped per line."""
        ...

    def order_from_suppliers(self, skus: np.ndarray, qty: np.ndarray) -> None:
        """Order ``qty`` units of each SKU into the hub; each lands around its supplier lead."""
        ...

    def sell_by_parcel(self, series: np.ndarray) -> None:
        """From tomorrow on, the shoppers of these listings whom their market warehouse cannot
        serve are offered a cross-border parcel from the hub: ``engine.PARCEL_RETENTION`` of
        them still buy, while the hub holds the SKU (for the rest of the run)."""
        ...


class PricingPolicy(Protocol):
    def start(self, facts: SellerFacts) -> None:
        """Before day 0: forget any earlier run."""
        ...

    def list_prices(self, obs: Observation) -> np.ndarray:
        """Today's list price of every listing (local currency, before promotion discounts),
        decided at the opening of ``obs.day`` from what the seller knows then."""
        ...


class ReplenishmentPolicy(Protocol):
    def start(self, facts: SellerFacts) -> list[HubDelivery]:
        """Before day 0: forget any earlier run; return supplier orders already placed."""
        ...

    def replenish(self, obs: Observation, desk: Logistics) -> None:
        """At the close of ``obs.day``, after its sales: ship and order through ``desk``."""
        ...


class DefaultPricing:
    """The simulated seller's price list, each change applied on its day.

    ``world.py`` writes the list with the seller's rule (target price from landed cost and
    margin at that day's FX and duties, reviewed monthly and after tariff changes, occasional
    price tests by the listings that test), which uses nothing beyond its day (an announced
    tariff moves it only once in force), so replaying it is deciding day by day.
    """

    def __init__(self) -> None:
        self._current = np.zeros(0)
        self._series = np.zeros(0, dtype=np.int64)
        self._price = np.zeros(0)
        self._cut = np.zeros(1, dtype=np.int64)

    def start(self, facts: SellerFacts) -> None:
        plan = facts.planned_prices
        day = np.maximum(plan["day"].to_numpy(), 0)  # older prices hold from day 0
        order = np.argsort(day, kind="stable")
        self._series = plan["series"].to_numpy()[order]
        self._price = plan["list_price"].to_numpy()[order]
        self._cut = np.searchsorted(day[order], np.arange(facts.n_days + 1), side="left")
        # Before its first day a listing shows its launch price (it sells nothing then).
        self._current = facts.launch_prices()

    def list_prices(self, obs: Observation) -> np.ndarray:
        a, b = self._cut[obs.day], self._cut[obs.day + 1]
        self._current[self._series[a:b]] = self._price[a:b]
        return self._current


COVER_DAYS = 28.0  # a regular shipment covers four weeks beyond lead time and review period
LEAD_BUFFER_DAYS = 7.0  # the seller plans a week beyond a lane's typical transit
REVIEW_DAYS = 7  # stock is reviewed and regular shipments leave weekly (Mondays)
LEARNING_DAYS = 28.0  # the demand estimate moves by 1/28 of each day's surprise
EXPEDITE_LOOKAHEAD = 10  # days of tracked arrivals that make a top-up unnecessary


class OrderUpToReplenishment:
    """The simulated seller's replenishment: order-up-to on the main lane, weekly.

    Demand estimate: the prior, then an exponential average of the days it could sell (it knows
    when it was out of stock, so stock-outs do not drag the estimate down). New listings get a
    launch batch (by ocean or rail when there is time, else air). Every Monday each listing
    below its reorder point is topped up to cover lead time, a week, four weeks and safety
    stock; listings that expedite and are nearly out with nothing arriving soon get a small top-up
    by express or air; the hub orders what the warehouses will pull over the supplier lead time.
    """

    facts: SellerFacts
    est: np.ndarray  # the demand estimate, units a day per series
    main_lane: np.ndarray  # ocean, or rail where the listing ships by rail
    air_lane: np.ndarray
    express_lane: np.ndarray
    typical: np.ndarray  # typical transit days by lane
    lead: np.ndarray  # planning lead time per series
    launch_lane: np.ndarray
    launch_batches: dict[int, list[int]]  # departure day -> listings whose launch batch leaves

    def start(self, facts: SellerFacts) -> list[HubDelivery]:
        self.facts = facts
        self.est = facts.prior_demand_estimate.copy()
        by_mode = facts.lane_by_mode
        self.main_lane = np.where(facts.ships_by_rail, by_mode["rail"], by_mode["ocean"])
        self.air_lane, self.express_lane = by_mode["air"], by_mode["express"]
        self.typical = np.array([ln.transit_typical for ln in facts.lanes])
        self.lead = self.typical[self.main_lane] + LEAD_BUFFER_DAYS  # planning lead time
        return self._plan_launches()

    def _plan_launches(self) -> list[HubDelivery]:
        """Launch batches for listings opening during the history, and the hub's stock for them."""
        f, est = self.facts, self.est
        ship_lead = self.typical[self.main_lane] + 3
        slow_ok = f.listed_from - ship_lead >= 0
        dep = np.where(
            slow_ok,
            f.listed_from - ship_lead,
            np.maximum(f.listed_from - self.typical[self.air_lane] - 3, 0),
        )
        lane = np.where(slow_ok, self.main_lane, self.air_lane)
        # Launch batches leave with the weekly (Monday) departures of their lane.
        dep = dep - f.weekday(dep)
        self.launch_lane = np.where(dep < 0, self.air_lane, lane)
        dep = np.where(f.listed_from > 0, np.maximum(dep, 0), -1)
        self.launch_batches = defaultdict(list)
        for i in np.nonzero(dep >= 0)[0]:
            self.launch_batches[int(dep[i])].append(int(i))
        # The hub buys launch stock ahead of the first departures.
        new = dep >= 0
        need = np.bincount(
            f.sku_idx[new],
            weights=np.ceil(est * (self.lead + REVIEW_DAYS + COVER_DAYS))[new] * 1.5,
            minlength=f.n_skus,
        )
        first_dep = np.full(f.n_skus, 10**6)
        np.minimum.at(first_dep, f.sku_idx[new], dep[new])
        return [
            HubDelivery(int(j), int(np.ceil(need[j])), max(int(first_dep[j]) - 3, 0))
            for j in np.nonzero(need > 0)[0]
            if f.launch_day[j] >= 0  # a new SKU: its first order lands before departure
        ]

    def replenish(self, obs: Observation, desk: Logistics) -> None:
        self.learn(obs)
        self.ship_launch_batches(obs, desk)
        if obs.weekday == 0:
            active = self.active(obs.day)
            self._order_up_to(obs, desk, active)
            self._expedite(obs, desk, active)
            self.buy(obs, desk, active)

    def active(self, day: int) -> np.ndarray:
        """Listings that get regular stock on ``day``: listed, and not within two months of
        their end (the seller runs a listing's stock down before it ends)."""
        return (self.facts.listed_from <= day) & (day <= self.facts.discontinued - 60)

    def learn(self, obs: Observation) -> None:
        learn = obs.listed & ~obs.stocked_out
        self.est[learn] += (obs.sales[learn] - self.est[learn]) / LEARNING_DAYS
        self.est = np.maximum(self.est, 0.01)

    def ship_launch_batches(self, obs: Observation, desk: Logistics) -> None:
        for i in self.launch_batches.pop(obs.day, []):
            q = int(np.ceil(self.est[i] * (self.lead[i] + REVIEW_DAYS + COVER_DAYS))) + 2
            desk.ship(np.array([self.launch_lane[i]]), np.array([i]), np.array([q]))

    def _order_up_to(self, obs: Observation, desk: Logistics, active: np.ndarray) -> None:
        safety, est = self.facts.safety_days, self.est
        position = obs.on_hand + obs.in_transit
        reorder = est * (self.lead + REVIEW_DAYS + safety) + 1
        up_to = est * (self.lead + REVIEW_DAYS + COVER_DAYS + safety) + 1
        need = active & (position < reorder)
        q = np.where(need, np.maximum(np.ceil(up_to - position), 3), 0).astype(np.int64)
        rows = np.nonzero(q)[0]
        desk.ship(self.main_lane[rows], rows, q[rows])

    def _expedite(self, obs: Observation, desk: Logistics, active: np.ndarray) -> None:
        est = self.est
        soon = obs.arriving(obs.day + 1, obs.day + EXPEDITE_LOOKAHEAD)
        urgent = (
            active
            & self.facts.expedites
            & (obs.on_hand < est * 7)
            & (soon == 0)
            & (obs.in_transit < est * 14 + 1)
        )
        rows = np.nonzero(urgent)[0]
        q = np.ceil(est[rows] * 21 + 1).astype(np.int64)
        # Small urgent top-ups go by courier (express), bigger ones by air freight.
        small = self.facts.weight_kg[rows] * q < 15
        desk.ship(np.where(small, self.express_lane[rows], self.air_lane[rows]), rows, q)

    def buy(self, obs: Observation, desk: Logistics, active: np.ndarray) -> None:
        """Hub purchase orders cover the market warehouses' pull over the supplier lead."""
        f, t = self.facts, obs.day
        rate = np.bincount(f.sku_idx, weights=self.est * active, minlength=f.n_skus)
        position = obs.hub + obs.hub_on_order
        lead = f.supplier_lead_days
        buy = (
            (position < rate * (lead + 21)) & (t <= f.discontinued_day - 150) & (f.launch_day <= t)
        )
        qty = np.where(buy, np.ceil(rate * (lead + 56) - position), 0).astype(np.int64)
        js = np.nonzero(qty > 0)[0]
        desk.order_from_suppliers(js, qty[js])


@dataclass
class Policies:
    """The seller's decision makers for one run; ``Policies()`` is the simulated seller."""

    pricing: PricingPolicy = field(default_factory=DefaultPricing)
    replenishment: ReplenishmentPolicy = field(default_factory=OrderUpToReplenishment)
