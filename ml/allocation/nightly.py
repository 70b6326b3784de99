"""Tonight's hub-to-market allocation plan: the forecast, the stock, the lanes and the landed
cost through ``ml.allocation.plan``, into the warehouse and an inbound shipment plan.

Per listing (SKU x marketplace with a market warehouse):

- demand: the served forecast's daily rate over its first ``RATE_DAYS`` (mean, and a variance
  from its P10-P90 spread, as a normal's), over the base lead time (the ocean lane's median
  transit, else its quoted one) plus a review week: a negative binomial of that mean and variance;
- position: on hand + in transit at the listing's warehouse (``marts.mart_inventory_position``);
  the SKU's hub stock (the hub rows of the same mart) is what can be shipped;
- margin lost per unit short (underage): the price kept after VAT (the referral fee's reference
  price, net) less the referral fee and the ocean landed cost, from ``marts.mart_landed_cost``;
  a unit left over costs a review week of holding (``holding_rate`` a year of its landed cost);
- fast mode: air where the lane exists, else express; its premium is its landed cost less the
  ocean one. The surge goes first (it is urgent), then the ocean base from the hub's remainder;
- sailings: a market's ocean shipments leave every 1-4 weeks on the sailing weekday, at the
  interval that minimizes its lane's fixed cost per departure plus the holding of the cycle
  stock (``plan.sailing_interval``), counted from the lane's last departure; the review period
  is that interval, and the ocean lines ship by the next sailing. A surge goes only where the
  surge lines on its lane earn the lane's fixed cost (``plan.worth_departing``); the others are
  held (the asset reports them);
- end of life: a SKU's discontinued date (``marts.dim_sku``) ends its listings' windows
  (``days_left``); no shipment is planned that would land after it.

Outputs: ``allocation.allocation_plan`` (one row per SKU, destination and mode shipped) and
``out/allocation/inbound_shipment_plan.csv`` shaped as an inbound shipment plan (SKU, quantity,
units per case, cases, ship-from, destination warehouse, mode, ship-by date).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.settings import DataPaths
from ml.warehouse import publish

from .plan import (
    LEVEL_DAYS,
    MAX_SAILING_WEEKS,
    SAILING_WEEKDAY,
    WindowDemand,
    allocate,
    restock_order,
    sailing_interval,
    surge_units,
    target_level,
    unit_values,
    weekly_holding,
    window_variance,
    worth_departing,
)
from .rules import SKU_SETTINGS, WAREHOUSE_SETTINGS, given, read_rules, with_rules

SCHEMA = "allocation"
PLAN_TABLE = f"{SCHEMA}.allocation_plan"
RATE_DAYS = 28  # the forecast days whose average is the daily rate
REVIEW_DAYS = 7  # plans are made nightly, regular shipments leave weekly
HOLDING_RATE = 0.25  # a year's holding cost (capital, storage) as a share of landed cost
FEW_DAYS_SEEN = LEVEL_DAYS // 2  # a level judged on fewer in-stock days is said in the reason
Z_P10_P90 = 2.5631  # P90 - P10 of a normal, in standard deviations
# A forecast row's variance: its negative binomial's (the forecast's own distribution, as the
# benchmark plans with); from the P10-P90 spread where a champion stored no size. The spread
# understates a slow mover's variance: at a mean of 0.25 a day and size 0.8, P10 0 and P90 1
# read as 0.15 against the distribution's 0.33.
ROW_VARIANCE = (
    f"coalesce(f.mean + f.mean * f.mean / f.nb_size, power((f.p90 - f.p10) / {Z_P10_P90}, 2))"
)
BASE_MODE = "ocean"
FAST_MODES = ("air", "express")
PLAN_COLUMNS = (
    "sku",
    "marketplace",
    "ship_from",
    "destination_warehouse",
    "lane_id",
    "mode",
    "quantity",
    "units_per_case",
    "cases",
    "ship_by",
    "expected_arrival",
    "position",
    "target_level",
    "days_of_cover_after_arrival",
    "stockout_probability_before_arrival",
    "expected_profit_usd",
    "reason",
)
EXPORT_COLUMNS = {
    "sku": "SKU",
    "quantity": "Quantity",
    "units_per_case": "Units per case",
    "cases": "Number of cases",
    "ship_from": "Ship from",
    "destination_warehouse": "Destination warehouse",
    "mode": "Mode",
    "ship_by": "Ship by",
}


@dataclass(frozen=True)
class AllocationSettings:
    case_pack: int = 1  # units per case where no allocation rule states one
    holding_rate: float = HOLDING_RATE
    review_days: int = REVIEW_DAYS  # where the rows state no review period of their own
    sailing_weekday: int = SAILING_WEEKDAY
    max_sailing_weeks: int = MAX_SAILING_WEEKS

    def __post_init__(self) -> None:
        if not 0 <= self.sailing_weekday <= 6:
            raise ValueError(
                f"sailing_weekday must be 0 (Monday) to 6 (Sunday), not {self.sailing_weekday}"
            )
        if self.max_sailing_weeks < 1:
            raise ValueError(f"max_sailing_weeks must be at least 1, not {self.max_sailing_weeks}")


@dataclass(frozen=True)
class AllocationPlan:
    """Tonight's shipments (``PLAN_COLUMNS``) and the surge lines held because their lane's
    departure would cost more than they earn (same columns)."""

    shipments: pd.DataFrame
    held_surges: pd.DataFrame


def listing_inputs(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per listing with a market warehouse: stock, hub, daily demand, base and fast
    lanes with their transit and landed cost, the margin per unit, and the seller's allocation
    rules of each (``ml.allocation.rules``: NaN where none is given)."""
    rows = con.execute(
        f"""
        with first_day as (select min(date) as d0 from forecast.demand_forecast),
        rate as (
            select f.sku, f.marketplace,
                   sum(f.mean) / {RATE_DAYS} as daily_mean,
                   sum({ROW_VARIANCE}) / {RATE_DAYS} as daily_var
            from forecast.demand_forecast f cross join first_day
            where f.date < first_day.d0 + {RATE_DAYS}
            group by f.sku, f.marketplace
        ),
        position as (
            select sku, marketplace, warehouse_id, on_hand, in_transit, position_date
            from marts.mart_inventory_position where warehouse_type = 'market'
        ),
        ends as (
            select sku, discontinued_date from marts.dim_sku where discontinued_date is not null
        ),
        seen as (
            select sku, marketplace, count(*) filter (where not is_censored) as days_seen
            from marts.fct_daily_demand
            where demand_date > (select max(demand_date) from marts.fct_daily_demand)
                - {LEVEL_DAYS}
            group by sku, marketplace
        ),
        hub as (
            select sku, warehouse_id as hub_id, on_hand as hub_units
            from marts.mart_inventory_position where warehouse_type = 'hub'
        ),
        lanes as (
            select l.lane_id, l.origin_warehouse_id, l.destination_warehouse_id, l.mode,
                   coalesce(p.transit_days_p50, l.transit_days_typical) as transit_days,
                   coalesce(p.fixed_cost_per_shipment_usd, 0) as fixed_usd,
                   p.last_departed_date
            from staging.stg_raw__lanes l
            left join marts.mart_lane_performance p using (lane_id)
        ),
        cost as (
            select sku, marketplace, mode, landed_cost_usd,
                   reference_price_net_local * usd_per_local - referral_fee_usd
                       - landed_cost_usd as margin_usd
            from marts.mart_landed_cost where is_as_of
        )
        select p.sku, p.marketplace, p.warehouse_id, p.on_hand, p.in_transit, p.position_date,
               h.hub_id, coalesce(h.hub_units, 0) as hub_units,
               coalesce(r.daily_mean, 0) as daily_mean, coalesce(r.daily_var, 0) as daily_var,
               coalesce(n.days_seen, 0) as days_seen,
               date_diff('day', p.position_date, e.discontinued_date) as days_left,
               b.lane_id as base_lane_id, b.transit_days as base_days,
               b.fixed_usd as base_fixed_usd, b.last_departed_date as base_last_departed,
               cb.landed_cost_usd as base_landed_usd, cb.margin_usd,
               f.lane_id as fast_lane_id, f.mode as fast_mode, f.transit_days as fast_days,
               f.fixed_usd as fast_fixed_usd, cf.landed_cost_usd as fast_landed_usd
        from position p
        left join hub h using (sku)
        left join ends e using (sku)
        left join rate r using (sku, marketplace)
        left join seen n using (sku, marketplace)
        left join lanes b
            on b.destination_warehouse_id = p.warehouse_id and b.mode = '{BASE_MODE}'
        left join cost cb
            on cb.sku = p.sku and cb.marketplace = p.marketplace and cb.mode = '{BASE_MODE}'
        left join lanes f
            on f.destination_warehouse_id = p.warehouse_id and f.mode in {FAST_MODES}
        left join cost cf
            on cf.sku = p.sku and cf.marketplace = p.marketplace and cf.mode = f.mode
        qualify row_number() over (
            partition by p.sku, p.marketplace order by f.mode = 'air' desc, f.mode
        ) = 1
        order by p.sku, p.marketplace
        """
    ).fetch_df()
    return with_rules(rows, read_rules(con))


