"""The corpus importers (Rossmann, pasta sales, avocado, Breakfast at the Frat): the shared shaping
on hand-made frames and files, then each real dataset against counts computed from the source
with pandas, independently of the importer.

The real files are read in place from ``../shared/data/<dataset>/`` (never copied into the repo);
those tests are skipped, saying so, where that folder is absent. The full imports of the two large
datasets and the test that builds a warehouse with dbt are marked slow.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA

from ml import contract
from ml.cli import main
from ml.importers import common
from ml.importers.avocado import import_avocado
from ml.importers.breakfast_at_the_frat import import_breakfast_at_the_frat
from ml.importers.common import DatasetReport
from ml.importers.pasta_sales import import_pasta_sales
from ml.importers.rossmann import import_rossmann
from ml.ingest import ingest_entity
from ml.settings import DBT_PROJECT_DIR, DataPaths, dbt_env, dbt_executable

RUN_DATE = dt.date(2026, 1, 1)
D = pd.Timestamp


def needs(folder: str):
    path = SHARED_DATA / folder
    return pytest.mark.skipif(not path.is_dir(), reason=f"shared dataset not found at {path}")


def written(paths: DataPaths, entity: str) -> pd.DataFrame:
    folder = paths.raw_entity(entity)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else None


def ingest_without_quarantine(paths: DataPaths) -> dict[str, int]:
    """Every entity through the project's own ingest, in reference order, into an in-memory
    DuckDB: nothing quarantined, every file reconciles. Rows accepted per entity present."""
    con = duckdb.connect()
    accepted = {}
    try:
        for name in contract.ingest_order():
            result = ingest_entity(con, paths.raw, name, run_id="corpus", run_date=RUN_DATE)
            if not result.present:
                continue
            assert result.rows_quarantined == 0, result.summary()
            assert result.reconciles and not result.extra_columns, name
            accepted[name] = result.rows_accepted
        assert con.execute("SELECT count(*) FROM quality.quarantine").fetchone() == (0,)
    finally:
        con.close()
    return accepted


def opening_stock(inventory: pd.DataFrame, days: pd.DataFrame) -> np.ndarray:
    """The demand mart's rule, in pandas: a day's opening stock is the ``on_hand`` of the last
    snapshot strictly before it (NaN where there is none). ``days``: sku, day."""
    left = days.assign(day=as_ns(days["day"]), _pos=np.arange(len(days)))
    right = inventory.assign(snapshot_date=as_ns(inventory["snapshot_date"]))
    out = pd.merge_asof(
        left.sort_values("day"),
        right.sort_values("snapshot_date")[["sku", "snapshot_date", "on_hand"]],
        left_on="day",
        right_on="snapshot_date",
        by="sku",
        allow_exact_matches=False,
    )
    return out.sort_values("_pos")["on_hand"].to_numpy(dtype=float)


def expand(frame: pd.DataFrame, start: str, end: str, step_days: int = 1) -> pd.DataFrame:
    """One row per day (or week) of each row's [start, end]."""
    first, last = pd.to_datetime(frame[start]), pd.to_datetime(frame[end])
    n = ((last - first).dt.days // step_days + 1).to_numpy()
    out = frame.loc[frame.index.repeat(n)].reset_index(drop=True)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    out["day"] = np.repeat(first.to_numpy(), n) + offset * np.timedelta64(step_days, "D")
    out["day"] = out["day"].astype("datetime64[ns]")
    return out


def as_ns(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[ns]")


def promo_days(promotions: pd.DataFrame) -> int:
    days = pd.to_datetime(promotions["end_date"]) - pd.to_datetime(promotions["start_date"])
    return int((days.dt.days + 1).sum())


def assert_reconciles(report: DatasetReport, rows_in: int) -> None:
    assert report.rows_in == rows_in
    assert report.reconciles
    assert report.rows_in == report.rows_written + sum(report.kept.values()) + report.rows_excluded
    saved = json.loads(Path(report.report_file).read_text())
    assert saved["reconciles"] and saved["rows_in"] == rows_in
    assert saved["rows_imported"] == report.rows_imported


# ---------------------------------------------------------------------------------------------
# Shared shaping, on hand-made frames


def test_weeks_go_on_the_monday_of_the_week_holding_most_of_their_days():
    starts = pd.Series(pd.to_datetime(["2015-01-04", "2018-01-08", "2009-01-08", "2024-05-01"]))
    # Sunday -> next day; a Monday stays; a Thursday-to-Wednesday week -> the Monday before;
    # a Wednesday-to-Tuesday week -> the Monday before (Wed..Sun is 5 of its days).
    assert common.week_monday(starts).dt.strftime("%Y-%m-%d").tolist() == [
        "2015-01-05",
        "2018-01-08",
        "2009-01-05",
        "2024-04-29",
    ]


def test_period_grid_fills_the_periods_missing_inside_a_series():
    observed = pd.DataFrame(
        {
            "sku": ["A", "A", "A", "B"],
            "period": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-03"]),
            "available": [True, False, True, True],
        }
    )
    grid = common.period_grid(observed, period_days=1)
    a = grid[grid["sku"] == "A"]
    assert a["period"].dt.day.tolist() == [1, 2, 3, 4, 5]
    assert a["available"].tolist() == [True, False, False, False, True]
    assert a["in_source"].tolist() == [True, True, False, False, True]
    assert grid[grid["sku"] == "B"]["period"].dt.day.tolist() == [3]
    weekly = common.period_grid(
        observed.assign(period=D("2024-01-01") + pd.to_timedelta([0, 7, 28, 14], unit="D")),
        period_days=7,
    )
    assert len(weekly[weekly["sku"] == "A"]) == 5


def test_stock_snapshots_are_written_where_availability_changes_and_make_closed_days_stock_outs():
    days = pd.date_range("2024-01-01", periods=6)
    grid = pd.DataFrame(
        {
            "sku": ["A"] * 6 + ["B"] * 6,
            "period": list(days) * 2,
            "available": [True, False, False, True, True, False] + [True] * 6,
        }
    )
    snaps = common.stock_snapshots(grid, "W1")
    assert snaps[["snapshot_date", "sku", "on_hand"]].astype(str).values.tolist() == [
        ["2023-12-31", "A", "1"],
        ["2024-01-01", "A", "0"],
        ["2024-01-03", "A", "1"],
        ["2024-01-05", "A", "0"],
        ["2023-12-31", "B", "1"],
    ]
    assert (snaps["warehouse_id"] == "W1").all()
    stock = opening_stock(snaps, grid.rename(columns={"period": "day"}))
    assert stock.tolist() == [1, 0, 0, 1, 1, 0] + [1] * 6


def test_promotions_merge_consecutive_periods_of_the_same_type_and_discount():
    flags = pd.DataFrame(
        {
            "sku": ["A"] * 6 + ["B"],
            "marketplace": "US",
            "promo_type": ["deal", "deal", "deal", "deal", "display", "deal", "deal"],
            "discount_pct": [0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0],
            "period": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-02",
                    "2024-01-04",  # a day without the flag between: a new promotion
                    "2024-01-05",  # another discount: a new promotion
                    "2024-01-05",  # another type, same day: its own promotion
                    "2024-01-03",  # out of order in the input
                    "2024-01-01",
                ]
            ),
        }
    )
    out = common.promotion_rows(flags, prefix="X", period_days=1)
    got = out.assign(
        start_date=out["start_date"].dt.strftime("%m-%d"),
        end_date=out["end_date"].dt.strftime("%m-%d"),
    )[["promotion_id", "promo_type", "discount_pct", "start_date", "end_date"]]
    assert got.values.tolist() == [
        ["X-A-deal-2024-01-01", "deal", 0.0, "01-01", "01-04"],
        ["X-A-deal-2024-01-05", "deal", 0.1, "01-05", "01-05"],
        ["X-A-display-2024-01-05", "display", 0.0, "01-05", "01-05"],
        ["X-B-deal-2024-01-01", "deal", 0.0, "01-01", "01-01"],
    ]
    assert promo_days(out) == len(flags)
    weekly = common.promotion_rows(
        flags.iloc[:1].assign(period=D("2024-01-01")), prefix="X", period_days=7
    )
    assert weekly["end_date"].tolist() == [D("2024-01-07")]


