"""Finding and reading an entity's files into one staging table of text values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ml.contract import Entity
from ml.ingest.sql import ident, lit

SUFFIXES = {".csv": "csv", ".parquet": "parquet"}
NO_NULL_STRING = "\x1fkuajing:no-null\x1f"


class MalformedFileError(ValueError):
    """A file that cannot be ingested at all: unreadable, or a required column is missing."""


def discover_files(raw_dir: Path, entity: str) -> list[Path]:
    """The entity's ``*.csv`` / ``*.parquet`` files (any case, subfolders included), sorted.

    Hidden files and folders (a name starting with '.') are ignored.
    """
    folder = Path(raw_dir) / entity
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


@dataclass
class SourceFile:
    index: int
    path: Path
    rel: str  # relative to raw/, as stored in _source_file
    fmt: str
    columns: list[str] = field(default_factory=list)  # as in the file, in file order
    mapping: dict[str, str] = field(default_factory=dict)  # contract column -> file column
    extras: list[str] = field(default_factory=list)
    rows: int = 0
    row_offset: int = 0  # rowid of the file's first row in the staging table

    @property
    def empty(self) -> bool:
        return self.rows == 0


def _scan(src: SourceFile) -> str:
    if src.fmt == "csv":
        # all_varchar keeps every value exactly as written (types are checked by the rules), and
        # a null string no file holds keeps empty fields as '' instead of NULL.
        return (
            f"read_csv({lit(src.path)}, all_varchar = true, header = true, "
            f"nullstr = {lit(NO_NULL_STRING)}, hive_partitioning = false)"
        )
    # Columns come from the file only, not from key=value folder names.
    return f"read_parquet({lit(src.path)}, hive_partitioning = false)"


def _as_text(src: SourceFile, column: str) -> str:
    return ident(column) if src.fmt == "csv" else f"CAST({ident(column)} AS VARCHAR)"


def _describe(con: duckdb.DuckDBPyConnection, src: SourceFile) -> list[str]:
    if src.path.stat().st_size == 0 and src.fmt == "csv":
        return []  # no header at all: an empty file, not an unreadable one
    try:
        return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {_scan(src)}").fetchall()]
    except duckdb.Error as err:
        raise MalformedFileError(f"{src.rel}: cannot be read as {src.fmt.upper()}: {err}") from err


def inspect_file(
    con: duckdb.DuckDBPyConnection, ent: Entity, path: Path, raw_dir: Path, index: int
) -> SourceFile:
    """Read a file's header and match it to the contract (names compared trimmed, any case)."""
    src = SourceFile(
        index, path, path.relative_to(raw_dir).as_posix(), SUFFIXES[path.suffix.lower()]
    )
    src.columns = _describe(con, src)
    if not src.columns:
        return src
    wanted = set(ent.column_names)
    for col in src.columns:
        key = col.strip().lower()
        if key in wanted:
            if key in src.mapping:
                raise MalformedFileError(
                    f"{src.rel}: column {key!r} appears twice ({src.mapping[key]!r}, {col!r})"
                )
            src.mapping[key] = col
        else:
            src.extras.append(col)
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
        f"CREATE OR REPLACE TEMP TABLE {stage} (_file_idx INTEGER, {cols}, _extras VARCHAR[])"
    )


def load_file(con: duckdb.DuckDBPyConnection, stage: str, ent: Entity, src: SourceFile) -> None:
    """Append the file's rows, in file order, to the staging table (text values only)."""
    src.row_offset = con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0]
    if not src.columns:
        return
    values = [
        _as_text(src, src.mapping[c]) if c in src.mapping else "CAST(NULL AS VARCHAR)"
        for c in ent.column_names
    ]
    extras = (
        "[" + ", ".join(_as_text(src, c) for c in src.extras) + "]"
        if src.extras
        else "CAST(NULL AS VARCHAR[])"
    )
    try:
        # Insertion order is preserved (DuckDB's default), so a row's rowid in the staging
        # table minus the file's offset is its 1-based data row number minus one.
        con.execute(
            f"INSERT INTO {stage} SELECT {src.index}, {', '.join(values)}, {extras} "
            f"FROM {_scan(src)}"
        )
    except duckdb.Error as err:
        raise MalformedFileError(f"{src.rel}: cannot be read as {src.fmt.upper()}: {err}") from err
    src.rows = con.execute(f"SELECT count(*) FROM {stage}").fetchall()[0][0] - src.row_offset
