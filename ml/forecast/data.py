"""Reading the marts the forecast is built from (the one place that touches the warehouse).

Every table read here is a dbt mart, so the forecast's inputs are declared lineage: the demand
history (``fct_daily_demand``, ``dim_sku``, ``dim_marketplace``) and the price-and-promotion
plan of the days ahead (``fct_price_plan``), never a ``raw.*`` table.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from ml.settings import DBT_PROJECT_DIR

from .panel import DEMAND_COLUMNS, PLAN_COLUMNS, REVENUE_COLUMN

DEMAND_TABLE = "marts.fct_daily_demand"
SKU_TABLE = "marts.dim_sku"
MARKETPLACE_TABLE = "marts.dim_marketplace"
PLAN_TABLE = "marts.fct_price_plan"
PLAN_HORIZON_VAR = "price_plan_horizon_days"


def load_demand(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
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


def load_price_plan(
    con: duckdb.DuckDBPyConnection, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """The plan mart's rows (``PLAN_COLUMNS``) of the days ``first`` .. ``last`` (inclusive): a
    row per SKU x marketplace x day with a planned list price, a promotion or both (NULL where
    one of them is not planned)."""
    return con.execute(
        f"SELECT {', '.join(PLAN_COLUMNS)} FROM {PLAN_TABLE} "
        "WHERE demand_date BETWEEN CAST($first AS DATE) AND CAST($last AS DATE)",
        {"first": str(first.date()), "last": str(last.date())},
    ).df()


@cache
def plan_horizon_days(project_file: Path = DBT_PROJECT_DIR / "dbt_project.yml") -> int:
    """Days after the demand history that ``fct_price_plan`` covers (dbt var
    ``price_plan_horizon_days``; the pipeline's dbt runs pass no ``--vars``)."""
    project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    return int(project["vars"][PLAN_HORIZON_VAR])
