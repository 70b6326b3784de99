"""Reading the marts the forecast is built from (the one place that touches the warehouse)."""

from __future__ import annotations

import pandas as pd

from .panel import DEMAND_COLUMNS, REVENUE_COLUMN

DEMAND_TABLE = "marts.fct_daily_demand"
SKU_TABLE = "marts.dim_sku"
MARKETPLACE_TABLE = "marts.dim_marketplace"


def load_demand(con) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(demand, skus, marketplaces) from a DuckDB connection to the warehouse."""
    # Revenue in USD where the warehouse has the currency's rates, else in local currency (a
    # one-currency shop such as Online Retail): it only weights series against each other.
    revenue = f"coalesce(revenue_usd, revenue_local) AS {REVENUE_COLUMN}"
    cols = ", ".join((*DEMAND_COLUMNS, revenue))
    demand = con.execute(
        f"SELECT {cols} FROM {DEMAND_TABLE} ORDER BY sku, marketplace, demand_date"
    ).df()
    skus = con.execute(f"SELECT sku, category, launch_date FROM {SKU_TABLE}").df()
    markets = con.execute(f"SELECT marketplace, country FROM {MARKETPLACE_TABLE}").df()
    return demand, skus, markets
