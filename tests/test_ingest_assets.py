"""The ingest assets through a real (ephemeral) Dagster instance: what a partition run touches."""

import datetime as dt

import dagster as dg
import duckdb
import ingest_fixtures as fx

from ml import contract
from ml.settings import DataPaths
from orchestration.defs.ingest.assets import build_ingest_asset
from orchestration.resources import KuajingResource


def order_rows(day: dt.date, n: int, prefix: str) -> list[dict[str, str]]:
    return [
        {
            "order_id": f"{prefix}{i}",
            "order_date": f"{day.isoformat()} 10:00",
            "marketplace": "US",
            "sku": "SKU1",
            "quantity": "1",
            "unit_price": "9.99",
            "currency": "USD",
        }
        for i in range(n)
    ]


def materialize_orders(data_dir, partition: str | None = None, key_range=None):
    asset = build_ingest_asset(contract.entity("orders"))
    resources = {"kuajing": KuajingResource(data_dir=str(data_dir), run_date="2026-11-30")}
    tags = {}
    if key_range:
        tags = {
            "dagster/asset_partition_range_start": key_range[0],
            "dagster/asset_partition_range_end": key_range[1],
        }
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], partition_key=partition, tags=tags, resources=resources, instance=instance
        )
    assert result.success


def counts_by_month(data_dir) -> dict[str, int]:
    con = duckdb.connect(str(DataPaths(data_dir).warehouse), read_only=True)
    try:
        rows = con.execute(
            "SELECT strftime(order_date, '%Y-%m'), count(*) FROM raw.orders GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def test_a_single_partition_run_keeps_the_history_of_removed_files(tmp_path):
    raw = DataPaths(tmp_path).raw
    september = fx.write_csv(raw, "orders", order_rows(dt.date(2026, 9, 15), 5, "S"), "2026-09.csv")
    fx.write_csv(raw, "orders", order_rows(dt.date(2026, 10, 31), 3, "O"), "2026-10.csv")
    materialize_orders(tmp_path, key_range=("2026-09-01", "2026-10-31"))
    assert counts_by_month(tmp_path) == {"2026-09": 5, "2026-10": 3}

    # The seller drops only the newest export: September's file is gone from raw/orders/.
    september.unlink()
    fx.write_csv(raw, "orders", order_rows(dt.date(2026, 10, 31), 4, "O"), "2026-10.csv")
    materialize_orders(tmp_path, partition="2026-10-31")
    assert counts_by_month(tmp_path) == {"2026-09": 5, "2026-10": 4}


def test_the_quarantine_check_shows_sample_failing_rows(tmp_path):
    raw = DataPaths(tmp_path).raw
    rows = order_rows(dt.date(2026, 10, 31), 3, "O")
    rows[1]["quantity"] = "-2"
    fx.write_csv(raw, "orders", rows, "2026-10.csv")
    asset = build_ingest_asset(contract.entity("orders"))
    resources = {"kuajing": KuajingResource(data_dir=str(tmp_path), run_date="2026-11-30")}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], partition_key="2026-10-31", resources=resources, instance=instance
        )
    [check] = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "no_quarantined_rows"
    ]
    assert not check.passed
    sample = check.metadata["sample_rows"].value
    assert "orders/2026-10.csv" in sample and "quantity '-2' is out of range" in sample


def test_a_failing_step_is_reported_with_its_asset_and_error(tmp_path):
    from orchestration.run import run_problems

    raw = DataPaths(tmp_path).raw
    rows = order_rows(dt.date(2026, 10, 31), 2, "O")
    fx.write_csv(raw, "orders", rows, "good.csv")
    fx.write_csv(raw, "orders", [{k: v for k, v in r.items() if k != "sku"} for r in rows],
                 "no sku.csv")  # fmt: skip
    asset = build_ingest_asset(contract.entity("orders"))
    resources = {"kuajing": KuajingResource(data_dir=str(tmp_path), run_date="2026-11-30")}
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [asset], partition_key="2026-10-31", resources=resources, instance=instance,
            raise_on_error=False,
        )  # fmt: skip
        assert not result.success
        problems = run_problems(instance, result.run_id)
    assert problems == [
        "  raw__orders failed: raw/orders/no sku.csv: missing required column(s) sku; "
        "the file has: order_id, order_date, marketplace, quantity, unit_price, currency"
    ]
