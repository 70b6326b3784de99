"""Tonight's price recommendations: the forecast, the elasticities, landed cost and stock
through the optimizer, into the warehouse and the exports a marketplace takes.

Per SKU x marketplace and forecast period of the coming ``horizon_days``:

- expected units at the planned price: the served forecast's mean (``forecast.demand_forecast``,
  scored at the plan of ``marts.fct_price_plan``), and at any other price through the listing's
  elasticity (``ml.pricing.elasticity``, identified or pooled);
- the landed cost of the day the units are sold (``marts.mart_landed_cost``, the ocean lane or
  else the cheapest, its latest effective date on or before that day: a tariff that starts
  next week prices next week's units), with the landed cost when the current price was set (the
  history's last month) for the reason codes;
- stock: on hand and in transit at the marketplace's warehouses (``marts.mart_inventory_
  position``), against the forecast until the lane's transit time.

Outputs: ``pricing.price_recommendations``; ``out/prices/<marketplace>_price_quantity.txt``
shaped like Amazon's Price & Quantity inventory file (tab-separated ``sku``, ``price``,
``minimum-seller-allowed-price``, ``maximum-seller-allowed-price``) with the first day's prices
of listings that change; ``out/prices/price_recommendations.csv`` with every row, its currency
and effective date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ml.settings import DataPaths
from ml.warehouse import has_table, replace_table

from .elasticity import ElasticityEstimates
from .optimizer import DEFAULT_RULES, PricingRules, optimize_prices
from .registry import curvature_columns

PRICING_SCHEMA = "pricing"
RECOMMENDATIONS_TABLE = f"{PRICING_SCHEMA}.price_recommendations"
DEFAULT_HORIZON_DAYS = 7
# Amazon's Price & Quantity template (flat file): the columns a price update needs.
AMAZON_COLUMNS = {
    "sku": "sku",
    "recommended_price": "price",
    "min_allowed_price": "minimum-seller-allowed-price",
    "max_allowed_price": "maximum-seller-allowed-price",
}
PREFERRED_MODE = "ocean"


@dataclass(frozen=True)
class Recommendations:
    rows: pd.DataFrame  # the optimizer's output, one row per listing x period
    csv: Path
    amazon_files: list[Path]
    rules: str  # where the guardrails came from (``rules.describe_rules_source``)


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).fetch_df()


def listing_days(con: duckdb.DuckDBPyConnection, horizon_days: int) -> pd.DataFrame:
    """One row per listing x forecast period in the first ``horizon_days``: the forecast mean,
    the planned and current list prices, the marketplace's currency, VAT and fee figures."""
    return _query(
        con,
        f"""
        with first_day as (select min(date) as d0 from forecast.demand_forecast),
        last_price as (
            select sku, marketplace, arg_max(list_price_local, demand_date) as current_price,
                   max(demand_date) as history_end
            from marts.fct_daily_demand
            where list_price_local is not null
            group by sku, marketplace
        ),
        typical as (
            -- the default ceiling's anchor: the median list price of the last 365 days
            select d.sku, d.marketplace, median(d.list_price_local) as typical_price
            from marts.fct_daily_demand d join last_price p using (sku, marketplace)
            where d.demand_date > p.history_end - 365
            group by d.sku, d.marketplace
        )
        select f.sku, f.marketplace, cast(f.date as date) as date, f.mean as units_ref,
               coalesce(plan.list_price_local, p.current_price) as price_ref,
               p.current_price, r.typical_price, m.currency, m.vat_rate,
               m.prices_include_vat, m.referral_fee_rate, s.category
        from forecast.demand_forecast f
        cross join first_day
        join last_price p using (sku, marketplace)
        join typical r using (sku, marketplace)
        join marts.dim_marketplace m using (marketplace)
        left join marts.dim_sku s using (sku)
        left join marts.fct_price_plan plan
            on plan.sku = f.sku and plan.marketplace = f.marketplace
                and plan.demand_date = cast(f.date as date)
        where f.date < first_day.d0 + {int(horizon_days)}
        order by f.sku, f.marketplace, f.date
        """,
    )


