"""The stepped chain engine: one simulated day at a time, with the seller's policies plugged in.

A day, in order: promotions and ad campaigns of the day start or end; shipments and supplier
deliveries due today land; the pricing policy sets the list prices; shoppers buy (true demand,
censored by stock); order lines and ad spend are written; the replenishment policy ships and
orders through the ``Logistics`` desk; inventory snapshots are written; a month end flushes.

The engine keeps the truth (the demand model and the random streams) to itself and shows
policies an ``Observation``. Random draws happen in a fixed order on two streams ("simulation":
opening stock, demand, order lines, ad spend, supplier delivery days; "transit": the transit
time of each lane's departure), so the default policies give the same data for the same seed.
A policy that orders from suppliers on other days shifts the later draws of the simulation
stream, so its demand draws differ from the default run's after that day.

The engine simulates the history's days only, 0 .. n_hist - 1 (``step`` refuses a later day;
the planning horizon after the history is planned, never sold). A benchmark that replays a
holdout replays ``holdout_days(world)``: the last 90 of them, history_end - 89 .. history_end,
with the default policies before it (which leave the world's price plan and demand as generated).
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import numpy as np
import pandas as pd

from ml.settings import DataPaths

from . import calendar as cal
from .demand import DemandModel, coupled_demand, sample_demand
from .observation import History, Observation, SellerFacts, read_only
from .outputs import DailyOutputs
from .policies import HubDelivery, Policies
from .reference import HUB_ID, LaneSpec
from .state import Departure, IntervalTrack, SimState, SimulationResult, Snapshots, Stock
from .world import DutyOutlook, World, rng_for, round_money

TRUTH_SAMPLE_SERIES = 40  # series whose daily true mean is stored to check the truth against
HOLDOUT_DAYS = 90  # days at the end of the history that a benchmark replays with its policy
# Of the shoppers a market warehouse cannot serve, the share who still buy when the listing
# ships cross-border from the hub instead: a parcel takes one to two weeks against one to three
# days from a local warehouse, and loses the delivery promise the listing shows (an assumption:
# no public figure for it; ``Logistics.sell_by_parcel``).
PARCEL_RETENTION = 0.7


def holdout_days(world: World, n_days: int = HOLDOUT_DAYS) -> range:
    """The last ``n_days`` days of the history (day indices): what a benchmark replays."""
    if not 0 < n_days <= world.n_hist:
        raise ValueError(f"a holdout of 1 to {world.n_hist} days, got {n_days}")
    return range(world.n_hist - n_days, world.n_hist)


def _transit(
    rng: np.random.Generator, mode: str, typical: int, tmin: int, late_share: float
) -> int:
    """Actual transit of one departure: small noise, and a heavy late tail (ocean worst)."""
    noise_sd, late_p, late_mean = {
        "ocean": (1.5, late_share, 9.0),
        "rail": (1.5, late_share * 0.6, 4.0),
        "air": (1.0, 0.10, 2.0),
        "express": (0.7, 0.05, 1.5),
    }[mode]
    days = typical + rng.normal(0, noise_sd)
    if rng.random() < late_p:
        days += min(rng.exponential(late_mean), 5 * late_mean) + 1
    return int(max(tmin, round(days)))


def _transit_rng(state: SimState, lane: int, t: int) -> np.random.Generator:
    """The draws of a departure's transit: in sequence, or the lane and day's own stream."""
    if not (state.common_transit and _common_day(state, t)):
        return state.transit
    return _day_stream(state, f"transit-{lane}-{t}")


def lane_delay(world: World, lane: LaneSpec, day: int) -> int:
    """Extra days the scenario's ``lane_delays`` add to a departure of ``lane`` on ``day``."""
    d = world.date_of(day)
    return sum(
        x.extra_days
        for x in world.scenario.lane_delays
        if x.applies(lane.destination, lane.mode, d)
    )


