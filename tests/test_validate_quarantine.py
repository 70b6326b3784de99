"""`kuajing validate` (the contract on a folder, no run) and `kuajing quarantine` (list and
export what a run quarantined), through the real CLI."""

from __future__ import annotations

import json

import duckdb
import ingest_fixtures as fx
import pandas as pd
import pytest
from click.testing import CliRunner

from ml.cli import main
from ml.ingest import ingest_entity
from ml.settings import DataPaths


@pytest.fixture
def seller(tmp_path) -> DataPaths:
    """A data folder with a catalog and orders, two orders bad."""
    paths = DataPaths(tmp_path / "seller")
    fx.write_csv(paths.raw, "catalog", fx.valid_rows("catalog"))
    rows = fx.valid_rows("orders")
    bad_price = {**rows[0], "order_id": "BAD1", "unit_price": "-3"}
    bad_sku = {**rows[0], "order_id": "BAD2", "sku": "NOPE"}
    fx.write_csv(paths.raw, "orders", [*rows, bad_price, bad_sku], name="2025-06.csv")
    return paths


def run(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_validate_reports_accepted_and_quarantined_without_a_warehouse(seller, tmp_path):
    code, out = run("validate", str(seller.root), "--json", str(tmp_path / "v.json"))
    assert code == 0, out
    figures = {e["entity"]: e for e in json.loads((tmp_path / "v.json").read_text())["entities"]}
    n = len(fx.valid_rows("orders"))
    assert (figures["orders"]["accepted"], figures["orders"]["quarantined"]) == (n, 2)
    assert figures["orders"]["by_rule"] == "out_of_range 1, orphan_reference 1"
    assert figures["promotions"]["state"] == "absent"
    assert "orders/2025-06.csv row 5: out_of_range: unit_price '-3' is out of range" in out
    assert "sku 'NOPE' is not in catalog" in out
    assert not seller.warehouse.exists()  # nothing written


def test_validate_exits_non_zero_naming_an_unreadable_file(seller):
    frame = pd.DataFrame(fx.valid_rows("orders")).drop(columns=["order_date"])
    frame.to_csv(seller.raw_entity("orders") / "no_date.csv", index=False)
    code, out = run("validate", str(seller.raw))  # the raw folder itself works too
    assert code == 1
    assert "error: raw/orders/no_date.csv: missing required column(s) order_date" in out


def test_validate_without_orders_fails(tmp_path):
    fx.write_csv(tmp_path / "raw", "catalog", fx.valid_rows("catalog"))
    code, out = run("validate", str(tmp_path))
    assert code == 1 and "orders is required" in out


def ingested(paths: DataPaths) -> None:
    con = duckdb.connect(str(paths.warehouse))
    for entity in ("catalog", "orders"):
        ingest_entity(con, paths.raw, entity, run_id="r1", run_date=fx.RUN_DATE)
    con.close()


def test_quarantine_lists_and_exports_rows_to_fix(seller, tmp_path):
    ingested(seller)
    code, out = run("quarantine", "--data-dir", str(seller.root))
    assert code == 0, out
    assert "| orders   | orphan_reference |" in out
    assert "orders: orders/2025-06.csv row 6: orphan_reference: sku 'NOPE' is not in catalog" in out

    export = tmp_path / "fix" / "orders.csv"
    code, out = run("quarantine", "--data-dir", str(seller.root), "--entity", "orders",
                    "--export", str(export))  # fmt: skip
    assert code == 0 and "Wrote 2 rows" in out
    sheet = pd.read_csv(export, dtype=str)
    assert list(sheet["row_number"]) == ["5", "6"]
    assert list(sheet["value: order_id"]) == ["BAD1", "BAD2"]
    assert list(sheet["value: unit_price"])[0] == "-3"

    code, out = run("quarantine", "--data-dir", str(seller.root), "--rule", "out_of_range")
    assert "BAD1" not in out and "row 5: out_of_range" in out and "row 6" not in out


def test_quarantine_errors_are_one_line(seller):
    code, out = run("quarantine", "--data-dir", str(seller.root))
    assert code == 1 and "no warehouse at" in out and "kuajing validate" in out
    code, out = run("quarantine", "--data-dir", str(seller.root), "--entity", "order")
    assert code == 2 or code == 1
    assert "unknown entity 'order'" in out
