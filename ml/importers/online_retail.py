"""Import the UCI "Online Retail" dataset (UK gift-ware web shop, 2010-12 to 2011-12).

Source: UCI Machine Learning Repository, dataset 352 "Online Retail" (and dataset 502 "Online
Retail II", same donor, same columns under other names), donated by Dr Daqing Chen, London South
Bank University. Cite Chen, Sain and Guo (2012), doi:10.1057/dbm.2012.17.

Accepted files: the UCI ``Online Retail.xlsx`` (InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country), the ``online_retail_II.xlsx`` / ``.csv`` naming
(Invoice, Price, Customer ID; every sheet of a workbook is read) and a Parquet file with either
naming. Reading ``.xlsx`` needs the optional package ``openpyxl`` (not a Kuajing dependency).

What is written into ``<data dir>/raw/`` (nothing else is, see below):

- ``orders/online_retail_<YYYY-MM>.parquet``: one row per invoice and SKU, contract columns only.
  ``order_id`` is the invoice number, ``order_date`` the invoice timestamp as recorded (UK local
  time, naive), ``marketplace`` the customer's country (below), ``currency`` GBP everywhere.
- ``marketplaces/online_retail_marketplaces.parquet``: one row per marketplace in the orders.
- No ``catalog``: its required columns (category, HS code, origin, unit cost, weight) are not in
  the data and would have to be invented. Likewise no prices, FX rates, inventory, lanes.
  Kuajing runs without them (see each entity's ``when_absent`` in the contract).

Decisions, in the order they are applied; every excluded source row gets the first reason that
applies (``REASONS``), so that ``rows_in = rows_written + excluded + rows_merged`` holds exactly:

1. ``unreadable_value``: a row whose invoice, stock code, quantity, date, price or country cannot
   be read. None in the UCI files; there so that a damaged file is counted, never dropped silently.
2. ``sheet_overlap``: an invoice already read from an earlier sheet of the workbook, or from an
   earlier file when ``source`` is a folder of several files (the two yearly sheets of Online
   Retail II may share days); counting it twice would double demand.
3. ``adjustment_invoice``: ``A`` invoices ("Adjust bad debt"): accounting entries, not sales.
4. ``non_product_code``: the stock code is not a product code. Product codes are five digits,
   optionally followed by letters (``85123A``); everything else is detected by that pattern, not a
   fixed list: POST, DOT, C2 (postage and carriage), M (manual), D (discount), S (samples),
   BANK CHARGES, AMAZONFEE, CRUK, PADS, B, gift vouchers ``gift_0001_*`` and the ``DCGS*`` codes
   (45 lines of an eBay side channel under non-standard codes, 12 of them zero-price
   corrections). Fees, postage and vouchers are not demand for a product, and a code outside the
   product pattern cannot be told apart from them; the codes found are listed in the report.
5. Cancellations (``C`` invoices, always negative quantity): each is matched to the sale it
   reverses: same customer, same SKU, same number of units, sold at or before the cancellation
   time (same minute allowed), not matched already; the most recent such sale wins (a
   cancellation reverses the last order, not one from months before). Both lines go:
   ``cancellation`` and ``cancelled_sale``. This removes the extreme pairs (80,995 units on
   2011-12-09, 74,215 units on 2011-01-18) that would otherwise dominate any demand series.
   ``cancellation_unmatched``: no such sale in the data (no customer id, sale before the data
   starts, or a partial cancellation of a larger sale); the sale, if any, stays as ordered demand
   and the report breaks these down.
6. ``stock_writeoff``: a zero or negative quantity on an ordinary invoice: stock adjustments and
   write-offs (all with price 0 and no customer), not sales.
7. ``price_not_positive``: price <= 0 on a sale line (free samples, missing-description lines):
   the contract needs a positive price and such lines are not priced demand.
8. ``incomplete_last_day``: the last calendar day in the source (2011-12-09) stops partway through
   the day; a partial day would read as a demand collapse in every series.
9. ``country_not_identified``: "Unspecified", "European Community" (and "West Indies" in Online
   Retail II) name no single country, so no destination, VAT rate or customs basis can be stated;
   a marketplace with an invented country would feed wrong tariffs and taxes downstream.
10. ``country_unknown``: a country name this importer has no mapping for (none in the UCI files);
    listed in the report so the table can be extended rather than guessed.
11. ``small_country``: only with ``min_country_lines > 0``: countries with fewer remaining lines
    are left out. Off by default so that every country keeps its own series. Small countries are
    not pooled into one marketplace: a pool has no single country, VAT rate or customs basis.

Then the kept lines are shaped for the contract:

- Product codes are upper-cased: 111 products appear both as ``15056bl`` and ``15056BL`` with
  the same description; they are one product.
- An invoice whose lines carry two timestamps (a minute boundary crossed while it was recorded,
  42 of the invoices written) gets its first timestamp on every line: an order has one date.
- Lines of the same invoice and SKU are merged (``rows_merged``): units summed, unit price the
  units-weighted mean, so revenue is unchanged. Otherwise (order_id, sku) would repeat, which the
  contract quarantines. Lines identical in every column are merged too (not dropped): nothing says
  they were recorded twice, and summing keeps every recorded unit; the report counts them.

Marketplaces: the marketplace is the customer's country (``Country`` is where the customer lives,
the best available proxy for the destination). Codes are ISO 3166-1 alpha-2, except the United
Kingdom, whose marketplace code is ``UK`` (country ``GB``) as everywhere in Kuajing. EIRE -> IE,
RSA -> ZA, USA -> US, Korea -> KR. The Channel Islands are two ISO territories (Jersey JE and
Guernsey GG) and the source does not say which: they are recorded as JE, the larger market, and
the marketplace name says so. Every column is filled for a UK web shop selling in GBP:

- ``currency`` GBP: the shop prices every sale in sterling, wherever the customer lives.
- ``vat_rate``: the destination's standard VAT/GST rate in force on 2011-12-09 (the end of the
  data), 0 where there is no national VAT/GST in 2011 (US, HK, AE, SA, BH, BR, BM). It is a
  reference figure: what the shop actually charged (UK VAT, reverse charge for EU businesses,
  zero-rated exports) is not in the data.
- ``prices_include_vat`` False: the source says nothing about VAT in ``UnitPrice`` and most
  customers are wholesalers, whose prices are quoted net; treating prices as net never strips a
  VAT that may not be there.
- ``referral_fee_rate`` 0, ``fulfilment_fee_per_unit`` 0, ``fulfilment_fee_per_kg`` 0: the shop
  is its own web site and fulfils its own orders, so no marketplace takes a fee. Its own postage
  cost is unknown (postage billed to customers is on the excluded POST/DOT/C2 lines).
- ``customs_basis``: the destination's valuation basis: FOB for US, CA, AU and ZA, CIF elsewhere.
- ``customs_union`` as it was in 2011: ``EU`` for the EU members, the United Kingdom and the
  Channel Islands (the UK was in the EU customs union then, so EU sales crossed no customs border),
  empty elsewhere (only unions Kuajing's tariff tables know, ``contract.CUSTOMS_UNIONS``, are
  named).

The import report (``ImportReport``) is written to ``<data dir>/out/online_retail_import.json``:
``raw/`` holds contract entities only.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ml.contract import entity
from ml.importers.common import (
    FirstReason,
    ReconcilingReport,
    SourceError,
    count_reasons,
    folder_warnings,
    plan_dataset_import,
    remove_raw_files,
    rename_columns,
    write_parquet,
)
from ml.settings import DataPaths

CURRENCY = "GBP"
ORDERS_FILE_PREFIX = "online_retail_"
MARKETPLACES_FILE = "online_retail_marketplaces.parquet"
REPORT_FILE = "online_retail_import.json"
SUPPORTED_SUFFIXES = (".parquet", ".csv", ".xlsx")

# Canonical column -> the names it has in the UCI files (Online Retail first, then II).
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "invoice": ("InvoiceNo", "Invoice"),
    "stock_code": ("StockCode",),
    "description": ("Description",),
    "quantity": ("Quantity",),
    "invoice_date": ("InvoiceDate",),
    "price": ("UnitPrice", "Price"),
    "customer_id": ("CustomerID", "Customer ID"),
    "country": ("Country",),
}
OPTIONAL_COLUMNS = ("description",)  # only used to describe the non-product codes found

# Exclusion reasons, in the order they are applied (the first that applies wins).
REASONS: dict[str, str] = {
    "unreadable_value": "invoice, stock code, quantity, date, price or country cannot be read",
    "sheet_overlap": "invoice already read from an earlier sheet of the workbook",
    "adjustment_invoice": "'A' invoice: bad-debt adjustment, not a sale",
    "non_product_code": "stock code is not a product (postage, fees, discounts, vouchers, ...)",
    "cancellation": "'C' invoice line matched to the sale it reverses",
    "cancelled_sale": "sale line reversed by a matched cancellation",
    "cancellation_unmatched": "'C' invoice line whose sale is not in the data",
    "stock_writeoff": "zero or negative quantity on an ordinary invoice (stock adjustment)",
    "price_not_positive": "sale line with price <= 0",
    "incomplete_last_day": "last day of the source, recorded only partway",
    "country_not_identified": "customer country names no single country",
    "country_unknown": "country name without a mapping in this importer",
    "small_country": "country below min_country_lines (option)",
}

# A product code: five digits, optionally followed by letters (85123A). Everything else is a
# fee, postage, voucher or manual line.
PRODUCT_CODE_PATTERN = r"\d{5}[A-Za-z]*"
# Source country names that name no single country.
NOT_A_COUNTRY = frozenset({"Unspecified", "European Community", "West Indies"})
UK_MARKETPLACE = "UK"


@dataclass(frozen=True)
class Destination:
    """What the marketplaces entity needs to know about one customer country."""

    country: str  # ISO 3166-1 alpha-2
    name: str
    region: str
    vat_rate: float  # standard VAT / GST on 2011-12-09; 0 without a national VAT / GST
    customs_basis: str
    customs_union: str | None  # as in 2011

    @property
    def marketplace(self) -> str:
        return UK_MARKETPLACE if self.country == "GB" else self.country


def _d(
    country: str, name: str, region: str, vat: float, basis: str = "CIF", union: str | None = None
) -> Destination:
    return Destination(country, name, region, vat, basis, union)


_EU, _EUR, _APAC, _NA, _LATAM, _MEA = (
    "EU",
    "europe",
    "asia_pacific",
    "north_america",
    "latin_america",
    "middle_east_africa",
)
# Every country name in Online Retail and Online Retail II. VAT: standard rate on 2011-12-09.
DESTINATIONS: dict[str, Destination] = {
    "United Kingdom": _d("GB", "United Kingdom", _EUR, 0.20, union=_EU),
    "Australia": _d("AU", "Australia", _APAC, 0.10, "FOB"),
    "Austria": _d("AT", "Austria", _EUR, 0.20, union=_EU),
    "Bahrain": _d("BH", "Bahrain", _MEA, 0.0),
    "Belgium": _d("BE", "Belgium", _EUR, 0.21, union=_EU),
    "Bermuda": _d("BM", "Bermuda", _NA, 0.0),
    "Brazil": _d("BR", "Brazil", _LATAM, 0.0),  # no single national VAT (state ICMS varies)
    "Canada": _d("CA", "Canada", _NA, 0.05, "FOB"),  # federal GST; provincial taxes vary
    # Jersey (JE) and Guernsey (GG): the source does not say which; Jersey is the larger.
    "Channel Islands": _d("JE", "Channel Islands (recorded as Jersey)", _EUR, 0.05, union=_EU),
    "Cyprus": _d("CY", "Cyprus", _EUR, 0.15, union=_EU),
    "Czech Republic": _d("CZ", "Czech Republic", _EUR, 0.20, union=_EU),
    "Denmark": _d("DK", "Denmark", _EUR, 0.25, union=_EU),
    "EIRE": _d("IE", "Ireland", _EUR, 0.21, union=_EU),
    "Finland": _d("FI", "Finland", _EUR, 0.23, union=_EU),
    "France": _d("FR", "France", _EUR, 0.196, union=_EU),
    "Germany": _d("DE", "Germany", _EUR, 0.19, union=_EU),
    "Greece": _d("GR", "Greece", _EUR, 0.23, union=_EU),
    "Hong Kong": _d("HK", "Hong Kong", _APAC, 0.0),
    "Iceland": _d("IS", "Iceland", _EUR, 0.255),
    "Israel": _d("IL", "Israel", _MEA, 0.16),
    "Italy": _d("IT", "Italy", _EUR, 0.21, union=_EU),
    "Japan": _d("JP", "Japan", _APAC, 0.05),
    "Korea": _d("KR", "South Korea", _APAC, 0.10),
    "Lebanon": _d("LB", "Lebanon", _MEA, 0.10),
    "Lithuania": _d("LT", "Lithuania", _EUR, 0.21, union=_EU),
    "Malta": _d("MT", "Malta", _EUR, 0.18, union=_EU),
    "Netherlands": _d("NL", "Netherlands", _EUR, 0.19, union=_EU),
    "Nigeria": _d("NG", "Nigeria", _MEA, 0.05),
    "Norway": _d("NO", "Norway", _EUR, 0.25),
    "Poland": _d("PL", "Poland", _EUR, 0.23, union=_EU),
    "Portugal": _d("PT", "Portugal", _EUR, 0.23, union=_EU),
    "RSA": _d("ZA", "South Africa", _MEA, 0.14, "FOB"),
    "Saudi Arabia": _d("SA", "Saudi Arabia", _MEA, 0.0),
    "Singapore": _d("SG", "Singapore", _APAC, 0.07),
    "Spain": _d("ES", "Spain", _EUR, 0.18, union=_EU),
    "Sweden": _d("SE", "Sweden", _EUR, 0.25, union=_EU),
    "Switzerland": _d("CH", "Switzerland", _EUR, 0.08),
    "Thailand": _d("TH", "Thailand", _APAC, 0.07),
    "USA": _d("US", "United States", _NA, 0.0, "FOB"),  # no federal VAT; state sales tax varies
    "United Arab Emirates": _d("AE", "United Arab Emirates", _MEA, 0.0),
}


# ---------------------------------------------------------------------------------------------
# Report


@dataclass(kw_only=True)
class ImportReport(ReconcilingReport):
    """``rows_merged``: lines folded into another line of the same invoice and SKU."""

    REASONS = REASONS

    source_format: str
    orders: int = 0  # distinct order_id written
    skus: int = 0
    date_from: str = ""
    date_to: str = ""
    marketplaces: dict[str, int] = field(default_factory=dict)  # marketplace -> lines written
    countries: dict[str, str] = field(default_factory=dict)  # source country -> marketplace
    excluded_countries: dict[str, int] = field(default_factory=dict)  # name -> rows excluded
    non_product_codes: dict[str, dict[str, object]] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    files_written: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    report_file: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        w = max(len(r) for r in REASONS) + 2
        lines = [
            f"Online Retail import from {self.source} ({self.source_format}) "
            f"in {self.seconds:.1f} s",
            f"  {'rows read':<{w}}{self.rows_in:>10,}",
        ]
        for reason, n in self.excluded.items():
            lines.append(f"  - {reason:<{w - 2}}{n:>10,}  {REASONS[reason]}")
        lines += [
            f"  - {'merged':<{w - 2}}{self.rows_merged:>10,}  lines folded into another line of "
            "the same invoice and SKU",
            f"  {'order lines written':<{w}}{self.rows_written:>10,}"
            + ("" if self.reconciles else "  (DOES NOT RECONCILE)"),
            f"  {self.orders:,} orders, {self.skus:,} SKUs, {len(self.marketplaces)} marketplaces, "
            f"{self.date_from} to {self.date_to}",
            "  marketplaces: " + ", ".join(f"{m} {n:,}" for m, n in self.marketplaces.items()),
        ]
        if self.non_product_codes:
            lines.append("  non-product codes: " + ", ".join(self.non_product_codes))
        if self.excluded_countries:
            lines.append(
                "  countries left out: "
                + ", ".join(f"{c} ({n:,})" for c, n in self.excluded_countries.items())
            )
        lines.append(
            "  no catalog written: category, HS code, origin, cost and weight are not in the data"
        )
        written: dict[str, int] = {}
        for f in self.files_written:
            folder = str(Path(f).parent)
            written[folder] = written.get(folder, 0) + 1
        lines += [f"  wrote {n} file(s) in {folder}" for folder, n in written.items()]
        if self.files_removed:
            lines.append(f"  removed {len(self.files_removed)} earlier raw file(s)")
        if self.report_file:
            lines.append(f"  report: {self.report_file}")
        lines += [f"  warning: {w_}" for w_ in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Reading


def find_source_files(source: Path) -> list[Path]:
    """``source`` itself, or every supported file inside a folder, in name order.

    Several files are read like the sheets of one workbook (e.g. the two yearly sheets of
    Online Retail II saved as CSV): an invoice repeated in a later file counts once.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise SourceError(
                f"{source}: unsupported file type {source.suffix!r}; expected "
                f"one of {', '.join(SUPPORTED_SUFFIXES)}"
            )
        return [source]
    found = sorted(
        p for p in source.iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
    )
    if not found:
        raise FileNotFoundError(f"{source}: no {', '.join(SUPPORTED_SUFFIXES)} file in this folder")
    return found