def _window(rows: pd.DataFrame, days: np.ndarray) -> WindowDemand:
    """The demand over the next ``days`` days, which stop at each listing's last day."""
    days = np.minimum(days, given(rows, "days_left", np.inf).to_numpy())
    mean = rows["daily_mean"].to_numpy(float) * days
    var = window_variance(rows["daily_var"], days, given(rows, "days_seen", np.inf))
    return WindowDemand.of(mean, np.maximum(var, mean))


def sailing_schedule(rows: pd.DataFrame, settings: AllocationSettings, today: date) -> pd.DataFrame:
    """``rows`` (listings with demand and an ocean lane) with each listing's ``review_days``:
    7 x the weeks between its lane's sailings (``sailing_interval`` of the lane's fixed cost
    per departure against holding a week of its listings' demand), and ``base_wait_days``:
    the days until the lane's next sailing, the first sailing weekday on or after its last
    departure plus that interval (today at the earliest; today where it never sailed)."""
    rows = rows.reset_index(drop=True)
    lane, _ = pd.factorize(rows["base_lane_id"])
    n_lanes = int(lane.max()) + 1 if len(lane) else 0
    holding = weekly_holding(
        lane, rows["daily_mean"], rows["base_landed_usd"], settings.holding_rate, n_lanes
    )
    fixed = rows.groupby(lane)["base_fixed_usd"].first().reindex(range(n_lanes)).fillna(0.0)
    weeks = sailing_interval(fixed.to_numpy(float), holding, settings.max_sailing_weeks)[lane]
    start = pd.Timestamp(today)
    last = pd.to_datetime(rows["base_last_departed"])
    due = last + pd.to_timedelta(7 * weeks, unit="D")
    earliest = due.where(due > start, start).fillna(start)
    sailing = earliest + pd.to_timedelta((settings.sailing_weekday - earliest.dt.weekday) % 7, "D")
    return rows.assign(
        review_days=7.0 * weeks, base_wait_days=(sailing - start).dt.days.astype(float)
    )


