"""What the importers share: the reconciling report, skip reasons, reading and writing files,
marketplace codes and their time zones.

Every importer reads a seller's or a public dataset's file and writes contract files into
``<data dir>/raw/<entity>/``. Each source row is either imported or skipped with exactly one
reason (the first rule that applies), and rows of the same contract key may be merged into one
line, so a report always reconciles: ``rows read = rows written + rows merged + rows skipped``;
rows imported = rows written + rows merged.

The order-export importers (``amazon``, ``shopify``, ``mapped_csv``) also share:

- marketplace codes from ``dbt_project/seeds/marketplace_reference.csv`` (the built-in reference
  the pipeline uses when a data folder has no ``raw/marketplaces/``): its ``marketplace_name``
  column names the Amazon sales channel of each code (``Amazon.de`` -> ``DE``);
- the reference's ``timezone`` column (``ml.reference``): an order time with an offset is
  converted to it, because the contract's ``order_date`` is the marketplace's local time;
- one output file per source file, named after it, in CSV (``write_rows``): importing two months
  side by side keeps both, importing the same file again replaces its own output;
- the folder rule (``plan_output``): files in ``raw/<entity>/`` that no export importer wrote
  (demo data, the Online Retail import, files put there by hand) make an import refuse, unless
  ``overwrite``, which empties ``raw/<entity>/`` first. Other entities are never touched.

The dataset importers (``online_retail`` and the corpus: ``rossmann``, ``pasta_sales``,
``avocado``, ``breakfast_at_the_frat``) each write a whole data folder and share (section "Public
datasets" below):

- the import plan (``plan_dataset_import``): a raw folder that already holds contract files makes
  the import refuse, unless ``overwrite``, which removes every one of them;
- Parquet in the contract's types (``write_parquet``), orders one file a month (``write_dataset``);
- column names matched without case, spaces or punctuation (``rename_columns``);
- the corpus's ``DatasetReport``: a source row (one series x period) is an order line, imported
  without one (a day without sales, a closed day) or skipped with a reason, so
  ``rows read = rows imported + rows skipped``;
- the shaping: weeks dated on Mondays (``week_monday``), closed or unobserved periods written as
  stock-out snapshots the demand mart censors (``period_grid``, ``stock_snapshots``), promoted and
  priced periods merged into promotions and price validities (``promotion_rows``,
  ``price_rows``), the catalog's placeholder attributes (``catalog_rows``) and marketplace and
  warehouse rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ml import contract, reference
from ml.contract import Entity
from ml.settings import DataPaths

# Output names of the export importers: <prefix><source file name>.csv in raw/<entity>/.
EXPORT_PREFIXES = ("amazon_", "shopify_", "mapped_")
EXAMPLES_PER_REASON = 3


class SourceError(ValueError):
    """The source file cannot be imported: the message names the file and what is wrong."""


# ---------------------------------------------------------------------------------------------
# Reports


@dataclass(kw_only=True)
class ReconcilingReport:
    """Counts every importer reports: each source row is written, merged or excluded."""

    REASONS: ClassVar[Mapping[str, str]] = {}  # reason -> what it means, in the order applied

    source: str
    rows_in: int = 0
    rows_written: int = 0
    rows_merged: int = 0  # rows folded into another line with the same key
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> source rows

    def reason_text(self, reason: str) -> str:
        return self.REASONS.get(reason, "")

    @property
    def rows_excluded(self) -> int:
        return sum(self.excluded.values())

    @property
    def rows_imported(self) -> int:
        """Source rows whose units are in the output (written, or merged into a written line)."""
        return self.rows_written + self.rows_merged

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.rows_written + self.rows_excluded + self.rows_merged

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["rows_excluded"] = self.rows_excluded
        out["reconciles"] = self.reconciles
        out["reasons"] = {r: self.reason_text(r) for r in self.excluded}
        return out


@dataclass(kw_only=True)
class ExportReport(ReconcilingReport):
    """The import of one order export (or mapped CSV) into one contract entity.

    ``excluded`` holds the skipped rows by reason (printed as "skipped").
    """

    importer: str  # e.g. "Amazon All Orders report"
    entity: str = "orders"
    reason_texts: dict[str, str] = field(default_factory=dict)  # the importer's reasons
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> first rows
    orders: int = 0  # distinct order_id written (orders only)
    skus: int = 0
    marketplaces: dict[str, int] = field(default_factory=dict)  # code -> lines written
    date_from: str = ""
    date_to: str = ""
    conventions: list[str] = field(default_factory=list)  # how columns were derived
    details: dict[str, object] = field(default_factory=dict)
    output_file: str = ""
    files_removed: list[str] = field(default_factory=list)
    report_file: str = ""
    warnings: list[str] = field(default_factory=list)

    def reason_text(self, reason: str) -> str:
        return self.reason_texts.get(reason, "")

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["rows_imported"] = self.rows_imported
        return out

    def __str__(self) -> str:
        w = max([len(r) for r in self.reason_texts] + [16]) + 4
        lines = [
            f"{self.importer}: {self.source}",
            f"  {'rows read':<{w}}{self.rows_in:>8,}",
        ]
        for reason, n in self.excluded.items():
            lines.append(f"  - {reason:<{w - 2}}{n:>8,}  skipped: {self.reason_text(reason)}")
            lines += [f"      {e}" for e in self.examples.get(reason, [])]
        unit = "order lines" if self.entity == "orders" else f"{self.entity} row(s)"
        imported = (
            f"  {'rows imported':<{w}}{self.rows_imported:>8,}  as {self.rows_written:,} {unit}"
        )
        if self.rows_merged:
            imported += (
                f" ({self.rows_merged:,} merged into a line with the same "
                f"{', '.join(contract.entity(self.entity).key)}: "
                + ("units and line totals summed)" if self.entity == "orders" else "combined)")
            )
        lines += [
            f"  {'rows skipped':<{w}}{self.rows_excluded:>8,}",
            imported,
            f"  {self.rows_in:,} read = {self.rows_imported:,} imported + "
            f"{self.rows_excluded:,} skipped"
            + ("" if self.reconciles else "  (DOES NOT RECONCILE)"),
        ]
        if self.entity == "orders" and self.rows_written:
            lines.append(
                f"  {self.orders:,} order(s), {self.skus:,} SKU(s), "
                f"{self.date_from} to {self.date_to}"
            )
        if self.marketplaces:
            lines.append(
                "  marketplaces: " + ", ".join(f"{m} {n:,}" for m, n in self.marketplaces.items())
            )
        lines += [f"  {c}" for c in self.conventions]
        if self.files_removed:
            lines.append(
                f"  removed {len(self.files_removed)} earlier file(s): "
                + ", ".join(self.files_removed)
            )
        if self.output_file:
            lines.append(f"  wrote {self.output_file}")
        if self.report_file:
            lines.append(f"  report: {self.report_file}")
        lines += [f"  warning: {w_}" for w_ in self.warnings]
        return "\n".join(lines)


class FirstReason:
    """The first skip reason of each row: rules are marked in order and the first one wins."""

    def __init__(self, n: int, known: Mapping[str, str]) -> None:
        self.known = known
        self.values = np.full(n, None, dtype=object)

    @property
    def open(self) -> np.ndarray:
        """Rows no rule has claimed yet."""
        return pd.isna(self.values)

    def mark(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        if reason not in self.known:
            raise KeyError(f"unknown reason {reason!r}")
        hit = np.asarray(mask, dtype=bool) & self.open
        self.values[hit] = reason


def first_unreadable(rows: pd.DataFrame, checks: dict[str, pd.Series]) -> pd.Series:
    """Per row, the first of ``checks`` (column -> rows whose value is unreadable) it fails,
    as "column 'value'" for the report's examples; '' where it fails none."""
    note = pd.Series("", index=rows.index, dtype=object)
    for column, bad in checks.items():
        hit = bad.to_numpy() & note.eq("").to_numpy()
        note[hit] = column + " " + rows.loc[hit, column].map(repr)
    return note


