"""The nightly pricing's pure parts: which re-pricings a landed-cost move explains."""

import pandas as pd

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
