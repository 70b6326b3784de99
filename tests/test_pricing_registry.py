"""price_response in the registry: the served response, the gate's rule."""

import numpy as np
import pandas as pd
import pytest

from ml.pricing.registry import GATE_METRIC, HeldOutRule, PriceResponseModel, units_at
from ml.registry.gate import Champion


def test_units_follow_the_elasticity_between_two_prices():
    # 10 units at 20.00; 10 % dearer at elasticity -2: 10 * 1.1 ** -2 = 8.264...
    assert units_at(np.array([10.0]), np.array([22.0]), np.array([20.0]), np.array([-2.0]))[
        0
    ] == pytest.approx(10 * 1.1**-2)


def test_the_served_model_prices_known_and_unseen_listings():
    model = PriceResponseModel()
    model.listings = pd.DataFrame(
        {
            "sku": ["A", "B", "C"],
            "marketplace": ["US", "US", "DE"],
            "elasticity": [-1.0, -3.0, -2.0],
            "status": ["identified", "pooled", "pooled"],
        }
    )
    rows = pd.DataFrame(
        {
            "sku": ["A", "Z"],
            "marketplace": ["US", "US"],
            "price": [9.0, 9.0],
            "price_ref": [10.0, 10.0],
            "units_ref": [5.0, 5.0],
        }
    )
    out = model.predict(None, rows)
    assert out["units"].tolist() == pytest.approx([5 * 0.9**-1.0, 5 * 0.9**-2.0])
    # a listing it never saw: the median elasticity, pooled
    assert out.loc[1, "elasticity"] == -2.0 and out.loc[1, "status"] == "pooled"
    with pytest.raises(ValueError, match="price_ref"):
        model.predict(None, rows.drop(columns=["price_ref"]))


def test_the_gate_refuses_a_candidate_without_held_out_price_changes():
    rule = HeldOutRule()
    assert "no held-out price changes" in (rule.refusal({"listings": 10.0}) or "")
    assert rule.refusal({GATE_METRIC: 0.8}) is None


def test_a_champion_without_the_metric_is_replaced():
    verdict = HeldOutRule().compare(Champion(version=3, run_id=""), {GATE_METRIC: 0.9})
    assert verdict.promote and "v3" in verdict.reason
