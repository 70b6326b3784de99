"""Importers for the order exports sellers have: Amazon's All Orders report, Shopify's order
export and any other CSV by column mapping. Small files are built in tmp_path from the published
column lists; what is written must then pass the project's own ingest with nothing quarantined.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from ml.cli import main
from ml.importers import amazon, common, shopify
from ml.importers.amazon import import_amazon
from ml.importers.common import SourceError
from ml.importers.mapped_csv import import_mapped_csv, parse_assignments, parse_numbers
from ml.importers.shopify import import_shopify
from ml.ingest import ingest_entity
from ml.settings import DataPaths

RUN_DATE = date(2026, 12, 1)

# Amazon Seller Central help "Order reports"; Selling Partner API docs, "Order Tracking reports
# attributes", GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL (cpf, Brazil only, left out).
PUBLISHED_AMAZON_COLUMNS = (
    "amazon-order-id, merchant-order-id, purchase-date, last-updated-date, order-status, "
    "fulfillment-channel, sales-channel, order-channel, ship-service-level, product-name, sku, "
    "asin, item-status, quantity, currency, item-price, item-tax, shipping-price, shipping-tax, "
    "gift-wrap-price, gift-wrap-tax, item-promotion-discount, ship-promotion-discount, ship-city, "
    "ship-state, ship-postal-code, ship-country, promotion-ids, is-business-order, "
    "purchase-order-number, price-designation"
).split(", ")
# Shopify help center, "Exporting orders": the columns of Orders > Export (CSV).
PUBLISHED_SHOPIFY_COLUMNS = (
    "Name, Email, Financial Status, Paid at, Fulfillment Status, Fulfilled at, Accepts Marketing, "
    "Currency, Subtotal, Shipping, Taxes, Total, Discount Code, Discount Amount, Shipping Method, "
    "Created at, Lineitem quantity, Lineitem name, Lineitem price, Lineitem compare at price, "
    "Lineitem sku, Lineitem requires shipping, Lineitem taxable, Lineitem fulfillment status, "
    "Billing Name, Billing Street, Billing Address1, Billing Address2, Billing Company, "
    "Billing City, Billing Zip, Billing Province, Billing Country, Billing Phone, Shipping Name, "
    "Shipping Street, Shipping Address1, Shipping Address2, Shipping Company, Shipping City, "
    "Shipping Zip, Shipping Province, Shipping Country, Shipping Phone, Notes, Note Attributes, "
    "Cancelled at, Payment Method, Payment Reference, Refunded Amount, Vendor, Id, Tags, "
    "Risk Level, Source, Lineitem discount"
).split(", ")


# ---------------------------------------------------------------------------------------------
# Helpers


def amazon_row(order, date_, status, channel, sku, qty, currency, price, item_status=None):
    return {
        "amazon-order-id": order,
        "merchant-order-id": "",
        "purchase-date": date_,
        "last-updated-date": date_,
        "order-status": status,
        "fulfillment-channel": "Amazon",
        "sales-channel": channel,
        "order-channel": "",
        "ship-service-level": "Standard",
        "product-name": 'Mug 12" "Red"',  # a quote inside a tab-separated field
        "sku": sku,
        "asin": "B0TEST0001",
        "item-status": item_status or ("Cancelled" if status == "Cancelled" else "Shipped"),
        "quantity": qty,
        "currency": currency,
        "item-price": price,
        "item-tax": "",
        "shipping-price": "4.99" if price else "",
        "ship-country": "DE",
        "is-business-order": "false",
    }


AMAZON_ROWS = [
    # 1-2: one order, two SKUs; 14:03 UTC is 15:03 in Berlin (CET since 25 October).
    amazon_row("302-1", "2026-10-30T14:03:11+00:00", "Shipped", "Amazon.de", "MUG-RED", "2",
               "EUR", "39.98"),
    amazon_row("302-1", "2026-10-30T14:03:11+00:00", "Shipped", "Amazon.de", "CUP-BLUE", "1",
               "EUR", "9.50"),
    # 3-4: the same order and SKU twice: merged (4 units, 76.00 in all).
    # 05:30 UTC on the 31st is 22:30 on the 30th in Los Angeles (PDT, -7).
    amazon_row("111-2", "2026-10-31T05:30:00+00:00", "Shipped", "Amazon.com", "MUG-RED", "3",
               "USD", "60.00"),
    amazon_row("111-2", "2026-10-31T05:30:00+00:00", "Shipped", "Amazon.com", "MUG-RED", "1",
               "USD", "16.00"),
    # 5: 16:30 UTC is 01:30 the next day in Tokyo.
    amazon_row("249-3", "2026-10-30T16:30:00+00:00", "Shipped", "Amazon.co.jp", "MUG-RED", "1",
               "JPY", "2500"),
    # 6: an offset that is not UTC: 09:15+01:00 is 08:15 in London (GMT).
    amazon_row("026-4", "2026-10-30T09:15:00+01:00", "Shipped - Delivered to Buyer",
               "Amazon.co.uk", "MUG-RED", "1", "GBP", "15.99"),
    amazon_row("302-5", "2026-10-30T10:00:00+00:00", "Cancelled", "Amazon.de", "MUG-RED", "0",
               "", ""),  # 7
    amazon_row("302-6", "2026-10-30T11:00:00+00:00", "Shipped", "Amazon.de", "TEE-M", "1",
               "EUR", "10.00"),  # 8
    amazon_row("302-6", "2026-10-30T11:00:00+00:00", "Shipped", "Amazon.de", "TEE-L", "0",
               "EUR", "", item_status="Cancelled"),  # 9: the rest of the order stands
    amazon_row("111-7", "2026-10-31T12:00:00+00:00", "Pending", "Amazon.com", "MUG-RED", "1",
               "", ""),  # 10
    amazon_row("114-8", "2026-10-31T12:00:00+00:00", "Shipped", "Non-Amazon", "MUG-RED", "1",
               "USD", "25.00"),  # 11
    amazon_row("404-9", "2026-10-31T12:00:00+00:00", "Shipped", "Amazon.co.za", "MUG-RED", "1",
               "ZAR", "300.00"),  # 12
    amazon_row("302-10", "2026-10-31T12:00:00+00:00", "Shipped", "Amazon.de", "", "1", "EUR",
               "9.00"),  # 13
    amazon_row("302-11", "2026-10-31T12:00:00+00:00", "Shipping", "Amazon.de", "MUG-RED", "0",
               "EUR", "0.00", item_status="Unshipped"),  # 14
    amazon_row("302-12", "30/10/2026 12:00", "Shipped", "Amazon.de", "MUG-RED", "1", "EUR",
               "19.99"),  # 15
    amazon_row("302-13", "2026-10-31T12:00:00+00:00", "Shipped", "Amazon.de", "MUG-RED", "1",
               "EUR", "0.00"),  # 16: a free replacement
]  # fmt: skip

EXPECTED_AMAZON = [
    ("302-1", "2026-10-30 15:03:11", "DE", "MUG-RED", "2", "19.99", "EUR"),
    ("302-1", "2026-10-30 15:03:11", "DE", "CUP-BLUE", "1", "9.5", "EUR"),
    ("111-2", "2026-10-30 22:30:00", "US", "MUG-RED", "4", "19", "USD"),
    ("249-3", "2026-10-31 01:30:00", "JP", "MUG-RED", "1", "2500", "JPY"),
    ("026-4", "2026-10-30 08:15:00", "UK", "MUG-RED", "1", "15.99", "GBP"),
    ("302-6", "2026-10-30 12:00:00", "DE", "TEE-M", "1", "10", "EUR"),
]
EXPECTED_AMAZON_SKIPS = {
    "cancelled_order": 1,
    "cancelled_item": 1,
    "pending_order": 1,
    "non_amazon_channel": 1,
    "unknown_sales_channel": 1,
    "missing_sku": 1,
    "zero_quantity": 1,
    "zero_price": 1,
    "unreadable_value": 1,
}
CONTRACT_ORDER_COLUMNS = [
    "order_id",
    "order_date",
    "marketplace",
    "sku",
    "quantity",
    "unit_price",
    "currency",
]


def write_amazon(path: Path, rows: list[dict] = AMAZON_ROWS) -> Path:
    lines = ["\t".join(PUBLISHED_AMAZON_COLUMNS)]
    lines += ["\t".join(r.get(c, "") for c in PUBLISHED_AMAZON_COLUMNS) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def shopify_row(name, sku, qty, price, **order_level):
    row = {c: "" for c in PUBLISHED_SHOPIFY_COLUMNS}
    row.update(
        {
            "Name": name,
            "Email": "buyer@example.com",
            "Lineitem quantity": qty,
            "Lineitem name": f"Item {sku}",
            "Lineitem price": price,
            "Lineitem sku": sku,
            "Lineitem requires shipping": "true",
            "Lineitem taxable": "true",
            "Lineitem fulfillment status": "pending",
        }
    )
    row.update(order_level)
    return row


def first(status, created, currency="EUR", **more):
    """The order-level fields Shopify fills on an order's first row only."""
    return {
        "Financial Status": status,
        "Created at": created,
        "Currency": currency,
        "Subtotal": "10.00",
        "Total": "10.00",
        "Shipping Country": "DE",
        "Id": "5550001",
        "Source": "web",
        **more,
    }