class _Desk:
    """The ``Logistics`` of one day: carries out a replenishment policy's calls on the state."""

    def __init__(self, state: SimState, day: int):
        self.state, self.day = state, day

    def ship(self, lanes: np.ndarray, series: np.ndarray, qty: np.ndarray) -> np.ndarray:
        st = self.state
        lanes, series = np.asarray(lanes, dtype=np.int64), np.asarray(series, dtype=np.int64)
        qty = np.asarray(qty, dtype=np.int64)
        self._check_lanes(lanes, series)
        shipped = np.zeros(len(qty), dtype=np.int64)
        sku_idx, hub = st.facts.sku_idx, st.stock.hub
        line = np.nonzero(qty > 0)[0]
        if not len(line):
            return shipped
        want = np.bincount(sku_idx[series[line]], weights=qty[line], minlength=len(hub))
        ratio = np.where(want > hub, hub / np.maximum(want, 1), 1.0)
        shipped[line] = np.floor(qty[line] * ratio[sku_idx[series[line]]]).astype(np.int64)
        line = line[shipped[line] > 0]
        if not len(line):
            return shipped
        rows, units, lane_ids = series[line], shipped[line], lanes[line]
        np.subtract.at(hub, sku_idx[rows], units)
        np.add.at(st.stock.in_transit, rows, units)
        for lane in np.unique(lane_ids):
            sel = lane_ids == lane
            self._depart(int(lane), rows[sel], units[sel])
        return shipped

    def _check_lanes(self, lanes: np.ndarray, series: np.ndarray) -> None:
        """Each line needs a real lane to its listing's marketplace (-1 means no such lane)."""
        f = self.state.facts
        if len(lanes) != len(series) or (series < 0).any() or (series >= f.n_series).any():
            raise ValueError("ship: one lane per line, and series indices in range")
        if ((lanes < 0) | (lanes >= len(f.lanes))).any():
            raise ValueError("ship: lane index out of range (-1: the listing has no such lane)")
        destination = np.array([ln.destination for ln in f.lanes], dtype=object)
        if (destination[lanes] != f.marketplace[series]).any():
            raise ValueError("ship: a lane does not go to the listing's marketplace")

    def _depart(self, lane: int, rows: np.ndarray, units: np.ndarray) -> None:
        """One lane's lines of today; the lane's departure of the day has one transit time."""
        st, t = self.state, self.day
        ln = st.facts.lanes[lane]
        key = (lane, t)
        if key not in st.transit_days:
            late = st.world.scenario.late_shipment_share
            st.transit_days[key] = _transit(
                _transit_rng(st, lane, t), ln.mode, ln.transit_typical, ln.transit_min, late
            ) + lane_delay(st.world, ln, t)
        arrival = t + st.transit_days[key]
        st.stock.arrivals[arrival].append((rows, units))
        st.departures.append(Departure(lane, t, rows, units, t + ln.transit_typical, arrival))

    def sell_by_parcel(self, series: np.ndarray) -> None:
        st = self.state
        rows = np.asarray(series, dtype=np.int64)
        if (rows < 0).any() or (rows >= st.facts.n_series).any():
            raise ValueError("sell_by_parcel: series indices out of range")
        st.parcel[rows] = True

    def order_from_suppliers(self, skus: np.ndarray, qty: np.ndarray) -> None:
        st, t = self.state, self.day
        skus, qty = np.asarray(skus, dtype=np.int64), np.asarray(qty, dtype=np.int64)
        keep = qty > 0
        skus, qty = skus[keep], qty[keep]
        if not len(skus):
            return  # no draw: the simulation stream stays where the default run has it
        lead = st.facts.supplier_lead_days[skus] + st.simulation.integers(-3, 8, len(skus))
        for d in np.unique(lead):
            sel = lead == d
            st.stock.hub_arrivals[t + int(d)].append((skus[sel], qty[sel]))
        np.add.at(st.stock.hub_on_order, skus, qty)


