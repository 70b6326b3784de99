"""Proof that an ingest run lost nothing: every row read is accepted, quarantined or outside."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from ml import contract
from ml.ingest.tables import parse_range, quarantine_scope_sql, raw_scope_sql


@dataclass
class FileReconciliation:
    source_file: str
    partition_range: str | None
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_outside_partition: int
    accepted_in_table: int  # rows of this file (and range) found in raw.<entity>
    quarantined_in_table: int  # row-level quarantine rows of this file (and range)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class ReconciliationResult:
    entity: str
    run_id: str
    files: list[FileReconciliation] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not tied to one file

    @property
    def ok(self) -> bool:
        return not self.problems and all(f.ok for f in self.files)

    def __bool__(self) -> bool:
        return self.ok

    def all_problems(self) -> list[str]:
        return self.problems + [p for f in self.files for p in f.problems]

    def __str__(self) -> str:
        """Markdown: the verdict, then one line per file."""
        head = f"**{self.entity}** run `{self.run_id}`: " + (
            "reconciles" if self.ok else "DOES NOT RECONCILE"
        )
        lines = [head, ""]
        lines += [f"- {p}" for p in self.problems]
        for f in self.files:
            where = f" [{f.partition_range}]" if f.partition_range else ""
            lines.append(
                f"- {f.source_file}{where}: {f.rows_read} read = {f.rows_accepted} accepted "
                f"({f.accepted_in_table} in table) + {f.rows_quarantined} quarantined "
                f"({f.quarantined_in_table} in table) + {f.rows_outside_partition} outside"
                + ("" if f.ok else " -- " + "; ".join(f.problems))
            )
        if not self.files and not self.problems:
            lines.append("- no files: nothing read, nothing stored")
        return "\n".join(lines)


def reconcile(con: duckdb.DuckDBPyConnection, entity: str, run_id: str) -> ReconciliationResult:
    """Check the run's ``quality.ingest_log`` counts against ``raw.<entity>`` and the quarantine.

    Per file: rows_read = accepted + quarantined + outside the partition; the accepted count
    equals the file's rows in ``raw.<entity>`` (within the run's range), with no row stored twice
    and no row both accepted and quarantined; the quarantined count equals its row-level rows in
    ``quality.quarantine`` (file-level findings such as empty_file carry no row and are apart).
    """
    raw = contract.raw_table(entity).qualified
    quarantine = contract.QUARANTINE.qualified
    out = ReconciliationResult(entity, run_id)
    logged = con.execute(
        f"""SELECT source_file, partition_range, rows_read, rows_accepted, rows_quarantined,
                   rows_outside_partition
            FROM {contract.INGEST_LOG.qualified} WHERE entity = ? AND run_id = ?
            ORDER BY partition_range, source_file""",
        [entity, run_id],
    ).fetchall()
    if not logged:
        # No file was read (an absent entity): consistent only if nothing is stored either.
        stored = con.execute(f"SELECT count(*) FROM {raw}").fetchall()[0][0]
        if stored:
            out.problems.append(
                f"no files of {entity} were logged in run {run_id}, yet {raw} has {stored} rows"
            )
        return out
    for source_file, range_text, read_, accepted, quarantined, outside in logged:
        prange = parse_range(range_text)
        in_raw, distinct_rows = con.execute(
            f"SELECT count(*), count(DISTINCT _source_row) FROM {raw} "
            f"WHERE _source_file = ? AND {raw_scope_sql(entity, prange)}",
            [source_file],
        ).fetchall()[0]
        in_quarantine = con.execute(
            f"SELECT count(*) FROM {quarantine} WHERE source_file = ? AND row_number IS NOT NULL "
            f"AND {quarantine_scope_sql(entity, prange)}",
            [source_file],
        ).fetchall()[0][0]
        both = con.execute(
            f"""SELECT count(*) FROM {raw} r JOIN {quarantine} q
                  ON q.entity = ? AND q.source_file = r._source_file
                 AND q.row_number = r._source_row
                WHERE r._source_file = ?""",
            [entity, source_file],
        ).fetchall()[0][0]
        rec = FileReconciliation(
            source_file, range_text, read_, accepted, quarantined, outside, in_raw, in_quarantine
        )
        if read_ != accepted + quarantined + outside:
            rec.problems.append(
                f"{source_file}: {read_} rows read != {accepted} accepted + {quarantined} "
                f"quarantined + {outside} outside the partition"
            )
        if in_raw != accepted:
            rec.problems.append(f"{source_file}: {accepted} accepted but {in_raw} in {raw}")
        if distinct_rows != in_raw:
            rec.problems.append(
                f"{source_file}: {in_raw - distinct_rows} rows stored twice in {raw}"
            )
        if in_quarantine != quarantined:
            rec.problems.append(
                f"{source_file}: {quarantined} quarantined but {in_quarantine} in {quarantine}"
            )
        if both:
            rec.problems.append(f"{source_file}: {both} rows both accepted and quarantined")
        out.files.append(rec)
    return out
