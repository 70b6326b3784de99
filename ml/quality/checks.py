"""One entity through ingest and every check on it: what the Dagster ingest assets and the
pipeline benchmark both run (the assets only add Dagster's metadata and check results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ml import contract
from ml.ingest import (
    IngestResult,
    ReconciliationResult,
    ensure_tables,
    ingest_entity,
    quarantine,
    reconcile,
)
from ml.ingest.tables import raw_scope_sql
from ml.quality.suites import SuiteResult, run_suite


@dataclass
class CheckedIngest:
    result: IngestResult
    reconciliation: ReconciliationResult
    suite: SuiteResult | None  # None when the entity has no files (nothing to validate)
    rows_validated: int
    rows_in_table: int
    failing_rows: pd.DataFrame  # the run's first quarantined rows (quarantine.LISTED columns)


def ingest_and_check(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    entity: str,
    *,
    run_id: str,
    run_date: date,
    partition_range: tuple[date, date] | None = None,
) -> CheckedIngest:
    """Ingest ``entity`` (quarantine, reconciliation) and validate the accepted rows of the run's
    scope with the entity's Great Expectations suite.

    Raises ``MalformedFileError`` for a file that cannot be ingested at all (nothing written).
    """
    ent = contract.entity(entity)
    ensure_tables(con)
    result = ingest_entity(
        con, raw_dir, entity, run_id=run_id, run_date=run_date, partition_range=partition_range
    )
    reconciliation = reconcile(con, entity, run_id)
    failing = quarantine.sample(con, entity=entity, run_id=run_id)
    table = contract.raw_table(entity).qualified
    rows_in_table = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    suite = None
    validated = 0
    if result.present:
        accepted = con.execute(
            f"SELECT {', '.join(ent.column_names)} FROM {table} "
            f"WHERE {raw_scope_sql(entity, partition_range)}"
        ).df()
        validated = len(accepted)
        # One day's partition of orders may rightly be empty; a whole entity may not.
        min_rows = 0 if ent.partition_column is not None else 1
        suite = run_suite(entity, accepted, run_date=run_date, min_rows=min_rows)
    return CheckedIngest(result, reconciliation, suite, validated, rows_in_table, failing)