def map_columns(frame: pd.DataFrame, file: Path | str) -> pd.DataFrame:
    """Rename either UCI naming to the canonical names; missing columns are an error."""
    out = rename_columns(frame, SOURCE_COLUMNS, file, optional=OPTIONAL_COLUMNS)
    if "description" not in out:
        out["description"] = pd.NA
    return out


def _read_xlsx(file: Path) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise SourceError(
            f"{file}: reading .xlsx needs the package openpyxl, which Kuajing does not install. "
            "Run the import with it for this one command (`uv run --with openpyxl kuajing import "
            "online-retail --source ...`), or add it to Kuajing's environment (`uv pip install "
            "--python .venv openpyxl`), or save the workbook's sheets as CSV and import that."
        )
    sheets = pd.read_excel(file, sheet_name=None, dtype=object, engine="openpyxl")
    frames = []
    for number, (name, sheet) in enumerate(sheets.items()):
        if sheet.empty:
            continue
        frames.append(map_columns(sheet, f"{file} [sheet {name!r}]").assign(_sheet=number))
    if not frames:
        raise SourceError(f"{file}: the workbook has no rows")
    return pd.concat(frames, ignore_index=True)


def _read_csv(file: Path) -> pd.DataFrame:
    # Every column as text: stock codes like 10002 must stay strings. Kaggle copies of the
    # original file are Latin-1 encoded.
    try:
        frame = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError:
        frame = pd.read_csv(
            file, dtype=str, keep_default_na=False, na_values=[""], encoding="latin-1"
        )
    return map_columns(frame, file)


