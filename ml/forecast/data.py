"""Reading the marts the forecast is built from (the one place that touches the warehouse)."""

from __future__ import annotations

import pandas as pd

from .panel import DEMAND_COLUMNS, FX_COLUMN

DEMAND_TABLE = "marts.fct_daily_demand"
SKU_TABLE = "marts.dim_sku"
MARKETPLACE_TABLE = "marts.dim_marketplace"


def load_demand(con) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(demand, skus, marketplaces) from a DuckDB connection to the warehouse."""
    cols = ", ".join((*DEMAND_COLUMNS, FX_COLUMN))
    demand = con.execute(
        f"SELECT {cols} FROM {DEMAND_TABLE} ORDER BY sku, marketplace, demand_date"
    ).df()
    skus = con.execute(f"SELECT sku, category, launch_date FROM {SKU_TABLE}").df()
    markets = con.execute(f"SELECT marketplace, country FROM {MARKETPLACE_TABLE}").df()
    return demand, skus, markets
