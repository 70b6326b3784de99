"""Import dunnhumby's "Breakfast at the Frat" (weekly, 77 US stores x 58 products, 2009-2012).

Source: dunnhumby's sample dataset "Breakfast at the Frat" (one of its "source files", under
dunnhumby's terms of use): weekly transactions (``week_end_date``, ``store_id`` / ``STORE_NUM``,
``upc_id`` / ``UPC``, ``units``, ``spend``, ``price``, ``base_price``, ``feature``, ``display``,
``tpr_only``), a products lookup (``upc_id``, ``description``, ``manufacturer``, ``category``, ...)
and a stores lookup (``store_id``, ``store_name``, city, state, ...). Pass the transactions file
or the folder holding the three files (``transactions``, ``products.csv``, ``stores.csv``); the
workbook's sheets saved as CSV under these names work too.

A source row is a store-product-week. The mapping:

- **Store x product grain.** Each store x UPC is one SKU (``389-1111009477``): the volumes per
  series are low (median 10 units a week), but that is the grain prices and promotions are set
  at; a forecast can aggregate later. Category = the product's category (``COLD CEREAL``,
  ``FROZEN PIZZA``, ``BAG SNACKS``, ``ORAL HYGIENE PRODUCTS``).
- One order line a week (``order_id`` ``B-389-1111009477-2009-01-05``): quantity = units,
  ``unit_price`` = spend / units (the shelf price paid; it equals ``price``).
- **Weeks on Mondays.** A week ends on a Wednesday (Thursday to Wednesday): it goes on the Monday
  of the Monday-to-Sunday week holding 4 of its 7 days, the Monday before its Thursday
  (``common.week_monday``), Kuajing's weekly grain.
- **Prices.** ``prices/``: ``base_price`` (the regular price) is the list price, consecutive weeks
  at the same base price merged, each price holding until the next one (a week without a row
  keeps it). A shelf price below it is a promotion discount: ``discount_pct`` = 1 - price /
  base_price (0 when the shelf price is at or above the base price, or unknown).
- **Promotions.** Each flag is a promotion type: ``feature`` (in the weekly circular), ``display``
  (in-store display), ``tpr`` (temporary price reduction only); consecutive weeks of a SKU with
  the same type and discount are one promotion. A week can carry feature and display at once:
  two promotions; the demand mart takes the deepest discount of a day.
- A week without a row is a week without sales: scan data has no row for a product that did
  not sell (most gaps are single weeks of low-volume series), so the demand grid reads 0. The
  data has no stock or availability, so no inventory is written (the in-stock flag stays
  unknown). A row with 0 units is a week without sales too.
- One marketplace ``US`` in USD, sales tax 0 (it varies by state and product and is not in the
  data), prices without tax; no fees. Catalog cost, weight and HS code are placeholders
  (``common.PLACEHOLDER_NOTE``).

Skipped rows: ``unreadable_value`` (a week, store, UPC or units that cannot be read, negative or
fractional units, negative spend), ``not_selected`` (outside ``limit``: the first N series by
SKU), ``duplicate_week`` (a second row of the same store, product and week; the first is kept).
"""

from __future__ import annotations

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
    first_series,
    marketplace_frame,
    numeric,
    order_rows,
    outcome_counts,
    pick_file,
    plan_dataset_import,
    price_rows,
    promotion_rows,
    read_frame,
    rename_columns,
    week_monday,
    write_dataset,
)
from ml.settings import DataPaths

NAME = "dunnhumby Breakfast at the Frat"
STEM = "breakfast_at_the_frat"
ORDER_PREFIX = "B"
MARKETPLACE = "US"
CURRENCY = "USD"
SOURCE_NAMES = ("transactions.parquet", "transactions.csv")
COLUMNS: dict[str, tuple[str, ...]] = {
    "week_end_date": ("week_end_date",),
    "store": ("store_num", "store_id"),
    "upc": ("upc", "upc_id"),
    "units": ("units",),
    "spend": ("spend",),
    "price": ("price",),
    "base_price": ("base_price",),
    "feature": ("feature",),
    "display": ("display",),
    "tpr": ("tpr_only",),
}
PRODUCT_COLUMNS: dict[str, tuple[str, ...]] = {
    "upc": ("upc", "upc_id"),
    "description": ("description",),
    "manufacturer": ("manufacturer",),
    "category": ("category",),
}
STORE_COLUMNS: dict[str, tuple[str, ...]] = {
    "store": ("store_num", "store_id"),
    "store_name": ("store_name",),
    "state": ("address_state_prov_code",),
}
PROMO_TYPES = {"feature": "feature", "display": "display", "tpr": "tpr"}  # column -> promo_type