def plan_sku(rows: pd.DataFrame, settings: AllocationSettings, today: date) -> list[dict]:
    """The shipments of one SKU's listings (``rows``) from its hub."""
    rows = rows.reset_index(drop=True)
    hub = int(rows["hub_units"].iloc[0])
    position = (rows["on_hand"] + rows["in_transit"]).to_numpy(float)
    base_days = rows["base_days"].to_numpy(float)
    margin = np.maximum(rows["margin_usd"].to_numpy(float), 0.0)
    landed = rows["base_landed_usd"].to_numpy(float)
    # a listing may state its own review period (days until the sailing after the next)
    review = given(rows, "review_days", settings.review_days).to_numpy()
    overage = landed * settings.holding_rate * review / 365.0
    full = _window(rows, base_days + review)
    target = target_level(full, margin, overage)
    # the next regular shipment lands after its wait for a departure and its transit
    wait = given(rows, "base_wait_days", 0.0).to_numpy()
    until_base = _window(rows, base_days + wait)
    premium = rows["fast_landed_usd"].to_numpy(float) - landed
    fast_ok = rows["fast_mode"].notna().to_numpy() & np.isfinite(premium)
    # the seller's rules: a case pack for the SKU, stock bounds and a least shipment per listing
    pack = int(given(rows, "units_per_case", settings.case_pack).iloc[0])
    low = given(rows, "min_units", 0.0).to_numpy()
    high = given(rows, "max_units", np.inf).to_numpy()
    target = np.clip(target, low, high)
    # a listing that ends (its SKU's discontinued date) takes no shipment landing after it
    days_left = given(rows, "days_left", np.inf).to_numpy()
    fast_ok &= rows["fast_days"].to_numpy(float) < days_left
    ocean_in_time = wait + base_days < days_left
    target = np.where(ocean_in_time, target, 0.0)
    low = np.where(ocean_in_time, low, 0.0)
    surge = np.where(fast_ok, surge_units(until_base, position, margin, np.nan_to_num(premium)), 0)
    surge = np.minimum(surge, _whole_cases_below(high - position, pack))
    surge = _take_from_hub(surge.astype(np.int64), hub, pack)
    hub -= int(surge.sum())
    # the minimum is kept whatever it earns; the cases above it go where they add most
    floor_units = _take_from_hub(np.maximum(low - position - surge, 0).astype(np.int64), hub, pack)
    hub -= int(floor_units.sum())
    base = floor_units + allocate(
        hub, full, position + surge + floor_units, margin, overage, pack, target
    )
    base = np.minimum(base, _whole_cases_below(high - position - surge, pack))
    least = given(rows, "min_shipment_units", 0.0).to_numpy()
    surge = np.where(surge < least, 0, surge)
    base = np.where(base < least, 0, base)
    ocean_risk = 1.0 - until_base.cdf(position)  # P(stock-out before an ocean shipment lands)
    days_seen = given(rows, "days_seen", np.inf).to_numpy()
    out = []
    for i, r in rows.iterrows():
        # the surge leaves now and lands first: the ocean shipment's stock before it includes it
        for mode, lane, qty, wait_days, transit, before in (
            (
                r["fast_mode"],
                r.get("fast_lane_id"),
                int(surge[i]),
                0.0,
                r["fast_days"],
                position[i],
            ),
            (
                BASE_MODE,
                r.get("base_lane_id"),
                int(base[i]),
                wait[i],
                r["base_days"],
                position[i] + surge[i],
            ),
        ):
            if qty <= 0:
                continue
            days = float(wait_days) + float(transit)
            arrival_window = _window(rows.iloc[[i]], np.array([days]))
            stockout = 1.0 - float(arrival_window.cdf([before])[0])
            rate = float(r["daily_mean"])
            cover = (before + qty - rate * days) / rate if rate > 0 else np.inf
            profit = float(
                unit_values(full.take(i), [before], qty, [margin[i]], [overage[i]]).sum()
            )
            if mode != BASE_MODE:
                profit -= float(premium[i]) * qty
            out.append(
                {
                    "sku": r["sku"],
                    "marketplace": r["marketplace"],
                    "ship_from": r["hub_id"],
                    "destination_warehouse": r["warehouse_id"],
                    "lane_id": lane,
                    "mode": mode,
                    "quantity": qty,
                    "units_per_case": pack,
                    "cases": qty // pack,
                    "ship_by": today + timedelta(days=int(round(float(wait_days)))),
                    "expected_arrival": today + timedelta(days=int(round(days))),
                    "position": int(position[i]),
                    "target_level": int(target[i]),
                    "days_of_cover_after_arrival": cover,
                    "stockout_probability_before_arrival": stockout,
                    "expected_profit_usd": profit,
                    "reason": _reason(mode, float(ocean_risk[i]), position[i], target[i], hub)
                    + _thin_level(days_seen[i]),
                }
            )
    return out


