"""Import an Amazon Seller Central order report (the "All Orders Report" flat file).

Where the file comes from: Seller Central > Reports > Fulfillment > All Orders (or Order
Reports), downloaded as a tab-separated text file; the same report is
``GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL`` in the Selling Partner API. Its columns,
as Amazon publishes them (Seller Central help "Order reports"; SP-API docs "Order Tracking reports
attributes", https://developer-docs.amazon.com/sp-api/docs/order-tracking-reports-attributes),
are ``AMAZON_COLUMNS``. Amazon adds columns over time (``cpf`` in Brazil, ``number-of-items``,
``tax-collection-model``, ``address-type``...): only ``REQUIRED_COLUMNS`` must be present,
others are ignored.

One row of the report is one order item. What becomes of it (``import_amazon``), in the order
the rules apply; a skipped row gets the first reason that applies (``REASONS``):

1. ``cancelled_order``: ``order-status`` is Cancelled. The sale did not happen.
2. ``cancelled_item``: ``item-status`` is Cancelled in an order that stands (a partial
   cancellation). The other lines of the order are imported.
3. ``pending_order``: ``order-status`` is Pending (also "Pending - Waiting for Pick Up"). Amazon
   leaves ``item-price`` empty until the payment is authorised, and a pending order may still be
   cancelled. Skipped, not guessed: import a later report once they have shipped.
4. ``non_amazon_channel``: ``sales-channel`` is Non-Amazon: Multi-Channel Fulfilment orders,
   sold in another shop and only shipped by Amazon. They belong to that shop's own export;
   importing them here would count them twice.
5. ``unknown_sales_channel``: a sales channel that is not the ``marketplace_name`` of a code in
   ``dbt_project/seeds/marketplace_reference.csv`` (the report lists the channels found).
6. ``missing_sku``: no seller SKU on the line.
7. ``zero_quantity``: ``quantity`` 0 (Amazon writes 0 for items that were not sold).
8. ``missing_price``: ``item-price`` empty on an order that is neither pending nor cancelled.
9. ``zero_price``: ``item-price`` 0 on a shipped line: a free replacement for a lost or damaged
   shipment (its original order was counted already) or a giveaway, not priced demand.
10. ``unreadable_value``: order id, ``purchase-date``, ``quantity``, ``item-price`` or
   ``currency`` empty or unreadable, or a negative quantity or price.

The imported rows become contract order lines:

- ``order_id`` = ``amazon-order-id``; ``sku`` = ``sku``; ``quantity`` = ``quantity``;
  ``currency`` = ``currency``;
- ``marketplace``: the code whose ``marketplace_name`` is the ``sales-channel`` (Amazon.de -> DE,
  Amazon.co.uk -> UK, Amazon.com -> US, Amazon.co.jp -> JP; any case);
- ``order_date``: ``purchase-date`` (ISO 8601 with an offset, e.g. ``2026-10-30T14:03:11+00:00``)
  converted to the marketplace's local time (the reference's ``timezone``: US and CA in
  America/Los_Angeles, Seller Central's US business day; every other code in its country's
  zone, e.g. DE Europe/Berlin, UK Europe/London, JP Asia/Tokyo), written without the offset;
- ``unit_price`` = ``item-price`` / ``quantity``: ``item-price`` is the line total, VAT included
  where Amazon displays prices with VAT (EU, UK, JP) and without US sales tax, i.e. as displayed.
  ``item-promotion-discount`` is not subtracted: the contract's price is the displayed price and
  promotions belong in ``raw/promotions/``. Shipping and gift wrap are not product revenue.
- Two rows with the same ``amazon-order-id`` and ``sku`` are merged into one line (units and
  line totals summed, so revenue is unchanged): the contract's key (order_id, sku) stays unique,
  and the report counts them as merged.

Returns and refunds are not in this report: a shipped order is demand that happened.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ml.importers.common import (
    ExportReport,
    FirstReason,
    SourceError,
    amazon_sales_channels,
    find_columns,
    finish_import,
    first_unreadable,
    local_times,
    merge_order_lines,
    numbers,
    output_path,
    plan_output,
    read_table,
    time_zone,
    whole_numbers,
)
from ml.settings import DataPaths

IMPORTER = "Amazon All Orders report"
FILE_PREFIX = "amazon_"
# GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL, as published by Amazon (module docstring).
AMAZON_COLUMNS: tuple[str, ...] = (
    "amazon-order-id",
    "merchant-order-id",
    "purchase-date",
    "last-updated-date",
    "order-status",
    "fulfillment-channel",
    "sales-channel",
    "order-channel",
    "ship-service-level",
    "product-name",
    "sku",
    "asin",
    "item-status",
    "quantity",
    "currency",
    "item-price",
    "item-tax",
    "shipping-price",
    "shipping-tax",
    "gift-wrap-price",
    "gift-wrap-tax",
    "item-promotion-discount",
    "ship-promotion-discount",
    "ship-city",
    "ship-state",
    "ship-postal-code",
    "ship-country",
    "promotion-ids",
    "is-business-order",
    "purchase-order-number",
    "price-designation",
)
# The columns the import reads; the file is not an All Orders report without them.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "amazon-order-id",
    "purchase-date",
    "order-status",
    "sales-channel",
    "sku",
    "quantity",
    "currency",
    "item-price",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("item-status",)

REASONS: dict[str, str] = {
    "cancelled_order": "order-status Cancelled: the sale did not happen",
    "cancelled_item": "item-status Cancelled in an order that stands (partial cancellation)",
    "pending_order": "order-status Pending: no price until payment, may still be cancelled",
    "non_amazon_channel": "sales-channel Non-Amazon: a Multi-Channel Fulfilment order of "
    "another shop",
    "unknown_sales_channel": "sales-channel is no built-in marketplace",
    "missing_sku": "no seller SKU",
    "zero_quantity": "quantity 0: no unit sold",
    "missing_price": "item-price empty",
    "zero_price": "item-price 0: a free replacement or giveaway, not priced demand",
    "unreadable_value": "order id, purchase-date, quantity, item-price or currency empty, "
    "unreadable or negative",
}


def read_amazon_report(file: Path, *, encoding: str | None = None) -> tuple[pd.DataFrame, dict]:
    """The report's rows, columns renamed to Amazon's lower-case names, values as text."""
    frame, how = read_table(file, encoding=encoding)
    found = find_columns(frame, REQUIRED_COLUMNS, file, "an Amazon All Orders report")
    by_key = {c.strip().lower(): c for c in frame.columns}
    found.update({c: by_key[c] for c in OPTIONAL_COLUMNS if c in by_key})
    out = frame[list(found.values())].rename(columns={v: k for k, v in found.items()})
    for c in OPTIONAL_COLUMNS:
        if c not in out:
            out[c] = ""
    return out.map(str.strip), how


def classify_amazon(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Typed lines (order_id, order_date, marketplace, sku, quantity, revenue, currency, note)
    for every report row, and each row's skip reason (None: imported); see the docstring."""
    status = rows["order-status"].str.lower()
    channel = rows["sales-channel"]
    marketplace = channel.str.lower().map(amazon_sales_channels())
    quantity = whole_numbers(numbers(rows["quantity"]))
    price = numbers(rows["item-price"])
    currency = rows["currency"].str.upper()
    order_date = local_times(rows["purchase-date"], marketplace)

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(status.eq("cancelled"), "cancelled_order")
    reasons.mark(rows["item-status"].str.lower().eq("cancelled"), "cancelled_item")
    reasons.mark(status.str.startswith("pending"), "pending_order")
    reasons.mark(channel.str.lower().eq("non-amazon"), "non_amazon_channel")
    reasons.mark(marketplace.isna(), "unknown_sales_channel")
    reasons.mark(rows["sku"].eq(""), "missing_sku")
    reasons.mark(quantity.eq(0).fillna(False), "zero_quantity")
    reasons.mark(rows["item-price"].eq(""), "missing_price")
    reasons.mark(price.eq(0).fillna(False), "zero_price")

    # The first unreadable value of each row, for the report's examples.
    note = first_unreadable(
        rows,
        {
            "amazon-order-id": rows["amazon-order-id"].eq(""),
            "purchase-date": order_date.isna(),
            "quantity": quantity.isna() | quantity.lt(0).fillna(False),
            "item-price": price.isna() | price.lt(0).fillna(False),
            "currency": ~currency.str.fullmatch("[A-Z]{3}"),
        },
    )
    reasons.mark(note.ne(""), "unreadable_value")

    values = pd.Series(reasons.values, index=rows.index, dtype=object)
    note = note.where(values.eq("unreadable_value"), "")
    note = note.mask(values.eq("unknown_sales_channel"), "sales-channel " + channel.map(repr))
    note = note.mask(values.eq("cancelled_item"), "item-status " + rows["item-status"].map(repr))
    note = note.mask(values.eq("pending_order"), "order-status " + rows["order-status"].map(repr))
    lines = pd.DataFrame(
        {
            "order_id": rows["amazon-order-id"],
            "order_date": order_date,
            "marketplace": marketplace,
            "sku": rows["sku"],
            "quantity": quantity,
            "revenue": price,  # item-price is the line total
            "currency": currency,
            "note": note,
        }
    )
    return lines, values


