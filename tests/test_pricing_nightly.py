"""The nightly pricing's pure parts: which re-pricings a landed-cost move explains."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from ml.pricing.nightly import cost_driven_changes, summary_counts


def _rows() -> pd.DataFrame:
    day1, day2 = pd.Timestamp("2026-11-01"), pd.Timestamp("2026-11-02")
    return pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D", "E"],
            "marketplace": ["US"] * 5,
            "date": [day1, day1, day1, day1, day2],
            "current_price": [10.0, 20.0, 30.0, 40.0, 10.0],
            "recommended_price": [11.0, 19.0, 33.0, 40.0, 12.0],
            "landed_cost_change": [0.8, -0.5, 0.0, 0.0, 0.8],
            "status": ["changed", "changed", "changed", "kept", "changed"],
            "binding_guardrail": ["max_change", "none", "none", "min_change", "none"],
            "reason_codes": ["tariff;rule", "fx", "demand", "", "tariff"],
        }
    )


def test_only_the_first_days_cost_driven_changes_largest_first():
    out = cost_driven_changes(_rows())
    # C moved for demand, D was kept, E is the second day
    assert out["sku"].tolist() == ["A", "B"]  # +10 % before -5 %
    assert out["change_pct"].round(6).tolist() == [10.0, -5.0]


def test_counts_split_the_reason_codes():
    counts = summary_counts(_rows())
    assert counts["by_status"] == {"changed": 4, "kept": 1}
    assert counts["by_reason"] == {"tariff": 2, "rule": 1, "fx": 1, "demand": 1}


def test_published_prices_are_read_back_from_the_export(tmp_path):
    from ml.pricing.nightly import published_prices, write_planned_prices
    from ml.settings import DataPaths

    paths = DataPaths(tmp_path)
    rows, csv = published_prices(paths)
    assert rows.empty and list(rows) == ["sku", "marketplace", "plan_date", "list_price_local"]
    csv.parent.mkdir(parents=True)
    pd.DataFrame(
        {
            "sku": ["007", "B"],
            "marketplace": ["US", "DE"],
            "date": ["2026-11-01", "2026-11-01"],
            "effective_date": ["2026-11-01", "2026-11-01"],
            "recommended_price": [19.99, 24.95],
            "status": ["changed", "kept"],
        }
    ).to_csv(csv, index=False, encoding="utf-8-sig")
    rows, _ = published_prices(paths)
    assert rows["sku"].tolist() == ["007", "B"]  # SKU codes stay text
    assert rows["list_price_local"].tolist() == [19.99, 24.95]
    write_planned_prices(paths, rows)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        stored = con.execute("select * from pricing.planned_prices order by sku").fetchall()
    finally:
        con.close()
    assert stored == [
        ("007", "US", dt.date(2026, 11, 1), 19.99),
        ("B", "DE", dt.date(2026, 11, 1), 24.95),
    ]
    bad = pd.read_csv(csv, dtype=str).assign(recommended_price=["19.99", "n/a"])
    bad.to_csv(csv, index=False)
    with pytest.raises(ValueError, match="1 rows without a positive recommended_price.*line 3"):
        published_prices(paths)
    bad.drop(columns="effective_date").to_csv(csv, index=False)
    with pytest.raises(ValueError, match="lacks the columns effective_date"):
        published_prices(paths)


def test_a_listing_without_an_estimate_is_priced_as_uncertain_as_its_category_is_spread():
    from ml.pricing.elasticity import ElasticityEstimates
    from ml.pricing.nightly import optimizer_input

    day = pd.Timestamp("2026-11-01")
    keys = {"sku": ["A", "NEW"], "marketplace": ["US", "US"], "date": [day, day]}
    days = pd.DataFrame({**keys, "category": ["toys", "toys"], "units_ref": [2.0, 1.0]})
    costs = pd.DataFrame({**keys, "landed_cost_local": [4.0, 5.0]})
    stock = pd.DataFrame({"sku": ["A"], "marketplace": ["US"], "stock_units": [30.0]})
    listings = pd.DataFrame(
        {
            "sku": ["A", "B", "C"],
            "marketplace": ["US", "US", "DE"],
            "category": ["toys"] * 3,
            "elasticity": [-2.0, -1.0, -3.0],
            "status": ["identified", "pooled", "pooled"],
            "se": [0.25, 0.6, 0.7],
            "reference_price": [10.0, 12.0, 9.0],
        }
    )
    frame = optimizer_input(days, costs, stock, ElasticityEstimates(listings, pd.DataFrame()), 30)
    own, new = frame.set_index("sku").loc["A"], frame.set_index("sku").loc["NEW"]
    assert (own["elasticity"], own["elasticity_se"]) == (-2.0, 0.25)
    # the category's median elasticity, with the spread of its listings' elasticities (sd 1)
    assert new["elasticity"] == -2.0 and new["elasticity_status"] == "pooled"
    assert new["elasticity_se"] == pytest.approx(1.0)