def _whole_cases_below(room: np.ndarray, case_pack: int) -> np.ndarray:
    """The most units in whole cases that fit in ``room`` (infinite room: no limit)."""
    room = np.maximum(np.asarray(room, dtype=float), 0.0)
    return np.where(np.isfinite(room), np.floor(room / case_pack) * case_pack, np.inf)


def _take_from_hub(units: np.ndarray, hub: int, case_pack: int) -> np.ndarray:
    """Whole cases of ``units``, scaled down in proportion where the hub holds fewer."""
    cases = np.ceil(units / case_pack).astype(np.int64)
    room = hub // case_pack
    if cases.sum() > room:
        cases = np.floor(cases * room / max(cases.sum(), 1)).astype(np.int64)
    return cases * case_pack


def _reason(mode: str, ocean_risk: float, position: float, target: float, hub_left: int) -> str:
    if mode != BASE_MODE:
        return (
            f"surge: {ocean_risk:.0%} chance of a stock-out before an ocean shipment lands; "
            f"the units whose sale beats the premium of {mode} go by {mode}"
        )
    short = " (hub short: the cases went where they add most profit)" if hub_left <= 0 else ""
    return f"restock to the target level {target:.0f} from {position:.0f}" + short


def _thin_level(days_seen: float) -> str:
    """Says why a target is wide: its demand level was judged on few in-stock days."""
    if days_seen >= FEW_DAYS_SEEN:
        return ""
    return (
        f"; demand judged on only {days_seen:.0f} in-stock days of the last {LEVEL_DAYS}, "
        "so the target carries a wider margin"
    )


