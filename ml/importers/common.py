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
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

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
