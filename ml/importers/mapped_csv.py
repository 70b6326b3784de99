"""Import any other delimited file into one contract entity, by naming its columns.

``kuajing import csv FILE --map order_id=OrderNo --map order_date="Order Date" ...``: each
``--map`` names the file column that holds a contract column of the entity (``--entity``,
default ``orders``). A contract column without a ``--map`` is taken from a file column of the
same name (trimmed, any case), else from a constant (``--const column=value``; ``--marketplace``
and ``--currency`` are shortcuts for the two most common). Every required contract column must be
covered, else the error lists the ones left and the file's columns.

Values are converted to the contract's types:

- dates and date-times with ``date_format`` (a ``strptime`` format such as ``%d.%m.%Y %H:%M``),
  else ISO 8601. A date-time with an offset is converted to the row's marketplace time zone
  (the reference's ``timezone``) or to ``time_zone`` if given; without a known zone, or
  without an offset, the clock time as written is kept (it is taken as local time);
- numbers with ``decimal`` as the decimal separator (``.`` or ``,``); grouping separators
  (``1,234.50`` / ``1.234,50``, spaces) and a currency sign or code before or after are allowed;
- booleans from true/false, 1/0, yes/no.

Rows are skipped only where the value cannot be converted (``REASONS``, the first that applies):
``missing_value`` (a required column is empty), ``zero_quantity`` (orders: quantity 0, the usual
mark of a cancelled line) and ``unreadable_value``. Everything else is written as read and judged
by the ingest's row rules (quarantine with a reason), like any hand-made file. Order lines with
the same order_id and sku are merged (units summed, price weighted by units); for other entities
a repeated key is left to the ingest (``duplicate_key``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ml import contract
from ml.contract import Column, Entity
from ml.importers.common import (
    ExportReport,
    FirstReason,
    SourceError,
    check_time_zone,
    finish_import,
    header_key,
    local_times,
    merge_order_lines,
    output_path,
    parse_iso,
    plan_output,
    read_table,
    strptime_parser,
    whole_numbers,
)
from ml.ingest.rules import FALSE_WORDS, TRUE_WORDS
from ml.settings import DataPaths

IMPORTER = "Mapped CSV"
FILE_PREFIX = "mapped_"
REASONS: dict[str, str] = {
    "missing_value": "a required contract column is empty",
    "zero_quantity": "quantity 0: no unit sold",
    "unreadable_value": "a value cannot be read as its contract type",
}


def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """``["order_id=OrderNo", ...]`` -> ``{"order_id": "OrderNo"}`` (split at the first '=')."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise SourceError(f"{option} {item!r}: expected CONTRACT_COLUMN=VALUE")
        if name in out:
            raise SourceError(f"{option}: {name} is given twice")
        out[name] = value.strip()
    return out


def parse_numbers(text: pd.Series, decimal: str = ".") -> pd.Series:
    """Numbers as floats (NaN where empty or unreadable), see the module docstring."""
    if decimal not in (".", ","):
        raise SourceError(f"decimal separator {decimal!r}: expected '.' or ','")
    group = "," if decimal == "." else "."
    s = text.astype(str).str.strip()
    # A currency sign or code before or after the number: '€12.50', '12.50 EUR', 'US$ 3'.
    s = s.str.replace(r"^[^\d+\-.,]+", "", regex=True).str.replace(r"[^\d.,]+$", "", regex=True)
    s = s.str.replace(r"\s", "", regex=True)
    d, g = re.escape(decimal), re.escape(group)
    grouped = rf"[+-]?\d{{1,3}}({g}\d{{3}})+({d}\d+)?"
    plain = rf"[+-]?(\d+({d}\d*)?|{d}\d+)([eE][+-]?\d{{1,3}})?"
    ok = s.str.fullmatch(grouped) | s.str.fullmatch(plain)
    s = s.str.replace(group, "", regex=False).str.replace(decimal, ".", regex=False)
    values = pd.to_numeric(s.where(ok), errors="coerce").astype("float64")
    return values.where(np.isfinite(values))


def parse_booleans(text: pd.Series) -> pd.Series:
    lower = text.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[lower.isin(TRUE_WORDS)] = True
    out[lower.isin(FALSE_WORDS)] = False
    return out


def resolve_columns(
    ent: Entity,
    file_columns: list[str],
    mapping: Mapping[str, str],
    constants: Mapping[str, str],
    file: Path,
) -> dict[str, tuple[str, str]]:
    """Contract column -> ("column", file column) or ("constant", value), or a ``SourceError``."""
    known = set(ent.column_names)
    for option, given in (("--map", mapping), ("--const", constants)):
        unknown = sorted(set(given) - known)
        if unknown:
            raise SourceError(
                f"{option} {', '.join(unknown)}: {ent.name} has no such column; its columns: "
                f"{', '.join(ent.column_names)}"
            )
    both = sorted(set(mapping) & set(constants))
    if both:
        raise SourceError(f"{', '.join(both)}: given both as a column (--map) and a constant")
    by_key = {header_key(c): c for c in file_columns}
    out: dict[str, tuple[str, str]] = {}
    for name, column in mapping.items():
        hit = column if column in file_columns else by_key.get(header_key(column))
        if hit is None:
            raise SourceError(
                f"{file}: no column {column!r} (from --map {name}={column}); "
                f"the file's columns: {', '.join(file_columns)}"
            )
        out[name] = ("column", hit)
    for name, value in constants.items():
        out[name] = ("constant", value)
    for name in ent.column_names:
        if name not in out and name in by_key:
            out[name] = ("column", by_key[name])
    missing = [c for c in ent.required_columns if c not in out]
    if missing:
        raise SourceError(
            f"{file}: no column for the required {ent.name} column(s) {', '.join(missing)}; "
            f"map each with --map {missing[0]}=FILE_COLUMN (or a constant with --const "
            f"{missing[0]}=VALUE); the file's columns: {', '.join(file_columns)}"
        )
    return {c: out[c] for c in ent.column_names if c in out}


