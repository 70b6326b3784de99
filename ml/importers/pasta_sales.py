"""Import the UCI "Hierarchical Sales Data" (pasta of one Italian grocery store, daily, 2014-2018).

Source: Mancuso, Piccialli & Sudoso (2021), "A machine learning approach for forecasting
hierarchical time series", on the UCI Machine Learning Repository as "Hierarchical Sales Data"
(CC BY 4.0). One wide file: ``DATE``, then ``QTY_B<brand>_<product>`` (units sold) and
``PROMO_B<brand>_<product>`` (1 on promotion days) for 118 products of 4 brands.

A source row here is a product-day (the wide file melted: one file row is a day of every
product). The mapping:

- Each product is one SKU, named as in the file (``B1_1``: brand 1, product 1), category
  ``brand B1``; one order line per product and day with sales (``order_id`` ``P-B1_1-2014-01-02``),
  quantity = units.
- **No prices in the data.** The contract needs a unit price: every line has ``unit_price`` 1 EUR,
  a placeholder, so revenue in this data folder counts units (the forecast weights series by it);
  no ``prices/`` are written.
- **Closing days are not zero demand.** The file has no row for the store's 27 closing days
  (Easter, Christmas, public holidays). They are carried into the contract as stock-out days:
  one market warehouse (``pasta-store``) whose inventory snapshots put every product at
  ``on_hand`` 0 on a closing day and 1 otherwise (a flag, not a stock count), so
  ``marts.fct_daily_demand`` marks those days ``is_censored``.
- A product-day with 0 units is a day without sales (no order line; the demand grid reads 0
  from the product's first sale on).
- ``PROMO_* = 1`` days are ``promotions/`` of type ``deal``, ``discount_pct`` 0 (no depth in the
  data), consecutive promotion days of a product merged.
- One marketplace ``IT`` in EUR: VAT 4 % (Italy's rate on pasta), prices include VAT; no fees.
  Catalog cost, weight and HS code are placeholders (``common.PLACEHOLDER_NOTE``).

Skipped product-days: ``unreadable_value`` (a date, quantity or flag that cannot be read, a
negative or fractional quantity), ``not_selected`` (outside ``limit``: the first N products in
id order), ``duplicate_date`` (a second row of the same date; the first is kept).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ml.importers.common import (
    PLACEHOLDER_NOTE,
    DatasetReport,
    FirstReason,
    SourceError,
    catalog_rows,
    count_reasons,
    marketplace_frame,
    numeric,
    order_rows,
    outcome_counts,
    period_grid,
    pick_file,
    plan_dataset_import,
    promotion_rows,
    read_frame,
    stock_snapshots,
    warehouse_frame,
    write_dataset,
)
from ml.settings import DataPaths

NAME = "Hierarchical sales data (pasta)"
STEM = "pasta_sales"
ORDER_PREFIX = "P"
MARKETPLACE = "IT"
CURRENCY = "EUR"
VAT_RATE = 0.04  # Italy: pasta is taxed at the 4 % super-reduced rate
WAREHOUSE = "pasta-store"
SOURCE_NAMES = (
    "hierarchical_sales.parquet",
    "hierarchical_sales_data.parquet",
    "hierarchical_sales_data.csv",
    "hierarchical_sales.csv",
)
QTY = re.compile(r"QTY_(B\d+)_(\d+)", re.IGNORECASE)

TEXTS: dict[str, str] = {
    "order_line": "product-day with sales: one order line (unit price 1 EUR, a placeholder)",
    "no_sales": "0 units: a day without sales (the demand grid reads 0)",
}
REASONS: dict[str, str] = {
    "unreadable_value": "date, quantity or promotion flag cannot be read (or not a whole >= 0)",
    "not_selected": "product outside --limit (the first N products in id order)",
    "duplicate_date": "a second row of the same date (the first is kept)",
}


def read_source(file: Path) -> tuple[pd.DataFrame, list[tuple[str, str, str | None]]]:
    """The file and its products: (sku, quantity column, promotion column or None)."""
    frame = read_frame(file)
    date_cols = [c for c in frame.columns if str(c).strip().upper() == "DATE"]
    if not date_cols:
        raise SourceError(f"{file}: no DATE column; columns found: {', '.join(map(str, frame))}")
    frame = frame.rename(columns={date_cols[0]: "DATE"})
    promo_of = {str(c).strip().upper(): c for c in frame.columns}
    products = []
    for col in frame.columns:
        hit = QTY.fullmatch(str(col).strip())
        if hit:
            sku = f"{hit.group(1).upper()}_{int(hit.group(2))}"
            products.append((sku, str(col), promo_of.get(f"PROMO_{str(col).strip().upper()[4:]}")))
    if not products:
        raise SourceError(f"{file}: no QTY_B<brand>_<product> columns")
    products.sort(key=lambda p: (int(p[0][1 : p[0].index("_")]), int(p[0].split("_")[1])))
    return frame, products


def import_pasta_sales(
    source: Path, paths: DataPaths, *, overwrite: bool = False, limit: int | None = None
) -> DatasetReport:
    """Import the pasta sales at ``source`` (file or folder) into ``paths`` (see the module
    docstring); ``limit``: only the first N products. Refuses a data folder that already holds
    raw files unless ``overwrite``."""
    started = time.perf_counter()
    file = pick_file(Path(source), SOURCE_NAMES, "hierarchical sales file")
    remove = plan_dataset_import(paths, overwrite=overwrite)
    frame, products = read_source(file)
    n_days, n_products = len(frame), len(products)

    # Melt: product-major, each product's days in file order.
    dates = pd.to_datetime(frame["DATE"].astype(str).str.strip(), errors="coerce", format="ISO8601")
    if dates.isna().mean() > 0.5:  # a day-first copy of the file
        dates = pd.to_datetime(
            frame["DATE"].astype(str).str.strip(), errors="coerce", dayfirst=True
        )
    qty = np.column_stack([numeric(frame[q]).to_numpy() for _, q, _ in products])
    promo = np.column_stack(
        [
            numeric(frame[p]).to_numpy() if p is not None else np.zeros(n_days)
            for _, _, p in products
        ]
    )
    rows = pd.DataFrame(
        {
            "sku": np.repeat([p[0] for p in products], n_days),
            "date": np.tile(dates.dt.normalize().to_numpy(), n_products),
            "qty": qty.T.reshape(-1),
            "promo": promo.T.reshape(-1),
        }
    )
    readable = (
        rows["date"].notna()
        & rows["qty"].ge(0)
        & (rows["qty"] % 1 == 0)
        & rows["promo"].isin([0, 1])
    )
    report = DatasetReport(
        importer=NAME,
        grain="product-day",
        source=str(file),
        source_format=file.suffix.lower().lstrip("."),
        rows_in=len(rows),
        texts={**TEXTS, **REASONS},
    )
    report.details.update({"file_rows": n_days, "products": n_products})

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(~readable, "unreadable_value")
    chosen = [p[0] for p in products][: limit if limit is not None else n_products]
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    reasons.mark(~rows["sku"].isin(chosen), "not_selected")
    reasons.mark(rows.duplicated(["sku", "date"]) & readable, "duplicate_date")
    outcome = np.where(rows["qty"].fillna(0).gt(0), "order_line", "no_sales")
    report.excluded = count_reasons(reasons.values, REASONS)
    report.rows_written, report.kept = outcome_counts(reasons, outcome, TEXTS)

    kept = rows[reasons.open].copy()
    kept["period"] = kept["date"]
    kept["available"] = True
    lines = kept[kept["qty"].gt(0)].assign(code=lambda f: f["sku"], quantity=lambda f: f["qty"])
    lines["unit_price"] = 1.0
    orders = order_rows(lines, prefix=ORDER_PREFIX, marketplace=MARKETPLACE, currency=CURRENCY)

    # Closing days: a date of the file's range that has no row, for every product.
    first, last = dates.min(), dates.max()
    grid = period_grid(kept[["sku", "period", "available"]], period_days=1, first=first, last=last)
    inventory = stock_snapshots(grid, WAREHOUSE)
    closing = pd.date_range(first, last).difference(pd.DatetimeIndex(dates.dropna()))

    flags = kept[kept["promo"].eq(1)].assign(
        marketplace=MARKETPLACE, promo_type="deal", discount_pct=0.0
    )
    promotions = promotion_rows(flags, prefix=ORDER_PREFIX, period_days=1)

    skus = pd.Series(sorted(kept["sku"].unique(), key=chosen.index))
    brand = skus.str.split("_").str[0]
    catalog = catalog_rows(
        pd.DataFrame(
            {
                "sku": skus,
                "title": "Pasta, brand " + brand + ", product " + skus.str.split("_").str[1],
                "category": "brand " + brand,
            }
        ),
        origin_country=MARKETPLACE,
        cost_currency=CURRENCY,
    )
    warehouses = warehouse_frame(
        pd.Series([WAREHOUSE]),
        pd.Series(["The Italian grocery store of the pasta sales data"]),
        country="IT",
        marketplace=MARKETPLACE,
    )
    marketplaces = marketplace_frame(
        MARKETPLACE,
        "Italian grocery store (UCI Hierarchical Sales Data, pasta)",
        vat_rate=VAT_RATE,
        prices_include_vat=True,
    )
    missing_promo = [p[0] for p in products if p[2] is None]
    if missing_promo:
        report.warnings.append(
            f"no PROMO column for {len(missing_promo)} product(s) ({', '.join(missing_promo[:5])}"
            "...): their days are read as not promoted"
        )
    report.details.update(
        {
            "closing_days": [str(d.date()) for d in closing],
            "closing_product_days_censored": int(len(closing) * kept["sku"].nunique()),
            "promotion_days": int(kept["promo"].eq(1).sum()),
            "units": int(lines["qty"].sum()),
        }
    )
    report.conventions = [
        "one SKU per product (B<brand>_<product>), category 'brand B<n>'; no prices in the "
        "data: unit_price 1 EUR is a placeholder, so revenue counts units",
        f"the {len(closing)} dates missing from the file are closing days: on_hand 0 for every "
        "product, so marts.fct_daily_demand marks them is_censored (not zero demand)",
        "PROMO = 1: promotions/ type 'deal', discount_pct 0 (no depth in the data), "
        "consecutive days merged",
        "inventory on_hand is an open (1) / closed (0) flag, not stock",
        PLACEHOLDER_NOTE,
    ]
    if report.rows_written == 0:
        raise SourceError(f"{file}: no product-day with sales to import")
    tables = {
        "marketplaces": marketplaces,
        "catalog": catalog,
        "warehouses": warehouses,
        "orders": orders,
        "inventory": inventory,
        "promotions": promotions,
    }
    return write_dataset(report, paths, tables, stem=STEM, remove=remove, started=started)
