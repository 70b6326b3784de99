"""Import a Shopify order export (Shopify admin > Orders > Export, "CSV for Excel, Numbers, or
other spreadsheet programs").

The columns are those of Shopify's help center page "Exporting orders"
(https://help.shopify.com/en/manual/fulfillment/managing-orders/exporting-orders), listed in
``SHOPIFY_COLUMNS``. Only ``REQUIRED_COLUMNS`` must be present; the others are ignored.

The export has one row per line item. Order-level fields (``Financial Status``, ``Currency``,
``Created at``, ``Cancelled at``, ...) are filled only on the first row of an order; the later rows
of the same ``Name`` carry them forward (the first non-empty value of the order is used).

A Shopify store is one marketplace: its code is given by the caller (``--marketplace XX``,
required, upper-cased). It is not derived from ``Shipping Country``, which is where one customer
lives, not the store the order was placed in; use one code per store (e.g. the code of the
country the store sells to, or your own code with a row in ``raw/marketplaces/``).

What becomes of each row, in the order the rules apply (the first reason wins, ``REASONS``):

1. ``cancelled_order``: ``Cancelled at`` is filled.
2. ``refunded_order``: ``Financial Status`` refunded (the whole order was paid back). Partly
   refunded orders (``partially_refunded``) are imported: the sale happened, the refund is a
   return of some of it.
3. ``voided_order``: ``Financial Status`` voided or expired: the payment was never taken.
4. ``unknown_financial_status``: a status that is none of the above nor ``KEPT_STATUSES``
   (paid, partially_paid, partially_refunded, authorized, pending); listed in the report rather
   than guessed. Pending (awaiting a manual payment) and authorized orders are imported: the
   customer ordered at a known price.
5. ``missing_sku``: ``Lineitem sku`` empty (custom items, tips, variants without a SKU; give the
   variant a SKU in Shopify to import it).
6. ``zero_quantity``: ``Lineitem quantity`` 0.
   A line priced 0 (a free gift) is imported: the contract allows it and the unit left stock.
7. ``unreadable_value``: ``Name``, ``Created at``, ``Lineitem quantity``, ``Lineitem price`` or
   ``Currency`` empty or unreadable, or negative.

Imported rows become contract order lines: ``order_id`` = ``Name`` (e.g. ``#1001``), ``sku`` =
``Lineitem sku``, ``quantity`` = ``Lineitem quantity``, ``unit_price`` = ``Lineitem price`` (the
unit price as the store displays it; line discounts are not subtracted), ``currency`` =
``Currency``. ``order_date``: ``Created at`` (``2026-10-30 14:03:11 +0100``, the store's time
zone) converted to the marketplace's time zone (the reference's ``timezone``), or to
``time_zone`` if given; for a code without a built-in zone, the store's clock time as written.
Two rows with the same ``Name`` and SKU are merged (units summed, price weighted by units).
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from ml.importers.common import (
    ExportReport,
    FirstReason,
    SourceError,
    check_time_zone,
    find_columns,
    finish_import,
    first_unreadable,
    local_times,
    merge_order_lines,
    numbers,
    output_path,
    parse_iso,
    plan_output,
    read_table,
    time_zone,
    whole_numbers,
)
from ml.settings import DataPaths

IMPORTER = "Shopify order export"
FILE_PREFIX = "shopify_"
# Shopify help center, "Exporting orders" (module docstring).
SHOPIFY_COLUMNS: tuple[str, ...] = (
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
)
REQUIRED_COLUMNS: tuple[str, ...] = (
    "Name",
    "Financial Status",
    "Currency",
    "Created at",
    "Lineitem quantity",
    "Lineitem price",
    "Lineitem sku",
    "Cancelled at",
)
# Filled on an order's first row only; carried forward to its other rows.
ORDER_LEVEL_COLUMNS: tuple[str, ...] = (
    "Financial Status",
    "Currency",
    "Created at",
    "Cancelled at",
)
KEPT_STATUSES = frozenset({"paid", "partially_paid", "partially_refunded", "authorized", "pending"})
CREATED_AT_FORMAT = "%Y-%m-%d %H:%M:%S %z"
MARKETPLACE_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]*")

REASONS: dict[str, str] = {
    "cancelled_order": "Cancelled at filled: the order was cancelled",
    "refunded_order": "Financial Status refunded: the whole order was paid back",
    "voided_order": "Financial Status voided or expired: the payment was never taken",
    "unknown_financial_status": "Financial Status none of paid, partially_paid, "
    "partially_refunded, authorized, pending",
    "missing_sku": "Lineitem sku empty",
    "zero_quantity": "Lineitem quantity 0",
    "unreadable_value": "Name, Created at, Lineitem quantity, Lineitem price or Currency empty, "
    "unreadable or negative",
}


def marketplace_code(value: str) -> str:
    code = (value or "").strip().upper()
    if not MARKETPLACE_CODE.fullmatch(code):
        raise SourceError(
            f"marketplace code {value!r}: expected letters, digits, '-' or '_', e.g. DE or US"
        )
    return code


def parse_created_at(text: str) -> datetime | None:
    """``2026-10-30 14:03:11 +0100`` as Shopify writes it, or ISO 8601."""
    try:
        return datetime.strptime(text, CREATED_AT_FORMAT)
    except ValueError:
        return parse_iso(text)


def read_shopify_export(file: Path) -> tuple[pd.DataFrame, dict]:
    """The export's rows with the columns used (Shopify's names), order-level fields carried
    forward to every line of the order, values as text."""
    frame, how = read_table(file, delimiter=",")
    found = find_columns(frame, REQUIRED_COLUMNS, file, "a Shopify order export")
    out = frame[list(found.values())].rename(columns={v: k for k, v in found.items()})
    out = out.map(str.strip)
    return carry_forward(out), how


def carry_forward(rows: pd.DataFrame) -> pd.DataFrame:
    """Each order's first non-empty order-level values on every row of the same ``Name``."""
    name = rows["Name"].mask(rows["Name"].eq(""))
    out = rows.copy()
    for column in ORDER_LEVEL_COLUMNS:
        values = rows[column].mask(rows[column].eq(""))
        first = values.groupby(name, sort=False).transform("first")
        out[column] = values.fillna(first).fillna("").astype(str)
    return out


