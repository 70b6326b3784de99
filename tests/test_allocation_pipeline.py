"""Allocation in the whole pipeline (the small scenario, a real Dagster instance and warehouse):
the plan never ships more than the hub holds, in whole cases, to each listing's own warehouse."""

from datetime import date

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml.allocation.nightly import EXPORT_COLUMNS
from ml.settings import DataPaths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tables(pipeline_run):
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        yield {
            "plan": con.execute("SELECT * FROM allocation.allocation_plan").fetch_df(),
            "stock": con.execute("SELECT * FROM marts.mart_inventory_position").fetch_df(),
            "warehouses": con.execute("SELECT * FROM staging.stg_raw__warehouses").fetch_df(),
            "lanes": con.execute("SELECT * FROM staging.stg_raw__lanes").fetch_df(),
            "skus": con.execute("SELECT * FROM marts.dim_sku").fetch_df(),
        }
    finally:
        con.close()


def test_the_plan_ships_what_the_hub_holds_to_each_listings_own_warehouse(tables):
    plan, stock = tables["plan"], tables["stock"]
    assert len(plan) > 0 and set(plan["mode"]) <= {"ocean", "rail", "air", "express"}
    assert (plan["quantity"] > 0).all()
    assert (plan["quantity"] == plan["cases"] * plan["units_per_case"]).all()
    hub = stock[stock["warehouse_type"] == "hub"].set_index("sku")["on_hand"]
    shipped = plan.groupby("sku")["quantity"].sum()
    assert (shipped <= hub.reindex(shipped.index)).all()
    own = tables["warehouses"].dropna(subset=["marketplace"]).set_index("marketplace")
    assert (
        plan["destination_warehouse"] == own.loc[plan["marketplace"], "warehouse_id"].values
    ).all()
    # an ocean shipment tops a listing up towards its target, not beyond it
    ocean = plan[plan["mode"] == "ocean"]
    assert (
        ocean["position"] + ocean["quantity"] <= ocean["target_level"] + ocean["units_per_case"]
    ).all()
    assert plan["stockout_probability_before_arrival"].between(0, 1).all()
    # nothing lands after its SKU's last day of sale
    ends = tables["skus"].set_index("sku")["discontinued_date"]
    end = pd.to_datetime(plan["sku"].map(ends))
    assert (pd.to_datetime(plan["expected_arrival"])[end.notna()] <= end[end.notna()]).all()


def test_the_daily_variance_is_the_forecasts_negative_binomial(pipeline_run):
    """Each listing's daily variance is its forecast rows' negative-binomial variance (mean +
    mean^2 / size) over the rate days, as the benchmark plans with, not the P10-P90 spread; its
    days seen in stock (which widen its windows) are counted from the demand mart."""
    from ml.allocation.nightly import RATE_DAYS, listing_inputs
    from ml.allocation.plan import LEVEL_DAYS

    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        rows = listing_inputs(con)
        fc = con.execute("SELECT * FROM forecast.demand_forecast").fetch_df()
        demand = con.execute("SELECT * FROM marts.fct_daily_demand").fetch_df()
    finally:
        con.close()
    # the level's error is judged on the in-stock days of the last LEVEL_DAYS
    start = demand["demand_date"].max() - pd.Timedelta(days=LEVEL_DAYS)
    recent = demand[demand["demand_date"] > start]
    seen = (~recent["is_censored"]).groupby([recent["sku"], recent["marketplace"]]).sum()
    days_seen = rows.set_index(["sku", "marketplace"])["days_seen"]
    assert (days_seen == seen.reindex(days_seen.index).fillna(0)).all()
    assert days_seen.between(0, LEVEL_DAYS).all() and (days_seen > 0).mean() > 0.8
    assert fc["nb_size"].notna().all() and (fc["nb_size"] > 0).all()
    first = fc[fc["date"] < fc["date"].min() + pd.Timedelta(days=RATE_DAYS)]
    var = first["mean"] + first["mean"] ** 2 / first["nb_size"]
    want = var.groupby([first["sku"], first["marketplace"]]).sum() / RATE_DAYS
    got = rows.set_index(["sku", "marketplace"])["daily_var"]
    assert got.to_numpy() == pytest.approx(want.reindex(got.index).fillna(0).to_numpy())
    spread = ((first["p90"] - first["p10"]) / 2.5631) ** 2
    spread = spread.groupby([first["sku"], first["marketplace"]]).sum() / RATE_DAYS
    assert (got > spread.reindex(got.index).fillna(0) + 1e-9).any()  # the two differ here


