"""Finding an entity's files and reading them, each by its exact path, into one staging table.

Every value is staged as text, exactly as written; types are checked later by the row rules. A
file's name is never part of the SQL text: paths go in as parameters, escaped so that DuckDB's
glob matching can only find that one file (``orders[1].csv`` must not read ``orders1.csv``).

CSV files are read with an explicit dialect (delimiter and quote sniffed by DuckDB, no comment
lines, no skipped lines) and ``null_padding``: a row with fewer fields than the header (a footer
line such as "Total: 10 orders") or more becomes a ``malformed_row`` for the quarantine, with
its row number, instead of failing the whole file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ml.contract import Entity
from ml.ingest.sql import ident

SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
# Empty fields are read as '' (not NULL) because no file holds this null string; a NULL in a
# staged CSV value can then only mean that the row ended before that column.
NO_NULL_STRING = "\x1fkuajing:no-null\x1f"
# Columns read past the header's width: a value in the first one marks a row that is too long.
OVERFLOW_COLUMNS = 4
_GLOB_SPECIAL = re.compile(r"[\[*?]")


class MalformedFileError(ValueError):
    """A file that cannot be ingested at all: unreadable, or a required column is missing."""


def _visible(path: Path, folder: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(folder).parts)


def discover_files(raw_dir: Path, entity: str) -> list[Path]:
    """The one answer to "which files belong to an entity": every ``*.csv`` / ``*.parquet``
    file (any case) under ``raw/<entity>/``, subfolders included, sorted by relative path.

    Hidden files and folders (a name starting with '.') are ignored, and so are folders whose
    name ends in .csv. Pre-flight, ingest, sensors and benchmarks all call this.
    """
    folder = Path(raw_dir) / entity
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in SUFFIXES and p.is_file() and _visible(p, folder)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def unsupported_files(raw_dir: Path, entity: str) -> list[Path]:
    """Visible files under ``raw/<entity>/`` that are not CSV or Parquet (e.g. an .xlsx):
    never read, so the run says so instead of ignoring them silently."""
    folder = Path(raw_dir) / entity
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() not in SUFFIXES and _visible(p, folder)
    )


def exact_pattern(path: Path) -> str:
    """``path`` as a DuckDB file pattern that matches that file only: ``[``, ``*`` and ``?``
    are wrapped in brackets (``a*.csv`` -> ``a[*].csv``)."""
    return _GLOB_SPECIAL.sub(lambda m: f"[{m.group()}]", str(path))


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote: str
    escape: str
    new_line: str

    def options(self) -> tuple[str, list[str]]:
        """read_csv named options (as SQL with ? placeholders) and their parameters."""
        return (
            "delim = ?, quote = ?, escape = ?, new_line = ?, comment = '', skip = 0",
            [self.delimiter, self.quote, self.escape, self.new_line],
        )


@dataclass
class SourceFile:
    index: int
    path: Path
    rel: str  # relative to raw/, as stored in _source_file
    fmt: str
    columns: list[str] = field(default_factory=list)  # as in the file's header, in file order
    types: list[str] = field(default_factory=list)  # Parquet: DuckDB type of each column
    mapping: dict[str, int] = field(default_factory=dict)  # contract column -> column position
    extras: list[int] = field(default_factory=list)  # positions of columns not in the contract
    dialect: CsvDialect | None = None
    parallel: bool = True  # DuckDB's parallel CSV scanner cannot pad rows with quoted newlines
    rows: int = 0
    row_offset: int = 0  # rowid of the file's first row in the staging table

    @property
    def empty(self) -> bool:
        return self.rows == 0

    @property
    def pattern(self) -> str:
        return exact_pattern(self.path)

    @property
    def extra_names(self) -> list[str]:
        return [self.columns[i] for i in self.extras]

    def scanned_name(self, position: int) -> str:
        """The name of a file column in ``scan()`` (CSV columns are read as c0, c1, ...)."""
        return f"c{position}" if self.fmt == "csv" else self.columns[position]

    def scan(self, header: bool = True, width: int | None = None) -> tuple[str, list[str]]:
        """The table function reading this file (SQL with ? placeholders) and its parameters.

        CSV: ``width`` columns (default: the header's, plus the overflow columns).
        """
        if self.fmt == "parquet":
            # Columns come from the file only, not from key=value folder names.
            return "read_parquet(?, hive_partitioning = false)", [self.pattern]
        assert self.dialect is not None
        width = width or len(self.columns) + OVERFLOW_COLUMNS
        names = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))
        options, params = self.dialect.options()
        return (
            f"read_csv(?, auto_detect = false, header = {str(header).lower()}, "
            f"columns = {{{names}}}, null_padding = true, strict_mode = false, "
            f"nullstr = ?, parallel = {str(self.parallel).lower()}, hive_partitioning = false, "
            f"{options})",
            [self.pattern, NO_NULL_STRING, *params],
        )

    def text(self, position: int) -> str:
        """SQL for a column's value as text, as the contract reads it."""
        name = ident(self.scanned_name(position))
        if self.fmt == "csv":
            return name
        if self.types[position] in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            # An instant: written in UTC with its offset; the rules convert it to local time.
            return f"strftime(timezone('UTC', {name}), '%Y-%m-%dT%H:%M:%S.%f') || 'Z'"
        return f"CAST({name} AS VARCHAR)"

    def malformed(self) -> str:
        """SQL naming why a staged row does not fit the header (NULL when it does)."""
        if self.fmt != "csv" or not self.columns:
            return "CAST(NULL AS VARCHAR)"
        n = len(self.columns)
        fields = ", ".join(f"c{i}" for i in range(n))
        over = ", ".join(f"''''|| c{i} || ''''" for i in range(n, n + OVERFLOW_COLUMNS))
        return (
            f"CASE WHEN c{n - 1} IS NULL THEN 'the row has ' || "
            f"len(list_filter([{fields}], lambda x: x IS NOT NULL)) || ' field(s), the header has "
            f"{n}' WHEN c{n} IS NOT NULL THEN 'the row has more fields than the header ({n}): "
            f"extra value(s) ' || concat_ws(', ', {over}) END"
        )


def _fail(src: SourceFile, err: Exception) -> MalformedFileError:
    """One line: DuckDB's first line, and the line saying why when it has one (its messages
    go on with a dump of the reader's options)."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    skip = ("Original Line", "Possible Solution", "LINE ", "^")
    why = [ln for ln in lines[1:4] if not ln.startswith(skip)]
    text = "; ".join(lines[:1] + why[:1]) or type(err).__name__
    if "not utf-8 encoded" in text:
        text += " (save it as UTF-8: in Excel, 'CSV UTF-8')"
    return MalformedFileError(f"{src.rel}: cannot be read as {src.fmt.upper()}: {text}")


def _check_exact(con: duckdb.DuckDBPyConnection, src: SourceFile) -> None:
    found = [r[0] for r in con.execute("SELECT file FROM glob(?)", [src.pattern]).fetchall()]
    if found != [str(src.path)]:
        raise MalformedFileError(
            f"{src.rel}: its name cannot be read exactly (DuckDB finds {len(found)} file(s) for "
            "it); rename the file"
        )


def _sniff(con: duckdb.DuckDBPyConnection, src: SourceFile) -> tuple[CsvDialect, int]:
    """Delimiter, quote and line ending as DuckDB detects them, and the width it sees (comments
    and skipped lines are never guessed: a '#' that starts an order id is data)."""
    delim, quote, escape, new_line, width = con.execute(
        "SELECT Delimiter, Quote, Escape, NewLineDelimiter, len(Columns) FROM sniff_csv(?, "
        "null_padding = true, strict_mode = false, comment = '', header = true)",
        [src.pattern],
    ).fetchall()[0]
    quote = "" if quote == "(empty)" else quote
    escape = "" if escape == "(empty)" else escape
    # No quote seen in the sample: RFC 4180's '"' still applies to rows further down.
    quote = quote or '"'
    return CsvDialect(delim, quote, escape or quote, new_line), width


def _execute(
    con: duckdb.DuckDBPyConnection, src: SourceFile, statement: Callable[[], tuple[str, list]]
) -> duckdb.DuckDBPyConnection:
    """Run a statement that scans ``src``; once more without the parallel CSV scanner when
    DuckDB says it cannot pad rows in a file with quoted line breaks."""
    while True:
        sql, params = statement()
        try:
            return con.execute(sql, params)
        except duckdb.Error as err:
            if not (src.parallel and "parallel=false" in str(err)):
                raise
            src.parallel = False


def _csv_header(con: duckdb.DuckDBPyConnection, src: SourceFile, sniffed_width: int) -> list[str]:
    """The header row's fields exactly as written (DuckDB's own header would rename a second
    'QUANTITY' to 'QUANTITY_1')."""

    def first_row() -> tuple[str, list]:
        sql, params = src.scan(header=False, width=sniffed_width + OVERFLOW_COLUMNS)
        return f"SELECT * FROM {sql} LIMIT 1", params

    first = _execute(con, src, first_row).fetchall()
    return [value for value in first[0] if value is not None] if first else []


def _describe(con: duckdb.DuckDBPyConnection, src: SourceFile) -> None:
    if src.path.stat().st_size == 0 and src.fmt == "csv":
        return  # no header at all: an empty file, not an unreadable one
    try:
        _check_exact(con, src)
        if src.fmt == "csv":
            src.dialect, width = _sniff(con, src)
            src.columns = _csv_header(con, src, width)
        else:
            sql, params = src.scan()
            described = con.execute(f"DESCRIBE SELECT * FROM {sql}", params).fetchall()
            src.columns = [row[0] for row in described]
            src.types = [row[1] for row in described]
    except duckdb.Error as err:
        raise _fail(src, err) from err


def inspect_file(
    con: duckdb.DuckDBPyConnection, ent: Entity, path: Path, raw_dir: Path, index: int
) -> SourceFile:
    """Read a file's header and match it to the contract (names compared trimmed, any case)."""
    src = SourceFile(
        index, path, path.relative_to(raw_dir).as_posix(), SUFFIXES[path.suffix.lower()]
    )
    _describe(con, src)
    if not src.columns:
        return src
    wanted = set(ent.column_names)
    for position, col in enumerate(src.columns):
        key = col.strip().lower()
        if key in wanted:
            if key in src.mapping:
                first = src.columns[src.mapping[key]]
                raise MalformedFileError(
                    f"{src.rel}: column {key!r} appears twice ({first!r}, {col!r}); "
                    "keep one of them"
                )
            src.mapping[key] = position
        else:
            src.extras.append(position)
    missing = [c for c in ent.required_columns if c not in src.mapping]
    if missing:
        raise MalformedFileError(
            f"{src.rel}: missing required column(s) {', '.join(missing)}; "
            f"the file has: {', '.join(src.columns)}"
        )
    return src


def create_stage(con: duckdb.DuckDBPyConnection, stage: str, ent: Entity) -> None:
    cols = ", ".join(f"{ident(c)} VARCHAR" for c in ent.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {stage} "
        f"(_file_idx INTEGER, {cols}, _extras VARCHAR[], _malformed VARCHAR)"
    )


def load_file(con: duckdb.DuckDBPyConnection, stage: str, ent: Entity, src: SourceFile) -> None:
    """Append the file's rows, in file order, to the staging table (text values only)."""
    src.row_offset = con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0]
    if not src.columns:
        return
    values = [
        src.text(src.mapping[c]) if c in src.mapping else "CAST(NULL AS VARCHAR)"
        for c in ent.column_names
    ]
    extras = (
        "[" + ", ".join(src.text(i) for i in src.extras) + "]"
        if src.extras
        else "CAST(NULL AS VARCHAR[])"
    )

    def insert() -> tuple[str, list]:
        sql, params = src.scan()
        # Insertion order is preserved (DuckDB's default), so a row's rowid in the staging
        # table minus the file's offset is its 1-based data row number minus one.
        return (
            f"INSERT INTO {stage} SELECT {src.index}, {', '.join(values)}, {extras}, "
            f"{src.malformed()} FROM {sql}",
            params,
        )

    try:
        _execute(con, src, insert)
    except duckdb.Error as err:
        raise _fail(src, err) from err
    src.rows = con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0] - src.row_offset


def read_sources(
    con: duckdb.DuckDBPyConnection, ent: Entity, raw_dir: Path, stage: str
) -> list[SourceFile]:
    """Inspect and stage every file of the entity (``discover_files``), in order."""
    paths = discover_files(raw_dir, ent.name)
    sources = [inspect_file(con, ent, p, raw_dir, i) for i, p in enumerate(paths)]
    create_stage(con, stage, ent)
    for src in sources:
        load_file(con, stage, ent, src)
    return sources