def read_source(file: Path) -> tuple[pd.DataFrame, str]:
    """The source rows with canonical column names (values as read) and the format name."""
    suffix = file.suffix.lower()
    if suffix == ".xlsx":
        frame, fmt = _read_xlsx(file), "xlsx"
    elif suffix == ".csv":
        frame, fmt = _read_csv(file), "csv"
    else:
        try:
            frame = pd.read_parquet(file)
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise SourceError(f"{file}: not a readable Parquet file ({error})") from None
        frame, fmt = map_columns(frame, file), "parquet"
    if "_sheet" not in frame:
        frame["_sheet"] = 0
    return frame.reset_index(drop=True), fmt


def read_sources(files: list[Path]) -> tuple[pd.DataFrame, str]:
    """Every file's rows, in order; each sheet of each file numbered in ``_sheet``."""
    frames, formats, offset = [], [], 0
    for file in files:
        frame, fmt = read_source(file)
        frames.append(frame.assign(_sheet=frame["_sheet"] + offset))
        offset += int(frame["_sheet"].max()) + 1 if len(frame) else 1
        formats.append(fmt)
    return pd.concat(frames, ignore_index=True), "+".join(dict.fromkeys(formats))


# ---------------------------------------------------------------------------------------------
# Normalising values


def _as_code(values: pd.Series) -> pd.Series:
    """Invoice numbers and stock codes as text (Excel hands some back as numbers)."""
    text = values.astype("string").str.strip()
    text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    return text.mask(text == "")