def convert(
    ent: Entity,
    text: pd.DataFrame,
    *,
    date_format: str | None = None,
    decimal: str = ".",
    zone: str | None = None,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Typed contract values of ``text`` (one text column per contract column), each row's skip
    reason (None: imported) and a note naming the value that decided it."""
    parse = strptime_parser(date_format) if date_format else parse_iso
    market = text["marketplace"] if "marketplace" in text else pd.Series(None, index=text.index)
    values: dict[str, pd.Series] = {}
    unreadable: dict[str, pd.Series] = {}
    for name in text.columns:
        col: Column = ent.column(name)
        raw = text[name]
        empty = raw.eq("")
        if col.dtype in ("date", "timestamp"):
            typed = local_times(raw, market, parse, zone=zone)
            if col.dtype == "date":
                typed = typed.dt.normalize()
        elif col.dtype == "integer":
            typed = whole_numbers(parse_numbers(raw, decimal))
        elif col.dtype == "decimal":
            typed = parse_numbers(raw, decimal)
        elif col.dtype == "boolean":
            typed = parse_booleans(raw)
        else:
            typed = raw.astype(object).where(~empty, None)
        values[name] = typed
        unreadable[name] = ~empty & pd.isna(typed)

    reasons = FirstReason(len(text), REASONS)
    note = pd.Series("", index=text.index, dtype=object)

    def mark(reason: str, bad: dict[str, pd.Series]) -> None:
        for name, mask in bad.items():
            hit = mask.to_numpy(dtype=bool) & reasons.open
            if reason == "missing_value":
                note[hit] = f"{name} empty"
            else:
                note[hit] = f"{name} " + text.loc[hit, name].map(repr)
            reasons.mark(hit, reason)

    required = [c.name for c in ent.columns if not c.nullable and c.name in text]
    mark("missing_value", {c: text[c].eq("") for c in required})
    if ent.name == "orders" and "quantity" in values:
        mark("zero_quantity", {"quantity": values["quantity"].eq(0).fillna(False)})
    mark("unreadable_value", unreadable)
    return pd.DataFrame(values), pd.Series(reasons.values, index=text.index), note


def import_mapped_csv(
    source: Path,
    paths: DataPaths,
    *,
    entity: str = "orders",
    mapping: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
    date_format: str | None = None,
    time_zone_name: str | None = None,
    decimal: str = ".",
    delimiter: str | None = None,
    encoding: str | None = None,
    overwrite: bool = False,
) -> ExportReport:
    """Import ``source`` into ``raw/<entity>/mapped_<file name>.csv`` (module docstring).

    Same folder rules as ``amazon.import_amazon``. ``SourceError`` for an unreadable file or a
    mapping that does not cover the entity's required columns.
    """
    started = time.perf_counter()
    source = Path(source)
    try:
        ent = contract.entity(entity)
    except KeyError as error:
        raise SourceError(str(error.args[0])) from None
    zone = check_time_zone(time_zone_name) if time_zone_name else None
    frame, how = read_table(source, delimiter=delimiter, encoding=encoding)
    plan = resolve_columns(ent, list(frame.columns), mapping or {}, constants or {}, source)
    text = pd.DataFrame(
        {
            name: (frame[src].astype(str).str.strip() if kind == "column" else src)
            for name, (kind, src) in plan.items()
        },
        index=frame.index,
    )
    target = output_path(paths, ent.name, FILE_PREFIX, source)
    remove = plan_output(paths, ent.name, target, overwrite=overwrite)
    typed, reasons, note = convert(ent, text, date_format=date_format, decimal=decimal, zone=zone)
    kept = typed[reasons.isna()]
    if ent.name == "orders":
        kept = kept.assign(revenue=kept["unit_price"] * kept["quantity"].astype("float64"))
        out = merge_order_lines(kept)
    else:
        out = kept.reset_index(drop=True)
    report = ExportReport(
        importer=f"{IMPORTER} ({ent.name})",
        entity=ent.name,
        source=str(source),
        rows_in=len(frame),
        reason_texts=dict(REASONS),
    )
    report.conventions = [
        f"{name}: " + (f"column {src!r}" if kind == "column" else f"constant {src!r}")
        for name, (kind, src) in plan.items()
    ]
    if any(c.dtype in ("date", "timestamp") for c in ent.columns if c.name in plan):
        report.conventions.append(
            f"dates read as {date_format or 'ISO 8601'}; times with an offset converted to "
            + (zone or "the marketplace's time zone where it is built in, else kept as written")
        )
    report.details = {
        "read_as": how,
        "unmapped_file_columns": [
            c for c in frame.columns if c not in {s for k, s in plan.values() if k == "column"}
        ],
        "seconds": round(time.perf_counter() - started, 2),
    }
    shown = pd.Series("", index=text.index, dtype=object)
    for k in ent.key:
        shown = shown + ("" if k == ent.key[0] else ", ") + f"{k} " + text[k].map(repr)
    describe = (shown + "; " + note).where(note.ne(""), shown)
    return finish_import(report, out, reasons, describe, paths=paths, target=target, remove=remove)