def _facts(world: World, prior: np.ndarray, supplier_lead: np.ndarray) -> SellerFacts:
    """The seller's own facts, read-only so a policy cannot change the world through them."""
    s, cat = world.series, world.catalog
    sku_idx = s["sku_idx"].to_numpy()
    by = {(ln.destination, ln.mode): i for i, ln in enumerate(world.lanes)}
    mkt = s["marketplace"].to_numpy()
    lane_by_mode = {
        mode: read_only(np.array([by.get((m, mode), -1) for m in mkt], dtype=np.int64))
        for mode in ("ocean", "rail", "air", "express")
    }
    ser = {c: read_only(s[c].to_numpy()) for c in ("currency", "listed_from", "discontinued")}
    sku = {c: read_only(cat[c].to_numpy()) for c in ("sku", "cost_usd", "launch_day")}
    return SellerFacts(
        start=world.start,
        n_days=world.n_hist,
        sku_idx=read_only(sku_idx),
        marketplace=read_only(mkt),
        currency=ser["currency"],
        listed_from=ser["listed_from"],
        discontinued=ser["discontinued"],
        weight_kg=read_only(cat["weight_kg"].to_numpy()[sku_idx]),
        sku=sku["sku"],
        unit_cost_usd=sku["cost_usd"],
        launch_day=sku["launch_day"],
        discontinued_day=read_only(cat["discontinued_day"].to_numpy()),
        supplier_lead_days=read_only(supplier_lead),
        lanes=tuple(world.lanes),
        lane_by_mode=lane_by_mode,
        planned_prices=world.price_changes[["series", "day", "list_price"]].copy(),
        prior_demand_estimate=read_only(prior),
        ships_by_rail=read_only(s["rail"].to_numpy()),
        expedites=read_only(s["expedites"].to_numpy()),
        safety_days=world.scenario.safety_days,
    )


def _opening_stock(
    world: World, demand: DemandModel, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Stock]:
    """The seller's prior estimate, opening stock and supplier lead times (in this draw order)."""
    k, n_sku = len(world.series), len(world.catalog)
    prior = demand.prior_estimate(rng.lognormal(0, 0.3, k))
    on_hand = np.zeros(k, dtype=np.int64)
    live = demand.listed_from <= 0
    on_hand[live] = np.ceil(prior[live] * rng.uniform(25, 60, live.sum())).astype(np.int64)
    supplier_lead = rng.integers(12, 36, n_sku)
    sku_idx = world.series["sku_idx"].to_numpy()
    # The hub opens with about 75 days of what its SKUs sell now or soon.
    rate = np.bincount(sku_idx, weights=prior * (demand.listed_from <= 120), minlength=n_sku)
    hub = np.ceil(rate * 75).astype(np.int64)
    stock = Stock(on_hand, np.zeros(k, dtype=np.int64), hub, np.zeros(n_sku, dtype=np.int64))
    return prior, supplier_lead, stock


def _fx_index(world: World) -> np.ndarray:
    row = {c: i for i, c in enumerate(world.fx_currencies)}
    ccy = world.series["currency"].to_numpy()
    return np.array([row.get(c, len(world.fx_currencies)) for c in ccy], dtype=np.int64)


def series_fx(world: World, days: np.ndarray | range) -> np.ndarray:
    """Day x series: USD per unit of each listing's currency on each of ``days``."""
    fx = np.vstack([world.fx, np.ones((1, world.fx.shape[1]))])  # the last row is USD
    return fx[_fx_index(world)][:, np.asarray(days)].T


def _book(stock: Stock, deliveries: list[HubDelivery]) -> None:
    """Supplier orders placed before the history land at the hub on their confirmed day."""
    for d in deliveries:
        if d.day < 0 or d.qty <= 0:
            raise ValueError(f"a hub delivery needs a day >= 0 and units > 0, got {d}")
        stock.hub_arrivals[d.day].append((np.array([d.sku]), np.array([d.qty])))
        stock.hub_on_order[d.sku] += d.qty


