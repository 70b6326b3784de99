"""A seller's files as they really come: odd names, subfolders, footers, short rows, repeated
columns, time-zone-aware timestamps. Each file is read by its exact path, never as SQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import ingest_fixtures as fx
import pandas as pd
import pytest

from ml.ingest import MalformedFileError, discover_files, ingest_entity

RUN_DATE = fx.RUN_DATE


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    return tmp_path / "raw"


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def ingest(con, raw, entity="orders", **kw):
    return ingest_entity(con, raw, entity, run_id="run-1", run_date=RUN_DATE, **kw)


def orders(n: int, prefix: str) -> list[dict[str, str]]:
    row = fx.valid_rows("orders")[0]
    return [{**row, "order_id": f"{prefix}{i}"} for i in range(n)]


def accepted_ids(con) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for file, order_id in con.execute(
        "SELECT _source_file, order_id FROM raw.orders ORDER BY _source_file, _source_row"
    ).fetchall():
        out.setdefault(file, []).append(order_id)
    return out


@pytest.mark.parametrize(
    "names",
    [
        ["orders[1].csv", "orders1.csv"],  # a bracket is a glob class: [1] matches '1'
        ["a*.csv", "ab.csv", "abc.csv"],  # an asterisk matches the other files
        ["what?.csv", "whatX.csv"],
        ["seller's manual orders.csv"],  # an apostrophe ended the SQL string
        ["Bestellungen März 注文.csv", "  leading spaces.csv"],
        ["x.csv')); COPY (SELECT 42) TO 'PWNED.txt'; --.csv"],
    ],
)
def test_every_file_is_read_by_its_exact_name(con, raw, tmp_path, monkeypatch, names):
    monkeypatch.chdir(tmp_path)  # a COPY ... TO 'PWNED.txt' would land here
    expected = {}
    for k, name in enumerate(names):
        rows = orders(k + 2, f"F{k}-")
        fx.write_csv(raw, "orders", rows, name=name)
        expected[f"orders/{name}"] = [r["order_id"] for r in rows]

    res = ingest(con, raw)

    assert accepted_ids(con) == expected
    assert res.rows_read == res.rows_accepted == sum(len(v) for v in expected.values())
    assert res.reconciles
    assert not list(tmp_path.rglob("PWNED*"))


def test_orders_in_subfolders_belong_to_the_entity(con, raw):
    fx.write_csv(raw, "orders", orders(3, "top-"), name="current.csv")
    fx.write_csv(raw, "orders", orders(40, "old-"), name="archive/2025/old.csv")
    (raw / "orders" / "backup.csv").mkdir()  # a folder named like a file is not a file
    fx.write_csv(raw, "orders", orders(2, "bk-"), name="backup.csv/inside.csv")

    found = [p.relative_to(raw).as_posix() for p in discover_files(raw, "orders")]
    res = ingest(con, raw)

    assert found == [
        "orders/archive/2025/old.csv",
        "orders/backup.csv/inside.csv",
        "orders/current.csv",
    ]
    assert res.rows_accepted == 45 and res.rows_quarantined == 0


def write_text(raw: Path, name: str, text: str) -> Path:
    path = raw / "orders" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


HEADER = "order_id,order_date,marketplace,sku,quantity,unit_price,currency\n"


def test_a_short_row_and_a_footer_are_bad_rows_with_their_row_numbers(con, raw):
    write_text(
        raw,
        "export.csv",
        HEADER
        + "A1,2025-06-01,US,SKU1,2,10.99,USD\n"
        + "A2,2025-06-01,US,SKU1\n"
        + "A3,2025-06-02,US,SKU2,1,5.00,USD,surplus\n"
        + "A4,2025-06-02,US,SKU2,1,5.00,\n"
        + "Total: 4 orders\n",
    )
    res = ingest(con, raw)
    q = con.execute(
        "SELECT row_number, failed_rule, reason, original_values FROM quality.quarantine "
        "ORDER BY row_number"
    ).fetchall()

    assert res.rows_read == 5 and res.rows_accepted == 1 and res.rows_quarantined == 4
    assert [(r[0], r[1]) for r in q] == [
        (2, "malformed_row"),
        (3, "malformed_row"),
        (4, "missing_value"),  # a trailing empty field is a field: the currency is empty
        (5, "malformed_row"),
    ]
    assert q[0][2].startswith("the row has 4 field(s), the header has 7")
    assert "more fields than the header (7): extra value(s) 'surplus'" in q[1][2]
    assert json.loads(q[3][3])["order_id"] == "Total: 4 orders"
    assert res.reconciles


def test_a_footer_does_not_hide_the_header_of_a_semicolon_file(con, raw):
    write_text(raw, "eu.csv", HEADER.replace(",", ";") + "A1;2025-06-01;US;SKU1;2;10.99;USD\n"
               "Summe: 1\n")  # fmt: skip
    res = ingest(con, raw)
    assert (res.rows_accepted, res.rows_quarantined) == (1, 1)


def test_quoted_line_breaks_and_delimiters_inside_values(con, raw):
    write_text(raw, "quoted.csv", HEADER + '"A,1",2025-06-01,US,SKU1,2,10.99,USD\n'
               '"A\n2",2025-06-01,US,SKU1,2,10.99,USD\nTotal\n')  # fmt: skip
    res = ingest(con, raw)
    assert [r[0] for r in con.execute("SELECT order_id FROM raw.orders ORDER BY 1").fetchall()] \
        == ["A\n2", "A,1"]  # fmt: skip
    assert (res.rows_accepted, res.rows_quarantined) == (2, 1)


def test_an_order_id_starting_with_a_hash_is_data_not_a_comment(con, raw):
    write_text(raw, "shop.csv", HEADER + "#1001,2025-06-01,US,SKU1,1,9.99,USD\n"
               "#1002,2025-06-01,US,SKU1,1,9.99,USD\n")  # fmt: skip
    assert ingest(con, raw).rows_accepted == 2


def test_a_column_that_appears_twice_in_any_case_is_a_clear_error(con, raw):
    write_text(raw, "dup.csv", HEADER.strip() + ",QUANTITY\nA1,2025-06-01,US,SKU1,2,10.99,USD,3\n")
    with pytest.raises(
        MalformedFileError, match=r"orders/dup.csv: column 'quantity' appears twice"
    ):
        ingest(con, raw)


def test_a_zero_byte_file_is_an_empty_file_in_quarantine(con, raw):
    write_text(raw, "empty.csv", "")
    fx.write_csv(raw, "orders", orders(2, "A"), name="good.csv")
    res = ingest(con, raw)
    assert res.empty_files == ["orders/empty.csv"]
    assert con.execute(
        "SELECT failed_rule FROM quality.quarantine WHERE source_file = 'orders/empty.csv'"
    ).fetchall() == [("empty_file",)]


def test_an_overflowing_number_is_out_of_range_not_infinity(con, raw):
    bad = {**fx.valid_rows("orders")[0], "order_id": "X", "unit_price": "1e309"}
    fx.write_csv(raw, "orders", [*orders(2, "A"), bad])
    res = ingest(con, raw)
    reason = con.execute("SELECT failed_rule, reason FROM quality.quarantine").fetchall()
    assert res.quarantined_by_rule == {"out_of_range": 1}
    assert reason == [("out_of_range", "unit_price '1e309' is out of range: not a finite number")]
    assert con.execute("SELECT bool_and(isfinite(unit_price)) FROM raw.orders").fetchall() == [
        (True,)
    ]


def test_timezone_aware_timestamps_are_read_as_the_marketplace_local_time(con, raw):
    instants = pd.to_datetime(["2025-06-01 23:30", "2025-06-01 23:30"]).tz_localize("UTC")
    frame = pd.DataFrame(
        {
            "order_id": ["P1", "P2"],
            "order_date": instants,
            "marketplace": ["DE", "US"],
            "sku": ["SKU1", "SKU1"],
            "quantity": [1, 2],
            "unit_price": [9.5, 10.0],
            "currency": ["EUR", "USD"],
        }
    )
    folder = raw / "orders"
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "typed.parquet")
    write_text(raw, "text.csv", HEADER + "T1,2025-06-01T23:30:00Z,JP,SKU1,1,900,JPY\n"
               "T2,2025-06-01 14:03:11 +0100,UK,SKU1,1,9,GBP\n")  # fmt: skip

    res = ingest(con, raw)
    got = dict(con.execute("SELECT order_id, order_date FROM raw.orders").fetchall())

    assert res.rows_quarantined == 0
    assert got == {
        "P1": dt.datetime(2025, 6, 2, 1, 30),  # Berlin, summer time (UTC+2)
        "P2": dt.datetime(2025, 6, 1, 16, 30),  # Amazon US reports in Pacific time (UTC-7)
        "T1": dt.datetime(2025, 6, 2, 8, 30),  # Tokyo (UTC+9)
        "T2": dt.datetime(2025, 6, 1, 14, 3, 11),  # London, summer time (UTC+1)
    }


def test_without_marketplaces_a_de_order_in_usd_is_a_currency_mismatch(con, raw):
    bad = {**fx.valid_rows("orders")[0], "order_id": "X", "marketplace": "DE", "currency": "USD"}
    odd = {**bad, "order_id": "Y", "marketplace": "ZZ"}  # unknown code: nothing to compare with
    fx.write_csv(raw, "orders", [*orders(2, "A"), bad, odd])
    res = ingest(con, raw)
    assert res.quarantined_by_rule == {"currency_mismatch": 1}
    [(reason,)] = con.execute("SELECT reason FROM quality.quarantine").fetchall()
    assert reason == "currency 'USD' is not the currency of marketplaces 'DE' (EUR)"


def test_a_file_that_is_not_utf8_is_one_line_saying_so(con, raw):
    (raw / "orders").mkdir(parents=True)
    (raw / "orders" / "excel.csv").write_bytes(
        HEADER.encode() + "A1,2025-06-01,DE,SKU1,2,10.99,EUR,Käse\n".encode("latin-1")
    )
    with pytest.raises(MalformedFileError) as error:
        ingest(con, raw)
    assert str(error.value).startswith("orders/excel.csv: cannot be read as CSV:")
    assert "not utf-8 encoded" in str(error.value) and "\n" not in str(error.value)
