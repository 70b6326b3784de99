"""The seller's allocation rules (``raw/allocation_rules/``) resolved onto the plan's listings.

A rule row fills one scope of the contract's ``allocation_rules`` entity, most specific first:
SKU x warehouse, SKU, warehouse. Each listing (a SKU in a market warehouse) takes its stock
bounds and its minimum shipment from the rules of its warehouse; each SKU takes its case pack
and supplier terms (lead time, minimum order) from the rules of its hub, so a SKU-wide row
gives them. A setting no rule gives is missing: the plan's settings then apply.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ml.scoped_rules import ScopedRules, text_or_none
from ml.warehouse import has_table

RULES = ScopedRules("allocation_rules")
TABLE = ("staging", "stg_raw__allocation_rules")
WAREHOUSE_SETTINGS = ("min_units", "max_units", "min_shipment_units")
SKU_SETTINGS = ("units_per_case", "supplier_lead_days", "min_order_quantity")


def read_rules(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The accepted rule rows; none when the seller gives no rules file."""
    if not has_table(con, *TABLE):
        return pd.DataFrame(columns=list(RULES.entity.column_names))
    return con.execute(f"select * from {'.'.join(TABLE)}").fetch_df()


def _resolve(rules: pd.DataFrame, sku: pd.Series, warehouse: pd.Series, names) -> pd.DataFrame:
    targets = pd.DataFrame({"sku": text_or_none(sku), "warehouse_id": text_or_none(warehouse)})
    return RULES.resolved(rules, targets)[list(names)].astype(float)


def with_rules(rows: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (one per listing: ``sku``, ``warehouse_id``, ``hub_id``) with every setting of
    ``RULES`` as a column (NaN where no rule gives it)."""
    rows = rows.reset_index(drop=True)
    at_market = _resolve(rules, rows["sku"], rows["warehouse_id"], WAREHOUSE_SETTINGS)
    at_hub = _resolve(rules, rows["sku"], rows["hub_id"], SKU_SETTINGS)
    return pd.concat([rows, at_market, at_hub], axis=1)


def given(rows: pd.DataFrame, name: str, default: float) -> pd.Series:
    """A per-row setting (a rule's, or a planning input such as a review period), ``default``
    where the row gives none or the column is absent."""
    if name not in rows:
        return pd.Series(default, index=rows.index, dtype=float)
    return rows[name].astype(float).fillna(default)