def start(
    world: World,
    policies: Policies,
    *,
    paths: DataPaths | None = None,
    keep_history: bool = True,
    common_demand_from: int | None = None,
    demand_stream: int = 0,
    common_transit: bool = False,
) -> SimState:
    """The state before day 0, with ``policies`` started. ``paths``: write the monthly raw files
    there (else keep them in memory); ``keep_history``: give policies ``Observation.history``;
    ``common_demand_from``: from that day, draw each day's demand from a stream of its own, so
    that benchmarked policies meet the same demand (the default run draws it in sequence);
    ``demand_stream``: another set of those days' shoppers (0: the default), to see how much a
    benchmark's figures owe to the draws; ``common_transit``: from that day too, a lane's
    departure of a day has the same transit whatever else departed before it (policies that
    ship on different days then still meet the same lanes)."""
    if (demand_stream or common_transit) and common_demand_from is None:
        raise ValueError(
            "a demand stream or common transit needs common_demand_from: the day its draws start"
        )
    sc, k = world.scenario, len(world.series)
    demand = DemandModel.of(world)
    rng = rng_for(sc.seed, "simulation")
    prior, supplier_lead, stock = _opening_stock(world, demand, rng)
    facts = _facts(world, prior, supplier_lead)
    policies.pricing.start(facts)
    _book(stock, policies.replenishment.start(facts))
    truth_rows = np.sort(
        rng_for(sc.seed, "truth-sample").choice(k, size=min(TRUTH_SAMPLE_SERIES, k), replace=False)
    )
    promo, camp = world.promotions, world.campaigns
    return SimState(
        world=world,
        facts=facts,
        demand=demand,
        simulation=rng,
        transit=rng_for(sc.seed, "transit"),
        stock=stock,
        list_price=facts.launch_prices(),  # what each listing shows before day 0
        promotions=IntervalTrack(
            k, promo["series"], promo["start"], promo["end"], promo["discount"], world.n_total
        ),
        campaigns=IntervalTrack(
            k, camp["series"], camp["start"], camp["end"], camp["budget"], world.n_total
        ),
        outputs=DailyOutputs(world, paths),
        truth_rows=truth_rows,
        truth_mu=np.zeros((len(truth_rows), world.n_hist)),
        history=History(world.n_hist, k) if keep_history else None,
        demanded=np.zeros((world.n_hist, k), dtype=np.int32),
        parcel=np.zeros(k, dtype=bool),
        parcel_units=np.zeros((world.n_hist, k), dtype=np.int32),
        parcel_rng=rng_for(sc.seed, "parcel"),
        common_demand_from=common_demand_from,
        demand_stream=demand_stream,
        common_transit=common_transit,
        snapshots=Snapshots(stock.on_hand == 0, stock.hub == 0, stock.hub > 0),
        fx_index=_fx_index(world),
        duty_outlook=DutyOutlook(world),
        sales=np.zeros(k, dtype=np.int64),
        stocked_out=np.zeros(k, dtype=bool),
    )


def observe(state: SimState, day: int) -> Observation:
    """What the seller knows at this point of ``day`` (read-only views of the state)."""
    w, st = state.world, state.stock
    f = state.facts
    fx_today = np.append(w.fx[:, day], 1.0)  # the last entry is USD
    return Observation(
        facts=f,
        day=day,
        listed=(f.listed_from <= day) & (day <= f.discontinued),
        on_hand=read_only(st.on_hand),
        in_transit=read_only(st.in_transit),
        hub=read_only(st.hub),
        hub_on_order=read_only(st.hub_on_order),
        list_price=read_only(state.list_price),
        discount=read_only(state.promotions.current),
        ad_budget=read_only(state.campaigns.current),
        fx_usd=fx_today[state.fx_index],
        duty_rate=w.duty[w.duty_group, day],
        sales_day=state.sales_day,
        sales=read_only(state.sales),
        stocked_out=read_only(state.stocked_out),
        history=state.history,
        tracking=st.due,
        duty_outlook=partial(state.duty_outlook, day),
    )


