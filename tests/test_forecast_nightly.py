"""The nightly scoring's plan of future prices (read from the plan mart), and the forecast
benchmark's helpers."""

import duckdb
import pandas as pd
import pytest

from ml.bench.forecast import TARGETS, replicate_series, verdict
from ml.forecast.data import plan_horizon_days
from ml.forecast.nightly import future_plan
from ml.settings import DataPaths


@pytest.fixture
def paths(tmp_path) -> DataPaths:
    """A warehouse whose plan mart holds what dbt builds from these planned prices and
    promotions (the mart's own logic is tested in tests/test_dbt_project.py): A's price rises
    from 20 to 25 on 2026-11-05; Z (no demand) has a price; B (no price list) has a 20 % deal
    on 11-02 and 11-03, and a 10 % coupon on 11-03. The history ends 2026-10-31."""
    paths = DataPaths(tmp_path)
    con = duckdb.connect(str(paths.warehouse))
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_price_plan (sku VARCHAR, marketplace VARCHAR, demand_date DATE, "
        "list_price_local DOUBLE, discount_pct DOUBLE)"
    )
    con.execute(
        "INSERT INTO marts.fct_price_plan "
        "SELECT 'A', 'US', d, CASE WHEN d < DATE '2026-11-05' THEN 20 ELSE 25 END, NULL "
        "FROM (SELECT CAST(unnest(generate_series(DATE '2026-11-01', DATE '2026-11-10', "
        "INTERVAL 1 DAY)) AS DATE) AS d) "
        "UNION ALL SELECT 'Z', 'US', DATE '2026-11-01', 9, NULL "
        "UNION ALL SELECT 'B', 'DE', DATE '2026-11-02', NULL, 0.2 "
        "UNION ALL SELECT 'B', 'DE', DATE '2026-11-03', NULL, 0.2"
    )
    con.close()
    return paths


def demand_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku": ["A", "A", "B"],
            "marketplace": ["US", "US", "DE"],
            "demand_date": pd.to_datetime(["2026-10-30", "2026-10-31", "2026-10-31"]),
            "list_price_local": [20.0, 20.0, 12.0],
        }
    )


def test_the_plan_reads_planned_prices_and_promotions_day_by_day(paths):
    plan = future_plan(paths, demand_rows(), horizon_days=7).set_index(
        ["sku", "marketplace", "demand_date"]
    )
    a = plan.loc[("A", "US")]
    assert list(a.index) == list(pd.date_range("2026-11-01", "2026-11-07"))
    assert list(a["list_price_local"]) == [20, 20, 20, 20, 25, 25, 25]
    assert (a["discount_pct"] == 0).all()
    # B has no price list: its last list price holds, with the day's deepest discount.
    b = plan.loc[("B", "DE")]
    assert list(b.index) == list(pd.date_range("2026-11-02", "2026-11-03"))
    assert list(b["list_price_local"]) == [12, 12]
    assert list(b["discount_pct"]) == [0.2, 0.2]
    assert "Z" not in plan.index.get_level_values("sku")


def test_the_plan_covers_the_horizon_the_plan_mart_is_built_for(paths):
    # The mart covers plan_horizon_days() days after the history (a dbt var); a longer
    # horizon would silently lose its planned prices, so it is refused with the fix.
    assert plan_horizon_days() >= 52 * 7  # a year of weekly periods fits
    assert len(future_plan(paths, demand_rows(), horizon_days=plan_horizon_days())) == 12
    with pytest.raises(ValueError, match="raise the dbt var price_plan_horizon_days"):
        future_plan(paths, demand_rows(), horizon_days=plan_horizon_days() + 1)


def test_replicated_series_are_exactly_the_count_asked_for():
    demand = demand_rows()
    skus = pd.DataFrame({"sku": ["A", "B"], "category": ["x", "y"]})
    many, many_skus = replicate_series(demand, skus, 5)
    keys = many[["sku", "marketplace"]].drop_duplicates()
    assert len(keys) == 5
    assert set(keys["sku"]) <= set(many_skus["sku"])
    # each copy keeps its source's rows
    assert (many.groupby(["sku", "marketplace"]).size().sort_index().to_numpy() > 0).all()


def test_verdict_checks_each_target_and_says_when_it_cannot_tell():
    report = {
        "models": {
            "kuajing": {"wape": 0.9, "rmsse": 0.7, "wrmsse": 0.6, "coverage_p10_p90": 0.87,
                        "coverage_p10_p90_pit": 0.8, "wape_vs_oracle": 1.02,
                        "wape_vs_seasonal_naive": 0.8},
            "seasonal_naive": {"wape": 1.1, "rmsse": 0.9, "wrmsse": 0.9},
            "mlforecast": {"wape": 0.95, "rmsse": 0.65, "wrmsse": 0.7},
            # A reference, not a peer: its lower RMSSE does not count against Kuajing.
            "zero": {"wape": 1.0, "rmsse": 0.5, "wrmsse": 1.2},
        },
        "train_and_backtest_seconds": TARGETS["train_and_backtest_seconds_max"] + 1,
        "scoring": {"seconds": 10.0},
        "data": {"source": "built-in default scenario"},
        "kuajing_by_intermittency": {"smooth": {"wape": 0.31, "wape_mean": 0.3},
                                     "intermittent": {"wape": 0.9, "wape_mean": 1.1}},
    }  # fmt: skip
    v = verdict(report)
    assert v["wape_vs_oracle"] is True
    assert v["wape_vs_seasonal_naive"] is False
    assert v["coverage_pit"] is True
    assert v["coverage_share_of_actuals"] is False
    assert v["train_and_backtest_time"] is False
    assert v["scoring_time"] is True
    # The target reads M5's revenue-weighted RMSSE; the unweighted one is reported beside it.
    assert v["beats_every_baseline_and_peer"] is True
    assert v["lowest_unweighted_rmsse"] is False  # mlforecast's is lower
    # Where a median of 0 is not right (smooth series), the P50 must do as well as the mean.
    assert v["p50_no_worse_than_mean_on_smooth_series"] is False
    # On another data folder the default scenario's targets do not apply; calibration does.
    folder = verdict({**report, "data": {"source": "/data/online-retail"}})
    assert folder["train_and_backtest_time"] is None and folder["coverage_pit"] is True
    assert folder["wape_vs_seasonal_naive"] is None
    assert folder["beats_every_baseline_and_peer"] is True and folder["scoring_time"] is True
    report["models"]["mlforecast"]["wrmsse"] = 0.55
    assert verdict(report)["beats_every_baseline_and_peer"] is False
    del report["models"]["mlforecast"]["wrmsse"]
    assert verdict(report)["beats_every_baseline_and_peer"] is None  # cannot tell
    del report["models"]["kuajing"]["wape_vs_oracle"]
    assert verdict(report)["wape_vs_oracle"] is None