SHOPIFY_ROWS = [
    # #1001: three lines; only the first carries the order-level fields; MUG-RED twice (merged:
    # 39.98 + 16.99 for 3 units is 18.99 each).
    shopify_row("#1001", "MUG-RED", "2", "19.99", **first("paid", "2026-10-30 14:03:11 +0100")),
    shopify_row("#1001", "CUP-BLUE", "1", "9.50"),
    shopify_row("#1001", "MUG-RED", "1", "16.99"),
    # #1002: cancelled; its second line inherits Cancelled at.
    shopify_row("#1002", "MUG-RED", "1", "19.99",
                **first("refunded", "2026-10-30 15:00:00 +0100",
                        **{"Cancelled at": "2026-10-30 16:00:00 +0100"})),
    shopify_row("#1002", "CUP-BLUE", "1", "9.50"),
    shopify_row("#1003", "MUG-RED", "1", "19.99", **first("refunded", "2026-10-30 17:00:00 +0100")),
    shopify_row("#1004", "MUG-RED", "1", "19.99", **first("voided", "2026-10-30 18:00:00 +0100")),
    # #1005: written in UTC by the store; 23:30 UTC on the 31st is 00:30 on 1 November in Berlin.
    shopify_row("#1005", "TEE-M", "1", "25.00",
                **first("partially_refunded", "2026-10-31 23:30:00 +0000")),
    shopify_row("#1005", "", "1", "5.00"),
    shopify_row("#1005", "TEE-L", "0", "25.00"),
    shopify_row("#1006", "CUP-BLUE", "1", "5.00", **first("pending", "2026-10-30 09:00:00 +0100")),
    shopify_row("#1006", "MUG-RED", "1", "n/a"),
]  # fmt: skip

