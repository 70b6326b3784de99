"""Each kind of risk alert on hand-made inputs: when it fires, how severe, with what figures."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.alerts import rules

SETTINGS = rules.AlertSettings()


def test_stockout_risk_is_high_when_even_air_lands_too_late():
    supply = pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D"],
            "marketplace": "US",
            "days_of_supply": [3.0, 12.0, 40.0, np.nan],
            "fast_days": 6.0,
            "base_days": 30.0,
        }
    )
    out = rules.stockout_risk(supply).set_index("sku")
    assert out["severity"].to_dict() == {"A": "high", "B": "medium"}
    assert "air" in out.loc["A", "suggested_action"]
    assert json.loads(out.loc["B", "figures"]) == {
        "days_of_supply": 12.0,
        "fast_days": 6.0,
        "base_days": 30.0,
    }


def test_overstock_counts_the_excess_and_the_holding_it_burns():
    supply = pd.DataFrame(
        {
            "sku": ["A", "B"],
            "marketplace": "DE",
            "days_of_supply": [300.0, 60.0],
            "daily_demand": [1.0, 1.0],
            "on_hand": [250, 60],
            "inbound": [50, 0],
            "landed_cost_usd": [12.0, 12.0],
        }
    )
    out = rules.overstock(supply, SETTINGS)
    assert out["sku"].tolist() == ["A"] and out["severity"].iloc[0] == "medium"
    figures = json.loads(out["figures"].iloc[0])
    assert figures["excess_units"] == 300 - 120
    assert figures["holding_usd_per_month"] == pytest.approx(180 * 12.0 * 0.25 / 12)


def test_margin_erosion_names_the_largest_cost_move():
    recs = pd.DataFrame(
        {
            "sku": ["A", "B", "C"],
            "marketplace": "US",
            "date": pd.Timestamp("2026-11-01"),
            "currency": "USD",
            "current_price": [20.0, 20.0, 20.0],
            "recommended_price": [23.99, 20.99, 19.99],
            "landed_cost_change": [2.5, 0.6, 0.1],
            "cost_change_tariff": [2.0, 0.0, 0.1],
            "cost_change_fx": [0.5, 0.1, 0.0],
            "cost_change_freight": [0.0, 0.5, 0.0],
        }
    )
    out = rules.margin_erosion(recs, SETTINGS).set_index("sku")
    assert out["severity"].to_dict() == {"A": "high", "B": "medium"}  # 12.5 % and 3 %
    assert "mostly tariff" in out.loc["A", "explanation"]
    assert "mostly freight" in out.loc["B", "explanation"]


def test_a_lane_runs_late_on_its_recent_arrivals_or_its_overdue_shipments():
    lanes = pd.DataFrame(
        {
            "lane_id": ["L1", "L2", "L3"],
            "arrived": [10, 10, 10],
            "median_days_late": [1.0, 7.0, 0.0],
            "on_time_rate": [0.6, 0.1, 0.9],
            "overdue": [0, 1, 2],
            "overdue_units": [0.0, 40.0, 90.0],
            "max_days_overdue": [np.nan, 2.0, 4.0],
        }
    )
    out = rules.late_lanes(lanes, SETTINGS).set_index("subject")
    assert out["severity"].to_dict() == {"L2": "high", "L3": "medium"}


def test_stale_inputs_by_their_newest_date():
    newest = {"orders": date(2026, 10, 31), "inventory": date(2026, 10, 1), "fx_rates": None}
    out = rules.stale_inputs(newest, date(2026, 11, 1)).set_index("subject")
    assert set(out.index) == {"inventory", "fx_rates"}
    assert "31 days ago" in out.loc["inventory", "explanation"]
    assert out.loc["inventory", "severity"] == "high"


def test_alerts_are_ranked_most_severe_first():
    frames = [
        pd.DataFrame([{"alert_type": "b", "severity": "low"}]),
        pd.DataFrame([{"alert_type": "a", "severity": "high"}]),
        pd.DataFrame(columns=list(rules.ALERT_COLUMNS)),
    ]
    assert rules.ranked(frames)["severity"].tolist() == ["high", "low"]
    assert list(rules.ranked([pd.DataFrame(columns=list(rules.ALERT_COLUMNS))])) == list(
        rules.ALERT_COLUMNS
    )


def test_forecast_bias_flags_a_drift_either_way_on_enough_units():
    compared = pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D", "E"],
            "marketplace": "US",
            "days": 28,
            "sold": [100.0, 100.0, 100.0, 5.0, 0.0],
            "forecast": [180.0, 65.0, 110.0, 12.0, 30.0],
        }
    )
    out = rules.forecast_bias(compared, rules.AlertSettings()).set_index("sku")
    assert set(out.index) == {"A", "B", "E"}  # C within 30 %, D too few units
    assert out.loc["A", "severity"] == "high"  # +80 %
    assert out.loc["B", "severity"] == "medium"  # -35 %
    assert json.loads(out.loc["A", "figures"])["bias"] == pytest.approx(0.8)
    assert "hold shipments" in out.loc["A", "suggested_action"]
    assert "ship or order more" in out.loc["B", "suggested_action"]
    assert "nothing sold" in out.loc["E", "explanation"]


def test_forecasts_are_kept_and_compared_with_what_sold(tmp_path):
    """Two nights' forecasts in the history: each day is judged by the latest forecast made
    before it; a night scored again replaces its own rows."""
    from ml.alerts.nightly import forecast_vs_sales
    from ml.forecast.nightly import HISTORY_TABLE, write_forecast
    from ml.settings import DataPaths

    paths = DataPaths(tmp_path)
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)

    def night(first: str, mean: float) -> pd.DataFrame:
        dates = pd.date_range(first, periods=40)
        return pd.DataFrame(
            {
                "sku": "A",
                "marketplace": "US",
                "date": dates,
                "horizon": range(1, 41),
                "p10": 0.0,
                "p50": mean,
                "p90": 2 * mean,
                "mean": mean,
                "model_version": 1,
            }
        )

    write_forecast(paths, night("2026-03-01", 1.0))
    write_forecast(paths, night("2026-03-11", 9.0))
    write_forecast(paths, night("2026-03-11", 3.0))  # the same night scored again
    con = duckdb.connect(str(paths.warehouse))
    kept = con.execute(
        f"select forecast_from, count(*), max(mean) from {HISTORY_TABLE} group by 1 order by 1"
    ).fetchall()
    assert [(str(d), n, m) for d, n, m in kept] == [
        ("2026-03-01", 28, 1.0),
        ("2026-03-11", 28, 3.0),
    ]
    con.execute("create schema marts")
    # sold 2 a day from 2026-03-01 to 2026-03-20 (the last day of sales)
    con.execute(
        "create table marts.fct_daily_demand as select 'A' as sku, 'US' as marketplace, "
        "d::date as demand_date, 2.0 as units "
        "from range(date '2026-03-01', date '2026-03-21', interval 1 day) t(d)"
    )
    out = forecast_vs_sales(con, days=14)
    con.close()
    # the last 14 days: 03-07 .. 03-20; 03-07..03-10 from the first night (1 a day), then 3 a day
    assert out.to_dict("records") == [
        {"sku": "A", "marketplace": "US", "days": 14, "sold": 28.0, "forecast": 4 * 1.0 + 10 * 3.0}
    ]