def landed_costs(con: duckdb.DuckDBPyConnection, days: pd.DataFrame) -> pd.DataFrame:
    """Per listing-day: the landed cost in force that day (``PREFERRED_MODE``, else the
    cheapest mode), its duty, freight and FX, and the same figures when the current price was
    set (``*_then``: the history's last effective date)."""
    con.register("pricing_days", days[["sku", "marketplace", "date"]])
    try:
        return _query(
            con,
            f"""
            with lane as (
                select sku, marketplace, effective_date, landed_cost_local, landed_cost_usd,
                       duty_total_usd, freight_usd, usd_per_local, fulfilment_fee_local
                from marts.mart_landed_cost
                where landed_cost_local is not null
                qualify row_number() over (
                    partition by sku, marketplace, effective_date
                    order by (mode = '{PREFERRED_MODE}') desc, landed_cost_usd
                ) = 1
            ),
            history_end as (select max(demand_date) as d from marts.fct_daily_demand),
            then_cost as (
                select lane.* from lane cross join history_end
                where effective_date <= history_end.d
                qualify row_number() over (
                    partition by sku, marketplace order by effective_date desc) = 1
            )
            select d.sku, d.marketplace, d.date, now.landed_cost_local, now.landed_cost_usd,
                   now.duty_total_usd, now.freight_usd, now.usd_per_local,
                   now.fulfilment_fee_local,
                   t.landed_cost_usd as landed_cost_usd_then,
                   t.duty_total_usd as duty_total_usd_then,
                   t.freight_usd as freight_usd_then, t.usd_per_local as usd_per_local_then
            from pricing_days d
            asof left join lane now
                on now.sku = d.sku and now.marketplace = d.marketplace
                    and now.effective_date <= d.date
            left join then_cost t on t.sku = d.sku and t.marketplace = d.marketplace
            """,
        )
    finally:
        con.unregister("pricing_days")


def stock_positions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Units on hand and in transit per SKU x marketplace (its market warehouses)."""
    return _query(
        con,
        """
        select sku, marketplace, sum(on_hand_and_in_transit) as stock_units
        from marts.mart_inventory_position
        where marketplace is not null
        group by sku, marketplace
        """,
    )


def optimizer_input(
    days: pd.DataFrame,
    costs: pd.DataFrame,
    stock: pd.DataFrame,
    estimates: ElasticityEstimates,
    days_to_replenish: float,
) -> pd.DataFrame:
    """The optimizer's listing-day frame: demand, prices, costs, stock and elasticity."""
    keys = ["sku", "marketplace"]
    listings = curvature_columns(estimates.listings)
    elasticity = listings[[*keys, "elasticity", "status", "se", "reference_price"]].rename(
        columns={
            "status": "elasticity_status",
            "se": "elasticity_se",
            "reference_price": "response_reference",
        }
    )
    frame = days.merge(costs, on=[*keys, "date"], how="left").merge(elasticity, on=keys, how="left")
    frame = frame.merge(stock, on=keys, how="left")
    # no estimate (a listing without history): the median of its category, else of all
    fallback = estimates.listings.groupby("category")["elasticity"].median()
    missing = frame["elasticity"].isna().to_numpy()
    by_category = frame["category"].map(fallback).astype(float)
    frame["elasticity"] = (
        frame["elasticity"].fillna(by_category).fillna(estimates.listings["elasticity"].median())
    )
    frame["elasticity_status"] = np.where(missing, "pooled", frame["elasticity_status"])
    # ... and as uncertain as its category's listings are spread (the optimizer prices over it)
    spread = estimates.listings.groupby("category")["elasticity"].std()
    frame["elasticity_se"] = (
        frame["elasticity_se"]
        .fillna(frame["category"].map(spread).astype(float))
        .fillna(float(estimates.listings["elasticity"].std()))
    )
    # the seller's curvature (ml.pricing.curvature): one value, on every row
    frame["curvature"] = float(listings["curvature"].median()) if len(listings) else 0.0
    # the forecast's units per period over its days: demand until a shipment can arrive
    period_days = frame.groupby(keys)["date"].transform(
        lambda d: max(float(pd.Series(pd.to_datetime(d)).diff().dt.days.median() or 1.0), 1.0)
    )
    daily = frame["units_ref"] / period_days
    frame["demand_to_replenish"] = np.where(
        frame["stock_units"].notna(), daily * days_to_replenish, np.nan
    )
    return frame


RULES_TABLE = "staging.stg_raw__pricing_rules"


