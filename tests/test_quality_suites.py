"""Great Expectations suites from the contract: pass on clean rows, fail on each kind of breach."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import duckdb
import ingest_fixtures as fx
import pandas as pd
import pytest

from ml import contract, settings
from ml.ingest import codes, ingest_entity
from ml.quality import expectation_specs, run_suite

RUN_DATE = fx.RUN_DATE


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Every entity's accepted rows, as the lead's asset check reads them."""
    raw = tmp_path_factory.mktemp("gx") / "raw"
    fx.write_valid(raw)
    con = duckdb.connect()
    for name in fx.INGEST_ORDER:
        res = ingest_entity(con, raw, name, run_id="gx", run_date=RUN_DATE)
        assert res.rows_quarantined == 0
    out = {name: con.execute(f"SELECT * FROM raw.{name}").df() for name in fx.INGEST_ORDER}
    con.close()
    return out


def failed_kinds(result) -> set[tuple[str, str | None]]:
    return {(r.kind, r.column) for r in result.failed}


def test_ml_quality_imports_great_expectations_lazily():
    code = (
        "import sys, ml.quality as q; q.expectation_specs('orders', __import__('datetime')"
        ".date(2025, 1, 1)); print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_specs_follow_the_contract():
    for ent in contract.ENTITIES:
        specs = expectation_specs(ent.name, RUN_DATE)
        by = {(s.kind, s.column): s for s in specs}
        assert by[("schema", None)].kwargs["column_set"] == list(ent.column_names)
        assert by[("row_count", None)].kwargs["min_value"] == 1
        for col in ent.columns:
            assert (("not_null", col.name) in by) == (not col.nullable)
            assert ("type", col.name) in by
            if col.code in codes.HS_PATTERNS:
                assert (
                    by[("hs_code", col.name)].kwargs["regex"] == f"^{codes.HS_PATTERNS[col.code]}$"
                )
            elif col.code or col.allowed:
                expected = col.allowed or codes.code_set(col.code)
                assert set(by[("value_set", col.name)].kwargs["value_set"]) == set(expected)
        for name in ent.future_date_columns:
            assert ("not_in_future", name) in by
    quantity = {(s.kind, s.column): s for s in expectation_specs("orders", RUN_DATE)}[
        ("range", "quantity")
    ]
    assert quantity.kwargs == {
        "column": "quantity",
        "min_value": 0,
        "max_value": None,
        "strict_min": True,
    }


@pytest.mark.parametrize("entity", fx.INGEST_ORDER)
def test_clean_rows_pass(tables, entity):
    result = run_suite(entity, tables[entity], run_date=RUN_DATE)
    assert result.success, result.as_markdown()
    assert result.rows == len(fx.VALID_ROWS[entity])
    assert len(result.results) == len(expectation_specs(entity, RUN_DATE))


def _set(df: pd.DataFrame, column: str, value, row: int = 0) -> pd.DataFrame:
    df = df.copy()
    df.loc[row, column] = value
    return df


def _latest(df: pd.DataFrame, column: str, when: datetime) -> pd.DataFrame:
    return _set(df, column, pd.Timestamp(when))


BREACHES = [
    # (id, entity, change, the only failing (kind, column), unexpected count or None)
    ("not-null", "orders", lambda d: _set(d, "order_id", None), ("not_null", "order_id"), 1),
    (
        "type",
        "orders",
        lambda d: d.assign(quantity=d["quantity"].astype(float)),
        ("type", "quantity"),
        None,
    ),
    (
        "type-object",
        "warehouses",
        lambda d: d.assign(name=pd.Series(["hub", 5, "Frankfurt"], dtype=object)),
        ("type", "name"),
        1,
    ),
    ("range", "orders", lambda d: _set(d, "quantity", 0), ("range", "quantity"), 1),
    ("range-max", "marketplaces", lambda d: _set(d, "vat_rate", 1.2), ("range", "vat_rate"), 1),
    ("currency", "orders", lambda d: _set(d, "currency", "EURO"), ("value_set", "currency"), 1),
    ("country", "warehouses", lambda d: _set(d, "country", "UK"), ("value_set", "country"), 1),
    ("allowed", "marketplaces", lambda d: _set(d, "region", "EU"), ("value_set", "region"), 1),
    ("hs-code", "catalog", lambda d: _set(d, "hs_code", "3926.90"), ("hs_code", "hs_code"), 1),
    (
        "hs-prefix",
        "tariff_measures",
        lambda d: _set(d, "hs_code_prefix", "8"),
        ("hs_code", "hs_code_prefix"),
        1,
    ),
    (
        "date-range",
        "promotions",
        lambda d: _set(d, "end_date", pd.Timestamp("2025-04-30")),
        ("date_range", "end_date"),
        1,
    ),
    (
        "incomplete-rate",
        "tariff_measures",
        lambda d: _set(d, "ad_valorem_rate", None),
        ("incomplete_rate", "ad_valorem_rate"),
        1,
    ),
    (
        "unique-compound",
        "orders",
        lambda d: pd.concat([d, d.iloc[[0]]], ignore_index=True),
        ("unique_key", None),
        2,
    ),
    ("unique-single", "catalog", lambda d: _set(d, "sku", "SKU1", row=1), ("unique_key", "sku"), 2),
    (
        "future",
        "orders",
        lambda d: _latest(d, "order_date", datetime(2025, 7, 1)),
        ("not_in_future", "order_date"),
        None,
    ),
    (
        "future-nullable",
        "shipments",
        lambda d: _latest(d, "arrived_date", datetime(2025, 7, 1)),
        ("not_in_future", "arrived_date"),
        1,
    ),
    (
        "history",
        "orders",
        lambda d: _latest(
            d,
            "order_date",
            datetime.fromisoformat(settings.ORDERS_FIRST_PARTITION) - timedelta(seconds=1),
        ),
        ("history_start", "order_date"),
        None,
    ),
]


@pytest.mark.parametrize(
    ("entity", "change", "failing", "count"),
    [b[1:] for b in BREACHES],
    ids=[b[0] for b in BREACHES],
)
def test_each_kind_of_breach_fails_its_expectation(tables, entity, change, failing, count):
    result = run_suite(entity, change(tables[entity]), run_date=RUN_DATE)
    assert not result.success
    assert failed_kinds(result) == {failing}, result.as_markdown()
    [failed] = result.failed
    assert failed.unexpected_count == count
    assert failed.sample


def test_last_moment_of_the_run_date_is_not_future(tables):
    late = _latest(tables["orders"], "order_date", datetime(2025, 6, 30, 23, 59, 59))
    assert run_suite("orders", late, run_date=RUN_DATE).success


def test_schema_breaches(tables):
    missing = run_suite(
        "fx_rates", tables["fx_rates"].drop(columns=["usd_per_unit"]), run_date=RUN_DATE
    )
    assert ("schema", None) in failed_kinds(missing)
    extra = run_suite("fx_rates", tables["fx_rates"].assign(note="x"), run_date=RUN_DATE)
    assert failed_kinds(extra) == {("schema", None)}


def test_empty_table(tables):
    empty = tables["orders"].iloc[0:0]
    result = run_suite("orders", empty, run_date=RUN_DATE)
    assert failed_kinds(result) == {("row_count", None)}
    assert run_suite("orders", empty, run_date=RUN_DATE, min_rows=0).success


def test_markdown_report(tables):
    result = run_suite("orders", _set(tables["orders"], "currency", "EURO"), run_date=RUN_DATE)
    text = result.as_markdown()
    assert text.startswith("**orders**: FAILED")
    assert "| expect_column_values_to_be_in_set | currency | NO | 1 | 'EURO' |" in text


def test_accepted_rows_of_a_dirty_ingest_pass(tmp_path):
    """The asset check's job: nothing the SQL rules let through breaks the suite."""
    raw = tmp_path / "raw"
    fx.write_valid(raw, ("catalog", "marketplaces"))
    con = duckdb.connect()
    for name in ("catalog", "marketplaces"):
        ingest_entity(con, raw, name, run_id="d", run_date=RUN_DATE)
    good = fx.valid_rows("orders")
    bad = [
        dict(good[0], order_id=""),
        dict(good[0], quantity="0"),
        dict(good[0], quantity="x"),
        dict(good[0], currency="EURO"),
        dict(good[0], order_date="2025-07-01"),
        dict(good[0], order_date="1999-01-01"),
        dict(good[0]),
        dict(good[0], order_id="Q", sku="SKU404"),
    ]
    fx.write_csv(raw, "orders", good + bad)
    res = ingest_entity(con, raw, "orders", run_id="d", run_date=RUN_DATE)
    assert res.rows_quarantined == len(bad)
    accepted = con.execute("SELECT * FROM raw.orders").df()
    assert run_suite("orders", accepted, run_date=RUN_DATE).success
    # the same suite does catch the bad rows when given every row
    everything = con.execute(
        "SELECT * REPLACE (CAST(NULL AS VARCHAR) AS order_id) FROM raw.orders"
    ).df()
    assert not run_suite("orders", everything, run_date=RUN_DATE).success