def count_reasons(reasons: pd.Series | np.ndarray, known: Iterable[str]) -> dict[str, int]:
    """Rows per reason, in the order of ``known``; reasons no row has are left out."""
    found = pd.Series(reasons, dtype=object).dropna().value_counts()
    return {r: int(found[r]) for r in known if r in found.index}


# ---------------------------------------------------------------------------------------------
# Marketplaces and time


@dataclass(frozen=True)
class MarketplaceRef:
    code: str
    name: str  # the Amazon store, e.g. Amazon.de
    country: str
    currency: str


def marketplace_reference() -> dict[str, MarketplaceRef]:
    """The built-in marketplace codes (``ml.reference``, the dbt seed)."""
    return {
        row["marketplace"]: MarketplaceRef(
            row["marketplace"], row["marketplace_name"], row["country"], row["currency"]
        )
        for row in reference.marketplace_rows()
    }


def amazon_sales_channels() -> dict[str, str]:
    """Amazon sales channel, lower case (``amazon.co.uk``) -> marketplace code (``UK``)."""
    return {ref.name.lower(): code for code, ref in marketplace_reference().items()}


def time_zone(marketplace: str | None, override: str | None = None) -> str | None:
    """The zone order times of ``marketplace`` are converted to (None: keep them as written)."""
    if override:
        return override
    return reference.marketplace_values("timezone").get(marketplace or "")


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise SourceError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin): {error}"
        ) from None
    return name


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 date or date-time, with or without an offset (``Z`` included); None if not."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def strptime_parser(fmt: str) -> Callable[[str], datetime | None]:
    def parse(text: str) -> datetime | None:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            return None

    return parse


def local_times(
    text: pd.Series,
    marketplace: pd.Series,
    parse: Callable[[str], datetime | None] = parse_iso,
    *,
    zone: str | None = None,
) -> pd.Series:
    """Naive local date-times (NaT where ``text`` is empty or unreadable).

    A time with an offset is converted to the zone of its row's marketplace (or ``zone``); with no
    known zone it keeps the clock time as written. A time without an offset is already local and
    is kept as written.
    """
    cache_: dict[tuple[str, object], datetime | None] = {}
    out: list[datetime | None] = []
    for value, code in zip(text.fillna("").astype(str), marketplace, strict=True):
        key = (value, code)
        if key not in cache_:
            parsed = parse(value.strip()) if value.strip() else None
            if parsed is not None and parsed.tzinfo is not None:
                name = time_zone(code if isinstance(code, str) else None, zone)
                if name is not None:
                    parsed = parsed.astimezone(ZoneInfo(name))
                parsed = parsed.replace(tzinfo=None)
            cache_[key] = parsed
        out.append(cache_[key])
    return pd.Series(pd.to_datetime(pd.Series(out, dtype=object)), index=text.index).astype(
        "datetime64[us]"
    )