def plan(
    con: duckdb.DuckDBPyConnection, settings: AllocationSettings, today: date
) -> AllocationPlan:
    """Every SKU's shipments (``PLAN_COLUMNS``) on its lanes' sailing schedule, less the surges
    that do not earn their lane's fixed cost; listings without demand, a base lane or a landed
    cost are left out of the plan."""
    rows = listing_inputs(con)
    usable = rows.dropna(
        subset=["base_lane_id", "base_days", "base_landed_usd", "margin_usd", "hub_id"]
    )
    usable = sailing_schedule(usable[usable["daily_mean"] > 0], settings, today)
    out: list[dict] = []
    for _, group in usable.groupby("sku", sort=True):
        out += plan_sku(group, settings, today)
    lines = pd.DataFrame(out, columns=list(PLAN_COLUMNS))
    fixed = dict(zip(usable["fast_lane_id"], usable["fast_fixed_usd"].fillna(0.0), strict=True))
    held = unpaid_surges(lines, fixed)
    return AllocationPlan(lines[~held].reset_index(drop=True), lines[held].reset_index(drop=True))


def unpaid_surges(lines: pd.DataFrame, fixed_cost_usd: dict) -> np.ndarray:
    """Per plan line: a surge (not the ocean base) whose lane's surge lines together earn less
    than the lane's fixed cost per departure (``fixed_cost_usd`` by lane id)."""
    fast = (lines["mode"] != BASE_MODE).to_numpy()
    paid = worth_departing(lines["lane_id"], lines["expected_profit_usd"], fixed_cost_usd)
    return fast & ~paid


def next_sailings(frame: pd.DataFrame) -> dict[str, str]:
    """Per marketplace: the date its next ocean shipment of the plan leaves."""
    ocean = frame[frame["mode"] == BASE_MODE]
    first = ocean.groupby("marketplace")["ship_by"].min()
    return {str(m): pd.Timestamp(d).date().isoformat() for m, d in first.items()}


def write_plan(paths: DataPaths, frame: pd.DataFrame) -> Path:
    """The table (replaced in one transaction) and the inbound shipment plan export."""
    csv = paths.out / "allocation" / "inbound_shipment_plan.csv"
    export = frame[list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)
    return publish(paths.warehouse, PLAN_TABLE, frame, "planned_at", csv, export)