@dataclass(frozen=True)
class PricingInput:
    days: pd.DataFrame  # ``listing_days``
    frame: pd.DataFrame  # ``optimizer_input``: what the optimizer reads
    rules_table: pd.DataFrame  # the seller's rule rows (empty without any)
    rules: dict[tuple[str, str], PricingRules] | None  # per listing (None: the defaults)


def pricing_input(
    con: duckdb.DuckDBPyConnection,
    estimates: ElasticityEstimates,
    horizon_days: int,
    days_to_replenish: float,
    default_rules: PricingRules = DEFAULT_RULES,
) -> PricingInput:
    """Tonight's optimizer input and rules, as the nightly recommendations (and a what-if's
    baseline) price them."""
    from .rules import rules_for_listings

    days = listing_days(con, horizon_days)
    if days.empty:
        raise ValueError(
            "no forecast to price: run the forecast first (the `forecast` job or `make run`)"
        )
    frame = optimizer_input(
        days, landed_costs(con, days), stock_positions(con), estimates, days_to_replenish
    )
    table = seller_rules(con)
    rules = rules_for_listings(table, frame, default_rules) if len(table) else None
    return PricingInput(days, frame, table, rules)


def seller_rules(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The seller's accepted pricing rules (none when the entity is absent)."""
    found = has_table(con, "staging", "stg_raw__pricing_rules")
    return _query(con, f"SELECT * FROM {RULES_TABLE}") if found else pd.DataFrame()


def recommend(
    paths: DataPaths,
    estimates: ElasticityEstimates,
    *,
    default_rules: PricingRules = DEFAULT_RULES,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    days_to_replenish: float = 35.0,
) -> Recommendations:
    """Price every listing of the served forecast over ``horizon_days`` under the seller's
    rules (``pricing_rules``, else ``default_rules``); store and export."""
    from .rules import describe_rules_source

    con = duckdb.connect(str(paths.warehouse))
    try:
        tonight = pricing_input(con, estimates, horizon_days, days_to_replenish, default_rules)
        frame, table = tonight.frame, tonight.rules_table
        rules_line = describe_rules_source(table, frame, default_rules)
        rows = optimize_prices(frame, tonight.rules, default_rules=default_rules)
        write_table(con, rows)
    finally:
        con.close()
    csv, amazon = write_exports(paths, rows)
    return Recommendations(rows, csv, amazon, rules_line)


def write_table(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> None:
    """Replace the recommendations."""
    replace_table(
        con,
        RECOMMENDATIONS_TABLE,
        rows,
        "* REPLACE (CAST(date AS DATE) AS date), current_timestamp AS recommended_at",
    )


def amazon_price_file(rows: pd.DataFrame) -> pd.DataFrame:
    """The first day's changed prices as Amazon's Price & Quantity file takes them."""
    first = rows[rows["date"] == rows["date"].min()]
    changed = first[first["status"] == "changed"]
    out = changed[list(AMAZON_COLUMNS)].rename(columns=AMAZON_COLUMNS)
    for column in list(AMAZON_COLUMNS.values())[1:]:
        out[column] = out[column].astype(float).round(2)
    return out


def write_exports(paths: DataPaths, rows: pd.DataFrame) -> tuple[Path, list[Path]]:
    folder = paths.out / "prices"
    folder.mkdir(parents=True, exist_ok=True)
    generic = rows.assign(effective_date=pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d"))
    csv = folder / "price_recommendations.csv"
    generic.to_csv(csv, index=False, encoding="utf-8-sig")
    files = []
    for market, part in rows.groupby("marketplace"):
        path = folder / f"{market}_price_quantity.txt"
        amazon_price_file(part).to_csv(path, sep="\t", index=False)
        files.append(path)
    return csv, files


ELASTICITIES_TABLE = f"{PRICING_SCHEMA}.price_elasticities"


def write_estimates(paths: DataPaths, estimates: ElasticityEstimates) -> None:
    """Replace the elasticity table (one row per listing)."""
    con = duckdb.connect(str(paths.warehouse))
    try:
        replace_table(
            con, ELASTICITIES_TABLE, estimates.listings, "*, current_timestamp AS estimated_at"
        )
    finally:
        con.close()


PLANNED_PRICES_TABLE = f"{PRICING_SCHEMA}.planned_prices"
PLANNED_COLUMNS = ("sku", "marketplace", "effective_date", "recommended_price")


def published_prices(paths: DataPaths) -> tuple[pd.DataFrame, Path]:
    """The prices the last run published (``out/prices/price_recommendations.csv``): one row per
    listing and day, ``sku``, ``marketplace``, ``plan_date``, ``list_price_local``. They are the
    planned prices of the next run's price plan (``marts.fct_price_plan``), so tonight's
    forecast is scored at the prices last night put up. No file: no rows."""
    csv = paths.out / "prices" / "price_recommendations.csv"
    empty = pd.DataFrame(
        {
            "sku": pd.Series(dtype="string"),
            "marketplace": pd.Series(dtype="string"),
            "plan_date": pd.Series(dtype="datetime64[ns]"),
            "list_price_local": pd.Series(dtype=float),
        }
    )
    if not csv.exists():
        return empty, csv
    rows = pd.read_csv(csv, encoding="utf-8-sig", dtype={"sku": str, "marketplace": str})
    missing = [c for c in PLANNED_COLUMNS if c not in rows]
    if missing:
        raise ValueError(f"{csv} lacks the columns {', '.join(missing)}: not a Kuajing export")
    price = pd.to_numeric(rows["recommended_price"], errors="coerce")
    day = pd.to_datetime(rows["effective_date"], errors="coerce")
    bad = ~(price > 0) | day.isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # 1-based, after the header
        raise ValueError(
            f"{csv}: {int(bad.sum())} rows without a positive recommended_price and a date "
            f"(first at line {first}); fix or delete the file"
        )
    out = pd.DataFrame(
        {
            "sku": rows["sku"],
            "marketplace": rows["marketplace"],
            "plan_date": day,
            "list_price_local": price,
        }
    )
    return out.drop_duplicates(["sku", "marketplace", "plan_date"], keep="last"), csv


def write_planned_prices(paths: DataPaths, rows: pd.DataFrame) -> None:
    """Replace ``pricing.planned_prices`` (the price plan's recommended prices)."""
    con = duckdb.connect(str(paths.warehouse))
    try:
        replace_table(
            con,
            PLANNED_PRICES_TABLE,
            rows,
            "sku, marketplace, CAST(plan_date AS DATE) AS plan_date, list_price_local",
        )
    finally:
        con.close()


def summary_counts(rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Listing-days by status, by binding guardrail and by reason code."""
    reasons = rows["reason_codes"].fillna("").str.split(";").explode()
    return {
        "by_status": {str(k): int(v) for k, v in rows["status"].value_counts().items()},
        "by_guardrail": {
            str(k): int(v) for k, v in rows["binding_guardrail"].value_counts().items()
        },
        "by_reason": {str(k): int(v) for k, v in reasons[reasons != ""].value_counts().items()},
    }


COST_REASONS = ("tariff", "fx", "freight")


def cost_driven_changes(rows: pd.DataFrame) -> pd.DataFrame:
    """The first day's changed listings whose reason is a landed-cost move (a tariff, FX or
    freight), largest change first: what a new tariff file re-priced, and by how much."""
    first = rows[(rows["date"] == rows["date"].min()) & (rows["status"] == "changed")]
    pattern = r"(?:^|;)(?:" + "|".join(COST_REASONS) + r")(?:;|$)"
    hit = first["reason_codes"].fillna("").astype(str).str.contains(pattern, regex=True)
    out = first[hit.to_numpy(bool)].copy()
    out["change_pct"] = 100 * (out["recommended_price"] / out["current_price"] - 1)
    out = out.sort_values("change_pct", key=lambda c: c.abs(), ascending=False)
    columns = [
        "sku",
        "marketplace",
        "current_price",
        "recommended_price",
        "change_pct",
        "landed_cost_change",
        "reason_codes",
    ]
    return out[columns].reset_index(drop=True)


def price_change_plot(rows: pd.DataFrame) -> bytes:
    """Per marketplace, the distribution of the first day's recommended change (%)."""
    from ml.forecast.plots import pyplot, save_png

    plt = pyplot()
    first = rows[rows["date"] == rows["date"].min()]
    change = 100 * (first["recommended_price"] / first["current_price"] - 1)
    markets = sorted(first["marketplace"].unique())
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(markets)), 4))
    data = [change[first["marketplace"] == m].dropna().to_numpy() for m in markets]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(markets) + 1), markets)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("recommended vs current price, %")
    ax.set_title(f"Price changes for {pd.Timestamp(first['date'].min()).date()}")
    return save_png(fig, None)