EXPECTED_SHOPIFY = [
    ("#1001", "2026-10-30 14:03:11", "DE", "MUG-RED", "3", "18.99", "EUR"),
    ("#1001", "2026-10-30 14:03:11", "DE", "CUP-BLUE", "1", "9.5", "EUR"),
    ("#1005", "2026-11-01 00:30:00", "DE", "TEE-M", "1", "25", "EUR"),
    ("#1006", "2026-10-30 09:00:00", "DE", "CUP-BLUE", "1", "5", "EUR"),
]
EXPECTED_SHOPIFY_SKIPS = {
    "cancelled_order": 2,
    "refunded_order": 1,
    "voided_order": 1,
    "missing_sku": 1,
    "zero_quantity": 1,
    "unreadable_value": 1,
}


def write_shopify(path: Path, rows: list[dict] = SHOPIFY_ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=PUBLISHED_SHOPIFY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def written(report) -> list[tuple[str, ...]]:
    with open(report.output_file, newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == CONTRACT_ORDER_COLUMNS
        return [tuple(r) for r in reader]


def ingest(paths: DataPaths, entity: str = "orders"):
    con = duckdb.connect()
    result = ingest_entity(con, paths.raw, entity, run_id="t", run_date=RUN_DATE)
    return result, con


def assert_reconciles(report) -> None:
    assert report.reconciles
    assert report.rows_in == report.rows_imported + report.rows_excluded
    assert report.rows_imported == report.rows_written + report.rows_merged
    assert f"{report.rows_in:,} read = {report.rows_imported:,} imported + " in str(report)


@pytest.fixture
def paths(tmp_path: Path) -> DataPaths:
    return DataPaths(tmp_path / "data")


# ---------------------------------------------------------------------------------------------
# Amazon


def test_amazon_columns_are_the_published_list():
    assert list(amazon.AMAZON_COLUMNS) == PUBLISHED_AMAZON_COLUMNS
    assert set(amazon.REQUIRED_COLUMNS) <= set(PUBLISHED_AMAZON_COLUMNS)


def test_amazon_import_writes_exact_lines_in_local_time(tmp_path, paths):
    report = import_amazon(write_amazon(tmp_path / "All Orders 2026-10.txt"), paths)
    assert Path(report.output_file) == paths.raw / "orders" / "amazon_all-orders-2026-10.csv"
    assert written(report) == EXPECTED_AMAZON
    assert report.rows_in == len(AMAZON_ROWS) == 16
    assert report.excluded == EXPECTED_AMAZON_SKIPS
    assert (report.rows_written, report.rows_merged, report.rows_imported) == (6, 1, 7)
    assert_reconciles(report)
    assert report.orders == 5 and report.skus == 3
    assert report.marketplaces == {"DE": 3, "JP": 1, "UK": 1, "US": 1}
    assert report.examples["cancelled_order"] == ["row 7: order 302-5, SKU MUG-RED"]
    assert report.examples["missing_sku"] == ["row 13: order 302-10, SKU empty"]
    assert report.examples["unknown_sales_channel"] == ["row 12: order 404-9, sales-channel "
                                                        "'Amazon.co.za'"]  # fmt: skip
    assert report.examples["unreadable_value"] == ["row 15: order 302-12, purchase-date "
                                                   "'30/10/2026 12:00'"]  # fmt: skip
    assert report.details["sales_channels"]["Non-Amazon"] == {"rows": 1, "marketplace": None}
    text = str(report)
    for reason in EXPECTED_AMAZON_SKIPS:
        assert reason in text
    assert "US America/Los_Angeles" in text and "DE Europe/Berlin" in text
    saved = json.loads(Path(report.report_file).read_text())
    assert saved["reconciles"] and saved["excluded"] == EXPECTED_AMAZON_SKIPS
    assert saved["reasons"]["pending_order"] == amazon.REASONS["pending_order"]


def test_amazon_output_passes_ingest_with_nothing_quarantined(tmp_path, paths):
    report = import_amazon(write_amazon(tmp_path / "orders.txt"), paths)
    result, con = ingest(paths)
    assert result.rows_quarantined == 0 and result.quarantined_by_rule == {}
    assert result.rows_accepted == report.rows_written == 6
    assert result.reconciles
    us = con.execute(
        "SELECT order_date, quantity, unit_price FROM raw.orders WHERE marketplace = 'US'"
    ).fetchall()
    assert us == [(datetime(2026, 10, 30, 22, 30), 4, 19.0)]


def test_amazon_repeated_order_sku_is_merged_not_duplicated(tmp_path, paths):
    rows = [
        amazon_row("1", "2026-10-30T10:00:00+00:00", "Shipped", "Amazon.fr", "A", "1", "EUR", "10"),
        amazon_row("1", "2026-10-30T10:00:00+00:00", "Shipped", "Amazon.fr", "A", "2", "EUR", "26"),
        amazon_row("1", "2026-10-30T10:00:00+00:00", "Shipped", "Amazon.fr", "B", "1", "EUR", "5"),
    ]  # fmt: skip
    report = import_amazon(write_amazon(tmp_path / "fr.txt", rows), paths)
    assert written(report) == [
        ("1", "2026-10-30 11:00:00", "FR", "A", "3", "12", "EUR"),
        ("1", "2026-10-30 11:00:00", "FR", "B", "1", "5", "EUR"),
    ]
    assert report.rows_merged == 1 and report.excluded == {}
    assert "1 merged into a line with the same order_id, sku" in str(report)


def test_amazon_rejects_a_file_that_is_not_an_all_orders_report(tmp_path, paths):
    file = write_shopify(tmp_path / "orders_export.csv")
    with pytest.raises(SourceError) as caught:
        import_amazon(file, paths)
    message = str(caught.value)
    assert message.startswith(f"{file}: not an Amazon All Orders report: missing column(s) ")
    assert "amazon-order-id, purchase-date, order-status, sales-channel, sku" in message
    assert "the file has: Name, Email" in message
    assert not (paths.raw / "orders").exists()


def test_amazon_reads_a_report_saved_as_csv_in_windows_1252(tmp_path, paths):
    row = amazon_row("1", "2026-10-30T10:00:00+00:00", "Shipped", "Amazon.es", "A", "1", "EUR",
                     "10")  # fmt: skip
    row["product-name"] = "Taza café"
    frame = pd.DataFrame([row], columns=PUBLISHED_AMAZON_COLUMNS).fillna("")
    file = tmp_path / "es.csv"
    frame.to_csv(file, index=False, encoding="cp1252")
    report = import_amazon(file, paths)
    assert report.details["read_as"] == {"encoding": "cp1252", "delimiter": ","}
    assert written(report) == [("1", "2026-10-30 11:00:00", "ES", "A", "1", "10", "EUR")]


def test_time_zones_cover_every_built_in_marketplace():
    reference = common.marketplace_reference()
    zones = {code: common.time_zone(code) for code in reference}
    assert all(zones.values()), zones
    channels = common.amazon_sales_channels()
    assert channels["amazon.de"] == "DE" and channels["amazon.co.uk"] == "UK"
    assert channels["amazon.com"] == "US" and channels["amazon.co.jp"] == "JP"


# ---------------------------------------------------------------------------------------------
# Shopify


def test_shopify_columns_are_the_published_list():
    assert list(shopify.SHOPIFY_COLUMNS) == PUBLISHED_SHOPIFY_COLUMNS
    assert set(shopify.REQUIRED_COLUMNS) <= set(PUBLISHED_SHOPIFY_COLUMNS)


def test_shopify_carries_order_fields_forward_and_skips_with_reasons(tmp_path, paths):
    report = import_shopify(write_shopify(tmp_path / "orders_export_1.csv"), paths,
                            marketplace="de")  # fmt: skip
    assert Path(report.output_file).name == "shopify_orders_export_1.csv"
    assert written(report) == EXPECTED_SHOPIFY
    assert report.rows_in == len(SHOPIFY_ROWS) == 12
    assert report.excluded == EXPECTED_SHOPIFY_SKIPS
    assert (report.rows_written, report.rows_merged) == (4, 1)
    assert_reconciles(report)
    # The cancelled order's second line had no Cancelled at of its own.
    assert report.examples["cancelled_order"] == [
        "row 4: order #1002, Cancelled at 2026-10-30 16:00:00 +0100",
        "row 5: order #1002, Cancelled at 2026-10-30 16:00:00 +0100",
    ]
    assert report.examples["unreadable_value"] == ["row 12: order #1006, Lineitem price 'n/a'"]
    assert "Europe/Berlin (the time zone of DE)" in str(report)


def test_shopify_output_passes_ingest_with_nothing_quarantined(tmp_path, paths):
    report = import_shopify(write_shopify(tmp_path / "export.csv"), paths, marketplace="DE")
    result, _ = ingest(paths)
    assert result.rows_quarantined == 0
    assert result.rows_accepted == report.rows_written == 4


def test_shopify_marketplace_without_a_zone_keeps_the_store_clock(tmp_path, paths):
    rows = [shopify_row("#1", "A", "1", "5.00", **first("paid", "2026-10-31 23:30:00 +0000"))]
    report = import_shopify(write_shopify(tmp_path / "x.csv", rows), paths, marketplace="SHOP-EU")
    assert written(report) == [("#1", "2026-10-31 23:30:00", "SHOP-EU", "A", "1", "5", "EUR")]
    assert any("SHOP-EU are not built in" in w for w in report.warnings)
    again = import_shopify(tmp_path / "x.csv", paths, marketplace="SHOP-EU",
                           time_zone_name="Asia/Tokyo")  # fmt: skip
    assert written(again)[0][1] == "2026-11-01 08:30:00"


def test_shopify_rejects_bad_marketplace_and_time_zone(tmp_path, paths):
    file = write_shopify(tmp_path / "x.csv")
    with pytest.raises(SourceError, match="marketplace code 'D E'"):
        import_shopify(file, paths, marketplace="D E")
    with pytest.raises(SourceError, match="unknown time zone 'Mars/Base'"):
        import_shopify(file, paths, marketplace="DE", time_zone_name="Mars/Base")


# ---------------------------------------------------------------------------------------------
# Mapped CSV

MAPPED = (
    "OrderNo;Order Date;Article;Qty;Price (EUR);Note\n"
    'A-1;30.10.2026 14:03;SKU1;2;"19,99 €";first\n'
    "A-1;30.10.2026 14:03;SKU2;1;1.234,50;\n"
    "A-2;31.10.2026 09:00;SKU1;0;5,00;cancelled\n"
    "A-3;;SKU1;1;5,00;\n"
    "A-4;31.10.2026;SKU1;1;5,00;\n"
    "A-5;31.10.2026 10:00;SKU3;x;5,00;\n"
)
MAP_ARGS = [
    "--map", "order_id=OrderNo", "--map", "order_date=Order Date", "--map", "sku=Article",
    "--map", "quantity=Qty", "--map", "unit_price=Price (EUR)",
    "--date-format", "%d.%m.%Y %H:%M", "--decimal", ",", "--marketplace", "DE",
    "--currency", "EUR",
]  # fmt: skip


def test_mapped_csv_converts_and_skips_with_reasons(tmp_path, paths):
    file = tmp_path / "shop export.csv"
    file.write_text(MAPPED, encoding="utf-8")
    report = import_mapped_csv(
        file,
        paths,
        mapping=parse_assignments(MAP_ARGS[1:10:2], "--map"),
        constants={"marketplace": "DE", "currency": "EUR"},
        date_format="%d.%m.%Y %H:%M",
        decimal=",",
    )
    assert Path(report.output_file).name == "mapped_shop-export.csv"
    assert written(report) == [
        ("A-1", "2026-10-30 14:03:00", "DE", "SKU1", "2", "19.99", "EUR"),
        ("A-1", "2026-10-30 14:03:00", "DE", "SKU2", "1", "1234.5", "EUR"),
    ]
    assert report.excluded == {"missing_value": 1, "zero_quantity": 1, "unreadable_value": 2}
    assert report.examples["missing_value"] == [
        "row 4: order_id 'A-3', sku 'SKU1'; order_date empty"
    ]
    assert report.examples["unreadable_value"] == [
        "row 5: order_id 'A-4', sku 'SKU1'; order_date '31.10.2026'",
        "row 6: order_id 'A-5', sku 'SKU3'; quantity 'x'",
    ]
    assert_reconciles(report)
    assert report.details["unmapped_file_columns"] == ["Note"]
    result, _ = ingest(paths)
    assert result.rows_quarantined == 0 and result.rows_accepted == report.rows_written == 2


def test_mapped_csv_lists_unmapped_required_columns_and_the_files_columns(tmp_path, paths):
    file = tmp_path / "x.csv"
    file.write_text(MAPPED, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        import_mapped_csv(file, paths, mapping={"order_id": "OrderNo", "sku": "Article"})
    message = str(caught.value)
    assert message.startswith(
        f"{file}: no column for the required orders column(s) order_date, marketplace, "
        "quantity, unit_price, currency;"
    )
    assert "the file's columns: OrderNo, Order Date, Article, Qty, Price (EUR), Note" in message
    with pytest.raises(SourceError, match="no column 'Order No' .from --map order_id=Order No"):
        import_mapped_csv(file, paths, mapping={"order_id": "Order No"})
    with pytest.raises(SourceError, match="--map qty: orders has no such column"):
        import_mapped_csv(file, paths, mapping={"qty": "Qty"})


def test_mapped_csv_imports_another_entity(tmp_path, paths):
    file = tmp_path / "ads.csv"
    file.write_text(
        'Day,Campaign SKU,Cost\n2026-10-30,SKU1,"1,250.00"\n2026-10-31,SKU1,$3.10\n'
        "2026-10-31,SKU2,-\n",
        encoding="utf-8",
    )
    report = import_mapped_csv(
        file,
        paths,
        entity="ad_spend",
        mapping={"spend_date": "Day", "sku": "Campaign SKU", "spend": "Cost"},
        constants={"marketplace": "US", "currency": "USD"},
    )
    assert Path(report.output_file) == paths.raw / "ad_spend" / "mapped_ads.csv"
    with open(report.output_file, newline="") as f:
        assert list(csv.reader(f)) == [
            ["spend_date", "sku", "marketplace", "spend", "currency"],
            ["2026-10-30", "SKU1", "US", "1250", "USD"],
            ["2026-10-31", "SKU1", "US", "3.1", "USD"],
        ]
    assert report.excluded == {"unreadable_value": 1} and report.rows_written == 2
    assert_reconciles(report)
    result, _ = ingest(paths, "ad_spend")
    assert result.rows_quarantined == 0 and result.rows_accepted == 2


def test_parse_numbers_reads_grouping_and_signs_but_not_ambiguous_text():
    text = pd.Series(["1.234,50", "19,99 €", "-3", "12", "1,5,0", "", "EUR", "1.2.3"])
    got = parse_numbers(text, ",").tolist()
    assert got[:4] == [1234.5, 19.99, -3.0, 12.0]
    assert all(pd.isna(x) for x in got[4:])
    assert parse_numbers(pd.Series(["1,234.50", "1e-05", "1,5"]), ".").tolist()[:2] == [
        1234.5,
        1e-05,
    ]
    assert pd.isna(parse_numbers(pd.Series(["1,5"]), ".").iloc[0])


# ---------------------------------------------------------------------------------------------
# Data folder rules


def test_two_months_side_by_side_and_a_reimport_replaces_its_own_output(tmp_path, paths):
    october = write_amazon(tmp_path / "2026-10.txt", AMAZON_ROWS[:2])
    november = write_amazon(
        tmp_path / "2026-11.txt",
        [amazon_row("9", "2026-11-02T10:00:00+00:00", "Shipped", "Amazon.de", "A", "1", "EUR",
                    "5")],
    )  # fmt: skip
    import_amazon(october, paths)
    import_amazon(november, paths)
    again = import_amazon(october, paths)
    files = sorted(p.name for p in (paths.raw / "orders").iterdir())
    assert files == ["amazon_2026-10.csv", "amazon_2026-11.csv"]
    assert again.warnings == [] and again.files_removed == []
    result, _ = ingest(paths)
    assert result.rows_accepted == 3 and result.rows_quarantined == 0


def test_overlapping_exports_are_warned_about(tmp_path, paths):
    import_amazon(write_amazon(tmp_path / "a.txt", AMAZON_ROWS[:2]), paths)
    report = import_amazon(write_amazon(tmp_path / "b.txt", AMAZON_ROWS[1:3]), paths)
    assert any(
        "1 orders row(s) repeat a key (order_id, sku) already in amazon_a.csv (1)" in w
        and "duplicate_key" in w
        for w in report.warnings
    )


def test_files_no_export_wrote_make_it_refuse_unless_overwrite(tmp_path, paths):
    demo = paths.raw / "orders" / "orders_2026.csv"
    demo.parent.mkdir(parents=True)
    demo.write_text(",".join(CONTRACT_ORDER_COLUMNS) + "\nX,2026-10-01,DE,Z,1,1,EUR\n")
    file = write_amazon(tmp_path / "orders.txt")
    with pytest.raises(FileExistsError, match="orders_2026.csv"):
        import_amazon(file, paths)
    assert demo.exists() and not (paths.raw / "orders" / "amazon_orders.csv").exists()
    report = import_amazon(file, paths, overwrite=True)
    assert not demo.exists() and report.files_removed == ["orders/orders_2026.csv"]
    assert "removed 1 earlier file(s): orders/orders_2026.csv" in str(report)


def test_an_import_with_nothing_left_removes_its_earlier_output(tmp_path, paths):
    file = write_amazon(tmp_path / "x.txt", AMAZON_ROWS[:1])
    first_report = import_amazon(file, paths)
    assert Path(first_report.output_file).exists()
    write_amazon(file, [AMAZON_ROWS[6]])  # now only a cancelled order
    report = import_amazon(file, paths)
    assert report.rows_written == 0 and report.excluded == {"cancelled_order": 1}
    assert not Path(first_report.output_file).exists()
    assert "no rows to import: nothing written" in report.warnings


# ---------------------------------------------------------------------------------------------
# CLI end to end


def test_cli_amazon_shopify_and_csv_into_one_data_folder(tmp_path):
    data = tmp_path / "seller"
    amazon_file = write_amazon(tmp_path / "amazon.txt")
    shopify_file = write_shopify(tmp_path / "shopify.csv")
    mapped_file = tmp_path / "ebay.csv"
    mapped_file.write_text(MAPPED.replace("A-", "E-"), encoding="utf-8")
    runner = CliRunner()

    out = runner.invoke(main, ["import", "amazon", str(amazon_file), "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    assert "16 read = 7 imported + 9 skipped" in out.output
    assert "cancelled_order" in out.output and "non_amazon_channel" in out.output
    out = runner.invoke(
        main,
        ["import", "shopify", str(shopify_file), "--marketplace", "DE", "--data-dir", str(data)],
    )
    assert out.exit_code == 0, out.output
    assert "12 read = 5 imported + 7 skipped" in out.output
    out = runner.invoke(main, ["import", "csv", str(mapped_file), *MAP_ARGS, "--data-dir",
                               str(data)])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "6 read = 2 imported + 4 skipped" in out.output

    paths = DataPaths(data)
    assert sorted(p.name for p in paths.raw_entity("orders").iterdir()) == [
        "amazon_amazon.csv",
        "mapped_ebay.csv",
        "shopify_shopify.csv",
    ]
    result, _ = ingest(paths)
    assert result.rows_quarantined == 0 and result.rows_accepted == 6 + 4 + 2


def test_cli_errors_are_one_line_naming_the_file(tmp_path):
    data = str(tmp_path / "seller")
    shopify_file = write_shopify(tmp_path / "shopify.csv")
    runner = CliRunner()
    out = runner.invoke(main, ["import", "amazon", str(shopify_file), "--data-dir", data])
    assert out.exit_code == 1
    assert out.output.startswith(f"Error: {shopify_file}: not an Amazon All Orders report")
    assert len(out.output.strip().splitlines()) == 1

    out = runner.invoke(main, ["import", "shopify", str(shopify_file), "--data-dir", data])
    assert out.exit_code == 2 and "--marketplace" in out.output

    out = runner.invoke(main, ["import", "csv", str(shopify_file), "--map", "order_id",
                               "--data-dir", data])  # fmt: skip
    assert out.exit_code == 1
    assert f"Error: {shopify_file}: --map 'order_id': expected CONTRACT_COLUMN=VALUE" in out.output

    out = runner.invoke(main, ["import", "csv", str(shopify_file), "--map", "order_id=Name",
                               "--data-dir", data])  # fmt: skip
    assert out.exit_code == 1
    assert "no column for the required orders column(s) order_date" in out.output
    assert "the file's columns: Name, Email, Financial Status" in out.output

    out = runner.invoke(main, ["import", "shopify", str(shopify_file), "--marketplace", "DE",
                               "--timezone", "Nowhere/City", "--data-dir", data])  # fmt: skip
    assert out.exit_code == 1
    assert out.output.startswith(f"Error: {shopify_file}: unknown time zone 'Nowhere/City'")


def test_lines_off_the_built_in_currency_are_warned_about_unless_marketplaces_exist(
    tmp_path, paths
):
    rows = [shopify_row("#1", "A", "1", "5.00", **first("paid", "2026-10-30 10:00:00 +0000",
                                                         currency="GBP"))]  # fmt: skip
    file = write_shopify(tmp_path / "x.csv", rows)
    report = import_shopify(file, paths, marketplace="DE")
    assert any("1 line(s) are not in their marketplace's built-in currency (DE in GBP, not EUR)"
               in w for w in report.warnings)  # fmt: skip
    own = import_mapped_csv(
        write_marketplaces(tmp_path / "markets.csv"), paths, entity="marketplaces"
    )
    assert own.warnings == [] and own.rows_written == 1
    again = import_shopify(file, paths, marketplace="DE")
    assert not any("built-in currency" in w for w in again.warnings)
    assert any("raw/marketplaces holds files" in w for w in again.warnings)


def write_marketplaces(path: Path) -> Path:
    path.write_text(
        "marketplace,name,country,region,currency,vat_rate,referral_fee_rate,"
        "prices_include_vat,customs_basis,fulfilment_fee_per_unit,fulfilment_fee_per_kg\n"
        "DE,My shop,DE,europe,GBP,0.19,0,yes,CIF,0,0\n"
    )
    return path
