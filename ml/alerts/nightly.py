"""Tonight's risk alerts from the warehouse: stock, lanes, prices and the inputs' freshness
(``ml.alerts.rules``), into ``alerts.risk_alerts`` and ``out/alerts/risk_alerts.csv``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ml.allocation.nightly import days_of_supply, listing_inputs
from ml.settings import DataPaths
from ml.warehouse import has_table, publish

from . import rules

ALERTS_TABLE = "alerts.risk_alerts"
# The column whose newest value dates each entity (staging views of the raw tables).
DATE_COLUMNS = {
    "orders": "order_date",
    "inventory": "snapshot_date",
    "fx_rates": "rate_date",
    "shipments": "departed_date",
}


def newest_dates(con: duckdb.DuckDBPyConnection) -> dict[str, date | None]:
    out: dict[str, date | None] = {}
    for entity, column in DATE_COLUMNS.items():
        value = con.execute(f"SELECT max({column}) FROM staging.stg_raw__{entity}").fetchone()
        day = None if value is None or value[0] is None else pd.Timestamp(value[0]).date()
        out[entity] = day
    return out


def lane_lateness(con: duckdb.DuckDBPyConnection, today: date, recent_days: int) -> pd.DataFrame:
    """Per lane: its arrivals of the last ``recent_days`` against their expected arrival, and
    the shipments overdue on ``today``."""
    frame = con.execute(
        """
        with s as (
            select lane_id, quantity, expected_arrival_date, arrived_date
            from staging.stg_raw__shipments
        )
        select lane_id,
               count(*) filter (arrived_date >= $today - $recent) as arrived,
               median(datediff('day', expected_arrival_date, arrived_date))
                   filter (arrived_date >= $today - $recent) as median_days_late,
               avg(case when arrived_date <= expected_arrival_date then 1.0 else 0.0 end)
                   filter (arrived_date >= $today - $recent) as on_time_rate,
               count(*) filter (arrived_date is null and expected_arrival_date < $today)
                   as overdue,
               coalesce(sum(quantity) filter (
                   arrived_date is null and expected_arrival_date < $today), 0) as overdue_units,
               max(datediff('day', expected_arrival_date, $today)) filter (
                   arrived_date is null and expected_arrival_date < $today) as max_days_overdue
        from s group by lane_id order by lane_id
        """,
        {"today": today, "recent": recent_days},
    ).fetch_df()
    numbers = ["median_days_late", "on_time_rate", "overdue_units", "max_days_overdue"]
    return frame.astype({c: float for c in numbers})


def forecast_vs_sales(con: duckdb.DuckDBPyConnection, days: int) -> pd.DataFrame:
    """Per listing, over the last ``days`` days of sales: the units sold and the units forecast
    for the same days by the latest forecast made before each (``forecast.forecast_history``;
    none before the forecast has run on two nights)."""
    if not has_table(con, "forecast", "forecast_history"):
        return pd.DataFrame(columns=["sku", "marketplace", "days", "sold", "forecast"])
    return con.execute(
        """
        with last_day as (select max(demand_date) as d from marts.fct_daily_demand),
        made as (
            select h.sku, h.marketplace, h.date, h.mean
            from forecast.forecast_history h cross join last_day
            where h.date > last_day.d - $days and h.date <= last_day.d and h.forecast_from <= h.date
            qualify row_number() over (
                partition by h.sku, h.marketplace, h.date order by h.forecast_from desc) = 1
        )
        select m.sku, m.marketplace, count(*) as days,
               coalesce(sum(d.units), 0)::double as sold, sum(m.mean) as forecast
        from made m
        left join marts.fct_daily_demand d
            on d.sku = m.sku and d.marketplace = m.marketplace and d.demand_date = m.date
        group by m.sku, m.marketplace
        order by m.sku, m.marketplace
        """,
        {"days": days},
    ).fetch_df()


def alerts(con: duckdb.DuckDBPyConnection, settings: rules.AlertSettings, today: date):
    """Every alert of tonight, most severe first (``rules.ALERT_COLUMNS``)."""
    listings = listing_inputs(con)
    supply = days_of_supply(listings).assign(
        fast_days=listings["fast_days"].astype(float),
        base_days=listings["base_days"].astype(float),
        landed_cost_usd=listings["base_landed_usd"].astype(float),
    )
    recommendations = (
        con.execute("SELECT * FROM pricing.price_recommendations").fetch_df()
        if has_table(con, "pricing", "price_recommendations")
        else pd.DataFrame()
    )
    lanes = lane_lateness(con, today, settings.recent_days)
    return rules.ranked(
        [
            rules.stockout_risk(supply),
            rules.overstock(supply.dropna(subset=["landed_cost_usd"]), settings),
            rules.margin_erosion(recommendations, settings),
            rules.late_lanes(lanes, settings),
            rules.forecast_bias(forecast_vs_sales(con, settings.bias_days), settings),
            rules.stale_inputs(newest_dates(con), today),
        ]
    )


def write_alerts(paths: DataPaths, frame: pd.DataFrame) -> Path:
    csv = paths.out / "alerts" / "risk_alerts.csv"
    return publish(paths.warehouse, ALERTS_TABLE, frame, "raised_at", csv, frame)