def test_the_served_forecast_is_judged_against_every_peer():
    report = {
        "models": {
            "kuajing": {"wape": 0.2, "wrmsse": 0.8, "coverage_p10_p90_pit": 0.8},
            "mlforecast": {"wape": 0.15, "wrmsse": 0.6},
            "seasonal_naive": {"wape": 0.3, "wrmsse": 1.0},
            "zero": {"wape": 1.0, "wrmsse": 0.1},  # a reference: not a peer
        },
        "train_and_backtest_seconds": 1.0,
        "scoring": {"seconds": 1.0},
        "data": {"source": "/data/rossmann"},
        "served": {"model": "mlforecast", "reason": "r",
                   "metrics": {"wape": 0.15, "wrmsse": 0.61}},
    }  # fmt: skip
    assert verdict(report)["beats_every_baseline_and_peer"] is False
    # served as mlforecast with NB quantiles: its P50's WAPE ties, its WRMSSE is a bit higher
    assert verdict(report)["served_no_worse_than_every_peer"] is False
    report["served"]["metrics"]["wrmsse"] = 0.6
    assert verdict(report)["served_no_worse_than_every_peer"] is True
    report["served"] = None
    assert verdict(report)["served_no_worse_than_every_peer"] is None


def test_the_printed_table_has_a_row_per_model_and_names_missed_targets():
    from ml.bench.forecast import format_table

    models = {
        "kuajing": {"wape": 0.9, "wape_mean": 1.05, "rmsse": 0.7, "bias": -0.04,
                    "pinball": 0.1, "coverage_p10_p90": 0.87, "coverage_p10_p90_pit": 0.79,
                    "fit_seconds": 30.0, "predict_seconds": 1.0},
        "seasonal_naive": {"wape": 1.1, "rmsse": 0.9, "bias": 0.01, "pinball": None,
                           "coverage_p10_p90": None, "fit_seconds": 0.0,
                           "predict_seconds": 0.01},
    }  # fmt: skip
    report = {
        "data": {"source": "built-in default scenario", "rows": 10, "n_series": 2,
                 "date_from": "2026-01-01",
                 "date_to": "2026-03-01"},
        "grain": "daily", "horizon": 28, "folds": 3, "cutoffs": ["2026-01-01"],
        "models": models, "backtest_seconds": 1.0, "final_fit_seconds": 1.0,
        "train_and_backtest_seconds": 2.0,
        "scoring": {"series": 10_000, "horizon": 28, "seconds": 5.0, "panel_seconds": 1.0,
                    "predict_seconds": 4.0},
    }  # fmt: skip
    report["models_by_dormancy"] = {
        "active": {"kuajing": {"wape_mean": 0.8, "rmsse": 0.6, "bias": -0.02}},
        "dormant": {"kuajing": {"wape_mean": 1.9, "rmsse": 0.35, "bias": 0.01}},
    }
    report["served"] = {"model": "kuajing", "reason": "Kuajing's model: no peer beats it",
                        "metrics": {"wape": 0.9, "coverage_p10_p90_pit": 0.79}}  # fmt: skip
    report["verdict"] = verdict(report)
    text = format_table(report)
    assert "A training run on this data serves kuajing: Kuajing's model: no peer" in text
    assert "as served: wape 0.9  coverage_p10_p90_pit 79.0%" in text
    assert "  dormant  kuajing                 wape_mean 1.900  rmsse 0.350  bias +0.010" in text
    assert " -0.040" in text and "87.0%" in text and "79.0%" in text and "1.050" in text
    assert [line.split()[0] for line in text.splitlines()[3:5]] == ["kuajing", "seasonal_naive"]
    assert "coverage_share_of_actuals MISSED" in text and "coverage_pit met" in text
    assert "scoring_time met" in text


def test_scoring_speed_forecasts_every_replicated_series_over_the_horizon():
    from ml.bench.forecast import scoring_speed
    from ml.forecast import ForecastConfig, build_panel, fit
    from ml.forecast.synthetic import synthetic_mart

    mart = synthetic_mart(n_skus=6, days=200)
    panel = build_panel(mart.demand, skus=mart.skus, marketplaces=mart.marketplaces)
    model = fit(panel=panel, config=ForecastConfig(max_rounds=20))
    figures = scoring_speed(model, mart.demand, mart.skus, mart.marketplaces, n_series=30)
    assert figures["series"] == 30
    assert figures["rows"] == 30 * model.horizon
    assert figures["seconds"] >= figures["predict_seconds"] > 0
