"""What the simulated seller knows: the only view of a running simulation that a policy gets.

``SellerFacts`` hold for the whole run: the seller's own listings, catalogue, lanes, price plan
and habits. An ``Observation`` adds one day: stock, shipments in transit, prices in force,
promotions and ad budgets, FX and duties in force, duties announced for later days, and the
latest day's sales. The true demand (its parameters, the daily mean, the random draws) is not in
either: it stays in the engine, so a benchmarked policy can only learn it from its own sales, as
a real seller does.

Arrays are indexed by series (one SKU listed in one marketplace) or, where noted, by SKU; they
are read-only views of the engine's state, valid for the call they are passed to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from .reference import LaneSpec


def read_only(a: np.ndarray) -> np.ndarray:
    """A view of ``a`` that a policy cannot write through."""
    v = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True)
class SellerFacts:
    """What the seller knows for the whole run (its own business, not its customers)."""

    start: date  # day 0
    n_days: int  # days the run simulates
    # Listings, by series.
    sku_idx: np.ndarray  # the listing's SKU (index into the SKU arrays)
    marketplace: np.ndarray  # marketplace code
    currency: np.ndarray
    listed_from: np.ndarray  # first day listed (< 0: listed before the history)
    discontinued: np.ndarray  # last day listed (10**6: never)
    weight_kg: np.ndarray  # unit weight of the listing's SKU
    # Catalogue, by SKU.
    sku: np.ndarray  # SKU code
    unit_cost_usd: np.ndarray
    launch_day: np.ndarray
    discontinued_day: np.ndarray
    supplier_lead_days: np.ndarray  # quoted; a delivery lands a few days either side
    # Hub -> market warehouse lanes, and each series' lane by mode (-1: no such lane).
    lanes: tuple[LaneSpec, ...]
    lane_by_mode: dict[str, np.ndarray]
    # The seller's own plans and habits.
    planned_prices: pd.DataFrame  # series, day, list_price: the seller's price list
    prior_demand_estimate: np.ndarray  # units a day, learnt from sales before the history
    ships_by_rail: np.ndarray  # regular stock goes by rail rather than ocean
    expedites: np.ndarray  # nearly-out listings get an air or express top-up
    safety_days: float  # safety stock in days of estimated demand

    @property
    def n_series(self) -> int:
        return len(self.sku_idx)

    @property
    def n_skus(self) -> int:
        return len(self.sku)

    def launch_prices(self) -> np.ndarray:
        """Each listing's first price on the seller's price list."""
        plan = self.planned_prices
        ser, day = plan["series"].to_numpy(), plan["day"].to_numpy()
        o = np.lexsort((day, ser))
        first = o[np.r_[True, ser[o][1:] != ser[o][:-1]]]
        out = np.zeros(self.n_series)
        out[ser[first]] = plan["list_price"].to_numpy()[first]
        return out

    def weekday(self, day: int | np.ndarray) -> np.ndarray:
        """Day of week of run day(s) ``day`` (Monday 0), as the calendar has it."""
        return (self.start.weekday() + np.asarray(day)) % 7


class History:
    """The days a seller has seen so far, oldest first (day 0 is row 0)."""

    def __init__(self, n_days: int, n_series: int):
        self._sales = np.zeros((n_days, n_series), dtype=np.int32)
        self._stocked_out = np.zeros((n_days, n_series), dtype=bool)
        self._shown_price = np.zeros((n_days, n_series))
        self._discount = np.zeros((n_days, n_series))
        self._ad_spend = np.zeros((n_days, n_series))
        self.n_days = 0

    def record(
        self,
        sales: np.ndarray,
        stocked_out: np.ndarray,
        shown_price: np.ndarray,
        discount: np.ndarray,
    ) -> None:
        t = self.n_days
        self._sales[t], self._stocked_out[t], self._shown_price[t] = sales, stocked_out, shown_price
        self._discount[t] = discount
        self.n_days = t + 1

    def sales(self) -> np.ndarray:
        """Units sold, day x series (censored by stock: see ``stocked_out``)."""
        return read_only(self._sales[: self.n_days])

    def stocked_out(self) -> np.ndarray:
        """Day x series: listed and opened the day with no stock."""
        return read_only(self._stocked_out[: self.n_days])

    def shown_price(self) -> np.ndarray:
        """Day x series: the price shoppers saw (list price less the promotion discount)."""
        return read_only(self._shown_price[: self.n_days])

    def discount(self) -> np.ndarray:
        """Day x series: the promotion discount of the day (0 without a promotion)."""
        return read_only(self._discount[: self.n_days])

    def record_ad_spend(self, day: int, series: np.ndarray, spend: np.ndarray) -> None:
        """The ad spend (local currency) of ``series`` on ``day``, a day already recorded."""
        self._ad_spend[day, series] = spend

    def ad_spend(self) -> np.ndarray:
        """Day x series: what the seller's ad campaigns spent (local currency; 0 without)."""
        return read_only(self._ad_spend[: self.n_days])


@dataclass(frozen=True)
class Observation:
    """One day as the seller sees it: at the opening (pricing) or the close (replenishment)."""

    facts: SellerFacts
    day: int
    listed: np.ndarray  # listings live today
    on_hand: np.ndarray  # stock in the listing's market warehouse
    in_transit: np.ndarray  # shipped from the hub, not yet arrived
    hub: np.ndarray  # by SKU: stock in the hub
    hub_on_order: np.ndarray  # by SKU: ordered from suppliers, not yet delivered
    list_price: np.ndarray  # in force (at the opening: yesterday's, before today's pricing)
    discount: np.ndarray  # today's promotion discount (0 without a promotion)
    ad_budget: np.ndarray  # today's ad budget, local currency
    fx_usd: np.ndarray  # today's USD per unit of the listing's currency
    duty_rate: np.ndarray  # ad valorem duty in force today on a bulk import
    sales_day: int  # the day ``sales`` and ``stocked_out`` describe: day - 1 at the opening
    sales: np.ndarray  # units sold that day
    stocked_out: np.ndarray  # listed and opened that day with no stock
    history: History | None  # all days so far, if the run keeps them
    tracking: Callable[[int, int], np.ndarray] = field(repr=False)
    duty_outlook: Callable[[int, int], np.ndarray] = field(repr=False)

    @property
    def date(self) -> date:
        return self.facts.start + timedelta(days=self.day)

    @property
    def weekday(self) -> int:
        return int(self.facts.weekday(self.day))

    def arriving(self, first_day: int, last_day: int) -> np.ndarray:
        """Units in transit due at each listing's warehouse from ``first_day`` to ``last_day``.

        The carriers' tracking is exact in the simulator: a late departure shows its late day.
        """
        return self.tracking(first_day, last_day)

    def announced_duty(self, first_day: int, last_day: int) -> np.ndarray:
        """Ad valorem duty a bulk import pays, by listing (rows) and day (columns) from
        ``first_day`` to ``last_day``, as published by today: a measure counts from its
        announcement day (its ``announced_date``, else its start), so an announced tariff shows
        on its future days before it starts; a measure in force is taken to last unless its end
        has been announced. Past days and today are the duty that was in force (``duty_rate``)."""
        return self.duty_outlook(first_day, last_day)