def plan_plot(frame: pd.DataFrame) -> bytes:
    """Units planned per destination marketplace, stacked by mode."""
    from ml.forecast.plots import pyplot, save_png

    plt = pyplot()
    units = frame.pivot_table(
        index="marketplace", columns="mode", values="quantity", aggfunc="sum", fill_value=0
    )
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * max(len(units), 1)), 4))
    bottom = np.zeros(len(units))
    for mode in units.columns:
        ax.bar(units.index.astype(str), units[mode], bottom=bottom, label=str(mode))
        bottom += units[mode].to_numpy()
    ax.set_ylabel("units to ship")
    ax.set_title("Tonight's shipments from the hub, by destination and mode")
    if len(units.columns):
        ax.legend()
    return save_png(fig, None)


RESTOCK_TABLE = f"{SCHEMA}.restock_plan"
SUPPLY_TABLE = f"{SCHEMA}.days_of_supply"
AT_RISK_DAYS = 28  # Walmart's "under 28 days of supply is at risk"
RESTOCK_COLUMNS = (
    "sku",
    "order_quantity",
    "units_per_case",
    "cases",
    "order_by",
    "expected_delivery",
    "position",
    "hub_units",
    "target_level",
    "daily_demand",
    "days_of_supply",
    "at_risk",
)


@dataclass(frozen=True)
class RestockSettings:
    supplier_lead_days: int = 30  # the catalog states no supplier lead time yet
    min_order_quantity: int = 0
    case_pack: int = 1
    holding_rate: float = HOLDING_RATE
    review_days: int = REVIEW_DAYS


def days_of_supply(rows: pd.DataFrame) -> pd.DataFrame:
    """Per listing, as FBA Restock reports it: (on hand + inbound) over the forecast's daily
    demand, and at risk under ``AT_RISK_DAYS``."""
    position = rows["on_hand"] + rows["in_transit"]
    rate = rows["daily_mean"].where(rows["daily_mean"] > 0)
    days = position / rate
    return pd.DataFrame(
        {
            "sku": rows["sku"],
            "marketplace": rows["marketplace"],
            "warehouse_id": rows["warehouse_id"],
            "on_hand": rows["on_hand"],
            "inbound": rows["in_transit"],
            "daily_demand": rows["daily_mean"],
            "days_of_supply": days,
            "at_risk": days < AT_RISK_DAYS,
        }
    )