_DATE_FORMATS = (
    "ISO8601",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
)


def parse_invoice_dates(values: pd.Series) -> pd.Series:
    """Timestamps, naive UK local time. Text is read with the format that reads the most rows
    (UCI CSV copies use month/day/year; a day above 12 settles day-first files)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("Europe/London").dt.tz_localize(None).astype("datetime64[us]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("datetime64[us]")
    # Excel cells come back as datetime objects in an object column.
    if values.map(lambda v: isinstance(v, datetime | np.datetime64), na_action="ignore").all():
        return pd.to_datetime(values, errors="coerce").astype("datetime64[us]")
    text = values.astype("string").str.strip()
    best: pd.Series | None = None
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
        if best.notna().sum() == text.notna().sum():
            break
    assert best is not None
    return best.astype("datetime64[us]")


def normalise(raw: pd.DataFrame) -> pd.DataFrame:
    """Typed columns; ``readable`` is False where a needed value cannot be read."""
    quantity = pd.to_numeric(raw["quantity"], errors="coerce")
    whole = quantity.notna() & (quantity % 1 == 0)
    customer = pd.to_numeric(raw["customer_id"], errors="coerce")
    out = pd.DataFrame(
        {
            "invoice": _as_code(raw["invoice"]).str.upper(),
            "stock_code": _as_code(raw["stock_code"]),
            "description": raw["description"].astype("string").str.strip(),
            "quantity": quantity.where(whole).astype("Int64"),
            "invoice_date": parse_invoice_dates(raw["invoice_date"]),
            "price": pd.to_numeric(raw["price"], errors="coerce").astype("float64"),
            "customer_id": customer.where(customer % 1 == 0).astype("Int64"),
            "country": raw["country"].astype("string").str.strip(),
            "sheet": raw["_sheet"].astype("int64").to_numpy(),
        }
    )
    out["readable"] = (
        (
            out[["invoice", "stock_code", "quantity", "invoice_date", "price", "country"]]
            .notna()
            .all(axis=1)
            & out["country"].ne("")
        )
        .fillna(False)
        .astype(bool)
    )
    product = is_product_code(out["stock_code"])
    # One product, two spellings (15056bl / 15056BL): product codes are keyed upper-case.
    out["sku"] = out["stock_code"].where(~product, out["stock_code"].str.upper())
    out["is_product"] = product
    return out


# ---------------------------------------------------------------------------------------------
# Decisions (pure functions on small frames)


def is_product_code(codes: pd.Series) -> pd.Series:
    """True for product codes (five digits, optional letters); False for POST, DOT, M, ..."""
    return codes.astype("string").str.fullmatch(PRODUCT_CODE_PATTERN).fillna(False).astype(bool)


def sheet_overlap(invoice: pd.Series, sheet: pd.Series) -> pd.Series:
    """True for rows whose invoice already appears in an earlier sheet of the workbook."""
    first_sheet = sheet.groupby(invoice, sort=False).transform("min")
    return (sheet > first_sheet).fillna(False).astype(bool)


def match_cancellations(lines: pd.DataFrame) -> pd.Series:
    """For each cancellation line, the index label of the sale line it reverses.

    ``lines`` has ``invoice``, ``customer_id``, ``sku``, ``quantity``, ``invoice_date``; only
    lines still eligible (products, readable) should be passed. A sale matches a cancellation
    when customer, SKU and units are the same and it was invoiced at or before the cancellation;
    each sale is used once and the most recent unused sale wins. Returns a Series indexed by the
    cancellation lines (all of them), value the sale's label or NA.
    """
    is_cancel = lines["invoice"].str.startswith("C").fillna(False).astype(bool)
    cancels = lines[is_cancel & (lines["quantity"] < 0).fillna(False)]
    result = pd.Series(pd.NA, index=lines.index[is_cancel], dtype="object")
    known = cancels[cancels["customer_id"].notna()]
    if known.empty:
        return result
    sales = lines[~is_cancel & (lines["quantity"] > 0).fillna(False) & lines["customer_id"].notna()]
    key = ["customer_id", "sku", "units"]
    known = known.assign(units=-known["quantity"], kind=1)
    sales = sales.assign(units=sales["quantity"], kind=0)
    sales = sales[_keys_in(sales, known, key)]  # only keys that have a cancellation
    events = pd.concat(
        [sales[key + ["invoice_date", "kind"]], known[key + ["invoice_date", "kind"]]]
    )
    events["label"] = events.index
    events["position"] = np.arange(len(events))
    # Sales before cancellations at the same minute, then source order.
    events = events.sort_values(key + ["invoice_date", "kind", "position"], kind="stable")
    stacks: dict[tuple[object, ...], list[object]] = {}
    matched: dict[object, object] = {}
    for cust, sku, units, kind, label in zip(
        events["customer_id"],
        events["sku"],
        events["units"],
        events["kind"],
        events["label"],
        strict=True,
    ):
        stack = stacks.setdefault((cust, sku, units), [])
        if kind == 0:
            stack.append(label)
        elif stack:
            matched[label] = stack.pop()
    if matched:
        result.loc[list(matched)] = list(matched.values())
    return result


def _keys_in(frame: pd.DataFrame, other: pd.DataFrame, key: list[str]) -> pd.Series:
    """Rows of ``frame`` whose ``key`` occurs in ``other``."""
    wanted = pd.MultiIndex.from_frame(other[key].drop_duplicates().astype(object))
    return pd.Series(
        pd.MultiIndex.from_frame(frame[key].astype(object)).isin(wanted), index=frame.index
    )


def merge_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per (invoice, sku): units summed, price weighted by units, invoice's first time.

    ``lines`` has ``invoice``, ``sku``, ``marketplace``, ``quantity``, ``price``,
    ``invoice_date``. Revenue (units x price) is unchanged by the merge.
    """
    work = lines.assign(
        revenue=lines["quantity"].astype("float64") * lines["price"],
        order_date=lines.groupby("invoice")["invoice_date"].transform("min"),
    )
    merged = work.groupby(["invoice", "sku"], sort=False, as_index=False).agg(
        order_date=("order_date", "first"),
        marketplace=("marketplace", "first"),
        quantity=("quantity", "sum"),
        revenue=("revenue", "sum"),
    )
    return pd.DataFrame(
        {
            "order_id": merged["invoice"].astype("string"),
            "order_date": merged["order_date"].astype("datetime64[us]"),
            "marketplace": merged["marketplace"].astype("string"),
            "sku": merged["sku"].astype("string"),
            "quantity": merged["quantity"].astype("int64"),
            "unit_price": (merged["revenue"] / merged["quantity"]).astype("float64"),
            "currency": pd.Series(CURRENCY, index=merged.index, dtype="string"),
        }
    )


