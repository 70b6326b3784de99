"""Reading the quarantine back: counts, sample rows, and an export a seller fixes in a
spreadsheet (one column per column of the original file)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from ml import contract

SAMPLE_ROWS = 10
# What a quarantine listing shows of each row, in this order.
LISTED = ("entity", "source_file", "row_number", "failed_rule", "reason")


def _where(entity: str | None, rule: str | None, run_id: str | None) -> tuple[str, list]:
    conds, params = ["true"], []
    for column, value in (("entity", entity), ("failed_rule", rule), ("run_id", run_id)):
        if value is not None:
            conds.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(conds), params


def counts(con: duckdb.DuckDBPyConnection, entity: str | None = None) -> pd.DataFrame:
    """Quarantined rows per entity and first failed rule."""
    where, params = _where(entity, None, None)
    return con.execute(
        f"SELECT entity, failed_rule, count(*) AS rows FROM {contract.QUARANTINE.qualified} "
        f"WHERE {where} GROUP BY ALL ORDER BY entity, rows DESC, failed_rule",
        params,
    ).df()


def sample(
    con: duckdb.DuckDBPyConnection,
    entity: str | None = None,
    rule: str | None = None,
    run_id: str | None = None,
    limit: int | None = SAMPLE_ROWS,
) -> pd.DataFrame:
    """Quarantined rows in file and row order (``limit`` None: all of them)."""
    where, params = _where(entity, rule, run_id)
    cap = "" if limit is None else f" LIMIT {int(limit)}"
    return con.execute(
        f"SELECT {', '.join(LISTED)}, failed_rules, original_values "
        f"FROM {contract.QUARANTINE.qualified} WHERE {where} "
        f"ORDER BY entity, source_file, row_number NULLS FIRST{cap}",
        params,
    ).df()


def for_spreadsheet(rows: pd.DataFrame) -> pd.DataFrame:
    """The listing with each original value in its own column (named as in the file), so a
    row can be fixed and put back; the rules as text."""
    values = pd.DataFrame(
        [json.loads(v) if isinstance(v, str) else {} for v in rows["original_values"]],
        index=rows.index,
    )
    values.columns = [f"value: {c}" for c in values.columns]
    listed = rows[list(LISTED)].copy()
    listed["failed_rules"] = [", ".join(r) if r is not None else "" for r in rows["failed_rules"]]
    listed["row_number"] = listed["row_number"].astype("Int64")
    return pd.concat([listed, values], axis=1)


def export(
    con: duckdb.DuckDBPyConnection, path: Path, entity: str | None = None, rule: str | None = None
) -> int:
    """Write every quarantined row (filtered) as CSV; returns the number of rows written."""
    rows = for_spreadsheet(sample(con, entity, rule, limit=None))
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)
    return len(rows)