def test_a_price_holds_until_the_next_price_and_equal_prices_are_one_row():
    prices = pd.DataFrame(
        {
            "sku": ["A", "A", "A", "A", "B"],
            "marketplace": "US",
            "currency": "USD",
            "period": pd.to_datetime(
                ["2024-01-01", "2024-01-08", "2024-01-22", "2024-01-29", "2024-01-08"]
            ),
            "list_price": [2.0, 2.0, 2.0, 1.5, 3.0],  # week 01-15 has no price: 2.0 holds
        }
    )
    out = common.price_rows(prices, period_days=7)
    assert out.assign(
        valid_from=out["valid_from"].dt.strftime("%m-%d"),
        valid_to=out["valid_to"].dt.strftime("%m-%d"),
    )[["sku", "valid_from", "valid_to", "list_price"]].values.tolist() == [
        ["A", "01-01", "01-28", 2.0],
        ["A", "01-29", "02-04", 1.5],
        ["B", "01-08", "01-14", 3.0],
    ]


def test_the_dataset_report_prints_and_reconciles():
    report = DatasetReport(
        importer="X",
        grain="store-day",
        source="x.csv",
        rows_in=10,
        rows_written=6,
        kept={"closed_day": 3},
        excluded={"unreadable_value": 1},
        texts={"closed_day": "censored", "unreadable_value": "bad"},
    )
    assert report.reconciles and report.rows_imported == 9
    text = str(report)
    assert "10 read = 9 imported + 1 skipped" in text and "censored" in text
    report.rows_written = 5
    assert not report.reconciles and "DOES NOT RECONCILE" in str(report)


# ---------------------------------------------------------------------------------------------
# Each importer on a small hand-made file in the format a user downloads