def marketplace_rows(marketplaces: Iterable[str]) -> pd.DataFrame:
    """The marketplaces entity for these marketplace codes (see the module docstring)."""
    by_code = {d.marketplace: d for d in DESTINATIONS.values()}
    rows = []
    for code in sorted(set(marketplaces)):
        d = by_code[code]
        rows.append(
            {
                "marketplace": code,
                "name": f"Online Retail web shop: {d.name}",
                "country": d.country,
                "region": d.region,
                "currency": CURRENCY,
                "vat_rate": d.vat_rate,
                "referral_fee_rate": 0.0,
                "prices_include_vat": False,
                "customs_basis": d.customs_basis,
                "fulfilment_fee_per_unit": 0.0,
                "fulfilment_fee_per_kg": 0.0,
                "customs_union": d.customs_union,
            }
        )
    frame = pd.DataFrame(rows, columns=list(entity("marketplaces").column_names))
    return frame.astype(
        {
            "vat_rate": "float64",
            "referral_fee_rate": "float64",
            "prices_include_vat": "bool",
            "fulfilment_fee_per_unit": "float64",
            "fulfilment_fee_per_kg": "float64",
        }
    )


# ---------------------------------------------------------------------------------------------
# The import


def classify_lines(
    lines: pd.DataFrame, *, min_country_lines: int = 0
) -> tuple[pd.Series, dict[str, object]]:
    """The exclusion reason of every normalised line (None: kept), and what was found on the way.

    The rules run in ``REASONS`` order and a row keeps the first reason that applies.
    """
    reasons = FirstReason(len(lines), REASONS)
    reasons.mark(~lines["readable"], "unreadable_value")
    reasons.mark(sheet_overlap(lines["invoice"], lines["sheet"]), "sheet_overlap")
    first_letter = lines["invoice"].str[0].fillna("")
    reasons.mark(first_letter.eq("A"), "adjustment_invoice")
    reasons.mark(~lines["is_product"], "non_product_code")

    is_cancel = first_letter.eq("C").to_numpy()
    eligible = lines[reasons.open]
    pairs = match_cancellations(eligible).dropna()
    position = np.arange(len(lines))
    reasons.mark(np.isin(position, lines.index.get_indexer(pairs.index)), "cancellation")
    reasons.mark(np.isin(position, lines.index.get_indexer(pairs.to_numpy())), "cancelled_sale")
    unmatched = reasons.open & is_cancel
    eligible_sales = eligible[
        ~is_cancel[lines.index.get_indexer(eligible.index)]
        & (eligible["quantity"] > 0).fillna(False).to_numpy()
    ]
    found: dict[str, object] = {
        "cancellations_unmatched": _unmatched_breakdown(lines[unmatched], eligible_sales),
    }
    reasons.mark(unmatched, "cancellation_unmatched")
    reasons.mark(~is_cancel & lines["quantity"].fillna(0).le(0).to_numpy(), "stock_writeoff")
    reasons.mark(lines["price"].fillna(0).le(0), "price_not_positive")

    day = lines["invoice_date"].dt.normalize()
    last_day = day[lines["readable"]].max()
    found["incomplete_last_day"] = str(last_day.date()) if pd.notna(last_day) else ""
    reasons.mark(day.eq(last_day), "incomplete_last_day")

    country = lines["country"].fillna("")
    reasons.mark(country.isin(NOT_A_COUNTRY), "country_not_identified")
    reasons.mark(~country.isin(DESTINATIONS), "country_unknown")
    if min_country_lines > 0:
        remaining = country[reasons.open].value_counts()
        small = remaining[remaining < min_country_lines].index
        reasons.mark(country.isin(small), "small_country")
    return pd.Series(reasons.values, index=lines.index, dtype=object), found


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """Rows per exclusion reason, in ``REASONS`` order."""
    return count_reasons(reasons, REASONS)


