"""The seller's allocation rules: resolved per listing and SKU, and honoured by the plans."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.allocation.nightly import AllocationSettings, RestockSettings, plan_sku, restock
from ml.allocation.rules import read_rules, with_rules

TODAY = date(2026, 1, 5)
RULE_COLUMNS = (
    "sku",
    "warehouse_id",
    "min_units",
    "max_units",
    "units_per_case",
    "min_shipment_units",
    "supplier_lead_days",
    "min_order_quantity",
)


def rules(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in RULE_COLUMNS} for r in rows])


def listings(n: int = 3, **overrides) -> pd.DataFrame:
    """One SKU in ``n`` market warehouses, nearly out of stock, with a well-stocked hub."""
    base = {
        "sku": "A",
        "marketplace": [f"M{i}" for i in range(n)],
        "warehouse_id": [f"W{i}" for i in range(n)],
        "hub_id": "HUB",
        "on_hand": 2,
        "in_transit": 0,
        "hub_units": 1000,
        "daily_mean": 3.0,
        "daily_var": 6.0,
        "base_days": 30.0,
        "base_landed_usd": 8.0,
        "margin_usd": 10.0,
        "fast_mode": "air",
        "fast_days": 7.0,
        "fast_landed_usd": 14.0,
    }
    return pd.DataFrame({**base, **overrides}, index=range(n))


def test_each_setting_comes_from_the_most_specific_rule():
    given = rules(
        {"sku": "A", "warehouse_id": "W0", "max_units": 50},
        {
            "sku": "A",
            "max_units": 80,
            "min_units": 5,
            "units_per_case": 6,
            "supplier_lead_days": 20,
        },
        {"warehouse_id": "W1", "max_units": 60, "min_shipment_units": 12},
        {"sku": "A", "warehouse_id": "HUB", "min_order_quantity": 300},
    )
    out = with_rules(listings(3), given)
    assert out["max_units"].tolist() == [50, 80, 80]  # SKU x warehouse > SKU > warehouse
    assert out["min_units"].tolist() == [5, 5, 5]  # inherited from the SKU row
    assert out["min_shipment_units"].fillna(-1).tolist() == [-1, 12, -1]
    # the SKU's case pack and supplier terms are its hub's: the SKU row, the hub row
    assert out["units_per_case"].tolist() == [6, 6, 6]
    assert out["supplier_lead_days"].tolist() == [20, 20, 20]
    assert out["min_order_quantity"].tolist() == [300, 300, 300]
    plain = with_rules(listings(2), rules())
    assert plain[["min_units", "units_per_case"]].isna().all().all()


def test_a_repeated_scope_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="allocation rules repeat a scope"):
        with_rules(listings(1), rules({"sku": "A", "max_units": 5}, {"sku": "A", "max_units": 9}))


def _shipped(lines: list[dict]) -> pd.Series:
    frame = pd.DataFrame(lines)
    return frame.groupby("marketplace")["quantity"].sum() if len(frame) else pd.Series(dtype=int)


def test_the_plan_keeps_stock_within_the_bounds_in_whole_cases():
    settings = AllocationSettings()
    free = _shipped(plan_sku(listings(3), settings, TODAY))
    assert (free > 40).all()  # without rules: 30 days of 3 a day and more
    given = rules(
        {"sku": "A", "warehouse_id": "W0", "max_units": 40},
        {"sku": "A", "units_per_case": 12},
        {"warehouse_id": "W2", "min_shipment_units": 1000},
    )
    rows = with_rules(listings(3), given)
    lines = plan_sku(rows, settings, TODAY)
    assert all(line["quantity"] % 12 == 0 and line["units_per_case"] == 12 for line in lines)
    assert all(line["cases"] * 12 == line["quantity"] for line in lines)
    shipped = _shipped(lines)
    assert 2 + shipped["M0"] <= 40  # on hand 2 + every mode shipped stays under the max
    assert shipped["M0"] >= 36 - 12  # and reaches it within a case
    assert "M2" not in shipped  # below its least shipment: not sent
    assert shipped["M1"] == pytest.approx(free["M1"], abs=12)


def test_the_minimum_is_kept_even_where_it_earns_nothing():
    slow = listings(2, daily_mean=0.01, daily_var=0.01, on_hand=0)
    free = _shipped(plan_sku(slow, AllocationSettings(), TODAY))
    assert (free <= 3).all()  # 0.37 units expected over the window
    rows = with_rules(slow, rules({"sku": "A", "warehouse_id": "W1", "min_units": 25}))
    shipped = _shipped(plan_sku(rows, AllocationSettings(), TODAY))
    assert shipped["M1"] == 25
    assert shipped["M0"] == free["M0"]


def test_the_restock_takes_each_skus_case_pack_minimum_and_lead():
    rows = pd.concat([listings(2), listings(2, sku="B", hub_units=0)], ignore_index=True).assign(
        hub_units=[5, 5, 5, 5]
    )
    settings = RestockSettings()
    plain = restock(rows, settings, TODAY).set_index("sku")
    given = rules(
        {"sku": "A", "units_per_case": 50, "min_order_quantity": 1000, "supplier_lead_days": 10},
        {"sku": "B", "units_per_case": 7},
    )
    ruled = restock(with_rules(rows, given), settings, TODAY).set_index("sku")
    a, b = ruled.loc["A"], ruled.loc["B"]
    assert a["order_quantity"] in (0, 1000)  # the minimum, or nothing where it does not pay
    assert a["expected_delivery"] == date(2026, 1, 15)
    assert b["order_quantity"] % 7 == 0 and b["units_per_case"] == 7
    assert b["order_quantity"] == pytest.approx(plain.loc["B", "order_quantity"], abs=7)


def test_rules_are_read_from_the_warehouse_when_given():
    con = duckdb.connect()
    assert read_rules(con).empty
    con.execute("create schema staging")
    con.execute(
        "create table staging.stg_raw__allocation_rules as "
        "select 'A' as sku, 'W0' as warehouse_id, 1::bigint as min_units, 9::bigint as max_units, "
        "null::bigint as units_per_case, null::bigint as min_shipment_units, "
        "null::bigint as supplier_lead_days, null::bigint as min_order_quantity"
    )
    out = with_rules(listings(2), read_rules(con))
    assert out["max_units"].fillna(0).tolist() == [9, 0]
    assert np.isnan(out["units_per_case"]).all()