TEXTS: dict[str, str] = {
    "order_line": "one order line: quantity = units, unit price = spend / units",
    "no_sales": "0 units: a week without sales",
}
REASONS: dict[str, str] = {
    "unreadable_value": "week, store, UPC or units cannot be read (or units < 0, spend < 0)",
    "not_selected": "series outside --limit (the first N store x product series by SKU)",
    "duplicate_week": "a second row of the same store, product and week (the first is kept)",
}


def find_source(source: Path) -> tuple[Path, Path | None, Path | None]:
    """The transactions file and the products and stores lookups beside it (if there)."""
    file = pick_file(source, SOURCE_NAMES, "Breakfast at the Frat transactions file")

    def beside(name: str) -> Path | None:
        for suffix in (".csv", ".parquet"):
            if (file.parent / f"{name}{suffix}").is_file():
                return file.parent / f"{name}{suffix}"
        return None

    return file, beside("products"), beside("stores")


def _ids(values: pd.Series) -> pd.Series:
    """Whole-number ids as text ('1111009477'), NA where not a whole number."""
    number = numeric(values)
    whole = number.notna() & (number % 1 == 0)
    return number.where(whole).astype("Int64").astype("string")


def import_breakfast_at_the_frat(
    source: Path, paths: DataPaths, *, overwrite: bool = False, limit: int | None = None
) -> DatasetReport:
    """Import Breakfast at the Frat at ``source`` (file or folder) into ``paths`` (see the
    module docstring); ``limit``: only the first N store x product series. Refuses a data
    folder that already holds raw files unless ``overwrite``."""
    started = time.perf_counter()
    file, products_file, stores_file = find_source(Path(source))
    remove = plan_dataset_import(paths, overwrite=overwrite)
    raw = rename_columns(read_frame(file), COLUMNS, file)
    report = DatasetReport(
        importer=NAME,
        grain="store-product-week",
        source=str(file),
        source_format=file.suffix.lower().lstrip("."),
        rows_in=len(raw),
        texts={**TEXTS, **REASONS},
    )
    units, spend = numeric(raw["units"]), numeric(raw["spend"])
    store, upc = _ids(raw["store"]), _ids(raw["upc"])
    end = pd.to_datetime(raw["week_end_date"], errors="coerce", format="mixed")
    rows = pd.DataFrame(
        {
            "store": store,
            "upc": upc,
            "sku": store + "-" + upc,
            "period": week_monday(end.dt.normalize() - 6 * pd.Timedelta(days=1)),
            "units": units,
            "spend": spend,
            "price": numeric(raw["price"]),
            "base_price": numeric(raw["base_price"]),
            **{col: numeric(raw[col]).eq(1).to_numpy() for col in PROMO_TYPES},
        }
    )
    readable = (
        rows["period"].notna()
        & store.notna()
        & upc.notna()
        & units.ge(0)
        & (units % 1 == 0)
        & ~spend.lt(0)
    ).to_numpy(dtype=bool)

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(~readable, "unreadable_value")
    reasons.mark(~first_series(rows["sku"].where(readable), limit), "not_selected")
    reasons.mark(rows.duplicated(["sku", "period"]).to_numpy() & readable, "duplicate_week")
    outcome = np.where(units.fillna(0).gt(0), "order_line", "no_sales")
    report.excluded = count_reasons(reasons.values, REASONS)
    report.rows_written, report.kept = outcome_counts(reasons, outcome, TEXTS)

    kept = rows[reasons.open].copy()
    kept["marketplace"] = MARKETPLACE
    kept["currency"] = CURRENCY
    lines = kept[kept["units"].gt(0)].copy()
    lines["code"] = lines["sku"]
    lines["quantity"] = lines["units"]
    lines["unit_price"] = lines["spend"].fillna(lines["price"] * lines["units"]) / lines["units"]
    unpriced = lines["unit_price"].isna()
    lines.loc[unpriced, "unit_price"] = 0.0
    orders = order_rows(lines, prefix=ORDER_PREFIX, marketplace=MARKETPLACE, currency=CURRENCY)

    based = kept[kept["base_price"].gt(0)]
    prices = price_rows(based.assign(list_price=based["base_price"]), period_days=7)

    shelf = kept["price"].fillna(kept["spend"] / kept["units"].where(kept["units"] > 0))
    discount = (1 - shelf / kept["base_price"]).clip(lower=0, upper=1).round(4).fillna(0.0)
    flags = pd.concat(
        [
            kept.loc[kept[col], ["sku", "marketplace", "period"]].assign(
                promo_type=promo_type, discount_pct=discount[kept[col]]
            )
            for col, promo_type in PROMO_TYPES.items()
        ],
        ignore_index=True,
    )
    promotions = promotion_rows(flags, prefix=ORDER_PREFIX, period_days=7)

    series = kept.drop_duplicates("sku").sort_values("sku")[["sku", "store", "upc"]]
    series = series.merge(_products(products_file, report), on="upc", how="left")
    series = series.merge(_stores(stores_file, report), on="store", how="left")
    product = series["description"].fillna("UPC " + series["upc"])
    where = series["store_name"].fillna("")
    title = (
        product
        + ", store "
        + series["store"]
        + (" " + where).where(where.ne(""), "")
        + (" (" + series["state"].fillna("") + ")").where(series["state"].fillna("").ne(""), "")
    )
    catalog = catalog_rows(
        pd.DataFrame(
            {
                "sku": series["sku"],
                "title": title,
                "category": series["category"].fillna("unknown"),
            }
        ),
        origin_country=MARKETPLACE,
        cost_currency=CURRENCY,
    )
    if series["category"].isna().any():
        report.warnings.append(
            f"{int(series['category'].isna().sum())} series have a UPC missing from the "
            "products lookup: category 'unknown'"
        )
    marketplaces = marketplace_frame(
        MARKETPLACE,
        "US grocery stores (dunnhumby Breakfast at the Frat)",
        vat_rate=0.0,
        prices_include_vat=False,
    )
    report.details.update(
        {
            "stores": int(series["store"].nunique()),
            "products": int(series["upc"].nunique()),
            "promotion_weeks": {t: int(kept[c].sum()) for c, t in PROMO_TYPES.items()},
            "weeks_with_a_price_cut": int((discount > 0).sum()),
            "weeks_without_base_price": int(kept["base_price"].isna().sum()),
            "lines_with_zero_spend": int(lines["unit_price"].eq(0).sum()),
            "units": int(lines["units"].sum()),
        }
    )
    report.conventions = [
        "one SKU per store x product (low volumes: a forecast can aggregate later); category "
        "from the products lookup; quantity = units, unit_price = spend / units",
        "each week (Thursday to Wednesday) goes on the Monday before its Thursday: the "
        "Monday-to-Sunday week holding 4 of its 7 days",
        "prices/: base_price as the list price; promotions/: feature, display and tpr (the "
        "tpr_only flag) weeks, discount_pct = 1 - price / base_price (0 at or above it)",
        "a week without a row is a week without sales (scan data): the demand grid reads 0; no "
        "inventory is written (the data has no availability)",
        PLACEHOLDER_NOTE,
    ]
    if report.rows_written == 0:
        raise SourceError(f"{file}: no week with sales to import")
    tables = {
        "marketplaces": marketplaces,
        "catalog": catalog,
        "orders": orders,
        "prices": prices,
        "promotions": promotions,
    }
    return write_dataset(report, paths, tables, stem=STEM, remove=remove, started=started)


def _products(file: Path | None, report: DatasetReport) -> pd.DataFrame:
    if file is None:
        report.warnings.append("no products lookup beside the transactions: category 'unknown'")
        return pd.DataFrame(columns=list(PRODUCT_COLUMNS), dtype="string")
    frame = rename_columns(read_frame(file), PRODUCT_COLUMNS, file, optional=["manufacturer"])
    frame["upc"] = _ids(frame["upc"])
    for col in ("description", "category"):
        frame[col] = frame[col].astype("string").str.strip()
    return frame.drop_duplicates("upc")[["upc", "description", "category"]]


def _stores(file: Path | None, report: DatasetReport) -> pd.DataFrame:
    if file is None:
        report.warnings.append("no stores lookup beside the transactions: titles name store ids")
        return pd.DataFrame(columns=list(STORE_COLUMNS), dtype="string")
    frame = rename_columns(read_frame(file), STORE_COLUMNS, file, optional=["state"])
    frame["store"] = _ids(frame["store"])
    if "state" not in frame:
        frame["state"] = pd.NA
    for col in ("store_name", "state"):
        frame[col] = frame[col].astype("string").str.strip()
    return frame.drop_duplicates("store")[["store", "store_name", "state"]]
