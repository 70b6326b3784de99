"""Ingest + row rules + quarantine + reconciliation, on small hand-made files in tmp_path."""

from __future__ import annotations

import json
import math
import random
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import ingest_fixtures as fx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml import contract, settings
from ml.ingest import (
    MalformedFileError,
    discover_files,
    ensure_tables,
    ingest_entity,
    reconcile,
)
from ml.ingest.rules import REFERENCE_MATCHES

RUN = "run-1"
# the last day before order history starts
BEFORE_HISTORY = (
    date.fromisoformat(settings.ORDERS_FIRST_PARTITION) - timedelta(days=1)
).isoformat()


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return tmp_path / "raw"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def ingest(con, raw, entity, run_id=RUN, **kw):
    kw.setdefault("run_date", fx.RUN_DATE)
    return ingest_entity(con, raw, entity, run_id=run_id, **kw)


def targets_of(entity: str) -> list[str]:
    ent = contract.entity(entity)
    names = [r.target for r in ent.references]
    names += [m.reference.target for m in REFERENCE_MATCHES.get(entity, ())]
    return [n for n in fx.INGEST_ORDER if n in names]


def with_references(con, raw, entity: str) -> None:
    """Write and ingest the valid rows of the entities ``entity`` refers to."""
    for name in targets_of(entity):
        fx.write_csv(raw, name, fx.valid_rows(name))
        assert ingest(con, raw, name).rows_quarantined == 0