def step(state: SimState, day: int, policies: Policies) -> SimState:
    """Advance ``state`` by ``day`` in place and return it. Days run 0, 1, 2, ... once each,
    with the ``policies`` that ``start`` started."""
    if day != state.day or day >= state.world.n_hist:
        raise ValueError(f"the next day to simulate is {state.day} (of {state.world.n_hist})")
    discount = state.promotions.advance(day)
    budget = state.campaigns.advance(day)
    _land(state, day)
    _set_prices(state, day, policies)
    shown = state.list_price * (1 - discount)
    sales = _sell(state, day, shown, discount, budget)
    _write_order_lines(state, day, sales, shown)
    _spend_on_ads(state, day, budget)
    policies.replenishment.replenish(observe(state, day), _Desk(state, day))
    _snapshot_stock(state, day)
    _close_month(state, day)
    state.day = day + 1
    return state


def _land(state: SimState, t: int) -> None:
    """Shipments reach their market warehouses and supplier deliveries the hub."""
    st = state.stock
    for rows, qty in st.arrivals.pop(t, []):
        np.add.at(st.on_hand, rows, qty)
        np.subtract.at(st.in_transit, rows, qty)
    for js, qty in st.hub_arrivals.pop(t, []):
        np.add.at(st.hub, js, qty)
        np.subtract.at(st.hub_on_order, js, qty)


def _set_prices(state: SimState, t: int, policies: Policies) -> None:
    prices = np.array(policies.pricing.list_prices(observe(state, t)), dtype=float)
    if prices.shape != state.list_price.shape or not (np.isfinite(prices) & (prices > 0)).all():
        raise ValueError(f"day {t}: the pricing policy must give one positive price per listing")
    rows = np.nonzero((prices != state.list_price) | (t == 0))[0]
    if len(rows):
        state.price_log.append((t, rows, prices[rows]))
    state.list_price[:] = prices


def _sell(
    state: SimState, t: int, shown: np.ndarray, discount: np.ndarray, budget: np.ndarray
) -> np.ndarray:
    """Shoppers' demand of the day, censored by the opening stock."""
    m, st = state.demand, state.stock
    listed = (m.listed_from <= t) & (t <= m.discontinued)
    mu = m.mean(t, shown, discount, budget)
    state.truth_mu[:, t] = mu[state.truth_rows]
    # from ``common_demand_from`` on, each day's demand has its own stream: runs that differ
    # in their decisions then face the same shoppers on the same day (common random numbers)
    if _common_day(state, t):
        demand = coupled_demand(_demand_day_rng(state, t), mu, m.nb_size)
    else:
        demand = sample_demand(state.simulation, mu, m.nb_size)
    state.demanded[t] = demand
    opening = st.on_hand.copy()
    sales = np.minimum(demand, opening)
    st.on_hand -= sales
    # a parcel listing is out of stock only when its hub is out too
    out_today = listed & (opening == 0) & ~(state.parcel & (st.hub[state.facts.sku_idx] > 0))
    if state.parcel.any():
        sales = sales + _sell_parcels(state, t, np.where(state.parcel, demand - sales, 0))
    state.stockout_days += int(out_today.sum())
    state.listed_days += int(listed.sum())
    state.sales, state.stocked_out, state.sales_day = sales, out_today, t
    if state.history is not None:
        state.history.record(sales, out_today, shown, discount)
    return sales


def _demand_day_rng(state: SimState, t: int) -> np.random.Generator:
    """Day ``t``'s own stream of shoppers."""
    return _day_stream(state, f"demand-day-{t}")


def _common_day(state: SimState, t: int) -> bool:
    """Whether day ``t``'s draws come from streams of their own (``common_demand_from`` on)."""
    return state.common_demand_from is not None and t >= state.common_demand_from


def _day_stream(state: SimState, name: str) -> np.random.Generator:
    """The stream ``name`` of the run's demand stream (stream 0 keeps the default runs' names)."""
    stream = state.demand_stream
    return rng_for(state.world.scenario.seed, name if stream == 0 else f"{name}-stream-{stream}")