def test_a_forecast_without_sizes_takes_its_variance_from_the_p10_p90_spread(
    pipeline_run, tmp_path
):
    """An older champion stores no nb_size: its rows' variance is read from their spread."""
    import shutil

    from ml.allocation.nightly import RATE_DAYS, Z_P10_P90, listing_inputs

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(DataPaths(pipeline_run.data_dir).warehouse, warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("UPDATE forecast.demand_forecast SET nb_size = NULL")
        rows = listing_inputs(con)
        fc = con.execute("SELECT * FROM forecast.demand_forecast").fetch_df()
    finally:
        con.close()
    first = fc[fc["date"] < fc["date"].min() + pd.Timedelta(days=RATE_DAYS)]
    spread = ((first["p90"] - first["p10"]) / Z_P10_P90) ** 2
    want = spread.groupby([first["sku"], first["marketplace"]]).sum() / RATE_DAYS
    got = rows.set_index(["sku", "marketplace"])["daily_var"]
    assert got.to_numpy() == pytest.approx(want.reindex(got.index).fillna(0).to_numpy())
    assert (got > 0).any()


def test_ocean_shipments_leave_on_their_lanes_next_sailing_and_surges_now(pipeline_run, tables):
    plan = tables["plan"]
    lanes = tables["lanes"].set_index("lane_id")
    # each line names the lane it takes: to its own warehouse, by its mode
    assert (
        lanes.loc[plan["lane_id"], "destination_warehouse_id"].values
        == plan["destination_warehouse"]
    ).all()
    assert (lanes.loc[plan["lane_id"], "mode"].values == plan["mode"]).all()
    ship_by = pd.to_datetime(plan["ship_by"])
    ocean = (plan["mode"] == "ocean").to_numpy()
    assert ocean.any() and (ship_by[ocean].dt.weekday == 0).all()  # the sailing weekday
    first = ship_by.min()
    assert (ship_by[~ocean] == first).all() and (ship_by[ocean] - first).dt.days.between(
        0, 34
    ).all()
    # a lane sails once a week at most: its lines leave on one date
    assert (plan[ocean].groupby("lane_id")["ship_by"].nunique() == 1).all()


def test_the_export_is_an_inbound_shipment_plan(pipeline_run, tables):
    csv = DataPaths(pipeline_run.data_dir).out / "allocation" / "inbound_shipment_plan.csv"
    export = pd.read_csv(csv)
    assert list(export.columns) == list(EXPORT_COLUMNS.values())
    assert len(export) == len(tables["plan"])
    assert "Shipments (allocation.allocation_plan" in pipeline_run.output


def test_the_asset_shows_units_by_mode_a_plot_and_a_preview(pipeline_run):
    with dg.DagsterInstance.from_config(str(pipeline_run.data_dir / "dagster")) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["allocation", "allocation_plan"])
        )
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert {
        "units_by_mode",
        "plot",
        "preview",
        "csv",
        "listings_at_risk",
        "surges_held",
        "next_sailing_by_marketplace",
    } <= set(metadata)
    sailings = metadata["next_sailing_by_marketplace"].value
    assert sailings and all(date.fromisoformat(d).weekday() == 0 for d in sailings.values())
    assert "data:image/png;base64," in str(metadata["plot"].value)


def test_the_restock_plan_and_days_of_supply_cover_every_sku_and_listing(pipeline_run, tables):
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        orders = con.execute("SELECT * FROM allocation.restock_plan").fetch_df()
        supply = con.execute("SELECT * FROM allocation.days_of_supply").fetch_df()
    finally:
        con.close()
    assert len(orders) > 0 and (orders["order_quantity"] >= 0).all()
    assert (orders["order_quantity"] % orders["units_per_case"] == 0).all()
    ordered = orders[orders["order_quantity"] > 0]
    assert (
        ordered["position"] + ordered["order_quantity"]
        >= ordered["target_level"] - ordered["units_per_case"]
    ).all()
    market = tables["stock"][tables["stock"]["warehouse_type"] == "market"]
    assert len(supply) == len(market)
    rated = supply.dropna(subset=["days_of_supply"])
    assert (rated["at_risk"] == (rated["days_of_supply"] < 28)).all()
    folder = DataPaths(pipeline_run.data_dir).out / "allocation"
    assert (folder / "restock_plan.csv").exists() and (folder / "days_of_supply.csv").exists()


def test_risk_alerts_each_say_why_and_what_to_do(pipeline_run):
    from ml.alerts.rules import ALERT_COLUMNS

    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        alerts = con.execute("SELECT * FROM alerts.risk_alerts").fetch_df()
    finally:
        con.close()
    assert len(alerts) > 0 and set(ALERT_COLUMNS) <= set(alerts)
    assert "Alerts (alerts.risk_alerts" in pipeline_run.output
    assert set(alerts["severity"]) <= {"high", "medium", "low"}
    assert (alerts["explanation"].str.len() > 10).all()
    assert (alerts["suggested_action"].str.len() > 10).all()
    export = pd.read_csv(DataPaths(pipeline_run.data_dir).out / "alerts" / "risk_alerts.csv")
    assert len(export) == len(alerts)
    with dg.DagsterInstance.from_config(str(pipeline_run.data_dir / "dagster")) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["alerts", "risk_alerts"]))
    assert event is not None and event.asset_materialization is not None
    assert "by_type_and_severity" in event.asset_materialization.metadata