def import_online_retail(
    source: Path,
    paths: DataPaths,
    *,
    progress: bool = False,
    min_country_lines: int = 0,
    overwrite: bool = False,
) -> ImportReport:
    """Import the Online Retail file at ``source`` into ``paths.raw`` (see the module docstring).

    Refuses (``FileExistsError``) when the raw folder already holds contract files, unless
    ``overwrite``: then every raw contract file is replaced, since the raw folder must describe
    one seller (a simulated catalog beside these orders would make every SKU an orphan).
    """
    started = time.perf_counter()
    files = find_source_files(Path(source))
    existing = plan_dataset_import(paths, overwrite=overwrite)
    steps = tqdm(total=6, desc="online-retail", unit="step", disable=not progress)
    steps.set_postfix_str("read")
    raw, fmt = read_sources(files)
    shown = str(files[0]) if len(files) == 1 else f"{Path(source)} ({len(files)} files)"
    report = ImportReport(source=shown, source_format=fmt, rows_in=len(raw))
    report.details["source_files"] = [str(f) for f in files]
    steps.update()

    steps.set_postfix_str("normalise")
    lines = normalise(raw)
    del raw
    steps.update()

    steps.set_postfix_str("classify")
    # Listed over every readable row (the 'B' adjustment lines included), as found in the file.
    report.non_product_codes = _non_product_codes(lines[lines["readable"] & ~lines["is_product"]])
    reasons, found = classify_lines(lines, min_country_lines=min_country_lines)
    report.details.update(found)
    steps.update(2)

    steps.set_postfix_str("merge")
    kept = lines[reasons.isna()]
    kept = kept.assign(
        marketplace=kept["country"].map({name: d.marketplace for name, d in DESTINATIONS.items()})
    )
    orders = merge_lines(kept)
    orders = orders.sort_values(["order_date", "order_id", "sku"], kind="stable", ignore_index=True)
    steps.update()

    report.excluded = reason_counts(reasons)
    report.rows_merged = len(kept) - len(orders)
    report.rows_written = len(orders)
    _describe(report, lines, reasons, kept, orders)

    steps.set_postfix_str("write")
    report.files_removed = remove_raw_files(paths, existing)
    month = orders["order_date"].dt.strftime("%Y-%m")
    for period, part in orders.groupby(month, sort=True):
        target = paths.raw_entity("orders") / f"{ORDERS_FILE_PREFIX}{period}.parquet"
        write_parquet(part, "orders", target)
        report.files_written.append(str(target))
    target = paths.raw_entity("marketplaces") / MARKETPLACES_FILE
    write_parquet(marketplace_rows(orders["marketplace"].unique()), "marketplaces", target)
    report.files_written.append(str(target))
    report.warnings += folder_warnings(paths)
    report.seconds = round(time.perf_counter() - started, 2)
    paths.out.mkdir(parents=True, exist_ok=True)
    report.report_file = str(paths.out / REPORT_FILE)
    Path(report.report_file).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    steps.update()
    steps.close()
    return report