def rossmann_kaggle_files(folder: Path) -> None:
    """train.csv and store.csv as Kaggle has them: two stores, 2015-07-01 .. 07-07."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        # Store, Date, Sales, Open, Promo
        (1, "2015-07-01", "5263", 1, 1),
        (1, "2015-07-02", "6064", 1, 1),
        (1, "2015-07-03", "0", 1, 0),  # open without sales
        (1, "2015-07-04", "0", 0, 1),  # closed, on a promotion day
        # 07-05 missing: not observed
        (1, "2015-07-06", "4822", 1, 1),
        (1, "2015-07-07", "5719", 1, 1),
        (1, "2015-07-07", "5719", 1, 1),  # a duplicate day
        (1, "2015-07-08", "n/a", 1, 0),  # unreadable
        (2, "2015-07-01", "0", 0, 0),
        (2, "2015-07-02", "6120.4", 1, 0),  # rounded to 6120
        (2, "2015-07-03", "7001", 1, 0),
    ]
    train = pd.DataFrame(rows, columns=["Store", "Date", "Sales", "Open", "Promo"])
    train.insert(1, "DayOfWeek", pd.to_datetime(train["Date"]).dt.day_of_week + 1)
    train = train.assign(Customers=500, StateHoliday="0", SchoolHoliday=0)
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame(
        {"Store": [1, 2], "StoreType": ["c", "a"], "Assortment": ["a", "a"], "Promo2": [0, 1]}
    ).to_csv(folder / "store.csv", index=False)


def test_rossmann_kaggle_csv_files(tmp_path):
    rossmann_kaggle_files(tmp_path / "rossmann")
    paths = DataPaths(tmp_path / "data")
    report = import_rossmann(tmp_path / "rossmann", paths)
    assert_reconciles(report, 11)
    assert report.excluded == {"unreadable_value": 1, "duplicate_day": 1}
    assert report.rows_written == 6
    assert report.kept == {"closed_day": 2, "open_no_sales": 1}
    orders = written(paths, "orders")
    assert orders["quantity"].tolist() == [5263, 6064, 4822, 5719, 6120, 7001]
    assert (orders["unit_price"] == 1.0).all() and (orders["currency"] == "EUR").all()
    assert orders["order_id"].iloc[0] == "R-0001-2015-07-01"
    catalog = written(paths, "catalog").set_index("sku")
    assert catalog.loc["store-0001", "category"] == "store type c"  # from store.csv
    # Closed (07-04) and missing (07-05) days start at stock 0; the open day without sales not.
    days = pd.DataFrame({"sku": "store-0001", "day": pd.date_range("2015-07-01", "2015-07-07")})
    stock = opening_stock(written(paths, "inventory"), days)
    assert stock.tolist() == [1, 1, 1, 0, 0, 1, 1]
    promotions = written(paths, "promotions")
    assert promotions[["start_date", "end_date"]].astype(str).values.tolist() == [
        ["2015-07-01", "2015-07-02"],
        ["2015-07-04", "2015-07-04"],
        ["2015-07-06", "2015-07-07"],
    ]
    assert (promotions["promo_type"] == "deal").all() and (promotions["discount_pct"] == 0).all()
    assert ingest_without_quarantine(paths)["orders"] == 6


def test_a_dataset_import_refuses_a_folder_with_raw_files_unless_overwrite(tmp_path):
    rossmann_kaggle_files(tmp_path / "rossmann")
    paths = DataPaths(tmp_path / "data")
    demo = paths.raw_entity("catalog") / "catalog.csv"  # e.g. left over from the demo
    demo.parent.mkdir(parents=True)
    demo.write_text("sku\n1\n")
    with pytest.raises(FileExistsError, match="overwrite"):
        import_rossmann(tmp_path / "rossmann", paths)
    assert not paths.raw_entity("orders").exists()
    report = import_rossmann(tmp_path / "rossmann", paths, overwrite=True)
    assert not demo.exists() and report.files_removed == ["catalog/catalog.csv"]
    again = import_rossmann(tmp_path / "rossmann", paths, overwrite=True, limit=1)
    assert len(again.files_removed) == len(report.files_written)
    assert again.excluded["not_selected"] == 3 and set(written(paths, "orders")["sku"]) == {
        "store-0001"
    }
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_avocado(tmp_path / "missing", DataPaths(tmp_path / "other"))


def test_pasta_wide_csv_with_a_closing_day(tmp_path):
    file = tmp_path / "hierarchical_sales_data.csv"
    pd.DataFrame(
        {
            "DATE": ["2014-01-02", "2014-01-03", "2014-01-05", "2014-01-06"],  # 01-04 closed
            "QTY_B1_1": [3, 0, 2, 5],
            "QTY_B1_2": [1, 1, 1.5, 0],  # 1.5 units cannot be read
            "PROMO_B1_1": [1, 1, 1, 0],
            "PROMO_B1_2": [0, 0, 0, 1],
        }
    ).to_csv(file, index=False)
    paths = DataPaths(tmp_path / "data")
    report = import_pasta_sales(file, paths)
    assert_reconciles(report, 8)
    assert report.rows_written == 5
    assert report.kept == {"no_sales": 2} and report.excluded == {"unreadable_value": 1}
    assert report.details["closing_days"] == ["2014-01-04"]
    orders = written(paths, "orders")
    assert sorted(orders["sku"].unique()) == ["B1_1", "B1_2"]
    assert (orders["unit_price"] == 1.0).all() and orders["quantity"].sum() == 12
    days = pd.DataFrame(
        {
            "sku": ["B1_1"] * 5 + ["B1_2"] * 5,
            "day": list(pd.date_range("2014-01-02", "2014-01-06")) * 2,
        }
    )
    stock = opening_stock(written(paths, "inventory"), days)
    # 01-04 is a closing day of both; B1_2's unreadable 01-05 is not observed either.
    assert stock.tolist() == [1, 1, 0, 1, 1] + [1, 1, 0, 0, 1]
    promotions = written(paths, "promotions").sort_values(["sku", "start_date"])
    # B1_1: 01-02..01-03, then the closing day ends it, 01-05 again; B1_2: 01-06.
    assert promotions[["sku", "start_date", "end_date"]].astype(str).values.tolist() == [
        ["B1_1", "2014-01-02", "2014-01-03"],
        ["B1_1", "2014-01-05", "2014-01-05"],
        ["B1_2", "2014-01-06", "2014-01-06"],
    ]
    assert ingest_without_quarantine(paths)["orders"] == 5


def avocado_csv(file: Path) -> None:
    """The Kaggle layout (ISO dates, an unnamed index column) with a renamed region."""
    rows = [
        ("2017-12-24", 1.10, 1000.4, "conventional", "NewYork"),
        ("2017-12-31", 1.20, 1100.5, "conventional", "NewYork"),
        ("2018-01-08", 1.25, 900.0, "conventional", "New York"),  # renamed, dated on a Monday
        ("2018-01-14", 1.25, 950.0, "conventional", "New York"),
        ("2018-01-21", 1.30, 990.0, "conventional", "New York"),
        ("2018-01-21", 1.30, 990.0, "conventional", "New York"),  # duplicate week
        ("2017-12-24", 1.90, 50000.0, "organic", "TotalUS"),
        # 2017-12-31 missing for TotalUS organic
        ("2018-01-08", 1.95, 52000.0, "organic", "TotalUS"),
        ("2018-01-14", -1, 52000.0, "organic", "TotalUS"),  # unreadable price
    ]
    frame = pd.DataFrame(rows, columns=["Date", "AveragePrice", "Total Volume", "type", "region"])
    frame.insert(3, "4046", 0.0)
    frame["year"] = pd.to_datetime(frame["Date"]).dt.year
    frame.to_csv(file)


def test_avocado_kaggle_csv(tmp_path):
    file = tmp_path / "avocado.csv"
    avocado_csv(file)
    paths = DataPaths(tmp_path / "data")
    report = import_avocado(file, paths)
    assert_reconciles(report, 9)
    assert report.excluded == {"unreadable_value": 1, "duplicate_week": 1}
    assert report.rows_written == 7 and report.kept == {}
    orders = written(paths, "orders").sort_values(["sku", "order_date"])
    assert set(orders["sku"]) == {"NewYork-conventional", "TotalUS-organic"}  # one New York
    ny = orders[orders["sku"] == "NewYork-conventional"]
    assert ny["order_date"].dt.strftime("%m-%d").tolist() == [
        "12-25",
        "01-01",
        "01-08",
        "01-15",
        "01-22",
    ]
    assert ny["quantity"].tolist() == [1000, 1100, 900, 950, 990]
    assert ny["unit_price"].tolist() == [1.10, 1.20, 1.25, 1.25, 1.30]
    prices = written(paths, "prices")
    assert len(prices[prices["sku"] == "NewYork-conventional"]) == 4  # 1.25 twice: one row
    catalog = written(paths, "catalog").set_index("sku")
    assert catalog.loc["NewYork-conventional", "category"] == "conventional"
    assert "national total" in catalog.loc["TotalUS-organic", "title"]
    # The missing TotalUS week (2018-01-01 .. 01-07) is a stock-out week, the others are not.
    days = pd.DataFrame({"sku": "TotalUS-organic", "day": pd.date_range("2017-12-25", periods=21)})
    stock = opening_stock(written(paths, "inventory"), days)
    assert stock.tolist() == [1] * 7 + [0] * 7 + [1] * 7
    assert ingest_without_quarantine(paths)["orders"] == 7


def breakfast_files(folder: Path) -> None:
    """The three files under the workbook's column names (STORE_NUM, UPC, ...)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        # week end, store, upc, units, spend, price, base, feature, display, tpr
        ("2009-01-14", 389, 1111009477, 14, 16.38, 1.17, 1.18, 0, 1, 0),
        ("2009-01-21", 389, 1111009477, 44, 43.56, 0.99, 1.18, 1, 1, 0),
        ("2009-01-28", 389, 1111009477, 24, 23.52, 0.98, 1.18, 0, 0, 1),
        ("2009-02-04", 389, 1111009477, 10, 11.80, 1.18, 1.18, 0, 0, 0),
        ("2009-02-11", 389, 1111009477, 0, 0.0, None, 1.18, 0, 0, 0),  # no sales
        ("2009-01-14", 2277, 1600027527, 3, 11.97, 3.99, 3.99, 1, 0, 0),
        ("2009-01-28", 2277, 1600027527, 2, 6.00, 3.00, None, 1, 0, 0),  # no base price
        ("2009-02-04", 2277, 1600027527, -1, -3.99, 3.99, 3.99, 0, 0, 0),  # unreadable
    ]
    names = ["WEEK_END_DATE", "STORE_NUM", "UPC", "UNITS", "SPEND", "PRICE", "BASE_PRICE"]
    frame = pd.DataFrame(rows, columns=names + ["FEATURE", "DISPLAY", "TPR_ONLY"])
    frame.insert(4, "VISITS", 1)
    frame.to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame(
        {
            "UPC": [1111009477, 1600027527],
            "DESCRIPTION": ["PL MINI TWIST PRETZELS", "GM HONEY NUT CHEERIOS"],
            "MANUFACTURER": ["PRIVATE LABEL", "GENERAL MI"],
            "CATEGORY": ["BAG SNACKS", "COLD CEREAL"],
        }
    ).to_csv(folder / "products.csv", index=False)
    pd.DataFrame(
        {
            "STORE_ID": [389, 2277],
            "STORE_NAME": ["SILVERLAKE", "ANDERSON TOWNE CTR"],
            "ADDRESS_STATE_PROV_CODE": ["KY", "OH"],
        }
    ).to_csv(folder / "stores.csv", index=False)


