"""Keeping the DuckDB warehouse file at the size of its data.

DuckDB reuses the blocks that dropped tables and replaced rows leave free, but does not give
them back: identical nightly re-runs of dbt and ingest left a warehouse half free space (12.5
MiB -> 19 MiB after one re-run of the small scenario). After a run, ``compact`` rewrites the
file without them when they are a large share of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ml.ingest.sql import lit

# Rewrite when at least this share of the file's blocks is free.
MIN_FREE_SHARE = 0.2


@dataclass(frozen=True)
class Compaction:
    bytes_before: int
    bytes_after: int
    free_share: float  # share of free blocks before

    def __str__(self) -> str:
        mb = 1024 * 1024
        return (
            f"warehouse compacted: {self.bytes_before / mb:.1f} MiB -> "
            f"{self.bytes_after / mb:.1f} MiB ({self.free_share:.0%} was free space)"
        )


def free_share(path: Path) -> float:
    """Share of the file's blocks that hold no data (after a checkpoint)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CHECKPOINT")
        total, free = con.execute(
            "SELECT total_blocks, free_blocks FROM pragma_database_size()"
        ).fetchall()[0]
    finally:
        con.close()
    return free / total if total else 0.0


def compact(path: Path, min_free_share: float = MIN_FREE_SHARE) -> Compaction | None:
    """Rewrite the warehouse without its free blocks if they are ``min_free_share`` or more of
    it (None: nothing to gain). Needs the only connection to the file: call it between runs.

    The copy is written beside the file and swapped in with one rename, so an interruption
    leaves the old file whole.
    """
    path = Path(path)
    if not path.exists():
        return None
    share = free_share(path)
    if share < min_free_share:
        return None
    before = path.stat().st_size
    copy = path.with_name(path.name + ".compacting")
    copy.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {lit(str(path))} AS kj_source (READ_ONLY)")
        con.execute(f"ATTACH {lit(str(copy))} AS kj_compact")
        con.execute("COPY FROM DATABASE kj_source TO kj_compact")
        con.execute("DETACH kj_compact")
        con.execute("DETACH kj_source")
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    os.replace(copy, path)
    return Compaction(before, path.stat().st_size, share)


def has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the warehouse ``con`` is connected to."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()[0][0]
    return bool(found)


def replace_table(
    con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, select: str = "*"
) -> None:
    """Replace ``table`` (``schema.name``) by ``rows`` in one transaction, so readers never see
    half of it; ``select`` is the projection of ``rows`` it stores."""
    schema = table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("replacing_rows", rows)
    try:
        con.execute("BEGIN")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM replacing_rows")
        con.execute("COMMIT")
    finally:
        con.unregister("replacing_rows")


def publish(
    warehouse: Path, table: str, rows: pd.DataFrame, stamp: str, csv: Path, export: pd.DataFrame
) -> Path:
    """Replace ``table`` by ``rows`` with a ``current_timestamp`` column named ``stamp``, and
    write ``export`` (the rows as a user's file takes them) to ``csv``."""
    con = duckdb.connect(str(warehouse))
    try:
        replace_table(con, table, rows, f"*, current_timestamp AS {stamp}")
    finally:
        con.close()
    csv.parent.mkdir(parents=True, exist_ok=True)
    export.to_csv(csv, index=False)
    return csv
