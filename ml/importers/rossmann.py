"""Import the Kaggle "Rossmann Store Sales" dataset (1,115 German drugstores, daily, 2013-2015).

Source: the Kaggle competition "Rossmann Store Sales" (2015; research and non-commercial use
under the competition's rules): ``train.csv`` (Store, DayOfWeek, Date, Sales, Customers, Open,
Promo, StateHoliday, SchoolHoliday) and ``store.csv`` (StoreType, Assortment, competition and
Promo2 columns), or one file with both merged (the corpus copy ``train_clean.parquet``).

A source row is a store-day. The mapping (``conventions`` in the report says the same):

- **Sales are money, not units.** Each store is one SKU (``store-0001``) whose "units" are euros:
  an open day with sales is one order line (``order_id`` ``R-0001-2015-07-31``) with
  ``quantity`` = Sales rounded to a whole euro (the turnover is whole euros already) and
  ``unit_price`` 1 EUR, so revenue is the turnover and units are euros, not items sold.
- **Closed days are not zero demand.** ``Open = 0`` (17 % of the rows, all without sales) writes
  no order line; each store has a market warehouse (``rossmann-0001``) whose inventory snapshot
  makes that day a stock-out (``on_hand`` 0, see ``common.stock_snapshots``), so
  ``marts.fct_daily_demand`` marks it ``is_censored`` and the forecast neither learns nor is
  scored on it. A day missing inside a store's span (180 stores lack 2014-07-01 .. 2014-12-31) is
  not observed either and is censored the same way. ``on_hand`` is 1 on open days: a flag, not
  a stock count (the data has none).
- An open day with no sales (54 rows) is imported as what the data says: a day without sales
  (no order line; the demand grid reads 0).
- ``Promo = 1`` days are ``promotions/`` of type ``deal`` with ``discount_pct`` 0 (the data has
  no discount depth), consecutive promotion days of a store merged into one promotion. Promo
  days of closed days are kept: the flag is the data's.
- Not imported (the contract has no place for them): Customers, StateHoliday and SchoolHoliday
  (the forecast's calendar has Germany's public holidays itself), Promo2 / PromoInterval and the
  competition columns.
- One marketplace ``DE`` in EUR: German VAT 19 %, shelf prices include VAT; no referral or
  fulfilment fee (the chain's own stores). Catalog: category ``store type <a-d>`` from the
  data, placeholder cost, weight and HS code (``common.PLACEHOLDER_NOTE``).

Skipped rows: ``unreadable_value`` (a store, date, sales, open or promo value that cannot be
read, negative sales, a flag other than 0/1), ``not_selected`` (outside ``limit``: the first N
stores by number), ``duplicate_day`` (a second row of the same store and date; the first wins).
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
    period_grid,
    pick_file,
    plan_dataset_import,
    promotion_rows,
    read_frame,
    rename_columns,
    stock_snapshots,
    warehouse_frame,
    write_dataset,
)
from ml.settings import DataPaths

NAME = "Rossmann store sales"
STEM = "rossmann"
ORDER_PREFIX = "R"
MARKETPLACE = "DE"
CURRENCY = "EUR"
VAT_RATE = 0.19  # German standard VAT; drugstore goods are almost all at the standard rate
SOURCE_NAMES = ("train_clean.parquet", "train.parquet", "train.csv")
STORE_FILE = "store.csv"
COLUMNS: dict[str, tuple[str, ...]] = {
    "store": ("Store",),
    "date": ("Date",),
    "sales": ("Sales",),
    "open": ("Open",),
    "promo": ("Promo",),
    "store_type": ("StoreType",),
}
OPTIONAL = ("store_type",)
STORE_COLUMNS = {"store": ("Store",), "store_type": ("StoreType",)}

TEXTS: dict[str, str] = {
    "order_line": "day with sales: one order line, quantity = Sales in EUR, unit price 1 EUR",
    "closed_day": "Open = 0: no order line; on_hand 0 that day, so the mart censors it",
    "open_no_sales": "Open = 1 with Sales 0: a day without sales (the demand grid reads 0)",
}
REASONS: dict[str, str] = {
    "unreadable_value": "store, date, sales, open or promo cannot be read (or sales < 0)",
    "not_selected": "store outside --limit (the first N stores by number)",
    "duplicate_day": "a second row of the same store and date (the first is kept)",
}


def find_source(source: Path) -> list[Path]:
    """The sales file, and ``store.csv`` beside a ``train.csv`` without the store columns."""
    file = pick_file(source, SOURCE_NAMES, "Rossmann train file")
    store = file.parent / STORE_FILE
    return [file, store] if file.suffix.lower() == ".csv" and store.is_file() else [file]


def read_source(files: list[Path]) -> pd.DataFrame:
    """The store-days with canonical columns (StoreType from ``store.csv`` when beside)."""
    out = rename_columns(read_frame(files[0]), COLUMNS, files[0], optional=OPTIONAL)
    if "store_type" not in out and len(files) > 1:
        stores = rename_columns(read_frame(files[1]), STORE_COLUMNS, files[1])
        out = out.merge(stores.drop_duplicates("store"), on="store", how="left")
    return out


def normalise(raw: pd.DataFrame) -> pd.DataFrame:
    store = numeric(raw["store"])
    sales = numeric(raw["sales"])
    is_open, promo = numeric(raw["open"]), numeric(raw["promo"])
    date = pd.to_datetime(raw["date"], errors="coerce", format="ISO8601").dt.normalize()
    readable = (
        store.notna()
        & (store % 1 == 0)
        & (store > 0)
        & date.notna()
        & sales.ge(0)
        & is_open.isin([0, 1])
        & promo.isin([0, 1])
    )
    store_type = (
        raw["store_type"].astype("string").str.strip()
        if "store_type" in raw
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    return pd.DataFrame(
        {
            "store": store.where(readable).astype("Int64"),
            "date": date.astype("datetime64[us]"),
            "sales": sales.where(readable),
            "units": sales.round().where(readable).astype("Int64"),
            "open": is_open.eq(1),
            "promo": promo.eq(1),
            "store_type": store_type,
            "readable": readable.to_numpy(),
        }
    )


def import_rossmann(
    source: Path, paths: DataPaths, *, overwrite: bool = False, limit: int | None = None
) -> DatasetReport:
    """Import the Rossmann sales at ``source`` (file or folder) into ``paths`` (see the module
    docstring); ``limit``: only the first N stores. Refuses a data folder that already holds raw
    files unless ``overwrite`` (``common.plan_dataset_import``)."""
    started = time.perf_counter()
    files = find_source(Path(source))
    remove = plan_dataset_import(paths, overwrite=overwrite)
    raw = read_source(files)
    report = DatasetReport(
        importer=NAME,
        grain="store-day",
        source=" + ".join(str(f) for f in files),
        source_format=files[0].suffix.lower().lstrip("."),
        rows_in=len(raw),
        texts={**TEXTS, **REASONS},
    )
    rows = normalise(raw)
    del raw

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(~rows["readable"], "unreadable_value")
    reasons.mark(~first_series(rows["store"], limit), "not_selected")
    reasons.mark(rows.duplicated(["store", "date"]) & rows["readable"], "duplicate_day")
    sold = rows["units"].fillna(0).gt(0).to_numpy()
    outcome = np.where(sold, "order_line", np.where(rows["open"], "open_no_sales", "closed_day"))
    report.excluded = count_reasons(reasons.values, REASONS)
    report.rows_written, report.kept = outcome_counts(reasons, outcome, TEXTS)

    kept = rows[reasons.open].copy()
    del rows
    codes = {int(s): f"{int(s):04d}" for s in kept["store"].unique()}
    kept["code"] = kept["store"].astype("int64").map(codes)
    kept["sku"] = "store-" + kept["code"]
    kept["period"] = kept["date"]
    kept["available"] = kept["open"] | kept["units"].gt(0)

    lines = kept[kept["units"].gt(0)].assign(quantity=lambda f: f["units"], unit_price=1.0)
    orders = order_rows(lines, prefix=ORDER_PREFIX, marketplace=MARKETPLACE, currency=CURRENCY)

    grid = period_grid(kept[["sku", "period", "available"]], period_days=1)
    warehouse_of = "rossmann-" + grid["sku"].str.removeprefix("store-")
    inventory = stock_snapshots(grid, warehouse_of)
    gaps = grid[~grid["in_source"]]

    flags = kept[kept["promo"]].assign(marketplace=MARKETPLACE, promo_type="deal", discount_pct=0.0)
    promotions = promotion_rows(flags, prefix=ORDER_PREFIX, period_days=1)

    stores = kept.drop_duplicates("sku").sort_values("sku")
    store_type = stores["store_type"].fillna("unknown").str.lower()
    catalog = catalog_rows(
        pd.DataFrame(
            {
                "sku": stores["sku"],
                "title": "Rossmann store "
                + stores["store"].astype(str)
                + " (daily turnover: 1 unit = EUR 1)",
                "category": "store type " + store_type,
            }
        ),
        origin_country=MARKETPLACE,
        cost_currency=CURRENCY,
    )
    warehouses = warehouse_frame(
        "rossmann-" + stores["code"],
        "Rossmann store " + stores["store"].astype(str),
        country="DE",
        marketplace=MARKETPLACE,
    )
    marketplaces = marketplace_frame(
        MARKETPLACE,
        "Rossmann stores in Germany (Kaggle Rossmann Store Sales)",
        vat_rate=VAT_RATE,
        prices_include_vat=True,
    )

    closed_with_sales = int((~kept["open"] & kept["units"].gt(0)).sum())
    report.details.update(
        {
            "stores": int(len(stores)),
            "promotion_days": int(kept["promo"].sum()),
            "closed_days": int((~kept["available"]).sum()),
            "days_not_in_source_censored": int(len(gaps)),
            "stores_with_days_not_in_source": int(gaps["sku"].nunique()),
            "closed_days_with_sales_imported_as_sales": closed_with_sales,
            "rounding_eur": round(float((lines["units"] - lines["sales"]).abs().sum()), 2),
            "turnover_eur": int(lines["units"].sum()),
        }
    )
    report.conventions = [
        "Sales are money: one SKU per store, quantity = Sales (EUR, rounded to whole euros), "
        "unit_price 1 EUR; revenue is the turnover, units are euros, not items",
        "Open = 0: no order line; the store's warehouse has on_hand 0 that day, so "
        "marts.fct_daily_demand marks it is_censored (a closed day is not zero demand)",
        f"{len(gaps):,} store-days missing inside a store's span ({gaps['sku'].nunique():,} "
        "stores) are not observed: censored the same way",
        "Promo = 1: promotions/ type 'deal', discount_pct 0 (no depth in the data), "
        "consecutive days merged",
        "inventory on_hand is an open (1) / closed (0) flag, not stock: "
        "marts.mart_inventory_position means nothing here",
        "not imported: Customers, StateHoliday, SchoolHoliday (the forecast's calendar has "
        "German public holidays), Promo2, PromoInterval, competition columns",
        PLACEHOLDER_NOTE,
    ]
    if report.rows_written == 0:
        raise SourceError(f"{report.source}: no store-day with sales to import")
    tables = {
        "marketplaces": marketplaces,
        "catalog": catalog,
        "warehouses": warehouses,
        "orders": orders,
        "inventory": inventory,
        "promotions": promotions,
    }
    return write_dataset(report, paths, tables, stem=STEM, remove=remove, started=started)