def test_breakfast_at_the_frat_workbook_names(tmp_path):
    breakfast_files(tmp_path / "batf")
    paths = DataPaths(tmp_path / "data")
    report = import_breakfast_at_the_frat(tmp_path / "batf", paths)
    assert_reconciles(report, 8)
    assert report.excluded == {"unreadable_value": 1}
    assert report.rows_written == 6 and report.kept == {"no_sales": 1}
    orders = written(paths, "orders").sort_values(["sku", "order_date"])
    first = orders.iloc[0]
    assert first["sku"] == "2277-1600027527" and first["order_id"] == "B-2277-1600027527-2009-01-05"
    assert set(orders["order_date"].dt.day_of_week) == {0}
    assert (orders["quantity"] * orders["unit_price"]).round(2).tolist() == [
        11.97,
        6.00,
        16.38,
        43.56,
        23.52,
        11.80,
    ]
    promotions = written(paths, "promotions").sort_values(["sku", "promo_type", "start_date"])
    got = promotions[["sku", "promo_type", "discount_pct", "start_date", "end_date"]]
    assert got.astype(str).values.tolist() == [
        # a week without the flag between: two promotions (the second without a base price,
        # so its discount is unknown: 0)
        ["2277-1600027527", "feature", "0.0", "2009-01-05", "2009-01-11"],
        ["2277-1600027527", "feature", "0.0", "2009-01-19", "2009-01-25"],
        ["389-1111009477", "display", "0.0085", "2009-01-05", "2009-01-11"],
        ["389-1111009477", "display", "0.161", "2009-01-12", "2009-01-18"],
        ["389-1111009477", "feature", "0.161", "2009-01-12", "2009-01-18"],
        ["389-1111009477", "tpr", "0.1695", "2009-01-19", "2009-01-25"],
    ]
    prices = written(paths, "prices").sort_values("sku")
    assert prices[["sku", "valid_from", "valid_to", "list_price"]].astype(str).values.tolist() == [
        ["2277-1600027527", "2009-01-05", "2009-01-11", "3.99"],
        ["389-1111009477", "2009-01-05", "2009-02-08", "1.18"],
    ]
    catalog = written(paths, "catalog").set_index("sku")
    assert catalog.loc["2277-1600027527", "category"] == "COLD CEREAL"
    assert catalog.loc["2277-1600027527", "title"] == (
        "GM HONEY NUT CHEERIOS, store 2277 ANDERSON TOWNE CTR (OH)"
    )
    assert paths.raw_entity("inventory").exists() is False
    assert ingest_without_quarantine(paths)["orders"] == 6