def restock(rows: pd.DataFrame, settings: RestockSettings, today: date) -> pd.DataFrame:
    """Per SKU: what to order from the supplier into the hub now, from the demand of all its
    markets over the supplier lead time, the ocean leg and a review period, against the stock
    in the hub, the market warehouses and on its way to them (``RESTOCK_COLUMNS``). ``rows``
    may state a SKU's ``supplier_lead_days`` (else the settings') and its ``hub_on_order``,
    units ordered from the supplier and not delivered yet (else none: the data does not hold
    purchase orders yet). A listing's demand stops at its last day (``days_left``); a SKU is
    ordered only while an order can still land, go out by the fastest lane and sell for a
    review period before its last listing ends."""
    usable = rows.dropna(subset=["base_landed_usd", "margin_usd"])
    usable = usable.assign(
        position=usable["on_hand"] + usable["in_transit"],
        margin_weight=usable["margin_usd"].clip(lower=0) * usable["daily_mean"],
        supplier_lead_days=given(usable, "supplier_lead_days", settings.supplier_lead_days),
        min_order_quantity=given(usable, "min_order_quantity", settings.min_order_quantity),
        units_per_case=given(usable, "units_per_case", settings.case_pack),
        hub_on_order=usable.get("hub_on_order", 0),
        days_left=given(usable, "days_left", np.inf),
    )
    # an order lands after the supplier's lead time and reaches the markets after the ocean
    # leg: each listing counts its demand over that window and a review period, to its end
    sku_days = usable.groupby("sku")["base_days"].transform("mean").fillna(0.0)
    window = usable["supplier_lead_days"] + sku_days + settings.review_days
    selling = np.minimum(window, usable["days_left"]).clip(lower=0.0)
    fastest = given(usable, "fast_days", np.nan).fillna(sku_days)
    usable = usable.assign(
        window_mean=usable["daily_mean"] * selling,
        window_var=window_variance(
            usable["daily_var"], selling, given(usable, "days_seen", np.inf)
        ),
        sells_after_order=usable["days_left"] - usable["supplier_lead_days"] - fastest,
    )
    per_sku = usable.groupby("sku").agg(
        hub_units=("hub_units", "first"),
        hub_on_order=("hub_on_order", "first"),
        supplier_lead_days=("supplier_lead_days", "first"),
        min_order_quantity=("min_order_quantity", "first"),
        units_per_case=("units_per_case", "first"),
        market_units=("position", "sum"),
        daily_demand=("daily_mean", "sum"),
        window_mean=("window_mean", "sum"),
        window_var=("window_var", "sum"),
        margin_weight=("margin_weight", "sum"),
        landed=("base_landed_usd", "mean"),
        sells_after_order=("sells_after_order", "max"),
    )
    per_sku = per_sku[per_sku["daily_demand"] > 0]
    lead = per_sku["supplier_lead_days"].to_numpy(float)
    mean = per_sku["window_mean"].to_numpy(float)
    demand = WindowDemand.of(mean, np.maximum(per_sku["window_var"].to_numpy(float), mean))
    margin = (per_sku["margin_weight"] / per_sku["daily_demand"]).to_numpy()
    overage = per_sku["landed"].to_numpy() * settings.holding_rate * settings.review_days / 365
    position = (per_sku["hub_units"] + per_sku["hub_on_order"] + per_sku["market_units"]).to_numpy(
        float
    )
    qty = restock_order(
        demand,
        position,
        margin,
        overage,
        per_sku["units_per_case"].to_numpy(np.int64),
        per_sku["min_order_quantity"].to_numpy(np.int64),
    )
    qty = np.where(per_sku["sells_after_order"].to_numpy(float) >= settings.review_days, qty, 0)
    supply = position / per_sku["daily_demand"].to_numpy()
    return pd.DataFrame(
        {
            "sku": per_sku.index,
            "order_quantity": qty,
            "units_per_case": per_sku["units_per_case"].to_numpy(np.int64),
            "cases": qty // per_sku["units_per_case"].to_numpy(np.int64),
            "order_by": today,
            "expected_delivery": [today + timedelta(days=int(d)) for d in lead],
            "position": position.astype(np.int64),
            "hub_units": per_sku["hub_units"].to_numpy(),
            "target_level": target_level(demand, margin, overage).astype(np.int64),
            "daily_demand": per_sku["daily_demand"].to_numpy(),
            "days_of_supply": supply,
            "at_risk": supply < AT_RISK_DAYS,
        }
    )[list(RESTOCK_COLUMNS)]


def write_restock(paths: DataPaths, orders: pd.DataFrame, supply: pd.DataFrame) -> list[Path]:
    """Both tables, and the exports: the SKUs to order, every listing's days of supply."""
    folder = paths.out / "allocation"
    outputs = [
        (RESTOCK_TABLE, orders, "restock_plan.csv", orders[orders["order_quantity"] > 0]),
        (SUPPLY_TABLE, supply, "days_of_supply.csv", supply),
    ]
    return [
        publish(paths.warehouse, table, rows, "planned_at", folder / name, export)
        for table, rows, name, export in outputs
    ]


def describe_rules(rows: pd.DataFrame) -> str:
    """One line for the run output: how many listings the seller's allocation rules cover."""
    names = [c for c in (*WAREHOUSE_SETTINGS, *SKU_SETTINGS) if c in rows]
    covered = int(rows[names].notna().any(axis=1).sum()) if names else 0
    if not covered:
        return (
            "allocation rules: none apply; targets come from the demand alone, case packs and "
            "supplier terms from the settings"
        )
    return f"allocation rules: {covered} of {len(rows)} listings follow seller rules"