def import_amazon(
    source: Path, paths: DataPaths, *, overwrite: bool = False, encoding: str | None = None
) -> ExportReport:
    """Import one All Orders report into ``raw/orders/amazon_<file name>.csv``.

    Re-importing the same file replaces its output; other ``amazon_``/``shopify_``/``mapped_``
    files stay. Files no export import wrote make it refuse (``FileExistsError``) unless
    ``overwrite``, which empties ``raw/orders/`` first. ``SourceError`` if the file is not a
    readable All Orders report.
    """
    started = time.perf_counter()
    source = Path(source)
    rows, how = read_amazon_report(source, encoding=encoding)
    target = output_path(paths, "orders", FILE_PREFIX, source)
    remove = plan_output(paths, "orders", target, overwrite=overwrite)
    lines, reasons = classify_amazon(rows)
    kept = lines[reasons.isna()]
    orders = merge_order_lines(kept)
    report = ExportReport(
        importer=IMPORTER, source=str(source), rows_in=len(rows), reason_texts=dict(REASONS)
    )
    zones = {m: time_zone(m) for m in sorted(orders["marketplace"].unique())}
    report.conventions = [
        "order_date: purchase-date converted to the marketplace's local time ("
        + (", ".join(f"{m} {z}" for m, z in zones.items()) or "no lines")
        + ")",
        "unit_price: item-price (the line total, as displayed) / quantity; promotions not "
        "subtracted",
    ]
    channels = rows["sales-channel"].value_counts()
    mapped = amazon_sales_channels()
    report.details = {
        "read_as": how,
        "sales_channels": {
            str(c): {"rows": int(n), "marketplace": mapped.get(str(c).lower())}
            for c, n in channels.items()
        },
        "order_statuses": {str(k): int(v) for k, v in rows["order-status"].value_counts().items()},
    }
    describe = (
        "order " + lines["order_id"] + ", SKU " + lines["sku"].mask(lines["sku"].eq(""), "empty")
    ).where(lines["note"].eq(""), "order " + lines["order_id"] + ", " + lines["note"])
    report.details["seconds"] = round(time.perf_counter() - started, 2)
    return finish_import(
        report, orders, reasons, describe, paths=paths, target=target, remove=remove
    )


__all__ = [
    "AMAZON_COLUMNS",
    "REASONS",
    "REQUIRED_COLUMNS",
    "SourceError",
    "classify_amazon",
    "import_amazon",
    "read_amazon_report",
]