def numbers(text: pd.Series) -> pd.Series:
    """Plain numbers (``19.99``, ``-3``, ``1e-05``) as floats; NaN where empty or unreadable."""
    values = pd.to_numeric(text.astype(str).str.strip(), errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def whole_numbers(values: pd.Series) -> pd.Series:
    """Floats that are whole as Int64 (``3.0`` counts), NA otherwise."""
    return values.where(values % 1 == 0).astype("Int64")


# ---------------------------------------------------------------------------------------------
# Reading


def _decode(file: Path, encoding: str | None) -> tuple[str, str]:
    data = file.read_bytes()
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise SourceError(f"{file}: cannot be read as {encoding}: {error}") from None
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Seller Central and spreadsheet programs in Europe and the Americas write Windows-1252.
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise SourceError(
                f"{file}: neither UTF-8 nor Windows-1252 text; pass the file's encoding "
                "(--encoding, e.g. shift_jis)"
            ) from None


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: the most frequent of tab, comma, semicolon and bar."""
    counts = {d: header.count(d) for d in ("\t", ",", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(
    file: Path, *, delimiter: str | None = None, encoding: str | None = None
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every value of a delimited text file as text ('' when empty), and how it was read.

    Tab-separated files are read without quote handling, as Amazon writes them (a product name
    may hold a ``"``); other delimiters with standard CSV quoting.
    """
    file = Path(file)
    if not file.is_file():
        raise SourceError(f"{file}: no such file")
    text, used = _decode(file, encoding)
    if not text.strip():
        raise SourceError(f"{file}: the file is empty (not even a header)")
    sep = delimiter or sniff_delimiter(text.splitlines()[0])
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, ValueError) as error:
        raise SourceError(f"{file}: cannot be read as delimited text: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.fillna("").reset_index(drop=True)
    return frame, {"encoding": used, "delimiter": {"\t": "tab"}.get(sep, sep)}


def header_key(name: object) -> str:
    return str(name).strip().lower()


def find_columns(
    frame: pd.DataFrame, wanted: Iterable[str], file: Path, what: str
) -> dict[str, str]:
    """``wanted`` name -> the file's column (names compared trimmed, any case); every one must be
    there, else a ``SourceError`` naming the missing columns and the file's columns."""
    by_key = {header_key(c): c for c in frame.columns}
    found = {w: by_key[header_key(w)] for w in wanted if header_key(w) in by_key}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise SourceError(
            f"{file}: not {what}: missing column(s) {', '.join(missing)}; "
            f"the file has: {', '.join(map(str, frame.columns)) or 'no columns'}"
        )
    return found


# ---------------------------------------------------------------------------------------------
# Shaping and writing


def merge_order_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per (order_id, sku), in first-seen order: units and revenue summed, the first
    date, marketplace and currency kept; unit_price = revenue / units (revenue unchanged).

    ``lines`` has order_id, order_date, marketplace, sku, quantity, revenue, currency.
    """
    merged = lines.groupby(["order_id", "sku"], sort=False, as_index=False).agg(
        order_date=("order_date", "first"),
        marketplace=("marketplace", "first"),
        quantity=("quantity", "sum"),
        revenue=("revenue", "sum"),
        currency=("currency", "first"),
    )
    return pd.DataFrame(
        {
            "order_id": merged["order_id"].astype(str),
            "order_date": merged["order_date"].astype("datetime64[us]"),
            "marketplace": merged["marketplace"].astype(str),
            "sku": merged["sku"].astype(str),
            "quantity": merged["quantity"].astype("int64"),
            "unit_price": (merged["revenue"] / merged["quantity"]).astype("float64"),
            "currency": merged["currency"].astype(str),
        }
    )


def output_path(paths: DataPaths, entity: str, prefix: str, source: Path) -> Path:
    """``raw/<entity>/<prefix><source file name>.csv`` (lower case, other characters as -)."""
    assert prefix in EXPORT_PREFIXES
    stem = re.sub(r"[^a-z0-9_]+", "-", Path(source).stem.lower()).strip("-") or "export"
    return paths.raw_entity(entity) / f"{prefix}{stem}.csv"


def _files_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def plan_output(paths: DataPaths, entity: str, target: Path, *, overwrite: bool) -> list[Path]:
    """The files to remove before ``target`` is written (``target`` itself is replaced anyway).

    Refuses (``FileExistsError``) when ``raw/<entity>/`` holds files no export importer wrote,
    unless ``overwrite``: then every other file of the entity goes.
    """
    others = [p for p in _files_in(paths.raw_entity(entity)) if p != target]
    if overwrite:
        return others
    foreign = [p for p in others if not p.name.startswith(EXPORT_PREFIXES)]
    if foreign:
        raise FileExistsError(
            f"{paths.raw_entity(entity)} already holds {len(foreign)} file(s) that no export "
            f"import wrote (e.g. {foreign[0].name}), such as demo data; pass --overwrite to "
            f"remove every file in {paths.raw_entity(entity)} first, or import into another "
            "data folder (--data-dir)."
        )
    return []


def _text(values: pd.Series, dtype: str) -> pd.Series:
    """Contract values as the text ingest reads back exactly."""
    if dtype == "timestamp":
        stamps = pd.to_datetime(values)
        midnight = stamps.dropna().eq(stamps.dropna().dt.normalize()).all()
        fmt = "%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S"
        return stamps.dt.strftime(fmt).fillna("")
    if dtype == "date":
        return pd.to_datetime(values).dt.strftime("%Y-%m-%d").fillna("")
    if dtype == "decimal":
        return values.map(
            lambda x: "" if pd.isna(x) else f"{round(float(x), 6):.6f}".rstrip("0").rstrip(".")
        ).replace("-0", "0")
    if dtype == "integer":
        return values.map(lambda x: "" if pd.isna(x) else str(int(x)))
    if dtype == "boolean":
        return values.map(lambda x: "" if pd.isna(x) else ("true" if x else "false"))
    return values.map(lambda x: "" if pd.isna(x) else str(x))


def write_rows(frame: pd.DataFrame, ent: Entity, target: Path) -> None:
    """Write ``frame`` as a CSV of the entity's columns (those in ``frame``), in contract order.

    Written to a hidden temporary file first (ingest ignores hidden files), then renamed.
    """
    cols = [c for c in ent.columns if c.name in frame.columns]
    out = pd.DataFrame({c.name: _text(frame[c.name], c.dtype) for c in cols})
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    out.to_csv(tmp, index=False, lineterminator="\n")
    os.replace(tmp, target)


def _overlapping_keys(frame: pd.DataFrame, ent: Entity, files: list[Path]) -> dict[str, int]:
    """Per other file of the entity: rows of ``frame`` whose key it already holds."""
    key = list(ent.key)
    mine = pd.MultiIndex.from_frame(frame[key].astype(str))
    found: dict[str, int] = {}
    for f in files:
        try:
            if f.suffix.lower() == ".csv":
                other = pd.read_csv(f, dtype=str, keep_default_na=False)
            elif f.suffix.lower() == ".parquet":
                other = pd.read_parquet(f)
            else:
                continue
        except Exception:  # an unreadable file is the ingest's to report
            continue
        other.columns = [header_key(c) for c in other.columns]
        if not set(key) <= set(other.columns):
            continue
        theirs = pd.MultiIndex.from_frame(other[key].astype(str))
        n = int(mine.isin(theirs).sum())
        if n:
            found[f.name] = n
    return found


def row_examples(
    reasons: pd.Series, describe: pd.Series, limit: int = EXAMPLES_PER_REASON
) -> dict[str, list[str]]:
    """The first ``limit`` rows of each reason: 'row N: <describe>' (N: 1-based data row)."""
    out: dict[str, list[str]] = {}
    positions = np.arange(1, len(reasons) + 1)
    for reason in reasons.dropna().unique():
        hit = np.flatnonzero(reasons.to_numpy() == reason)[:limit]
        out[str(reason)] = [f"row {positions[i]}: {describe.iloc[i]}" for i in hit]
    return out


def finish_import(
    report: ExportReport,
    frame: pd.DataFrame,
    reasons: pd.Series,
    describe: pd.Series,
    *,
    paths: DataPaths,
    target: Path,
    remove: list[Path],
) -> ExportReport:
    """Fill the report from the rows to write (already merged), write them and the report.

    ``reasons`` and ``describe`` are per source row (describe: how an example row is shown).
    """
    ent = contract.entity(report.entity)
    report.excluded = count_reasons(reasons, report.reason_texts)
    report.examples = row_examples(reasons, describe)
    report.rows_written = len(frame)
    report.rows_merged = int(reasons.isna().sum()) - len(frame)
    if "order_id" in frame:
        report.orders = int(frame["order_id"].nunique())
    if "sku" in frame:
        report.skus = int(frame["sku"].nunique())
    if "marketplace" in frame:
        counts = frame["marketplace"].value_counts().sort_index()
        report.marketplaces = {str(k): int(v) for k, v in counts.items()}
    # Without raw/marketplaces/, the pipeline uses the built-in figures: say where they miss.
    if (
        "marketplace" in frame
        and ent.name != "marketplaces"
        and not _files_in(paths.raw_entity("marketplaces"))
    ):
        reference = marketplace_reference()
        if "currency" in frame:
            expected = frame["marketplace"].map({c: r.currency for c, r in reference.items()})
            other = frame[expected.notna() & frame["currency"].ne(expected)]
            if len(other):
                pairs = sorted(set(zip(other["marketplace"], other["currency"], strict=True)))
                report.warnings.append(
                    f"{len(other):,} line(s) are not in their marketplace's built-in currency ("
                    + ", ".join(f"{m} in {c}, not {reference[m].currency}" for m, c in pairs)
                    + "): give these marketplaces a row in raw/marketplaces/ with the currency "
                    "you sell in, or use another marketplace code"
                )
        unknown = sorted(set(report.marketplaces) - set(reference))
        if unknown:
            report.warnings.append(
                f"marketplace code(s) {', '.join(unknown)} are not built in: add a row for each "
                "to raw/marketplaces/ (VAT, fees, currency), otherwise their figures are empty"
            )
    dated = [c.name for c in ent.columns if c.dtype in ("date", "timestamp") and c.name in frame]
    if dated and len(frame):
        first = pd.to_datetime(frame[dated[0]]).dropna()
        if len(first):
            report.date_from, report.date_to = str(first.min()), str(first.max())

    for old in remove:
        old.unlink()
    report.files_removed = [str(p.relative_to(paths.raw)) for p in remove]
    others = [p for p in _files_in(paths.raw_entity(report.entity)) if p != target]
    if len(frame):
        write_rows(frame, ent, target)
        report.output_file = str(target)
        overlap = _overlapping_keys(frame, ent, others)
        if overlap:
            report.warnings.append(
                f"{sum(overlap.values()):,} {ent.name} row(s) repeat a key "
                f"({', '.join(ent.key)}) already in "
                + ", ".join(f"{name} ({n:,})" for name, n in overlap.items())
                + ": ingest keeps the first (in file name order) and quarantines the others "
                "as duplicate_key; do the exports cover the same days?"
            )
    else:
        if target.exists():
            target.unlink()
            report.files_removed.append(str(target.relative_to(paths.raw)))
        report.warnings.append("no rows to import: nothing written")
    for ref in ent.references:
        if ref.target != ent.name and _files_in(paths.raw_entity(ref.target)):
            report.warnings.append(
                f"{paths.raw_entity(ref.target)} holds files: this import's "
                f"{', '.join(ref.columns)} are checked against them, so they must describe "
                "the same seller"
            )
    if paths.truth.is_dir() and any(paths.truth.iterdir()):
        report.warnings.append(
            f"{paths.truth} holds a simulator's ground truth: this data folder has demo data"
        )
    folder = paths.out / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    report.report_file = str(folder / f"{target.stem}.json")
    Path(report.report_file).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report


# ---------------------------------------------------------------------------------------------
# Public datasets: one dataset becomes a whole data folder
#
# The dataset importers (``online_retail`` and the corpus: ``rossmann``, ``pasta_sales``,
# ``avocado``, ``breakfast_at_the_frat``) write every entity a seller would have, as Parquet files
# named after the dataset, and refuse a data folder whose raw/ already holds files (the raw folder
# must describe one seller: a simulated catalog beside real orders would make every SKU an orphan)
# unless ``overwrite``, which empties every raw/<entity>/ first.

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "boolean": pa.bool_(),
}
DAY = pd.Timedelta(days=1)


def column_key(name: object) -> str:
    """A column name without case, spaces or punctuation: "Customer ID", "CustomerID" and
    "customer_id" are the same column."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def rename_columns(
    frame: pd.DataFrame,
    columns: Mapping[str, tuple[str, ...]],
    file: Path | str,
    *,
    optional: Iterable[str] = (),
) -> pd.DataFrame:
    """The columns of ``frame`` named in ``columns`` (canonical name -> the names it goes by,
    compared by ``column_key``), renamed to the canonical names. A missing column that is not
    ``optional`` is a ``SourceError`` naming it (the last of its names first) and the file's
    columns."""
    skip = set(optional)
    by_key = {column_key(c): c for c in frame.columns}
    renamed: dict[object, str] = {}
    for canonical, names in columns.items():
        hit = next((by_key[column_key(n)] for n in names if column_key(n) in by_key), None)
        if hit is None:
            if canonical in skip:
                continue
            raise SourceError(
                f"{file}: missing column {names[-1]!r}"
                + (f" (or {', '.join(repr(n) for n in names[:-1])})" if len(names) > 1 else "")
                + f"; columns found: {', '.join(map(str, frame.columns))}"
            )
        renamed[hit] = canonical
    return frame[list(renamed)].rename(columns=renamed)


