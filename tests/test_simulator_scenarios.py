"""The scenarios that cover what the built-in seller does not: each generates, its data has the
property it is for, and its ground truth loads and reproduces the generator's daily mean.

- ``dense``: every listed day sells, hundreds of units a day, a strong weekly rhythm;
- ``weekly``: one order row per SKU, marketplace and Monday, which ingest accepts as it is;
- ``yearly``: summer products with a large yearly swing.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import contract
from ml.ingest import ingest_entity
from ml.settings import DataPaths
from ml.simulator import GroundTruth, available_scenarios, generate, load_scenario
from ml.simulator.engine import simulate
from ml.simulator.world import build_world

NEW = ("dense", "weekly", "yearly")


def _generate(tmp_path_factory, name: str, overrides: dict | None = None):
    paths = DataPaths(tmp_path_factory.mktemp(name))
    scenario = load_scenario(name, overrides)
    t0 = time.perf_counter()
    summary = generate(scenario, paths)
    return scenario, paths, summary, time.perf_counter() - t0


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    return _generate(tmp_path_factory, "dense")


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    return _generate(tmp_path_factory, "weekly")


@pytest.fixture(scope="module")
def yearly(tmp_path_factory):
    return _generate(tmp_path_factory, "yearly")


def _orders(paths: DataPaths) -> pd.DataFrame:
    files = sorted(paths.raw_entity("orders").glob("*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def _daily_units(paths: DataPaths, truth: GroundTruth, n_days: int) -> tuple[np.ndarray, ...]:
    """Units per listing (truth's order) and day, and whether the listing was listed then."""
    orders = _orders(paths)
    day = (
        pd.to_datetime(orders["order_date"]).dt.normalize() - pd.Timestamp(truth.day_zero)
    ).dt.days
    listings = truth.listings()
    row = pd.MultiIndex.from_frame(listings[["sku", "marketplace"]]).get_indexer(
        pd.MultiIndex.from_frame(orders[["sku", "marketplace"]])
    )
    units = np.zeros((len(listings), n_days))
    np.add.at(units, (row, day.to_numpy()), orders["quantity"].to_numpy())
    t = np.arange(n_days)
    listed = (t >= listings["listed_from"].to_numpy()[:, None]) & (
        t <= listings["discontinued"].to_numpy()[:, None]
    )
    return units, listed


def _truth_matches_the_daily_mean_sample(paths: DataPaths) -> GroundTruth:
    truth = GroundTruth.load(paths.truth)
    sample = pd.read_parquet(paths.truth / "daily_mean_sample.parquet")
    start = pd.Timestamp(truth.meta["history_start"])
    for (sku, mkt), g in sample.groupby(["sku", "marketplace"]):
        dates = start + pd.to_timedelta(g["day"], unit="D")
        np.testing.assert_allclose(
            truth.expected_demand(sku, mkt, dates), g["expected_units"], rtol=1e-9, atol=1e-12
        )
    return truth


def test_the_new_scenarios_are_listed_and_sized_for_benches():
    assert set(NEW) <= set(available_scenarios())
    for name in NEW:
        world = build_world(load_scenario(name))
        assert 200 <= len(world.series) <= 500, name
        assert 2 * 365 <= world.n_hist <= 3 * 366, name


def test_dense_sells_every_day_hundreds_of_units_with_a_weekly_rhythm(dense):
    scenario, paths, summary, seconds = dense
    assert seconds < 30
    assert summary.injected_issues == {r: 0 for r in summary.injected_issues}
    truth = _truth_matches_the_daily_mean_sample(paths)
    assert truth.weekly_strength == 4
    units, listed = _daily_units(paths, truth, scenario.n_days)
    assert (units[listed] == 0).mean() < 0.02  # only stock-outs (new listings before stock)
    assert np.median(units[listed]) >= 150
    assert np.quantile(units[listed], 0.9) >= 600
    # One order row per listing and day.
    orders = _orders(paths)
    assert not orders.duplicated(["sku", "marketplace", "order_date"]).any()
    assert orders["order_id"].str.match(r"^D-\d{4}-\d{2}-\d{2}-KJ-").all()
    # Strong weekly seasonality: the best weekday sells far more than the worst.
    dow = pd.date_range(scenario.history_start, periods=scenario.n_days).day_of_week.to_numpy()
    by_dow = pd.Series(units.sum(axis=0)).groupby(dow).mean()
    assert by_dow.max() / by_dow.min() > 1.8
    # The built-in seller's rhythm is mild (so the knob is what makes it strong).
    assert load_scenario("default").weekly_strength == 1.0


def test_weekly_rows_are_one_per_listing_and_monday_and_ingest_accepts_them(weekly, tmp_path):
    scenario, paths, summary, seconds = weekly
    assert seconds < 30
    orders = _orders(paths)
    dates = pd.to_datetime(orders["order_date"])
    assert (dates.dt.day_of_week == 0).all() and (dates == dates.dt.normalize()).all()
    assert dates.min() == pd.Timestamp(scenario.history_start)
    assert dates.max() == pd.Timestamp(scenario.history_end - timedelta(days=6))
    assert not orders.duplicated(["sku", "marketplace", "order_date"]).any()
    assert (orders["quantity"] > 0).all()
    assert len(orders) == summary.rows["orders"]
    _truth_matches_the_daily_mean_sample(paths)

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        run_date = scenario.history_end + timedelta(days=1)
        for name in contract.ingest_order():
            result = ingest_entity(con, paths.raw, name, run_id="weekly", run_date=run_date)
            assert result.rows_quarantined == 0, (name, result.quarantined_by_rule)
            if name == "orders":
                assert result.rows_accepted == len(orders)
    finally:
        con.close()


def test_weekly_rows_are_the_daily_rows_summed_by_week():
    # The same seller with daily rows: the weekly file is its days summed Monday to Sunday.
    short = {"n_skus": 8, "history_start": "2026-06-01", "history_end": "2026-09-27"}
    world = build_world(load_scenario("weekly", short))
    weekly = simulate(world).table("orders").to_pandas()
    daily = simulate(build_world(load_scenario("weekly", {**short, "order_rows": "daily"})))
    d = daily.table("orders").to_pandas()
    day = pd.to_datetime(d["order_date"])
    d["week"] = day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    d["revenue"] = d["quantity"] * d["unit_price"]
    by_week = d.groupby(["week", "sku", "marketplace"], as_index=False)[
        ["quantity", "revenue"]
    ].sum()
    got = weekly.rename(columns={"order_date": "week"}).merge(
        by_week, on=["week", "sku", "marketplace"], how="outer", suffixes=("", "_daily")
    )
    assert len(got) == len(weekly) == len(by_week)
    assert (got["quantity"] == got["quantity_daily"]).all()
    np.testing.assert_allclose(got["quantity"] * got["unit_price"], got["revenue"], atol=0.01)


def test_a_weekly_scenario_needs_whole_weeks():
    with pytest.raises(ValueError, match="Monday"):
        load_scenario("weekly", {"history_start": "2023-11-07"})
    with pytest.raises(ValueError, match="order_rows"):
        load_scenario("small", {"order_rows": "monthly"})


def test_yearly_has_a_large_summer_swing(yearly):
    scenario, paths, summary, seconds = yearly
    assert seconds < 30
    truth = _truth_matches_the_daily_mean_sample(paths)
    assert (truth.listings()["profile_key"].isin(["summer", "summer_south"])).all()
    units, _ = _daily_units(paths, truth, scenario.n_days)
    days = pd.date_range(scenario.history_start, periods=scenario.n_days)
    market = truth.listings()["marketplace"].to_numpy()
    for south, peak_months in ((False, {6, 7, 8}), (True, {12, 1, 2})):
        rows = (market == "AU") if south else (market != "AU")
        per_month = pd.Series(units[rows].sum(axis=0), index=days).groupby(days.month).mean()
        assert per_month.idxmax() in peak_months, (south, per_month.round(1).to_dict())
        assert per_month.max() / per_month.min() > 5, (south, per_month.round(1).to_dict())
    # The built-in seller's yearly swing is mild by comparison.
    default = load_scenario("default")
    assert default.seasonal_profile is None and default.season_strength_range == (0.5, 1.5)


def test_the_new_knobs_are_validated_and_written_only_when_set():
    for bad in (
        {"nb_size_range": [0, 10]},
        {"nb_size_range": [5, 1]},
        {"season_strength_range": [1, 9]},
        {"weekly_strength": -1},
        {"seasonal_profile": "monsoon"},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            load_scenario("small", bad)
    assert "order_rows" not in load_scenario("default").to_dict()
    written = load_scenario("dense").to_dict()
    assert written["order_rows"] == "daily" and written["nb_size_range"] == [15.0, 60.0]
    assert date.fromisoformat(written["history_start"]) == load_scenario("dense").history_start