def _sell_parcels(state: SimState, t: int, unserved: np.ndarray) -> np.ndarray:
    """Shoppers of parcel listings that the market warehouse could not serve: ``PARCEL_RETENTION``
    of them still buy (drawn on their own stream, so the simulation stream is untouched), served
    from the hub's stock of the SKU; when the hub holds less, every listing of the SKU gets the
    same share, rounded down (as a shipment). Returns the parcel units per series."""
    st, sku_idx = state.stock, state.facts.sku_idx
    buyers = np.zeros(len(unserved), dtype=np.int64)
    rows = np.flatnonzero(unserved > 0)
    if not len(rows):
        return buyers
    buyers[rows] = state.parcel_rng.binomial(unserved[rows], PARCEL_RETENTION)
    want = np.bincount(sku_idx[rows], weights=buyers[rows], minlength=len(st.hub))
    ratio = np.where(want > st.hub, st.hub / np.maximum(want, 1), 1.0)
    sold = np.floor(buyers * ratio[sku_idx]).astype(np.int64)
    np.subtract.at(st.hub, sku_idx[rows], sold[rows])
    state.parcel_units[t] = sold
    return sold


def _write_order_lines(state: SimState, t: int, sales: np.ndarray, shown: np.ndarray) -> None:
    """Units grouped into lines of mostly 1, sometimes 2-3 units; some orders hold two SKUs.
    A scenario with daily or weekly order rows gets each listing's units of the day instead
    (no draws: such a run's demand draws differ from its order-line twin's after day 0)."""
    idx = np.nonzero(sales)[0]
    if not len(idx):
        return
    if state.world.scenario.order_rows != "lines":
        ccy = state.outputs.ser_ccy
        state.outputs.add(
            "orders",
            {
                "series": idx,
                "day": np.full(len(idx), t),
                "qty": sales[idx],
                "price": round_money(shown[idx], ccy[idx]),
            },
        )
        return
    rng, m_idx, sku_idx = state.simulation, state.demand.m_idx, state.facts.sku_idx
    unit_series = np.repeat(idx, sales[idx])
    new_line = rng.random(len(unit_series)) < 0.85
    new_line[np.r_[0, np.cumsum(sales[idx])[:-1]]] = True
    line_series = unit_series[new_line]
    line_qty = np.bincount(np.cumsum(new_line) - 1)
    perm = rng.permutation(len(line_series))
    perm = perm[np.argsort(m_idx[line_series[perm]], kind="stable")]
    line_series, line_qty = line_series[perm], line_qty[perm]
    n_lines = len(line_series)
    join = rng.random(n_lines) < 0.06  # some orders hold several SKUs
    join[0] = False
    same_mkt = m_idx[line_series[1:]] == m_idx[line_series[:-1]]
    diff_sku = sku_idx[line_series[1:]] != sku_idx[line_series[:-1]]
    join[1:] &= same_mkt & diff_sku & ~join[:-1]  # at most two SKUs per order
    order_no = state.next_order_no + np.cumsum(~join) - 1
    state.next_order_no = int(order_no[-1]) + 1
    n_orders = int((~join).sum())
    hour_cdf = np.cumsum(cal.HOURLY_SHARE)
    secs = np.searchsorted(hour_cdf, rng.random(n_orders)) * 3600 + rng.integers(0, 3600, n_orders)
    epoch_day = (np.datetime64(state.world.start) - np.datetime64("1970-01-01")).astype(np.int64)
    ccy = state.outputs.ser_ccy
    state.outputs.add(
        "orders",
        {
            "series": line_series,
            "order_no": order_no,
            "ts": (epoch_day + t) * 86400 + secs[order_no - order_no[0]],
            "qty": line_qty,
            "price": round_money(shown[line_series], ccy[line_series]),
        },
    )