def read_frame(file: Path) -> pd.DataFrame:
    """A Parquet or CSV file as a frame (CSV: UTF-8, else Latin-1; types inferred)."""
    file = Path(file)
    suffix = file.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(file)
        if suffix == ".csv":
            try:
                return pd.read_csv(file, low_memory=False)
            except UnicodeDecodeError:
                return pd.read_csv(file, low_memory=False, encoding="latin-1")
    except (OSError, ValueError, pa.ArrowException) as error:
        raise SourceError(f"{file}: cannot be read ({error})") from None
    raise SourceError(f"{file}: unsupported file type {file.suffix!r}; expected .parquet or .csv")


def pick_file(source: Path, names: Iterable[str], what: str) -> Path:
    """``source`` itself if it is a file, else the first of ``names`` in the folder (compared
    without case)."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    if source.is_file():
        return source
    wanted = list(names)
    found = {p.name.lower(): p for p in source.iterdir() if p.is_file()}
    for name in wanted:
        if name.lower() in found:
            return found[name.lower()]
    raise FileNotFoundError(f"{source}: no {what} in this folder (looked for {', '.join(wanted)})")


def numeric(values: pd.Series) -> pd.Series:
    """Numbers as floats; NaN where empty, unreadable or not finite."""
    out = pd.to_numeric(values, errors="coerce").astype("float64")
    return out.where(np.isfinite(out))


def arrow_schema(name: str, columns: Iterable[str] | None = None) -> pa.Schema:
    """The Arrow schema of an entity's columns (those in ``columns``), in contract order."""
    keep = None if columns is None else set(columns)
    return pa.schema(
        [
            (c.name, ARROW_TYPES[c.dtype])
            for c in contract.entity(name).columns
            if keep is None or c.name in keep
        ]
    )