def _non_product_codes(lines: pd.DataFrame) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for code, group in lines.groupby("stock_code", sort=False):
        text = group["description"].dropna()
        text = text[text != ""]
        found[str(code)] = {
            "rows": int(len(group)),
            "description": str(text.mode().iloc[0]) if len(text) else "",
        }
    return dict(sorted(found.items(), key=lambda kv: (-int(str(kv[1]["rows"])), kv[0])))


def _unmatched_breakdown(unmatched: pd.DataFrame, sales: pd.DataFrame) -> dict[str, int]:
    """Why cancellations found no sale: no customer, no earlier sale, or none of that size."""
    no_customer = unmatched["customer_id"].isna()
    first_sale = sales.groupby(["customer_id", "sku"])["invoice_date"].min()
    known = unmatched[~no_customer]
    firsts = pd.MultiIndex.from_frame(known[["customer_id", "sku"]].astype(object))
    first = pd.Series(first_sale.reindex(firsts).to_numpy(), index=known.index)
    earlier = first.notna() & (first <= known["invoice_date"])
    return {
        "no_customer_id": int(no_customer.sum()),
        "no_earlier_sale_of_sku_to_customer": int((~earlier).sum()),
        "earlier_sales_but_none_of_that_quantity_left": int(earlier.sum()),
    }