def _spend_on_ads(state: SimState, t: int, budget: np.ndarray) -> None:
    """Most of the daily budget gets used."""
    ads = np.nonzero(budget > 0)[0]
    if len(ads):
        used = budget[ads] * state.simulation.uniform(0.75, 1.0, len(ads))
        spent = round_money(used, state.outputs.ser_ccy[ads])
        state.outputs.add("ad_spend", {"series": ads, "day": np.full(len(ads), t), "spend": spent})
        if state.history is not None:
            state.history.record_ad_spend(t, ads, spent)


def _snapshot_stock(state: SimState, t: int) -> None:
    """Weekly (Sunday) snapshots of every listing, plus each day a stock turns to or from zero;
    the hub likewise."""
    st, snap, out = state.stock, state.snapshots, state.outputs
    weekly = bool(state.facts.weekday(t) == 6) or t == 0
    now_zero = st.on_hand == 0
    tracked = (state.facts.listed_from <= t) | ~now_zero
    write = (now_zero != snap.was_zero) | (state.facts.listed_from == t) | (weekly & tracked)
    snap.was_zero = now_zero
    rows = np.nonzero(write)[0]
    hub_zero = st.hub == 0
    snap.hub_tracked |= ~hub_zero
    hub_write = (hub_zero != snap.hub_was_zero) | (weekly & snap.hub_tracked)
    snap.hub_was_zero = hub_zero
    js = np.nonzero(hub_write)[0]
    out.add(
        "inventory",
        {
            "day": np.full(len(rows) + len(js), t),
            "wh": np.concatenate([out.warehouse[rows], np.full(len(js), HUB_ID, dtype=object)]),
            "sku": np.concatenate([out.ser_sku[rows], out.sku_codes[js]]),
            "on_hand": np.concatenate([st.on_hand[rows], st.hub[js]]),
        },
    )


def _close_month(state: SimState, t: int) -> None:
    d = state.world.date_of(t)
    if t == state.world.n_hist - 1 or (d + timedelta(days=1)).month != d.month:
        state.outputs.month_end(d.strftime("%Y-%m"), t)


def finish(state: SimState) -> SimulationResult:
    """The run's result; a run stopped early keeps its last, partial month."""
    if 0 < state.day < state.world.n_hist:
        last = state.day - 1
        state.outputs.month_end(state.world.date_of(last).strftime("%Y-%m"), last)
    log = state.price_log
    prices = pd.DataFrame(
        {
            "series": np.concatenate([r for _, r, _ in log]) if log else np.zeros(0, np.int64),
            "day": np.concatenate([np.full(len(r), t) for t, r, _ in log])
            if log
            else np.zeros(0, np.int64),
            "list_price": np.concatenate([p for _, _, p in log]) if log else np.zeros(0),
        }
    )
    return SimulationResult(
        world=state.world,
        outputs=state.outputs,
        departures=state.departures,
        list_prices=prices,
        next_order_no=state.next_order_no,
        stockout_days=state.stockout_days,
        listed_days=state.listed_days,
        truth_rows=state.truth_rows,
        truth_mu=state.truth_mu,
        history=state.history,
        demanded=state.demanded,
        parcel_units=state.parcel_units,
    )


def simulate(
    world: World,
    policies: Policies | None = None,
    *,
    paths: DataPaths | None = None,
    progress: bool = False,
    keep_history: bool = True,
    common_demand_from: int | None = None,
    demand_stream: int = 0,
    common_transit: bool = False,
) -> SimulationResult:
    """Run the whole history with ``policies`` (default: the simulated seller's own);
    ``common_demand_from``, ``demand_stream``, ``common_transit``: see ``start``."""
    policies = policies if policies is not None else Policies()
    state = start(
        world,
        policies,
        paths=paths,
        keep_history=keep_history,
        common_demand_from=common_demand_from,
        demand_stream=demand_stream,
        common_transit=common_transit,
    )
    days: range = range(world.n_hist)
    if progress:
        from tqdm import tqdm

        for t in tqdm(days, desc="simulating days", unit="day"):
            step(state, t, policies)
    else:
        for t in days:
            step(state, t, policies)
    return finish(state)