def classify_shopify(
    rows: pd.DataFrame, marketplace: str, *, zone: str | None = None
) -> tuple[pd.DataFrame, pd.Series]:
    """Typed lines (order_id, order_date, marketplace, sku, quantity, revenue, currency, note) for
    every export row (order-level fields carried forward), and each row's skip reason."""
    status = rows["Financial Status"].str.lower()
    quantity = whole_numbers(numbers(rows["Lineitem quantity"]))
    price = numbers(rows["Lineitem price"])
    currency = rows["Currency"].str.upper()
    market = pd.Series(marketplace, index=rows.index, dtype=object)
    order_date = local_times(rows["Created at"], market, parse_created_at, zone=zone)

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(rows["Cancelled at"].ne(""), "cancelled_order")
    reasons.mark(status.eq("refunded"), "refunded_order")
    reasons.mark(status.isin(["voided", "expired"]), "voided_order")
    reasons.mark(~status.isin(KEPT_STATUSES), "unknown_financial_status")
    reasons.mark(rows["Lineitem sku"].eq(""), "missing_sku")
    reasons.mark(quantity.eq(0).fillna(False), "zero_quantity")
    note = first_unreadable(
        rows,
        {
            "Name": rows["Name"].eq(""),
            "Created at": order_date.isna(),
            "Lineitem quantity": quantity.isna() | quantity.lt(0).fillna(False),
            "Lineitem price": price.isna() | price.lt(0).fillna(False),
            "Currency": ~currency.str.fullmatch("[A-Z]{3}"),
        },
    )
    reasons.mark(note.ne(""), "unreadable_value")

    values = pd.Series(reasons.values, index=rows.index, dtype=object)
    note = note.where(values.eq("unreadable_value"), "")
    shown_status = "Financial Status " + rows["Financial Status"].map(repr)
    note = note.mask(values.isin(["refunded_order", "voided_order"]), shown_status)
    note = note.mask(values.eq("unknown_financial_status"), shown_status)
    note = note.mask(values.eq("cancelled_order"), "Cancelled at " + rows["Cancelled at"])
    lines = pd.DataFrame(
        {
            "order_id": rows["Name"],
            "order_date": order_date,
            "marketplace": market,
            "sku": rows["Lineitem sku"],
            "quantity": quantity,
            "revenue": price * quantity.astype("float64"),  # Lineitem price is per unit
            "currency": currency,
            "note": note,
        }
    )
    return lines, values


def import_shopify(
    source: Path,
    paths: DataPaths,
    *,
    marketplace: str,
    overwrite: bool = False,
    time_zone_name: str | None = None,
) -> ExportReport:
    """Import one Shopify order export into ``raw/orders/shopify_<file name>.csv``.

    Same folder rules as ``amazon.import_amazon``. ``SourceError`` if the file is not a
    readable Shopify order export or the marketplace code or time zone is not valid.
    """
    started = time.perf_counter()
    source = Path(source)
    code = marketplace_code(marketplace)
    zone = check_time_zone(time_zone_name) if time_zone_name else None
    rows, how = read_shopify_export(source)
    target = output_path(paths, "orders", FILE_PREFIX, source)
    remove = plan_output(paths, "orders", target, overwrite=overwrite)
    lines, reasons = classify_shopify(rows, code, zone=zone)
    orders = merge_order_lines(lines[reasons.isna()])
    report = ExportReport(
        importer=IMPORTER, source=str(source), rows_in=len(rows), reason_texts=dict(REASONS)
    )
    chosen = time_zone(code, zone)
    report.conventions = [
        f"marketplace: {code} for every line (a Shopify store is one marketplace)",
        "order_date: Created at converted to "
        + (f"{chosen}" if chosen else "nothing: the store's clock time as written")
        + (" (--timezone)" if zone else f" (the time zone of {code})" if chosen else ""),
        "unit_price: Lineitem price (per unit, as displayed); line discounts not subtracted",
    ]
    statuses = rows["Financial Status"].value_counts()
    report.details = {
        "read_as": how,
        "financial_statuses": {str(k): int(v) for k, v in statuses.items()},
        "orders_in_file": int(rows["Name"].replace("", pd.NA).nunique()),
        "seconds": round(time.perf_counter() - started, 2),
    }
    sku = lines["sku"].mask(lines["sku"].eq(""), "empty")
    describe = ("order " + lines["order_id"] + ", SKU " + sku).where(
        lines["note"].eq(""), "order " + lines["order_id"] + ", " + lines["note"]
    )
    return finish_import(
        report, orders, reasons, describe, paths=paths, target=target, remove=remove
    )