def test_the_cli_imports_a_slice_and_refuses_a_second_import(tmp_path):
    file = tmp_path / "avocado.csv"
    avocado_csv(file)
    data = tmp_path / "data"
    args = ["import", "avocado", "--source", str(file), "--data-dir", str(data)]
    result = CliRunner().invoke(main, [*args, "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "read = " in result.output and f"KUAJING_DATA_DIR={data}" in result.output
    assert set(written(DataPaths(data), "orders")["sku"]) == {"NewYork-conventional"}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--overwrite" in again.output


# ---------------------------------------------------------------------------------------------
# The real datasets, against counts computed from the source


@pytest.fixture(scope="module")
def avocado_real(tmp_path_factory):
    folder = SHARED_DATA / "avocado"
    if not folder.is_dir():
        pytest.skip(f"shared dataset not found at {folder}")
    paths = DataPaths(tmp_path_factory.mktemp("avocado"))
    return paths, import_avocado(folder, paths), pd.read_parquet(folder / "avocado.parquet")


@needs("avocado")
def test_real_avocado(avocado_real):
    paths, report, src = avocado_real
    assert_reconciles(report, 41_025)
    assert report.rows_written == len(src) and not report.excluded and not report.kept
    orders = written(paths, "orders")
    assert orders["quantity"].sum() == src["Total Volume"].round().sum()
    assert (orders["order_date"].dt.day_of_week == 0).all()
    # Both spellings of a renamed region are one series: 122 source pairs, 118 series.
    assert src.groupby(["region", "type"]).ngroups == 122 and orders["sku"].nunique() == 118
    # Overlapping regions are kept as they are, not added up.
    total = src[(src["region"] == "TotalUS") & (src["type"] == "organic")]
    mine = orders[orders["sku"] == "TotalUS-organic"]
    assert len(mine) == len(total) and mine["quantity"].sum() == total["Total Volume"].round().sum()
    # The list price in force on each order's day is its AveragePrice, which is its unit price.
    prices = written(paths, "prices")
    found = pd.merge_asof(
        orders.assign(order_date=orders["order_date"].astype("datetime64[ns]")).sort_values(
            "order_date"
        ),
        prices.assign(valid_from=as_ns(prices["valid_from"])).sort_values("valid_from"),
        left_on="order_date",
        right_on="valid_from",
        by="sku",
    )
    assert (found["order_date"] <= pd.to_datetime(found["valid_to"])).all()
    assert (found["list_price"] == found["unit_price"]).all()
    assert sorted(found["unit_price"]) == sorted(src["AveragePrice"])
    # Weeks missing inside a series are stock-outs: the WestTexNewMexico organic gaps.
    inventory = written(paths, "inventory")
    closed = inventory[inventory["on_hand"] == 0]
    assert closed["sku"].tolist() == ["WestTexNewMexico-organic"] * 2
    assert report.details["weeks_not_in_source_censored"] == 3
    assert report.seconds < 30
    assert ingest_without_quarantine(paths) == report.written


@pytest.fixture(scope="module")
def pasta_real(tmp_path_factory):
    folder = SHARED_DATA / "pasta_sales"
    if not folder.is_dir():
        pytest.skip(f"shared dataset not found at {folder}")
    paths = DataPaths(tmp_path_factory.mktemp("pasta"))
    src = pd.read_parquet(folder / "hierarchical_sales.parquet")
    return paths, import_pasta_sales(folder, paths), src


@needs("pasta_sales")
def test_real_pasta_sales(pasta_real):
    paths, report, src = pasta_real
    qty = src.filter(like="QTY_").to_numpy()
    promo = src.filter(like="PROMO_").to_numpy()
    assert_reconciles(report, 1_798 * 118)
    assert report.rows_written == int((qty > 0).sum()) and report.kept == {
        "no_sales": int((qty == 0).sum())
    }
    orders = written(paths, "orders")
    assert orders["quantity"].sum() == qty.sum() and (orders["unit_price"] == 1.0).all()
    assert orders["sku"].nunique() == 118 and (orders["marketplace"] == "IT").all()
    # Every promotion day of the file is in promotions, and nothing else.
    promotions = written(paths, "promotions")
    assert promo_days(promotions) == int((promo == 1).sum())
    days = expand(promotions, "start_date", "end_date")
    products = [c.removeprefix("PROMO_") for c in src.filter(like="PROMO_").columns]
    flagged = src.melt(id_vars="DATE", value_vars=[f"PROMO_{p}" for p in products])
    flagged = flagged[flagged["value"] == 1]
    theirs = zip(flagged["variable"].str.removeprefix("PROMO_"), flagged["DATE"], strict=True)
    mine = zip(days["sku"], days["day"].dt.strftime("%Y-%m-%d"), strict=True)
    assert sorted(theirs) == sorted(mine)
    # The 27 dates missing from the file are stock-out days of every product; no other day is.
    dates = pd.to_datetime(src["DATE"])
    closing = pd.date_range(dates.min(), dates.max()).difference(dates)
    assert len(closing) == 27
    grid = pd.DataFrame(
        {
            "sku": np.repeat(products, len(dates) + 27),
            "day": np.tile(pd.date_range(dates.min(), dates.max()), len(products)),
        }
    )
    stock = opening_stock(written(paths, "inventory"), grid)
    assert set(grid.loc[stock == 0, "day"]) == set(closing)
    assert (stock == 0).sum() == 27 * 118 and (stock == 1).sum() == len(grid) - 27 * 118
    assert report.seconds < 30
    assert ingest_without_quarantine(paths) == report.written


def rossmann_expected(src: pd.DataFrame) -> dict[str, object]:
    """Order lines, closed days, promotion days and the days each store starts closed or not
    observed, from the source alone."""
    spans = src.groupby("Store")["Date"].agg(["min", "max"])
    every = pd.concat(
        [pd.DataFrame({"Store": s, "Date": pd.date_range(a, b)}) for s, (a, b) in spans.iterrows()]
    )
    seen = every.merge(src[["Store", "Date", "Open", "Sales"]], on=["Store", "Date"], how="left")
    closed = seen["Open"].isna() | ((seen["Open"] == 0) & (seen["Sales"] == 0))
    return {
        "lines": int((src["Sales"] > 0).sum()),
        "closed_day": int(((src["Open"] == 0) & (src["Sales"] == 0)).sum()),
        "open_no_sales": int(((src["Open"] == 1) & (src["Sales"] == 0)).sum()),
        "promo_days": int(src["Promo"].sum()),
        "grid": seen.assign(
            sku="store-" + seen["Store"].map("{:04d}".format), day=as_ns(seen["Date"])
        ),
        "stock_out": closed.to_numpy(),
    }


def check_rossmann(paths: DataPaths, report: DatasetReport, src: pd.DataFrame) -> None:
    want = rossmann_expected(src)
    assert report.rows_written == want["lines"]
    kept = {"closed_day": want["closed_day"], "open_no_sales": want["open_no_sales"]}
    assert report.kept == {k: n for k, n in kept.items() if n}  # a count of 0 is left out
    orders = written(paths, "orders")
    # EUR 1 a unit: the units are the turnover.
    assert orders["quantity"].sum() == src["Sales"].astype("int64").sum()
    assert (orders["unit_price"] == 1.0).all() and set(orders["currency"]) == {"EUR"}
    promotions = written(paths, "promotions")
    assert promo_days(promotions) == want["promo_days"]
    # Closed and unobserved days open at stock 0 (censored in the mart), every other day at 1.
    stock = opening_stock(written(paths, "inventory"), want["grid"][["sku", "day"]])
    assert ((stock == 0) == want["stock_out"]).all() and not np.isnan(stock).any()


@pytest.fixture(scope="module")
def rossmann_source():
    file = SHARED_DATA / "rossmann" / "train_clean.parquet"
    if not file.is_file():
        pytest.skip(f"shared dataset not found at {file}")
    return pd.read_parquet(file, columns=["Store", "Date", "Sales", "Open", "Promo"])


@needs("rossmann")
def test_real_rossmann_slice_of_15_stores(rossmann_source, tmp_path):
    src = rossmann_source
    paths = DataPaths(tmp_path)
    report = import_rossmann(SHARED_DATA / "rossmann", paths, limit=15)
    assert_reconciles(report, 1_017_209)
    chosen = src["Store"] <= 15
    assert report.excluded == {"not_selected": int((~chosen).sum())}
    check_rossmann(paths, report, src[chosen])
    # Store 13 lacks 2014-07-01 .. 2014-12-31: those 184 days are not observed, so censored.
    assert report.details["days_not_in_source_censored"] == 184
    assert written(paths, "warehouses")["warehouse_id"].nunique() == 15
    assert ingest_without_quarantine(paths) == report.written


@pytest.mark.slow  # the full 1,017,209 rows, imported and ingested
@needs("rossmann")
def test_real_rossmann_in_full(rossmann_source, tmp_path):
    paths = DataPaths(tmp_path)
    started = time.perf_counter()
    report = import_rossmann(SHARED_DATA / "rossmann", paths)
    assert time.perf_counter() - started < 60
    assert_reconciles(report, 1_017_209)
    assert not report.excluded
    check_rossmann(paths, report, rossmann_source)
    assert report.details["stores_with_days_not_in_source"] == 180
    assert report.details["days_not_in_source_censored"] == 180 * 184
    assert ingest_without_quarantine(paths) == report.written


def check_breakfast(paths: DataPaths, report: DatasetReport, src: pd.DataFrame) -> None:
    assert report.rows_written == int((src["units"] > 0).sum())
    assert report.kept == (
        {"no_sales": int((src["units"] == 0).sum())} if (src["units"] == 0).any() else {}
    )
    orders = written(paths, "orders")
    assert orders["quantity"].sum() == src["units"].sum()
    assert (orders["quantity"] * orders["unit_price"]).sum() == pytest.approx(src["spend"].sum())
    monday = as_ns(src["week_end_date"]) - pd.Timedelta(days=9)
    keyed = src.assign(
        sku=src["store_id"].astype(str) + "-" + src["upc_id"].astype(str), day=monday
    )
    # Promotion weeks of each flag are the promotions' weeks of that type, with their discount.
    promotions = written(paths, "promotions")
    weeks = expand(promotions, "start_date", "end_date", step_days=7)
    for flag, promo_type in (("feature", "feature"), ("display", "display"), ("tpr_only", "tpr")):
        mine = weeks[weeks["promo_type"] == promo_type]
        theirs = keyed[keyed[flag] == 1]
        assert len(mine) == len(theirs), flag
        both = theirs.merge(mine, on=["sku", "day"], how="left", validate="one_to_one")
        shelf = both["price"].fillna(both["spend"] / both["units"])
        expected = (1 - shelf / both["base_price"]).clip(0, 1).round(4).fillna(0.0)
        assert np.allclose(both["discount_pct"], expected), flag
    # The list price in force each week is its base price.
    prices = written(paths, "prices")
    based = keyed[keyed["base_price"] > 0].sort_values("day")
    found = pd.merge_asof(
        based,
        prices.assign(valid_from=as_ns(prices["valid_from"])).sort_values("valid_from"),
        left_on="day",
        right_on="valid_from",
        by="sku",
    )
    assert (found["day"] <= pd.to_datetime(found["valid_to"])).all()
    assert (found["list_price"] == found["base_price"]).all()


@needs("breakfast_at_the_frat")
def test_real_breakfast_slice_of_300_series(tmp_path):
    folder = SHARED_DATA / "breakfast_at_the_frat"
    src = pd.read_parquet(folder / "transactions.parquet")
    paths = DataPaths(tmp_path)
    report = import_breakfast_at_the_frat(folder, paths, limit=300)
    assert_reconciles(report, 524_950)
    sku = src["store_id"].astype(str) + "-" + src["upc_id"].astype(str)
    chosen = sku.isin(sorted(sku.unique())[:300])
    assert report.excluded == {"not_selected": int((~chosen).sum())}
    check_breakfast(paths, report, src[chosen])
    catalog = written(paths, "catalog")
    products = pd.read_csv(folder / "products.csv")
    assert set(catalog["category"]) <= set(products["category"])
    assert ingest_without_quarantine(paths) == report.written


@pytest.mark.slow  # the full 524,950 rows, imported and ingested
@needs("breakfast_at_the_frat")
def test_real_breakfast_in_full(tmp_path):
    folder = SHARED_DATA / "breakfast_at_the_frat"
    src = pd.read_parquet(folder / "transactions.parquet")
    paths = DataPaths(tmp_path)
    report = import_breakfast_at_the_frat(folder, paths)
    assert_reconciles(report, 524_950)
    assert not report.excluded and report.seconds < 60
    check_breakfast(paths, report, src)
    assert written(paths, "catalog")["sku"].nunique() == src.groupby(["store_id", "upc_id"]).ngroups
    assert ingest_without_quarantine(paths) == report.written


# ---------------------------------------------------------------------------------------------
# Closed days in a built warehouse: censored in the mart, never scored by the backtest


@pytest.mark.slow  # ingest + checks + dbt build
@needs("rossmann")
def test_real_rossmann_closed_days_are_censored_in_the_mart_and_not_scored(
    rossmann_source, tmp_path
):
    from ml.bench.pipeline import ingest_all
    from ml.forecast.backtest import backtest
    from ml.forecast.data import load_demand
    from ml.forecast.panel import build_panel

    paths = DataPaths(tmp_path)
    import_rossmann(SHARED_DATA / "rossmann", paths, limit=13)  # store 13 has the 2014 gap
    summary = ingest_all(paths.root, run_date=RUN_DATE)
    assert all(s["quarantined"] == 0 and s["reconciles"] for s in summary.values())
    build = subprocess.run(
        [str(dbt_executable()), "build", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, env=dbt_env(paths), capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    src = rossmann_source[rossmann_source["Store"] <= 13]
    want = rossmann_expected(src)
    grid = want["grid"]
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        demand, skus, markets = load_demand(con)
    finally:
        con.close()
    demand["day"] = as_ns(demand["demand_date"])
    # The mart's grid starts at the first order of the history (2013-01-02: every store was
    # closed on New Year's Day).
    start = demand["day"].min()
    expected = grid[want["stock_out"] & (grid["day"] >= start)][["sku", "day"]]
    censored = demand[demand["is_censored"]][["sku", "day"]]
    key = ["sku", "day"]
    assert len(censored) == len(expected) > 184
    assert censored.sort_values(key).values.tolist() == expected.sort_values(key).values.tolist()
    assert (demand.loc[demand["is_censored"], "units"] == 0).all()
    gap = censored[
        (censored["sku"] == "store-0013") & censored["day"].between("2014-07-01", "2014-12-31")
    ]
    assert len(gap) == 184
    assert demand.loc[~demand["is_censored"], "units"].sum() == src["Sales"].astype("int64").sum()

    panel = build_panel(demand, skus=skus, marketplaces=markets)
    assert panel.grain == "daily"
    result = backtest(panel=panel, models=("zero",), n_folds=1)
    scored = result.forecasts.assign(day=as_ns(result.forecasts["date"]))[key]
    hit = scored.merge(censored, on=key, how="inner")
    assert len(hit) == 0 and len(scored) > 0
    window = censored[censored["day"] >= scored["day"].min()]
    assert len(scored) == 13 * 28 - len(window)  # every uncensored day of the fold, scored
