"""Import the Hass Avocado Board retail scan data (weekly, US regions x type, 2015-2021).

Source: the Hass Avocado Board's retail scan data as redistributed on Kaggle ("Avocado Prices",
extended to 2021): ``Date`` (week starting, MM-DD-YYYY or ISO), ``AveragePrice`` (USD per
avocado), ``Total Volume`` (units), the PLU and bag breakdowns, ``type`` (conventional /
organic), ``year``, ``region``. The snake_case copies (``date``, ``average_price``,
``total_volume``, ``geography``) are read too.

A source row is a region-type-week. The mapping:

- Each region x type is one SKU (``TotalUS-organic``), category = the type; one order line a
  week (``order_id`` ``A-TotalUS-organic-2015-01-05``) with quantity = Total Volume rounded to
  whole avocados (the volumes are projections with decimals) and ``unit_price`` = AveragePrice.
- **Weeks on Mondays.** Kuajing's weekly grain counts Monday-to-Sunday weeks, each week's units
  on its Monday: a week starting on Sunday goes on the next day, the Monday of the week that
  holds 6 of its 7 days (``common.week_monday``; the few weeks the file dates on a Monday stay
  there).
- **Overlapping regions are kept, not added up.** ``TotalUS`` contains the eight regions
  (California, West, Plains, SouthCentral, Southeast, Midsouth, GreatLakes, Northeast), which
  contain the metro markets: every series is imported and forecast on its own; summing SKUs of
  this folder double-counts. The catalog title says each series' level.
- **Renamed regions are one series.** Region names are compared without spaces and punctuation,
  so ``NewYork`` (to 2017) and ``New York`` (from 2018), ``NorthernNewEngland`` and ``Northern New
  England``, are one series each (the SKU uses the name without spaces).
- **Prices.** ``prices/`` holds AveragePrice as the list price of each week, consecutive weeks at
  the same price merged and each price holding until the next one. The data has no regular
  price, so there is no discount and no promotion.
- A week missing inside a series' span is not observed: the one market warehouse
  (``avocado-us``) has ``on_hand`` 0 for that week (1 otherwise: a flag, not stock), so
  ``marts.fct_daily_demand`` marks its days ``is_censored`` rather than zero demand.
- One marketplace ``US`` in USD, no sales tax (fresh produce is exempt in most states), prices
  without tax; no fees. Catalog cost, weight and HS code are placeholders
  (``common.PLACEHOLDER_NOTE``).

Skipped rows: ``unreadable_value`` (a date, price, volume, type or region that cannot be read, a
price <= 0, a volume < 0), ``not_selected`` (outside ``limit``: the first N series by SKU),
``duplicate_week`` (a second row of the same series and week; the first is kept).
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
    price_rows,
    read_frame,
    rename_columns,
    stock_snapshots,
    warehouse_frame,
    week_monday,
    write_dataset,
)
from ml.settings import DataPaths

NAME = "Hass avocado retail scan data"
STEM = "avocado"
ORDER_PREFIX = "A"
MARKETPLACE = "US"
CURRENCY = "USD"
WAREHOUSE = "avocado-us"
SOURCE_NAMES = ("avocado.parquet", "avocado.csv", "avocado-updated-2020.csv")
COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("Date",),
    "price": ("average_price", "AveragePrice"),
    "volume": ("total_volume", "Total Volume"),
    "type": ("type",),
    "region": ("geography", "region"),
}
NATIONAL = frozenset({"TotalUS"})
REGIONS = frozenset(
    {
        "California",
        "West",
        "Plains",
        "SouthCentral",
        "Southeast",
        "Midsouth",
        "GreatLakes",
        "Northeast",
    }
)
DATE_FORMATS = ("ISO8601", "%m-%d-%Y", "%m/%d/%Y", "%d-%m-%Y")

TEXTS: dict[str, str] = {
    "order_line": "one order line: quantity = Total Volume rounded, unit price = AveragePrice",
    "no_sales": "volume rounds to 0 avocados: a week without sales",
}
REASONS: dict[str, str] = {
    "unreadable_value": "date, price, volume, type or region cannot be read (or price <= 0)",
    "not_selected": "series outside --limit (the first N series by SKU)",
    "duplicate_week": "a second row of the same region, type and week (the first is kept)",
}


def region_key(names: pd.Series) -> pd.Series:
    """A region's name without spaces and punctuation: renamed spellings are one region."""
    return names.astype("string").str.replace(r"[^0-9A-Za-z]", "", regex=True)


def region_level(key: str) -> str:
    if key in NATIONAL:
        return "national total"
    return "region" if key in REGIONS else "market"


