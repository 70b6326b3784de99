"""The Dagster definitions load, and their shape matches the committed snapshot."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.ingest.sensors import changed_files, tariff_file_fingerprint
from orchestration.settings import orders_partitions, schedule_timezone

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE_ENV = "KUAJING_UPDATE_SNAPSHOTS"


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    os.environ.setdefault("KUAJING_DATA_DIR", str(tmp_path_factory.mktemp("defs-data")))
    from orchestration.definitions import defs

    return defs().get_repository_def()


def shape(repository) -> dict:
    graph = repository.asset_graph
    return {
        "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
        "asset_checks": sorted(
            f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys
        ),
        "jobs": sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(s.name for s in repository.schedule_defs),
        "sensors": sorted(s.name for s in repository.sensor_defs),
    }


def test_definitions_match_snapshot(repository):
    current = shape(repository)
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        f"The definitions changed; if that is intended, rerun with {UPDATE_ENV}=1 and commit "
        f"{SNAPSHOT.name}."
    )


def test_every_mart_is_downstream_of_orders(repository):
    graph = repository.asset_graph
    downstream = graph.get(dg.AssetKey(["raw", "orders"])).child_keys
    assert dg.AssetKey(["staging", "stg_raw__orders"]) in downstream
    marts = {k for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    stems = {
        "fct_daily_demand",
        "dim_sku",
        "dim_marketplace",
        "mart_landed_cost",
        "mart_tariff_exposure",
        "mart_lane_performance",
        "mart_inventory_position",
    }
    assert stems <= {k.path[-1] for k in marts}


def test_nightly_schedule_runs_yesterday_at_two(repository):
    schedule = repository.get_schedule_def("nightly_pipeline")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.job_name == "kuajing_pipeline"


def test_orders_are_daily_partitions_with_single_run_backfill(repository):
    orders = repository.asset_graph.get(dg.AssetKey(["raw", "orders"]))
    assert orders.partitions_def == orders_partitions()
    assert orders.backfill_policy == dg.BackfillPolicy.single_run()


def test_timezone_is_configurable_and_checked(monkeypatch):
    monkeypatch.setenv("KUAJING_TIMEZONE", "Asia/Shanghai")
    assert schedule_timezone() == "Asia/Shanghai"
    assert orders_partitions().timezone == "Asia/Shanghai"
    monkeypatch.setenv("KUAJING_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        schedule_timezone()


def test_tariff_fingerprint_notices_added_changed_and_removed_files(tmp_path):
    folder = tmp_path / "tariff_measures"
    assert tariff_file_fingerprint(folder) == {}
    folder.mkdir()
    (folder / "a.csv").write_text("x\n1\n")
    (folder / "notes.txt").write_text("ignored")
    first = tariff_file_fingerprint(folder)
    assert list(first) == ["a.csv"]
    (folder / "b.parquet").write_bytes(b"PAR1")
    (folder / "a.csv").write_text("x\n1\n2\n")
    second = tariff_file_fingerprint(folder)
    assert changed_files(first, second) == ["a.csv", "b.parquet"]
    (folder / "a.csv").unlink()
    assert changed_files(second, tariff_file_fingerprint(folder)) == ["a.csv"]
    assert changed_files(second, second) == []
    (folder / "2026").mkdir()
    (folder / "2026" / "c.csv").write_text("x\n1\n")  # a subfolder is read by ingest too
    assert changed_files(second, tariff_file_fingerprint(folder)) == ["2026/c.csv", "a.csv"]


def test_the_forecast_declares_every_mart_it_reads(repository):
    graph = repository.asset_graph
    parents = graph.get(dg.AssetKey(["forecast", "demand_forecast"])).parent_keys
    assert {
        dg.AssetKey(["marts", name])
        for name in ("fct_daily_demand", "dim_sku", "dim_marketplace", "fct_price_plan")
    } <= parents
