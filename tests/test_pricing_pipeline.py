"""Pricing in the whole pipeline (the small scenario, a real Dagster instance and warehouse):
elasticities, recommendations inside their guardrails, the exports a marketplace takes."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml.pricing.nightly import AMAZON_COLUMNS, DEFAULT_HORIZON_DAYS
from ml.settings import DataPaths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tables(pipeline_run):
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        yield {
            name: con.execute(f"SELECT * FROM {name}").fetch_df()
            for name in (
                "pricing.price_elasticities",
                "pricing.price_recommendations",
                "forecast.demand_forecast",
            )
        }
    finally:
        con.close()


def test_every_forecast_listing_is_priced_for_the_coming_week(tables):
    recs, forecast = tables["pricing.price_recommendations"], tables["forecast.demand_forecast"]
    listings = forecast[["sku", "marketplace"]].drop_duplicates()
    assert len(recs) == len(listings) * DEFAULT_HORIZON_DAYS
    assert recs["date"].nunique() == DEFAULT_HORIZON_DAYS
    assert set(recs["status"]) <= {"changed", "kept", "paused"}


def test_recommended_prices_stay_inside_their_guardrails(tables):
    recs = tables["pricing.price_recommendations"]
    live = recs[recs["status"] != "paused"]
    assert (live["recommended_price"] >= live["min_allowed_price"] - 1e-9).all()
    assert (live["recommended_price"] <= live["max_allowed_price"] + 1e-9).all()
    # the margin floor: what the seller keeps of the price covers landed cost
    assert (live["profit_recommended"] >= -1e-9).all()
    # a changed price differs from the day before by at least 1 %
    changed = live[live["status"] == "changed"]
    assert ((changed["recommended_price"] / changed["previous_price"] - 1).abs() >= 0.0099).all()


def test_elasticities_are_labelled_and_never_positive(tables):
    est = tables["pricing.price_elasticities"]
    assert set(est["status"]) <= {"identified", "pooled"}
    assert (est["elasticity"] <= 0).all()
    recs = tables["pricing.price_recommendations"]
    assert recs["elasticity_used"].notna().all()


def test_exports_are_what_a_marketplace_and_a_spreadsheet_take(pipeline_run, tables):
    folder = DataPaths(pipeline_run.data_dir).out / "prices"
    recs = tables["pricing.price_recommendations"]
    first = recs[recs["date"] == recs["date"].min()]
    for market, part in first.groupby("marketplace"):
        amazon = pd.read_csv(folder / f"{market}_price_quantity.txt", sep="\t")
        assert list(amazon.columns) == list(AMAZON_COLUMNS.values())
        assert set(amazon["sku"]) == set(part.loc[part["status"] == "changed", "sku"])
    generic = pd.read_csv(folder / "price_recommendations.csv")
    assert len(generic) == len(recs)
    assert {"currency", "effective_date", "recommended_price", "reason_codes"} <= set(generic)


def test_the_run_reports_the_prices_and_their_guardrails(pipeline_run):
    out = pipeline_run.output
    assert "Prices (pricing.price_recommendations, out/prices/)" in out
    assert "guardrails without seller rules: strategy optimize" in out


def test_the_asset_shows_counts_a_plot_and_a_preview(pipeline_run):
    with dg.DagsterInstance.from_config(str(pipeline_run.data_dir / "dagster")) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["pricing", "price_recommendations"])
        )
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert {"by_status", "by_guardrail", "by_reason", "plot", "preview", "rules"} <= set(metadata)
    assert {"pass_through", "cost_driven_changes", "cost_driven_preview"} <= set(metadata)
    assert "data:image/png;base64," in str(metadata["plot"].value)


def test_prices_come_from_the_registered_price_response(pipeline_run):
    from ml.pricing.registry import MODEL
    from ml.registry import TrackingStore
    from ml.registry.versions import current_champion

    store = TrackingStore.from_paths(DataPaths(pipeline_run.data_dir))
    champion = current_champion(store, MODEL)
    assert champion is not None
    with dg.DagsterInstance.from_config(str(pipeline_run.data_dir / "dagster")) as instance:
        event = instance.get_latest_materialization_event(
            dg.AssetKey(["pricing", "price_recommendations"])
        )
    assert event is not None and event.asset_materialization is not None
    used = event.asset_materialization.metadata["price_response_version"].value
    assert used == champion.version


def test_tonights_prices_are_the_next_runs_planned_prices(pipeline_run, tmp_path):
    """The loop: the next run's pricing/planned_prices reads the published export, and the
    price plan the forecast reads plans those prices on their days. On a copy of the run."""
    import shutil
    import subprocess
    import sys

    from ml.settings import PROJECT_ROOT

    data = tmp_path / "data"
    shutil.copytree(pipeline_run.data_dir, data, ignore=shutil.ignore_patterns("*.lock"))
    env = {**pipeline_run.env, "KUAJING_DATA_DIR": str(data), "DAGSTER_HOME": str(data / "dagster")}
    dagster = str(PROJECT_ROOT / ".venv" / "bin" / "dagster")
    if not (PROJECT_ROOT / ".venv" / "bin" / "dagster").exists():
        dagster = str(sys.executable).replace("python", "dagster")
    proc = subprocess.run(
        [dagster, "asset", "materialize", "-m", "orchestration.definitions",
         "--select", "pricing/planned_prices,marts/fct_price_plan"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    published = pd.read_csv(data / "out" / "prices" / "price_recommendations.csv")
    con = duckdb.connect(str(DataPaths(data).warehouse), read_only=True)
    try:
        plan = con.execute(
            "select sku, marketplace, demand_date, list_price_local from marts.fct_price_plan "
            "where price_source = 'published'"
        ).fetch_df()
        stored = con.execute("select count(*) from pricing.planned_prices").fetchone()
    finally:
        con.close()
    assert stored is not None and stored[0] == len(published)
    expected = published.assign(demand_date=pd.to_datetime(published["effective_date"]))
    merged = plan.assign(demand_date=pd.to_datetime(plan["demand_date"])).merge(
        expected, on=["sku", "marketplace", "demand_date"]
    )
    assert len(merged) == len(plan) == len(published)  # every published day is in the plan
    assert (merged["list_price_local"] - merged["recommended_price"]).abs().max() < 1e-9