def parse_dates(values: pd.Series) -> pd.Series:
    """Dates read with the format that reads the most rows."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.normalize()
    text = values.astype("string").str.strip()
    best = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if parsed.notna().sum() > best.notna().sum():
            best = parsed
    return best.dt.normalize()


def import_avocado(
    source: Path, paths: DataPaths, *, overwrite: bool = False, limit: int | None = None
) -> DatasetReport:
    """Import the avocado data at ``source`` (file or folder) into ``paths`` (see the module
    docstring); ``limit``: only the first N series. Refuses a data folder that already holds
    raw files unless ``overwrite``."""
    started = time.perf_counter()
    file = pick_file(Path(source), SOURCE_NAMES, "avocado file")
    remove = plan_dataset_import(paths, overwrite=overwrite)
    raw = rename_columns(read_frame(file), COLUMNS, file)
    report = DatasetReport(
        importer=NAME,
        grain="region-type-week",
        source=str(file),
        source_format=file.suffix.lower().lstrip("."),
        rows_in=len(raw),
        texts={**TEXTS, **REASONS},
    )
    price, volume = numeric(raw["price"]), numeric(raw["volume"])
    kind = raw["type"].astype("string").str.strip().str.lower()
    region = region_key(raw["region"])
    rows = pd.DataFrame(
        {
            "region": region,
            "region_name": raw["region"].astype("string").str.strip(),
            "type": kind,
            "sku": region + "-" + kind,
            "period": week_monday(parse_dates(raw["date"])),
            "price": price,
            "volume": volume,
        }
    )
    readable = (
        rows["period"].notna()
        & price.gt(0)
        & volume.ge(0)
        & region.fillna("").ne("")
        & kind.fillna("").ne("")
    ).to_numpy()

    reasons = FirstReason(len(rows), REASONS)
    reasons.mark(~readable, "unreadable_value")
    reasons.mark(~first_series(rows["sku"].where(readable), limit), "not_selected")
    reasons.mark(rows.duplicated(["sku", "period"]).to_numpy() & readable, "duplicate_week")
    rows["quantity"] = rows["volume"].round()
    outcome = np.where(rows["quantity"].fillna(0).gt(0), "order_line", "no_sales")
    report.excluded = count_reasons(reasons.values, REASONS)
    report.rows_written, report.kept = outcome_counts(reasons, outcome, TEXTS)

    kept = rows[reasons.open].copy()
    kept["available"] = True
    kept["marketplace"] = MARKETPLACE
    kept["currency"] = CURRENCY
    lines = kept[kept["quantity"].gt(0)].assign(code=lambda f: f["sku"], unit_price=kept["price"])
    orders = order_rows(lines, prefix=ORDER_PREFIX, marketplace=MARKETPLACE, currency=CURRENCY)
    prices = price_rows(kept.assign(list_price=kept["price"]), period_days=7)

    grid = period_grid(kept[["sku", "period", "available"]], period_days=7)
    gaps = grid[~grid["in_source"]]
    inventory = stock_snapshots(grid, WAREHOUSE)

    series = kept.drop_duplicates("sku").sort_values("sku")
    names = kept.groupby("sku")["region_name"].agg(lambda s: " / ".join(dict.fromkeys(s)))
    level = series["region"].map(region_level)
    catalog = catalog_rows(
        pd.DataFrame(
            {
                "sku": series["sku"],
                "title": "Hass avocados, "
                + series["sku"].map(names)
                + ", "
                + series["type"]
                + " ("
                + level
                + ")",
                "category": series["type"],
            }
        ),
        origin_country=MARKETPLACE,
        cost_currency=CURRENCY,
    )
    warehouses = warehouse_frame(
        pd.Series([WAREHOUSE]),
        pd.Series(["US retail (Hass Avocado Board scan data)"]),
        country="US",
        marketplace=MARKETPLACE,
    )
    marketplaces = marketplace_frame(
        MARKETPLACE,
        "US retail stores (Hass Avocado Board retail scan data)",
        vat_rate=0.0,
        prices_include_vat=False,
    )
    renamed = {k: v for k, v in names.items() if " / " in v}
    report.details.update(
        {
            "series_by_level": {str(k): int(v) for k, v in level.value_counts().items()},
            "renamed_regions_merged": renamed,
            "weeks_not_in_source_censored": int(len(gaps)),
            "rounding_units": round(float((lines["quantity"] - lines["volume"]).abs().sum()), 2),
            "units": int(lines["quantity"].sum()),
        }
    )
    report.conventions = [
        "one SKU per region x type (category = type); quantity = Total Volume rounded to whole "
        "avocados, unit_price = AveragePrice (USD)",
        "each week goes on the Monday of the Monday-to-Sunday week holding most of its days "
        "(a week starting on Sunday: the next day)",
        "overlapping regions (TotalUS > 8 regions > metro markets) are all kept and forecast on "
        "their own: do not add SKUs up; the catalog title names each series' level",
        f"renamed regions are one series: {len(renamed)} SKU(s) join two spellings",
        "prices/: AveragePrice as the week's list price (no regular price in the data: no "
        "discount, no promotions)",
        f"{len(gaps):,} week(s) missing inside a series' span: on_hand 0, censored in "
        "marts.fct_daily_demand (not zero demand); on_hand is a flag, not stock",
        PLACEHOLDER_NOTE,
    ]
    if report.rows_written == 0:
        raise SourceError(f"{file}: no week with sales to import")
    tables = {
        "marketplaces": marketplaces,
        "catalog": catalog,
        "warehouses": warehouses,
        "orders": orders,
        "inventory": inventory,
        "prices": prices,
    }
    return write_dataset(report, paths, tables, stem=STEM, remove=remove, started=started)