def quarantined(con, entity: str) -> list[dict]:
    cur = con.execute(
        "SELECT * FROM quality.quarantine WHERE entity = ? AND row_number IS NOT NULL "
        "ORDER BY source_file, row_number",
        [entity],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def raw_rows(con, entity: str) -> list[dict]:
    cur = con.execute(f"SELECT * FROM raw.{entity} ORDER BY _source_file, _source_row")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def changed(entity: str, index: int = 0, **values: str) -> dict[str, str]:
    row = fx.valid_rows(entity)[index]
    row.update(values)
    return row


# (case id, entity, bad row, expected failed_rule, text the reason must contain)
RULE_CASES = [
    ("missing", "orders", changed("orders", order_id=""), "missing_value", "order_id is empty"),
    ("missing-spaces", "orders", changed("orders", sku="   "), "missing_value", "sku is empty"),
    (
        "bad-int",
        "orders",
        changed("orders", quantity="1.5"),
        "bad_type",
        "quantity '1.5' is not an integer",
    ),
    (
        "bad-decimal",
        "orders",
        changed("orders", unit_price="12,50"),
        "bad_type",
        "unit_price '12,50' is not a number",
    ),
    (
        "bad-timestamp",
        "orders",
        changed("orders", order_date="2025/06/01"),
        "bad_type",
        "order_date '2025/06/01' is not an ISO date or date-time",
    ),
    (
        "bad-date",
        "catalog",
        changed("catalog", launch_date="2024-02-30"),
        "bad_type",
        "launch_date '2024-02-30' is not an ISO date (YYYY-MM-DD)",
    ),
    (
        "date-with-time",
        "fx_rates",
        changed("fx_rates", rate_date="2025-06-01 10:00"),
        "bad_type",
        "rate_date '2025-06-01 10:00' is not an ISO date",
    ),
    (
        "bad-boolean",
        "marketplaces",
        changed("marketplaces", prices_include_vat="maybe"),
        "bad_type",
        "prices_include_vat 'maybe' is not a boolean",
    ),
    (
        "range-exclusive",
        "orders",
        changed("orders", quantity="0"),
        "out_of_range",
        "quantity '0' is out of range: expected > 0",
    ),
    (
        "range-between",
        "marketplaces",
        changed("marketplaces", vat_rate="1.5"),
        "out_of_range",
        "vat_rate '1.5' is out of range: expected between 0 and 1",
    ),
    (
        "range-negative",
        "inventory",
        changed("inventory", on_hand="-3"),
        "out_of_range",
        "on_hand '-3' is out of range: expected >= 0",
    ),
    (
        "allowed",
        "marketplaces",
        changed("marketplaces", region="EU"),
        "not_allowed_value",
        "region 'EU' is not one of: north_america, europe",
    ),
    (
        "allowed-mode",
        "lanes",
        changed("lanes", lane_id="L9", mode="truck"),
        "not_allowed_value",
        "mode 'truck' is not one of: ocean, air, express, rail",
    ),
    (
        "currency",
        "fx_rates",
        changed("fx_rates", currency="EURO"),
        "invalid_currency",
        "currency 'EURO' is not an ISO 4217 code",
    ),
    (
        "country",
        "marketplaces",
        changed("marketplaces", marketplace="UK", country="UK"),
        "invalid_country",
        "country 'UK' is not an ISO 3166-1 alpha-2 code",
    ),
    (
        "destination",
        "tariff_measures",
        changed("tariff_measures", measure_id="M9", destination="EUR"),
        "invalid_country",
        "destination 'EUR' is not an ISO 3166-1 alpha-2 code or a customs union",
    ),
    (
        "origin",
        "tariff_measures",
        changed("tariff_measures", measure_id="M9", origin_country="ANY"),
        "invalid_country",
        "origin_country 'ANY' is not an ISO 3166-1 alpha-2 code or ALL",
    ),
    (
        "hs-letters",
        "catalog",
        changed("catalog", sku="SKU9", hs_code="39AB90"),
        "invalid_hs_code",
        "hs_code '39AB90' is not an HS code of 6-10 digits",
    ),
    (
        "hs-short",
        "catalog",
        changed("catalog", sku="SKU9", hs_code="3926.9"),
        "invalid_hs_code",
        "hs_code '3926.9' is not an HS code of 6-10 digits",
    ),
    (
        "hs-prefix",
        "tariff_measures",
        changed("tariff_measures", measure_id="M9", hs_code_prefix="8"),
        "invalid_hs_code",
        "hs_code_prefix '8' is not an HS code prefix of 2-10 digits",
    ),
    (
        "date-range",
        "catalog",
        changed("catalog", sku="SKU9", launch_date="2024-05-01", discontinued_date="2024-04-30"),
        "invalid_date_range",
        "discontinued_date '2024-04-30' is before launch_date '2024-05-01'",
    ),
    (
        "date-range-arrival",
        "shipments",
        changed("shipments", shipment_id="SH9", arrived_date="2025-02-28"),
        "invalid_date_range",
        "arrived_date '2025-02-28' is before departed_date '2025-03-01'",
    ),
    (
        "rate-ad-valorem",
        "tariff_measures",
        changed("tariff_measures", measure_id="M9", ad_valorem_rate=""),
        "incomplete_rate",
        "rate_type 'ad_valorem' needs ad_valorem_rate; empty: ad_valorem_rate",
    ),
    (
        "rate-specific",
        "tariff_measures",
        changed(
            "tariff_measures",
            1,
            measure_id="M9",
            rate_type="specific",
            ad_valorem_rate="",
            specific_unit="",
            legal_basis="x",
        ),
        "incomplete_rate",
        "needs specific_rate, specific_unit, rate_currency; empty: specific_unit",
    ),
    (
        "rate-compound",
        "tariff_measures",
        changed("tariff_measures", 1, measure_id="M9", specific_rate="", legal_basis="x"),
        "incomplete_rate",
        "rate_type 'compound' needs ad_valorem_rate, specific_rate",
    ),
    (
        "rate-threshold",
        "tariff_measures",
        changed("tariff_measures", 2, measure_id="M9", threshold_currency="", legal_basis="x"),
        "incomplete_rate",
        "value_threshold '150' needs threshold_currency",
    ),
    (
        "future",
        "orders",
        changed("orders", order_id="Z1", order_date="2025-07-01 00:00"),
        "future_date",
        "order_date '2025-07-01 00:00' is after the run date 2025-06-30",
    ),
    (
        "future-nullable",
        "shipments",
        changed("shipments", shipment_id="SH9", arrived_date="2025-08-01"),
        "future_date",
        "arrived_date '2025-08-01' is after the run date 2025-06-30",
    ),
    (
        "history",
        "orders",
        changed("orders", order_id="Z1", order_date=BEFORE_HISTORY),
        "before_history_start",
        f"order_date '{BEFORE_HISTORY}' is before the first partition "
        f"{settings.ORDERS_FIRST_PARTITION}",
    ),
    (
        "orphan",
        "orders",
        changed("orders", order_id="Z1", sku="SKU404"),
        "orphan_reference",
        "sku 'SKU404' is not in catalog (sku)",
    ),
    (
        "orphan-lane",
        "lanes",
        changed("lanes", lane_id="L9", destination_warehouse_id="JP-X"),
        "orphan_reference",
        "destination_warehouse_id 'JP-X' is not in warehouses (warehouse_id)",
    ),
    (
        "mismatch",
        "orders",
        changed("orders", order_id="Z1", currency="EUR"),
        "currency_mismatch",
        "currency 'EUR' is not the currency of marketplaces 'US' (USD)",
    ),
]


@pytest.mark.parametrize(
    ("entity", "bad", "rule", "reason"),
    [c[1:] for c in RULE_CASES],
    ids=[c[0] for c in RULE_CASES],
)
def test_each_rule_quarantines_the_bad_row_and_keeps_the_good(con, raw, entity, bad, rule, reason):
    with_references(con, raw, entity)
    good = fx.valid_rows(entity)
    fx.write_csv(raw, entity, [*good[:1], bad, *good[1:]])

    res = ingest(con, raw, entity)

    assert res.rows_read == len(good) + 1
    assert res.rows_accepted == len(good)
    assert res.rows_quarantined == 1
    assert res.quarantined_by_rule == {rule: 1}
    [q] = quarantined(con, entity)
    assert q["row_number"] == 2
    assert q["source_file"] == f"{entity}/part.csv"
    assert q["failed_rule"] == rule
    assert q["failed_rules"][0] == rule
    assert reason in q["reason"]
    assert json.loads(q["original_values"]) == bad
    kept = [(r["_source_row"]) for r in raw_rows(con, entity)]
    assert kept == [1, *range(3, len(good) + 2)]
    assert res.reconciles and reconcile(con, entity, RUN).ok


def test_a_row_failing_several_rules_is_quarantined_once_with_all_of_them(con, raw):
    with_references(con, raw, "orders")
    bad = changed("orders", order_id="", quantity="-1", currency="EURO", sku="SKU404")
    fx.write_csv(raw, "orders", [bad, *fx.valid_rows("orders")])

    res = ingest(con, raw, "orders")

    [q] = quarantined(con, "orders")
    assert q["failed_rule"] == "missing_value"
    assert q["failed_rules"] == [
        "missing_value",
        "out_of_range",
        "invalid_currency",
        "orphan_reference",
        "currency_mismatch",
    ]
    assert q["reason"].split("; ") == [
        "order_id is empty (a value is required)",
        "quantity '-1' is out of range: expected > 0",
        "currency 'EURO' is not an ISO 4217 code",
        "sku 'SKU404' is not in catalog (sku)",
        "currency 'EURO' is not the currency of marketplaces 'US' (USD)",
    ]
    assert res.rows_accepted == 4 and res.reconciles


def test_duplicate_key_keeps_the_first_in_file_then_row_order(con, raw):
    with_references(con, raw, "orders")
    rows = fx.valid_rows("orders")
    fx.write_csv(raw, "orders", rows, name="a.csv")
    # b.csv repeats A1/SKU2 (a.csv row 2) twice, and a new order twice in itself.
    new = changed("orders", order_id="N1")
    again = changed("orders", 1, quantity="5")
    fx.write_csv(raw, "orders", [again, new, new, again], name="b.csv")

    res = ingest(con, raw, "orders")

    assert res.rows_accepted == len(rows) + 1
    q = quarantined(con, "orders")
    assert [(r["source_file"], r["row_number"]) for r in q] == [
        ("orders/b.csv", 1),
        ("orders/b.csv", 3),
        ("orders/b.csv", 4),
    ]
    assert {r["failed_rule"] for r in q} == {"duplicate_key"}
    assert q[0]["reason"] == (
        "key (order_id, sku) = ('A1', 'SKU2') repeats the row kept at orders/a.csv row 2"
    )
    assert q[1]["reason"].endswith("repeats the row kept at orders/b.csv row 2")
    assert res.reconciles


def test_a_bad_first_occurrence_does_not_make_the_good_repeat_a_duplicate(con, raw):
    with_references(con, raw, "orders")
    first_bad = changed("orders", quantity="x")
    fx.write_csv(raw, "orders", [first_bad, *fx.valid_rows("orders")])
    ingest(con, raw, "orders")
    assert [q["failed_rule"] for q in quarantined(con, "orders")] == ["bad_type"]
    assert [r["_source_row"] for r in raw_rows(con, "orders")] == [2, 3, 4, 5]


def test_overlapping_validity_quarantines_every_row_of_the_group(con, raw):
    with_references(con, raw, "prices")
    good = fx.valid_rows("prices")  # SKU1/US: Jan-Mar then Apr-open (adjacent, no overlap)
    overlap = [
        {
            "sku": "SKU2",
            "marketplace": "US",
            "valid_from": "2025-01-01",
            "valid_to": "2025-01-31",
            "list_price": "5",
            "currency": "USD",
        },
        {
            "sku": "SKU2",
            "marketplace": "US",
            "valid_from": "2025-02-01",
            "valid_to": "",
            "list_price": "6",
            "currency": "USD",
        },
        # overlaps the open-ended row above, which is "forever"
        {
            "sku": "SKU2",
            "marketplace": "US",
            "valid_from": "2026-01-01",
            "valid_to": "2026-01-31",
            "list_price": "7",
            "currency": "USD",
        },
    ]
    fx.write_csv(raw, "prices", good + overlap)

    res = ingest(con, raw, "prices")

    assert res.rows_accepted == len(good) + 1  # only SKU2's January row is clear
    q = quarantined(con, "prices")
    assert [r["row_number"] for r in q] == [5, 6]
    assert {r["failed_rule"] for r in q} == {"overlapping_validity"}
    assert q[0]["reason"] == (
        "valid_from..valid_to 2025-02-01..open-ended overlaps prices/part.csv"
        " row 6 with the same (sku, marketplace) = ('SKU2', 'US')"
    )
    assert "overlaps prices/part.csv row 5" in q[1]["reason"]
    assert res.reconciles


def test_tariff_overlap_uses_the_whole_validity_key(con, raw):
    rows = fx.valid_rows("tariff_measures")
    # Same key as M3 (EU / 3926 / ALL / mfn / CN 2020) from 2025-06-01: overlaps M3 (open).
    clash = changed(
        "tariff_measures",
        2,
        measure_id="M4",
        valid_from="2025-06-01",
        valid_to="2025-12-31",
        hs_code_prefix="39 26",
    )
    other_basis = changed("tariff_measures", 2, measure_id="M5", legal_basis="other")
    fx.write_csv(raw, "tariff_measures", [*rows, clash, other_basis])
    res = ingest(con, raw, "tariff_measures")
    assert [q["row_number"] for q in quarantined(con, "tariff_measures")] == [3, 4]
    assert res.rows_accepted == 3


def test_typed_values_and_lineage_are_stored(con, raw):
    fx.write_valid(raw, ("catalog", "marketplaces"))
    ingest(con, raw, "catalog")
    ingest(con, raw, "marketplaces")
    cat = raw_rows(con, "catalog")
    assert cat[0]["hs_code"] == "39269099"  # separators removed
    assert cat[0]["unit_cost"] == pytest.approx(1.2)
    assert cat[0]["launch_date"] == date(2024, 1, 1)
    assert cat[1]["launch_date"] is None
    assert (cat[1]["_source_file"], cat[1]["_source_row"]) == ("catalog/part.csv", 2)
    mk = {r["marketplace"]: r for r in raw_rows(con, "marketplaces")}
    assert mk["US"]["prices_include_vat"] is False and mk["DE"]["prices_include_vat"] is True
    assert mk["US"]["customs_union"] is None
    fx.write_csv(raw, "orders", fx.valid_rows("orders"))
    ingest(con, raw, "orders")
    dates = [r["order_date"].isoformat(sep=" ") for r in raw_rows(con, "orders")]
    assert dates == [
        "2025-06-01 10:15:00",
        "2025-06-01 10:15:00",
        "2025-06-02 00:00:00",
        "2025-06-15 08:00:00",
    ]


def test_parquet_gives_the_same_rows_as_csv(con, raw, tmp_path):
    rows = fx.valid_rows("catalog")
    fx.write_csv(raw, "catalog", rows)
    ingest(con, raw, "catalog")
    from_csv = [
        {k: v for k, v in r.items() if k != "_ingested_at"} for r in raw_rows(con, "catalog")
    ]

    other = tmp_path / "other"
    fx.write_parquet(other, "catalog", rows, name="part.parquet")
    res = ingest(con, other, "catalog")
    from_pq = [
        {k: v for k, v in r.items() if k != "_ingested_at"} for r in raw_rows(con, "catalog")
    ]

    assert res.files[0].format == "parquet"
    for row in from_pq:
        row["_source_file"] = row["_source_file"].replace(".parquet", ".csv")
    assert from_pq == from_csv


def test_typed_parquet_columns_are_read_as_their_text(con, raw):
    table = pa.table(
        {
            "rate_date": pa.array([date(2025, 6, 1), date(2025, 6, 2)], pa.date32()),
            "currency": ["EUR", "XXXX"],
            "usd_per_unit": pa.array([1.13, -1.0], pa.float64()),
        }
    )
    (raw / "fx_rates").mkdir(parents=True)
    pq.write_table(table, raw / "fx_rates" / "rates.PARQUET")
    res = ingest(con, raw, "fx_rates")
    assert res.rows_accepted == 1
    [q] = quarantined(con, "fx_rates")
    assert json.loads(q["original_values"]) == {
        "rate_date": "2025-06-02",
        "currency": "XXXX",
        "usd_per_unit": "-1.0",
    }
    assert q["failed_rules"] == ["out_of_range", "invalid_currency"]
    assert q["failed_rule"] == "out_of_range"


def test_whole_numbers_written_as_floats_are_integers(con, raw):
    fx.write_csv(raw, "warehouses", fx.valid_rows("warehouses"))
    fx.write_csv(raw, "catalog", fx.valid_rows("catalog"))
    for name in ("warehouses", "catalog"):
        ingest(con, raw, name)
    table = pa.table({
        "snapshot_date": ["2025-06-01", "2025-06-02", "2025-06-03"],
        "warehouse_id": ["US-ONT"] * 3,
        "sku": ["SKU1"] * 3,
        "on_hand": pa.array([120.0, 3.5, None], pa.float64()),  # pandas-style gappy ints
    })  # fmt: skip
    (raw / "inventory").mkdir(parents=True)
    pq.write_table(table, raw / "inventory" / "stock.parquet")
    res = ingest(con, raw, "inventory")
    assert [r["on_hand"] for r in raw_rows(con, "inventory")] == [120]
    assert [(q["failed_rule"], q["reason"]) for q in quarantined(con, "inventory")] == [
        ("bad_type", "on_hand '3.5' is not an integer"),
        ("missing_value", "on_hand is empty (a value is required)"),
    ]
    assert res.reconciles


def test_original_values_keep_the_text_as_read_with_extra_columns(con, raw):
    rows = [
        dict(fx.valid_rows("fx_rates")[0], note="from bank"),
        {"rate_date": " 2025-06-02 ", "currency": "usd", "usd_per_unit": "1", "note": ""},
    ]
    path = fx.write_csv(raw, "fx_rates", rows)
    res = ingest(con, raw, "fx_rates")
    assert res.extra_columns == {"fx_rates/part.csv": ["note"]}
    assert res.files[0].extra_columns == ["note"]
    assert "note" not in raw_rows(con, "fx_rates")[0]
    [q] = quarantined(con, "fx_rates")
    # values are trimmed for the rules, but kept exactly as read in quarantine
    assert q["failed_rule"] == "invalid_currency"
    assert json.loads(q["original_values"]) == {
        "rate_date": " 2025-06-02 ",
        "currency": "usd",
        "usd_per_unit": "1",
        "note": "",
    }
    assert path.exists()


def test_header_names_match_trimmed_and_in_any_case(con, raw):
    folder = raw / "fx_rates"
    folder.mkdir(parents=True)
    (folder / "r.csv").write_text("Rate_Date, CURRENCY ,usd_per_unit\n2025-06-01,EUR,1.1\n")
    res = ingest(con, raw, "fx_rates")
    assert res.rows_accepted == 1 and res.extra_columns == {}


def test_optional_columns_may_be_absent(con, raw):
    rows = [
        {k: v for k, v in r.items() if k not in ("launch_date", "discontinued_date")}
        for r in fx.valid_rows("catalog")
    ]
    fx.write_csv(raw, "catalog", rows)
    res = ingest(con, raw, "catalog")
    assert res.rows_accepted == 2
    assert {r["launch_date"] for r in raw_rows(con, "catalog")} == {None}


def test_missing_required_column_names_the_file_and_column(con, raw):
    fx.write_csv(raw, "fx_rates", fx.valid_rows("fx_rates"), name="good.csv")
    rows = [{k: v for k, v in r.items() if k != "usd_per_unit"} for r in fx.valid_rows("fx_rates")]
    fx.write_csv(raw, "fx_rates", rows, name="sub/bad.csv")
    with pytest.raises(MalformedFileError) as err:
        ingest(con, raw, "fx_rates")
    text = str(err.value)
    assert "fx_rates/sub/bad.csv" in text
    assert "missing required column(s) usd_per_unit" in text
    assert "the file has: rate_date, currency" in text
    # nothing was written
    assert con.execute("SELECT count(*) FROM raw.fx_rates").fetchall() == [(0,)]


def test_unreadable_file_raises_and_keeps_the_previous_rows(con, raw):
    fx.write_csv(raw, "fx_rates", fx.valid_rows("fx_rates"))
    ingest(con, raw, "fx_rates")
    (raw / "fx_rates" / "broken.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(MalformedFileError, match=r"fx_rates/broken\.parquet: cannot be read"):
        ingest(con, raw, "fx_rates", run_id="run-2")
    assert con.execute("SELECT count(*) FROM raw.fx_rates").fetchall() == [(2,)]


def test_ragged_csv_rows_are_quarantined_not_the_file(con, raw):
    folder = raw / "fx_rates"
    folder.mkdir(parents=True)
    (folder / "r.csv").write_text(
        "rate_date,currency,usd_per_unit\n2025-06-01,EUR,1.1,9,9\n2025-06-02,EUR\n"
        "2025-06-03,EUR,1.2\n"
    )
    res = ingest(con, raw, "fx_rates")
    assert (res.rows_accepted, res.quarantined_by_rule) == (1, {"malformed_row": 2})
    assert [r["row_number"] for r in quarantined(con, "fx_rates")] == [1, 2]


@pytest.mark.parametrize(
    "content", ["rate_date,currency,usd_per_unit\n", ""], ids=["header-only", "zero-bytes"]
)
def test_empty_file_is_a_file_level_finding(con, raw, content):
    fx.write_csv(raw, "fx_rates", fx.valid_rows("fx_rates"))
    (raw / "fx_rates" / "empty.csv").write_text(content)
    res = ingest(con, raw, "fx_rates")
    assert res.empty_files == ["fx_rates/empty.csv"]
    assert res.rows_accepted == 2 and res.rows_quarantined == 0
    rows = con.execute(
        "SELECT row_number, failed_rule, failed_rules, reason FROM "
        "quality.quarantine WHERE source_file = 'fx_rates/empty.csv'"
    ).fetchall()
    assert len(rows) == 1
    assert rows[0][:3] == (None, "empty_file", ["empty_file"])
    assert "fx_rates/empty.csv has" in rows[0][3]
    assert res.reconciles
    ingest(con, raw, "fx_rates")  # a re-run replaces it
    assert con.execute("SELECT count(*) FROM quality.quarantine").fetchall() == [(1,)]


def test_discover_files(tmp_path):
    folder = tmp_path / "raw" / "orders"
    (folder / "2025").mkdir(parents=True)
    (folder / ".cache").mkdir()
    for name in (
        "b.csv",
        "A.CSV",
        "2025/c.Parquet",
        ".hidden.csv",
        ".cache/x.csv",
        "notes.txt",
        "data.csv.bak",
    ):
        (folder / name).write_text("x")
    found = [p.relative_to(folder).as_posix() for p in discover_files(tmp_path / "raw", "orders")]
    assert found == ["2025/c.Parquet", "A.CSV", "b.csv"]
    assert discover_files(tmp_path / "raw", "catalog") == []


def test_absent_optional_entity_reports_when_absent_and_table_exists(con, raw):
    res = ingest(con, raw, "promotions")
    assert not res.present
    assert res.when_absent == contract.entity("promotions").when_absent
    assert res.reconciles and reconcile(con, "promotions", RUN).ok
    assert con.execute("SELECT count(*) FROM raw.promotions").fetchall() == [(0,)]


def test_absent_required_entity_is_reported_and_nothing_is_touched(con, raw):
    fx.write_csv(raw, "orders", fx.valid_rows("orders"))
    ingest(con, raw, "orders")
    (raw / "orders" / "part.csv").unlink()
    res = ingest(con, raw, "orders", run_id="run-2")
    assert not res.present
    assert "orders is required" in res.when_absent
    assert con.execute("SELECT count(*) FROM raw.orders").fetchall() == [(4,)]


def test_removed_files_leave_no_rows(con, raw):
    path = fx.write_csv(raw, "promotions", fx.valid_rows("promotions"))
    ingest(con, raw, "promotions")
    path.unlink()
    ingest(con, raw, "promotions")
    assert con.execute("SELECT count(*) FROM raw.promotions").fetchall() == [(0,)]


def test_orphan_rule_is_skipped_and_said_when_the_reference_is_absent(con, raw):
    fx.write_csv(raw, "orders", [*fx.valid_rows("orders"), changed("orders", sku="SKU404")])
    res = ingest(con, raw, "orders")
    assert res.skipped_rules == [
        "orphan_reference on sku: catalog is absent",
        "orphan_reference on marketplace: marketplaces is absent",
    ]
    # SKU404 repeats A1's key with another sku, so it is new: every row is accepted
    assert res.rows_accepted == 5 and res.rows_quarantined == 0


def test_unpartitioned_rerun_replaces_rows(con, raw):
    fx.write_csv(
        raw, "fx_rates", [*fx.valid_rows("fx_rates"), changed("fx_rates", currency="EURO")]
    )
    first = ingest(con, raw, "fx_rates")
    second = ingest(con, raw, "fx_rates", run_id="run-2")
    for res in (first, second):
        assert (res.rows_accepted, res.rows_quarantined) == (2, 1)
    assert con.execute("SELECT count(*) FROM raw.fx_rates").fetchall() == [(2,)]
    assert len(quarantined(con, "fx_rates")) == 1
    assert reconcile(con, "fx_rates", "run-2").ok
    log = con.execute(
        "SELECT run_id, rows_read, rows_accepted, rows_quarantined, "
        "rows_outside_partition, partition_range FROM quality.ingest_log "
        "ORDER BY run_id"
    ).fetchall()
    assert log == [("run-1", 3, 2, 1, 0, None), ("run-2", 3, 2, 1, 0, None)]


def test_partition_range_in_and_outside_counts(con, raw):
    with_references(con, raw, "orders")
    fx.write_csv(raw, "orders", fx.valid_rows("orders"), name="a.csv")
    fx.write_csv(
        raw,
        "orders",
        [
            changed("orders", order_id="D1", order_date="2025-06-02", quantity="0"),  # in, bad
            changed("orders", order_id="D2", order_date="2025-06-20", quantity="0"),  # out, bad
            changed("orders", order_id="D3", order_date=""),  # undated: every run owns it
            changed("orders", order_id="D4", order_date="2025-09-01"),  # future: every run
        ],
        name="b.csv",
    )
    june_1_2 = (date(2025, 6, 1), date(2025, 6, 2))

    res = ingest(con, raw, "orders", partition_range=june_1_2)

    by_file = {f.source_file: f for f in res.files}
    a, b = by_file["orders/a.csv"], by_file["orders/b.csv"]
    assert (a.rows_read, a.rows_accepted, a.rows_quarantined, a.rows_outside_partition) == (
        4,
        3,
        0,
        1,
    )
    assert (b.rows_read, b.rows_accepted, b.rows_quarantined, b.rows_outside_partition) == (
        4,
        0,
        3,
        1,
    )
    assert res.rows_outside_partition == 2
    assert res.quarantined_by_rule == {"missing_value": 1, "out_of_range": 1, "future_date": 1}
    keys = {(q["row_number"], q["partition_key"]) for q in quarantined(con, "orders")}
    assert keys == {(1, "2025-06-02"), (3, None), (4, "2025-09-01")}
    assert {r["order_id"] for r in raw_rows(con, "orders")} == {"A1", "B7"}
    assert res.reconciles
    log = con.execute(
        "SELECT DISTINCT partition_range FROM quality.ingest_log WHERE entity = 'orders'"
    ).fetchall()
    assert log == [("2025-06-01...2025-06-02",)]


def test_partition_rerun_is_idempotent_and_partitions_add_up(con, raw):
    with_references(con, raw, "orders")
    rows = [
        *fx.valid_rows("orders"),
        changed("orders", order_id="E1", order_date="2025-06-15", quantity="-2"),
        changed("orders", order_id="E2", order_date="not a date"),
        changed("orders", order_id="E3", order_date=BEFORE_HISTORY),
    ]
    fx.write_csv(raw, "orders", rows)
    first_half, second_half = (
        (date(2025, 6, 1), date(2025, 6, 14)),
        (date(2025, 6, 15), date(2025, 6, 30)),
    )
    counts = []
    for run in ("r1", "r2"):
        res = ingest(con, raw, "orders", run_id=run, partition_range=first_half)
        counts.append(
            (
                res.rows_accepted,
                res.rows_quarantined,
                res.rows_outside_partition,
                con.execute("SELECT count(*) FROM raw.orders").fetchall()[0][0],
                len(quarantined(con, "orders")),
            )
        )
        assert res.reconciles
    assert counts[0] == counts[1] == (3, 2, 2, 3, 2)
    res = ingest(con, raw, "orders", run_id="r3", partition_range=second_half)
    assert (res.rows_accepted, res.rows_quarantined, res.rows_outside_partition) == (1, 3, 3)
    assert res.reconciles and reconcile(con, "orders", "r2").ok

    # both partitions together hold exactly what one unpartitioned run holds
    both_raw = sorted((r["order_id"], r["sku"]) for r in raw_rows(con, "orders"))
    both_q = sorted((q["row_number"], q["failed_rule"]) for q in quarantined(con, "orders"))
    full = ingest(con, raw, "orders", run_id="r4")
    assert full.reconciles
    assert sorted((r["order_id"], r["sku"]) for r in raw_rows(con, "orders")) == both_raw
    assert sorted((q["row_number"], q["failed_rule"]) for q in quarantined(con, "orders")) == both_q
    assert (full.rows_accepted, full.rows_quarantined) == (4, 3)


def test_duplicates_across_partitions_are_found(con, raw):
    with_references(con, raw, "orders")
    fx.write_csv(raw, "orders", fx.valid_rows("orders"), name="a.csv")
    # the same order line again, dated in a later partition
    fx.write_csv(raw, "orders", [changed("orders", order_date="2025-06-20")], name="b.csv")
    res = ingest(con, raw, "orders", partition_range=(date(2025, 6, 16), date(2025, 6, 30)))
    assert res.quarantined_by_rule == {"duplicate_key": 1}
    [q] = quarantined(con, "orders")
    assert q["reason"].endswith("orders/a.csv row 1") and q["partition_key"] == "2025-06-20"


def test_reconcile_detects_tampering(con, raw):
    fx.write_csv(
        raw, "fx_rates", [*fx.valid_rows("fx_rates"), changed("fx_rates", currency="EURO")]
    )
    assert ingest(con, raw, "fx_rates").reconciles
    con.execute("DELETE FROM raw.fx_rates WHERE currency = 'CNY'")
    rec = reconcile(con, "fx_rates", RUN)
    assert not rec.ok
    assert rec.all_problems() == ["fx_rates/part.csv: 2 accepted but 1 in raw.fx_rates"]
    con.execute(
        "INSERT INTO quality.quarantine (entity, source_file, row_number, failed_rule) "
        "VALUES ('fx_rates', 'fx_rates/part.csv', 1, 'bad_type')"
    )
    assert any(
        "both accepted and quarantined" in p for p in reconcile(con, "fx_rates", RUN).all_problems()
    )
    no_run = reconcile(con, "fx_rates", "no-such-run")
    assert not no_run.ok and "no files of fx_rates were logged" in str(no_run)


def test_ensure_tables_is_idempotent_and_follows_the_contract(con):
    ensure_tables(con)
    ensure_tables(con)
    for name in contract.ENTITY_NAMES:
        table = contract.raw_table(name)
        cols = con.execute(f"DESCRIBE {table.qualified}").fetchall()
        assert [(c[0], c[1]) for c in cols] == list(table.columns.items())
    for table in (contract.QUARANTINE, contract.INGEST_LOG):
        cols = con.execute(f"DESCRIBE {table.qualified}").fetchall()
        assert [c[0] for c in cols] == list(table.columns)


def test_partition_range_only_for_partitioned_entities(con, raw):
    fx.write_csv(raw, "fx_rates", fx.valid_rows("fx_rates"))
    with pytest.raises(ValueError, match="not partitioned"):
        ingest(con, raw, "fx_rates", partition_range=(date(2025, 1, 1), date(2025, 1, 2)))


# --- reference computation: the SQL rules against a plain Python implementation -------------

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")


def _reference_orders(rows, catalog, currency_of):
    """failed_rule per row (None: accepted) by a slow, obvious Python loop."""
    out, seen = [], set()
    for r in rows:
        v = {k: (x.strip() or None) for k, x in r.items()}
        fails = []
        if any(v[c] is None for c in v):
            fails.append("missing_value")
        day = None
        if v["order_date"] and ISO_TS.fullmatch(v["order_date"]):
            try:
                day = date.fromisoformat(v["order_date"][:10])
            except ValueError:
                day = None
        whole = v["quantity"] and re.fullmatch(r"[+-]?\d+(\.0*)?", v["quantity"])
        qty = int(v["quantity"].split(".")[0]) if whole else None
        try:  # a number is finite: 'nan' and 'inf' are not prices
            price = float(v["unit_price"]) if v["unit_price"] else None
            price = price if price is not None and math.isfinite(price) else None
        except ValueError:
            price = None
        if (
            (v["order_date"] and day is None)
            or (v["quantity"] and qty is None)
            or (v["unit_price"] and price is None)
        ):
            fails.append("bad_type")
        if (qty is not None and qty <= 0) or (price is not None and price < 0):
            fails.append("out_of_range")
        if v["currency"] and v["currency"] not in {"USD", "EUR", "GBP", "JPY"}:
            fails.append("invalid_currency")
        if day and day > fx.RUN_DATE:
            fails.append("future_date")
        if day and day < date.fromisoformat(settings.ORDERS_FIRST_PARTITION):
            fails.append("before_history_start")
        if v["sku"] and v["sku"] not in catalog:
            fails.append("orphan_reference")
        if v["marketplace"] and v["marketplace"] not in currency_of:
            fails.append("orphan_reference")
        if (
            v["currency"]
            and v["marketplace"] in currency_of
            and v["currency"] != currency_of[v["marketplace"]]
        ):
            fails.append("currency_mismatch")
        if not fails:
            key = (v["order_id"], v["sku"])
            if key in seen:
                fails.append("duplicate_key")
            seen.add(key)
        out.append(fails[0] if fails else None)
    return out


def test_orders_rules_match_a_python_reference(con, raw):
    with_references(con, raw, "orders")
    rng = random.Random(7)
    corrupt = {
        "order_id": ["", "  "],
        "order_date": [
            "2025-02-30",
            "2025-6-1",
            "2026-01-01",
            BEFORE_HISTORY + " 23:59",
            "x",
            "2025-05-05T10:11:12.5",
        ],
        "marketplace": ["FR", ""],
        "sku": ["SKU3", ""],
        "quantity": ["0", "-1", "1.0", "2e1", "+3", ""],
        "unit_price": ["-0.01", "1e2", ".5", "nan", "inf", "1,5"],
        "currency": ["GBP", "usd", "JPY", "EURO"],
    }
    rows = []
    for _ in range(400):
        mk = rng.choice(["US", "DE"])
        row = {
            "order_id": f"O{rng.randint(1, 150)}",
            "order_date": f"2025-0{rng.randint(1, 6)}-{rng.randint(10, 28)}",
            "marketplace": mk,
            "sku": rng.choice(["SKU1", "SKU2"]),
            "quantity": str(rng.randint(1, 5)),
            "unit_price": f"{rng.uniform(1, 50):.2f}",
            "currency": "USD" if mk == "US" else "EUR",
        }
        if rng.random() < 0.4:
            col = rng.choice(list(corrupt))
            row[col] = rng.choice(corrupt[col])
        rows.append(row)
    fx.write_csv(raw, "orders", rows[:250], name="a.csv")
    fx.write_csv(raw, "orders", rows[250:], name="b.csv")

    res = ingest(con, raw, "orders")

    expected = _reference_orders(rows, {"SKU1", "SKU2"}, {"US": "USD", "DE": "EUR"})
    got: list[str | None] = [None] * len(rows)
    for q in quarantined(con, "orders"):
        offset = 0 if q["source_file"] == "orders/a.csv" else 250
        got[offset + q["row_number"] - 1] = q["failed_rule"]
    diff = [(i, rows[i], g, expected[i]) for i, g in enumerate(got) if g != expected[i]]
    assert not diff, "\n".join(map(str, diff))
    assert res.rows_accepted == expected.count(None)
    assert sum(res.quarantined_by_rule.values()) == len(rows) - expected.count(None)
    assert len(set(res.quarantined_by_rule)) >= 8  # the sample exercises most rules
    assert res.reconciles


def test_a_bad_catalog_attribute_keeps_the_orders_of_that_sku(con, raw):
    catalog = fx.valid_rows("catalog")
    catalog[0]["hs_code"] = "39AB"  # a typo on SKU1's row
    fx.write_csv(raw, "catalog", catalog)
    assert ingest(con, raw, "catalog").quarantined_by_rule == {"invalid_hs_code": 1}
    key = con.execute("SELECT row_key->>'sku' FROM quality.quarantine").fetchall()
    assert key == [("SKU1",)]
    fx.write_csv(raw, "marketplaces", fx.valid_rows("marketplaces"))
    ingest(con, raw, "marketplaces")
    orders = fx.valid_rows("orders")
    assert {r["sku"] for r in orders} >= {"SKU1"}
    fx.write_csv(raw, "orders", [*orders, changed("orders", order_id="Z9", sku="SKU404")])

    res = ingest(con, raw, "orders")

    # Demand that happened is kept; only a SKU no catalog row names is an orphan.
    assert res.rows_accepted == len(orders)
    assert res.quarantined_by_rule == {"orphan_reference": 1}
    assert con.execute("SELECT count(*) FROM raw.orders WHERE sku = 'SKU1'").fetchall()[0][0] > 0
