"""The whole pipeline on the small scenario, through a real Dagster instance and warehouse."""

import json
import subprocess
import sys

import dagster as dg
import duckdb
import pytest

from ml import contract
from ml.settings import PROJECT_ROOT, DataPaths

pytestmark = pytest.mark.slow

MARTS = (
    "fct_daily_demand",
    "dim_sku",
    "dim_marketplace",
    "mart_landed_cost",
    "mart_tariff_exposure",
    "mart_lane_performance",
    "mart_inventory_position",
)


@pytest.fixture(scope="module")
def warehouse(pipeline_run):
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def instance(pipeline_run):
    with dg.DagsterInstance.from_config(str(pipeline_run.data_dir / "dagster")) as inst:
        yield inst


def test_summary_says_what_was_built_and_where(pipeline_run):
    out = pipeline_run.output
    assert "Kuajing pipeline finished" in out
    for mart in MARTS:
        assert f"marts.{mart}" in out
    assert str(DataPaths(pipeline_run.data_dir).warehouse) in out


def test_every_mart_is_built_and_not_empty(warehouse):
    for mart in MARTS:
        rows = warehouse.execute(f"SELECT count(*) FROM marts.{mart}").fetchall()[0][0]
        assert rows > 0, mart


def test_rows_read_equal_rows_accepted_plus_quarantined(warehouse):
    log = warehouse.execute(
        "SELECT entity, sum(rows_read), sum(rows_accepted), sum(rows_quarantined), "
        "sum(rows_outside_partition) FROM quality.ingest_log GROUP BY entity"
    ).fetchall()
    assert {row[0] for row in log} >= {"orders", "catalog", "tariff_measures"}
    for entity, read, accepted, quarantined, outside in log:
        assert read == accepted + quarantined + outside, entity
        in_table = warehouse.execute(f"SELECT count(*) FROM raw.{entity}").fetchall()[0][0]
        in_quarantine = warehouse.execute(
            "SELECT count(*) FROM quality.quarantine WHERE entity = ? AND row_number IS NOT NULL",
            [entity],
        ).fetchall()[0][0]
        assert (in_table, in_quarantine) == (accepted, quarantined), entity


def test_quarantine_catches_exactly_the_injected_issues(pipeline_run, warehouse):
    from ml.simulator import GroundTruth

    injected = {
        k: v
        for k, v in GroundTruth.load(DataPaths(pipeline_run.data_dir).truth).injected_issues.items()
        if v
    }
    assert injected, "the small scenario should inject dirty rows"
    found = dict(
        warehouse.execute(
            "SELECT failed_rule, count(*) FROM quality.quarantine GROUP BY failed_rule"
        ).fetchall()
    )
    assert found == injected
    sample = warehouse.execute(
        "SELECT entity, source_file, row_number, reason, original_values "
        "FROM quality.quarantine LIMIT 1"
    ).fetchall()[0]
    assert sample[1] and sample[2] >= 1 and sample[3]
    assert isinstance(json.loads(sample[4]), dict)


def test_run_is_recorded_in_the_instance_with_passing_checks(instance):
    # The first run of a data folder trains a model too: there is no champion yet.
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="kuajing_pipeline_with_training"))
    assert runs and runs[0].status == dg.DagsterRunStatus.SUCCESS
    for mart in MARTS:
        assert instance.get_latest_materialization_event(dg.AssetKey(["marts", mart])), mart
    for asset in ("demand_forecast_model", "demand_forecast"):
        assert instance.get_latest_materialization_event(dg.AssetKey(["forecast", asset])), asset
    for entity in contract.ENTITY_NAMES:
        for check in ("contract_suite", "reconciliation"):
            key = dg.AssetCheckKey(dg.AssetKey(["raw", entity]), check)
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])
            evaluation = record[key].event.dagster_event.event_specific_data
            assert evaluation.passed, f"{entity}:{check}"


def test_rerunning_a_partition_does_not_duplicate_orders(pipeline_run, warehouse):
    day = warehouse.execute("SELECT max(CAST(order_date AS DATE)) FROM raw.orders").fetchall()[0][0]
    before = warehouse.execute("SELECT count(*) FROM raw.orders").fetchall()[0][0]
    warehouse.close()
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
         "orchestration.definitions", "--select", "raw/orders", "--partition", str(day)],
        cwd=PROJECT_ROOT, env=pipeline_run.env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        after = con.execute("SELECT count(*) FROM raw.orders").fetchall()[0][0]
        duplicates = con.execute(
            "SELECT count(*) FROM (SELECT order_id, sku FROM raw.orders "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert after == before
    assert duplicates == 0


def test_tariff_sensor_requests_a_refresh_when_a_file_arrives(pipeline_run):
    from orchestration.defs.ingest.sensors import tariff_files_sensor
    from orchestration.resources import KuajingResource

    resources = {"kuajing": KuajingResource(data_dir=str(pipeline_run.data_dir))}
    with dg.build_sensor_context(resources=resources) as context:
        first = tariff_files_sensor(context)
        assert isinstance(first, dg.SkipReason)
        cursor = context.cursor
    folder = DataPaths(pipeline_run.data_dir).raw_entity("tariff_measures")
    new_file = folder / "zz_new_measures.csv"
    new_file.write_text("measure_id\n")
    try:
        with dg.build_sensor_context(cursor=cursor, resources=resources) as context:
            request = tariff_files_sensor(context)
        assert isinstance(request, dg.RunRequest)
        assert "zz_new_measures.csv" in request.tags["kuajing/changed_tariff_files"]
    finally:
        new_file.unlink()