def write_parquet(frame: pd.DataFrame, name: str, target: Path) -> None:
    """Write ``frame`` as Parquet with the entity's column types, in contract order. Written to
    a hidden temporary file first (ingest ignores hidden files), then renamed."""
    schema = arrow_schema(name, frame.columns)
    table = pa.Table.from_pandas(frame[schema.names], preserve_index=False)
    table = table.cast(pa.schema([(f.name, f.type) for f in schema]))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, target)


def existing_raw_files(paths: DataPaths) -> list[Path]:
    """Every file ingest would read as a contract entity in ``paths.raw``."""
    return sorted(p for name in contract.ENTITY_NAMES for p in _files_in(paths.raw_entity(name)))


def plan_dataset_import(paths: DataPaths, *, overwrite: bool) -> list[Path]:
    """The raw files to remove before a dataset is written (every one, with ``overwrite``).

    Refuses (``FileExistsError``) when the raw folder already holds contract files and not
    ``overwrite``: a dataset describes one seller, so it is imported into a folder of its own.
    """
    existing = existing_raw_files(paths)
    if existing and not overwrite:
        raise FileExistsError(
            f"{paths.raw} already holds {len(existing)} raw file(s) (e.g. "
            f"{existing[0].relative_to(paths.raw)}); pass overwrite=True (--overwrite) to "
            "replace them, or import into another data folder (--data-dir)."
        )
    return existing


def remove_raw_files(paths: DataPaths, files: Iterable[Path]) -> list[str]:
    """Delete ``files``; their paths relative to the raw folder."""
    removed = []
    for old in files:
        old.unlink(missing_ok=True)
        removed.append(str(old.relative_to(paths.raw)))
    return removed


def folder_warnings(paths: DataPaths) -> list[str]:
    """What else in the data folder does not describe the imported dataset."""
    found = []
    if paths.truth.is_dir() and any(paths.truth.iterdir()):
        found.append(
            f"{paths.truth} holds a simulator's ground truth, which does not describe this data"
        )
    if paths.warehouse.exists():
        found.append(
            f"{paths.warehouse} holds an earlier build: a run replaces the order days it finds "
            "in raw/orders/ and keeps every other day, so delete the warehouse file (or use a "
            "fresh --data-dir) unless it was built from this same dataset"
        )
    return found


