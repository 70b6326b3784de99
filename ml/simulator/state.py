"""The engine's state: what the day-by-day loop carries, and what a finished run returns.

``SimState`` is mutated in place by ``engine.step``; policies never see it (they get an
``Observation``). Arrays are indexed by series (one SKU in one marketplace) or by SKU (the hub).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from .demand import DemandModel
from .observation import History, SellerFacts
from .outputs import DailyOutputs
from .world import DutyOutlook, World

Batches = dict[int, list[tuple[np.ndarray, np.ndarray]]]  # day -> [(indices, units)]


class IntervalTrack:
    """A per-series value that holds over [start, end] intervals (no overlaps per series)."""

    def __init__(self, n_series: int, series, start, end, value, n_days: int):
        series, start, end = (np.asarray(a, dtype=np.int64) for a in (series, start, end))
        value = np.asarray(value, dtype=float)
        self.current = np.zeros(n_series)
        o = np.argsort(start, kind="stable")
        self.s_ser, self.s_day, self.s_val = series[o], start[o], value[o]
        o = np.argsort(end, kind="stable")
        self.e_ser, self.e_day = series[o], end[o]
        self.s_cut = np.searchsorted(self.s_day, np.arange(n_days + 1), side="left")
        self.e_cut = np.searchsorted(self.e_day, np.arange(n_days + 1) - 1, side="left")

    def advance(self, t: int) -> np.ndarray:
        """Values on day ``t`` (call with t = 0, 1, 2, ...)."""
        a, b = self.e_cut[t], self.e_cut[t + 1]  # intervals that ended yesterday
        self.current[self.e_ser[a:b]] = 0.0
        a, b = self.s_cut[t], self.s_cut[t + 1]
        self.current[self.s_ser[a:b]] = self.s_val[a:b]
        return self.current


@dataclass
class Stock:
    """Units by place: market warehouses by series, the hub by SKU, and what is on its way."""

    on_hand: np.ndarray  # per series
    in_transit: np.ndarray  # per series
    hub: np.ndarray  # per SKU
    hub_on_order: np.ndarray  # per SKU
    arrivals: Batches = field(default_factory=lambda: defaultdict(list))  # series batches
    hub_arrivals: Batches = field(default_factory=lambda: defaultdict(list))  # SKU batches

    def due(self, first_day: int, last_day: int) -> np.ndarray:
        """Units per series landing from ``first_day`` to ``last_day``."""
        out = np.zeros(len(self.on_hand), dtype=np.int64)
        for d in range(first_day, last_day + 1):
            for rows, qty in self.arrivals.get(d, []):
                np.add.at(out, rows, qty)
        return out


@dataclass(frozen=True)
class Departure:
    """One lane's departure on one day: its lines (series, units) and arrival days."""

    lane: int
    day: int
    series: np.ndarray
    qty: np.ndarray
    expected_arrival: int  # departure + typical transit (what the booking says)
    arrival: int  # the real arrival day


@dataclass
class Snapshots:
    """Which stocks were zero yesterday, to snapshot each change to or from zero."""

    was_zero: np.ndarray  # per series
    hub_was_zero: np.ndarray  # per SKU
    hub_tracked: np.ndarray  # per SKU: has held stock


@dataclass
class SimState:
    """Everything the loop carries from one day to the next (mutated in place by ``step``)."""

    world: World
    facts: SellerFacts
    demand: DemandModel  # hidden from policies
    simulation: np.random.Generator  # demand, order lines, ad spend, supplier deliveries
    transit: np.random.Generator  # transit time of each lane's departure
    stock: Stock
    list_price: np.ndarray  # in force, per series
    promotions: IntervalTrack  # discount by series
    campaigns: IntervalTrack  # ad budget by series
    outputs: DailyOutputs
    truth_rows: np.ndarray  # series whose true mean is kept
    truth_mu: np.ndarray  # truth_rows x day
    history: History | None
    demanded: np.ndarray  # day x series: shoppers' demand (before stock), hidden from policies
    parcel: np.ndarray  # per series: what the warehouse cannot serve ships by parcel from the hub
    parcel_units: np.ndarray  # day x series: units sold by parcel from the hub
    parcel_rng: np.random.Generator  # which unserved shoppers still buy a parcel
    common_demand_from: int | None  # from this day each day's demand has its own stream
    demand_stream: int  # which family of those streams (0: the default shoppers)
    common_transit: bool  # from common_demand_from, each lane-day's transit has its own stream
    snapshots: Snapshots
    fx_index: np.ndarray  # per series: row of world.fx (one past the end: USD)
    duty_outlook: DutyOutlook  # duties as published on a day (announced measures included)
    day: int = 0  # the next day to simulate
    sales_day: int = -1  # the day ``sales`` and ``stocked_out`` describe
    sales: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stocked_out: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    next_order_no: int = 1
    stockout_days: int = 0  # listed series-days that opened with no stock
    listed_days: int = 0
    departures: list[Departure] = field(default_factory=list)
    transit_days: dict[tuple[int, int], int] = field(default_factory=dict)  # (lane, day)
    price_log: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)


@dataclass
class SimulationResult:
    """A finished run: the daily outputs, shipments, prices set and the truth sample."""

    world: World
    outputs: DailyOutputs
    departures: list[Departure]
    list_prices: pd.DataFrame  # series, day, list_price: day 0, then each change
    next_order_no: int
    stockout_days: int
    listed_days: int
    truth_rows: np.ndarray
    truth_mu: np.ndarray
    history: History | None
    demanded: np.ndarray  # day x series: shoppers' demand before stock
    parcel_units: np.ndarray  # day x series: of the sales, units shipped by parcel from the hub

    @property
    def stockout_share(self) -> float:
        return self.stockout_days / max(self.listed_days, 1)

    def table(self, entity: str) -> pa.Table:
        """``orders``, ``inventory`` or ``ad_spend`` as one Arrow table (runs without files)."""
        return self.outputs.writers[entity].table()
