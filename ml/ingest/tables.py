"""The tables ingest writes: ``raw.<entity>``, ``quality.quarantine``, ``quality.ingest_log``."""

from __future__ import annotations

from datetime import date

import duckdb

from ml import contract
from ml.contract import Table
from ml.ingest.sql import ident, lit


def _ensure_table(con: duckdb.DuckDBPyConnection, table: Table, have: set[str]) -> None:
    cols = ", ".join(f"{ident(name)} {dtype}" for name, dtype in table.columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {table.qualified} ({cols})")
    # A table made under an older contract gets the columns added since (contract changes are
    # additive), so dbt sources and inserts keep matching.
    if have:
        for name, dtype in table.columns.items():
            if name not in have:
                con.execute(f"ALTER TABLE {table.qualified} ADD COLUMN {ident(name)} {dtype}")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` and ``quality`` schemas and every table of the contract if missing.

    Every ``raw.<entity>`` exists even when the seller has no files for it, so dbt sources
    always resolve (an absent optional entity is an empty table).
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {contract.RAW_SCHEMA}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {contract.QUARANTINE.schema}")
    tables = [contract.raw_table(n) for n in contract.ENTITY_NAMES]
    tables += [contract.QUARANTINE, contract.INGEST_LOG]
    have: dict[tuple[str, str], set[str]] = {}
    for schema, name, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema IN (?, ?)",
        [contract.RAW_SCHEMA, contract.QUARANTINE.schema],
    ).fetchall():
        have.setdefault((schema, name), set()).add(column)
    for table in tables:
        _ensure_table(con, table, have.get((table.schema, table.name), set()))


# Rules whose rows belong to no partition a run could cover: every run re-checks them, so every
# run replaces them (like rows without a valid date).
OUT_OF_HISTORY_RULES = ("future_date", "before_history_start")


def format_range(partition_range: tuple[date, date] | None) -> str | None:
    if partition_range is None:
        return None
    return f"{partition_range[0].isoformat()}...{partition_range[1].isoformat()}"


def parse_range(text: str | None) -> tuple[date, date] | None:
    if not text:
        return None
    start, end = text.split("...")
    return date.fromisoformat(start), date.fromisoformat(end)


def raw_scope_sql(entity: str, partition_range: tuple[date, date] | None) -> str:
    """WHERE condition of the ``raw.<entity>`` rows one ingest run owns."""
    ent = contract.entity(entity)
    if partition_range is None or ent.partition_column is None:
        return "true"
    start, end = partition_range
    return (
        f"CAST({ident(ent.partition_column)} AS DATE) "
        f"BETWEEN DATE {lit(start.isoformat())} AND DATE {lit(end.isoformat())}"
    )


def quarantine_scope_sql(entity: str, partition_range: tuple[date, date] | None) -> str:
    """WHERE condition of the ``quality.quarantine`` rows one ingest run owns."""
    own = f"entity = {lit(entity)}"
    if partition_range is None or contract.entity(entity).partition_column is None:
        return own
    start, end = partition_range
    rules = "[" + ", ".join(lit(r) for r in OUT_OF_HISTORY_RULES) + "]"
    return (
        f"{own} AND (partition_key IS NULL "
        f"OR partition_key BETWEEN {lit(start.isoformat())} AND {lit(end.isoformat())} "
        f"OR list_has_any(failed_rules, {rules}))"
    )