def _describe(
    report: ImportReport,
    lines: pd.DataFrame,
    reasons: pd.Series,
    kept: pd.DataFrame,
    orders: pd.DataFrame,
) -> None:
    report.orders = int(orders["order_id"].nunique())
    report.skus = int(orders["sku"].nunique())
    if len(orders):
        report.date_from = str(orders["order_date"].min())
        report.date_to = str(orders["order_date"].max())
    report.marketplaces = {
        str(k): int(v) for k, v in orders["marketplace"].value_counts().sort_index().items()
    }
    report.countries = {
        name: DESTINATIONS[name].marketplace for name in sorted(kept["country"].unique())
    }
    left_out = lines["country"][
        reasons.isin(["country_not_identified", "country_unknown", "small_country"])
    ]
    report.excluded_countries = {str(k): int(v) for k, v in left_out.value_counts().items()}
    times = kept.groupby("invoice")["invoice_date"].nunique()
    product = lines["is_product"]
    recased = product & lines["stock_code"].ne(lines["sku"])
    report.details.update(
        {
            "source_cancellation_rows": int(
                lines["invoice"].str.startswith("C").fillna(False).sum()
            ),
            "stock_codes_upper_cased_rows": int(recased.sum()),
            "stock_codes_upper_cased": int(lines.loc[recased, "sku"].nunique()),
            "invoices_with_several_timestamps": int((times > 1).sum()),
            "merged_lines_identical_to_another": int(
                kept.duplicated(
                    [
                        "invoice",
                        "stock_code",
                        "description",
                        "quantity",
                        "invoice_date",
                        "price",
                        "customer_id",
                        "country",
                    ]
                ).sum()
            ),
            "largest_quantity_written": int(orders["quantity"].max()) if len(orders) else 0,
        }
    )