# Rows of a dataset: one per series and period (a store-day, a product-week, ...).


def first_series(keys: pd.Series, limit: int | None) -> np.ndarray:
    """Rows whose series is among the first ``limit`` distinct ``keys`` in sorted order (every
    row when ``limit`` is None)."""
    if limit is None:
        return np.ones(len(keys), dtype=bool)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    chosen = np.sort(keys.dropna().unique())[:limit]
    return keys.isin(chosen).to_numpy()


def day_text(days: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` of each date, formatted once per distinct date."""
    codes, uniques = pd.factorize(days)
    text = pd.DatetimeIndex(uniques).strftime("%Y-%m-%d").to_numpy(dtype=object)
    return pd.Series(np.where(codes >= 0, text[codes], None), index=days.index, dtype=object)


def week_monday(first_days: pd.Series) -> pd.Series:
    """The Monday of the Monday-to-Sunday week that holds most (4 or more) of the 7 days of
    the week starting on each date: a Sunday-to-Saturday week goes on the next day, a
    Thursday-to-Wednesday week on the Monday before its Thursday. Kuajing's weekly grain counts
    weeks from Monday, with each week's units on its Monday."""
    middle = pd.to_datetime(first_days).dt.normalize() + 3 * DAY
    return middle - pd.to_timedelta(middle.dt.day_of_week, unit="D")


def period_grid(
    observed: pd.DataFrame,
    *,
    period_days: int,
    first: pd.Timestamp | None = None,
    last: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Every period of each series, from its first to its last period in ``observed`` (or from
    ``first`` to ``last`` for every series): ``sku``, ``period``, ``available`` (from
    ``observed``; False for a period not in it) and ``in_source``.

    ``observed`` has one row per sku and period with ``available`` (bool).
    """
    bounds = observed.groupby("sku", sort=True)["period"].agg(["min", "max"])
    start = bounds["min"] if first is None else pd.Series(first, index=bounds.index)
    end = bounds["max"] if last is None else pd.Series(last, index=bounds.index)
    n = ((end - start).dt.days // period_days + 1).to_numpy()
    offsets = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    grid = pd.DataFrame(
        {
            "sku": np.repeat(bounds.index.to_numpy(), n),
            "period": np.repeat(start.to_numpy(), n) + offsets * np.timedelta64(period_days, "D"),
        }
    )
    grid = grid.merge(observed[["sku", "period", "available"]], on=["sku", "period"], how="left")
    grid["in_source"] = grid["available"].notna()
    grid["available"] = grid["available"].fillna(False).astype(bool)
    return grid


def stock_snapshots(grid: pd.DataFrame, warehouse_id: pd.Series | str) -> pd.DataFrame:
    """Inventory rows that make each unavailable period a stock-out in the demand mart.

    The mart reads a day's opening stock from the last end-of-day snapshot before it, and calls
    a day with no stock and no sales censored. So one snapshot at the end of the day before a
    series' first period and before each period where availability changes is enough:
    ``on_hand`` 1 (open, in stock) or 0 (closed, or not in the source). ``on_hand`` is a flag,
    not a stock count: the datasets do not count stock.

    ``grid`` is ``period_grid``'s (sku, period, available, sorted by sku and period).
    """
    g = grid.sort_values(["sku", "period"], kind="stable")
    changed = _changed(g["sku"]) | _changed(g["available"])
    rows = g[changed]
    wh = (
        pd.Series(warehouse_id, index=g.index)
        if isinstance(warehouse_id, str)
        else warehouse_id.reindex(g.index)
    )
    return pd.DataFrame(
        {
            "snapshot_date": (rows["period"] - DAY).to_numpy(),
            "warehouse_id": wh[changed].astype(str).to_numpy(),
            "sku": rows["sku"].astype(str).to_numpy(),
            "on_hand": rows["available"].astype("int64").to_numpy(),
        }
    )


def _changed(values: pd.Series) -> np.ndarray:
    """True where a value differs from the one before (and on the first row)."""
    return values.ne(values.shift()).fillna(True).to_numpy(dtype=bool)


def _runs(frame: pd.DataFrame, keys: list[str], values: list[str], *, gaps: bool) -> pd.Series:
    """A run number per row (``frame`` sorted by keys and period): a new run where a key or a
    value changes, or (unless ``gaps``) where a period does not follow the previous one."""
    new = np.zeros(len(frame), dtype=bool)
    for col in keys + values:
        new |= _changed(frame[col])
    if not gaps:
        new |= frame["period"].ne(frame["end"].shift() + DAY).fillna(True).to_numpy(dtype=bool)
    return pd.Series(np.cumsum(new), index=frame.index)


def promotion_rows(flags: pd.DataFrame, *, prefix: str, period_days: int) -> pd.DataFrame:
    """Promotions from promoted periods, consecutive periods of the same SKU, type and discount
    merged into one promotion (a day without the flag ends it).

    ``flags``: sku, marketplace, promo_type, discount_pct, period (one row per promoted period,
    a period lasting ``period_days`` from ``period``). ``promotion_id`` is
    ``<prefix>-<sku>-<promo_type>-<first day>``.
    """
    keys = ["sku", "marketplace", "promo_type"]
    f = flags.sort_values([*keys, "period"], kind="stable").reset_index(drop=True)
    f["end"] = f["period"] + (period_days - 1) * DAY
    run = _runs(f, keys, ["discount_pct"], gaps=False)
    out = f.groupby(run, sort=False).agg(
        sku=("sku", "first"),
        marketplace=("marketplace", "first"),
        promo_type=("promo_type", "first"),
        discount_pct=("discount_pct", "first"),
        start_date=("period", "min"),
        end_date=("end", "max"),
    )
    out.insert(
        0,
        "promotion_id",
        prefix + "-" + out["sku"] + "-" + out["promo_type"] + "-" + day_text(out["start_date"]),
    )
    return out.reset_index(drop=True)


def price_rows(prices: pd.DataFrame, *, period_days: int) -> pd.DataFrame:
    """List prices from the price of each period: a price holds from its first period until
    the next different price of the series starts (a period without a price keeps the one
    before), the last one until the end of its last period.

    ``prices``: sku, marketplace, currency, period, list_price (> 0, one row per priced period).
    """
    keys = ["sku", "marketplace"]
    f = prices.sort_values([*keys, "period"], kind="stable").reset_index(drop=True)
    f["end"] = f["period"] + (period_days - 1) * DAY
    run = _runs(f, keys, ["list_price", "currency"], gaps=True)
    out = f.groupby(run, sort=False).agg(
        sku=("sku", "first"),
        marketplace=("marketplace", "first"),
        valid_from=("period", "min"),
        last_end=("end", "max"),
        list_price=("list_price", "first"),
        currency=("currency", "first"),
    )
    following = out["valid_from"].shift(-1)
    same = out["sku"].eq(out["sku"].shift(-1)) & out["marketplace"].eq(out["marketplace"].shift(-1))
    out["valid_to"] = (following - DAY).where(same, out["last_end"])
    return out[
        ["sku", "marketplace", "valid_from", "valid_to", "list_price", "currency"]
    ].reset_index(drop=True)


def order_rows(
    lines: pd.DataFrame, *, prefix: str, marketplace: str, currency: str
) -> pd.DataFrame:
    """One order line per series and period: ``order_id`` ``<prefix>-<code>-<YYYY-MM-DD>``.

    ``lines``: sku, code (the series' part of the order id), period, quantity, unit_price.
    """
    return pd.DataFrame(
        {
            "order_id": (prefix + "-" + lines["code"] + "-" + day_text(lines["period"])).to_numpy(),
            "order_date": lines["period"].to_numpy(),
            "marketplace": marketplace,
            "sku": lines["sku"].to_numpy(),
            "quantity": lines["quantity"].astype("int64").to_numpy(),
            "unit_price": lines["unit_price"].astype("float64").to_numpy(),
            "currency": currency,
        }
    )


# Catalog attributes none of the public datasets have. They are required by the contract, so they
# are written as values no one can take for data; landed cost and duties computed from them mean
# nothing (the forecast does not use them; it uses the category).
PLACEHOLDER_HS_CODE = "999999"  # "commodities not specified" in trade statistics
PLACEHOLDER_UNIT_COST = 0.01
PLACEHOLDER_WEIGHT_KG = 0.001
PLACEHOLDER_NOTE = (
    f"catalog: title and category from the data; hs_code {PLACEHOLDER_HS_CODE}, unit_cost "
    f"{PLACEHOLDER_UNIT_COST} and weight_kg {PLACEHOLDER_WEIGHT_KG} are placeholders (the data "
    "has no cost, weight or tariff code) and origin_country is the marketplace's country: "
    "landed cost, duties and tariff exposure of this data folder mean nothing"
)


def catalog_rows(skus: pd.DataFrame, *, origin_country: str, cost_currency: str) -> pd.DataFrame:
    """Catalog rows for ``skus`` (sku, title, category) with the placeholder attributes."""
    out = skus[["sku", "title", "category"]].drop_duplicates("sku").reset_index(drop=True)
    out["hs_code"] = PLACEHOLDER_HS_CODE
    out["origin_country"] = origin_country
    out["unit_cost"] = PLACEHOLDER_UNIT_COST
    out["cost_currency"] = cost_currency
    out["weight_kg"] = PLACEHOLDER_WEIGHT_KG
    return out


def marketplace_frame(
    code: str, name: str, *, vat_rate: float, prices_include_vat: bool
) -> pd.DataFrame:
    """One marketplaces row for a built-in marketplace code: country, region, currency, customs
    basis and union from the built-in reference; no referral or fulfilment fee (a shop's own
    stores, not a marketplace)."""
    ref = {row["marketplace"]: row for row in reference.marketplace_rows()}[code]
    return pd.DataFrame(
        [
            {
                "marketplace": code,
                "name": name,
                "country": ref["country"],
                "region": ref["region"],
                "currency": ref["currency"],
                "vat_rate": float(vat_rate),
                "referral_fee_rate": 0.0,
                "prices_include_vat": bool(prices_include_vat),
                "customs_basis": ref["customs_basis"],
                "fulfilment_fee_per_unit": 0.0,
                "fulfilment_fee_per_kg": 0.0,
                "customs_union": ref["customs_union"] or None,
            }
        ]
    )


def warehouse_frame(ids: pd.Series, names: pd.Series, *, country: str, marketplace: str):
    """Market warehouses (one per store, or one for a dataset) serving ``marketplace``."""
    return pd.DataFrame(
        {
            "warehouse_id": ids.astype(str).to_numpy(),
            "name": names.astype(str).to_numpy(),
            "country": country,
            "warehouse_type": "market",
            "marketplace": marketplace,
        }
    )


# ---------------------------------------------------------------------------------------------
# The report of a dataset import


@dataclass(kw_only=True)
class DatasetReport(ReconcilingReport):
    """The import of one public dataset into a whole data folder.

    A source row (one series x period: a store-day, a product-week, ...) is imported as an order
    line (``rows_written``), imported without one (``kept``: a day without sales, a closed day
    written as a stock-out, ...) or skipped with a reason (``excluded``):
    ``rows_in = rows_written + sum(kept) + rows_excluded``.
    """

    importer: str  # e.g. "Rossmann store sales"
    grain: str  # what one source row is, e.g. "store-day"
    source_format: str = ""
    texts: dict[str, str] = field(default_factory=dict)  # outcome or reason -> what it means
    kept: dict[str, int] = field(default_factory=dict)  # imported without an order line
    series: int = 0  # SKU x marketplace series written
    marketplace: str = ""
    currency: str = ""
    date_from: str = ""
    date_to: str = ""
    written: dict[str, int] = field(default_factory=dict)  # entity -> rows written
    conventions: list[str] = field(default_factory=list)  # how the data was mapped
    details: dict[str, object] = field(default_factory=dict)
    files_written: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    report_file: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def reason_text(self, reason: str) -> str:
        return self.texts.get(reason, "")

    @property
    def rows_imported(self) -> int:
        return self.rows_written + self.rows_merged + sum(self.kept.values())

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.rows_imported + self.rows_excluded

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["rows_imported"] = self.rows_imported
        out["reconciles"] = self.reconciles
        return out

    def __str__(self) -> str:
        w = max([len(r) for r in [*self.kept, *self.excluded]] + [20]) + 4
        plural = f"{self.grain}s"
        lines = [
            f"{self.importer}: {self.source} ({self.source_format}), {self.seconds:.1f} s",
            f"  {'rows read':<{w}}{self.rows_in:>11,}  ({plural})",
            f"  {'rows imported':<{w}}{self.rows_imported:>11,}",
        ]
        lines.append(
            f"  - {'order_line':<{w - 2}}{self.rows_written:>11,}  {self.reason_text('order_line')}"
        )
        lines += [
            f"  - {k:<{w - 2}}{n:>11,}  {self.texts.get(k, '')}" for k, n in self.kept.items()
        ]
        lines.append(f"  {'rows skipped':<{w}}{self.rows_excluded:>11,}")
        lines += [
            f"  - {k:<{w - 2}}{n:>11,}  {self.texts.get(k, '')}" for k, n in self.excluded.items()
        ]
        lines.append(
            f"  {self.rows_in:,} read = {self.rows_imported:,} imported + "
            f"{self.rows_excluded:,} skipped"
            + ("" if self.reconciles else "  (DOES NOT RECONCILE)")
        )
        if self.series:
            lines.append(
                f"  {self.series:,} series in marketplace {self.marketplace} ({self.currency}), "
                f"{self.date_from} to {self.date_to}"
            )
        if self.written:
            lines.append(
                "  written: " + ", ".join(f"{name} {n:,}" for name, n in self.written.items())
            )
        lines += [f"  {c}" for c in self.conventions]
        if self.files_removed:
            lines.append(f"  removed {len(self.files_removed)} earlier raw file(s)")
        folders: dict[str, int] = {}
        for f in self.files_written:
            folders[str(Path(f).parent)] = folders.get(str(Path(f).parent), 0) + 1
        lines += [f"  wrote {n} file(s) in {folder}" for folder, n in folders.items()]
        if self.report_file:
            lines.append(f"  report: {self.report_file}")
        lines += [f"  warning: {w_}" for w_ in self.warnings]
        return "\n".join(lines)


def outcome_counts(
    reasons: FirstReason, outcome: pd.Series | np.ndarray, texts: Mapping[str, str]
) -> tuple[int, dict[str, int]]:
    """Order lines and the other outcomes (in ``texts`` order) of the rows no rule skipped."""
    kept = pd.Series(np.asarray(outcome, dtype=object)[reasons.open], dtype=object)
    counts = count_reasons(kept, texts)
    lines = counts.pop("order_line", 0)
    return lines, counts


def write_dataset(
    report: DatasetReport,
    paths: DataPaths,
    tables: Mapping[str, pd.DataFrame],
    *,
    stem: str,
    remove: Iterable[Path],
    started: float,
) -> DatasetReport:
    """Write the dataset's entities, fill the report from them and save it.

    Orders go to ``raw/orders/<stem>_<YYYY-MM>.parquet`` (one file a month), every other entity
    to ``raw/<entity>/<stem>_<entity>.parquet``; the report to ``out/<stem>_import.json``.
    """
    report.files_removed = remove_raw_files(paths, remove)
    for name in contract.ingest_order():
        if name not in tables:
            continue
        frame = tables[name]
        report.written[name] = len(frame)
        if name == "orders":
            month = pd.to_datetime(frame["order_date"]).dt.strftime("%Y-%m")
            for period, part in frame.groupby(month, sort=True):
                target = paths.raw_entity(name) / f"{stem}_{period}.parquet"
                write_parquet(part, name, target)
                report.files_written.append(str(target))
        elif len(frame):
            target = paths.raw_entity(name) / f"{stem}_{name}.parquet"
            write_parquet(frame, name, target)
            report.files_written.append(str(target))
    orders = tables["orders"]
    report.series = int(orders[["sku", "marketplace"]].drop_duplicates().shape[0])
    if len(orders):
        report.date_from = str(pd.Timestamp(orders["order_date"].min()).date())
        report.date_to = str(pd.Timestamp(orders["order_date"].max()).date())
        report.marketplace = ", ".join(sorted(orders["marketplace"].unique()))
        report.currency = ", ".join(sorted(orders["currency"].unique()))
    else:
        report.warnings.append("no order lines: the pipeline needs orders")
    report.warnings += folder_warnings(paths)
    report.seconds = round(time.perf_counter() - started, 2)
    paths.out.mkdir(parents=True, exist_ok=True)
    report.report_file = str(paths.out / f"{stem}_import.json")
    Path(report.report_file).write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report
