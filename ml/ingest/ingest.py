"""Ingest one entity: its raw files -> typed ``raw.<entity>`` rows + quarantine + ingest log.

All row rules run as set-based DuckDB SQL over a staging table of the files' text values:
1. stage: every file appended in file order (a row's rowid gives its 1-based row number);
2. row rules (``rules.compile_rules``): rows failing any -> ``bad`` (all failed rules listed);
3. ``duplicate_key`` among the rows that pass 2 (first in file then row order is kept);
4. ``overlapping_validity`` among the rows that pass 2 and 3 (every overlapping row);
5. one transaction replaces the run's rows in ``raw.<entity>`` and ``quality.quarantine`` and
   logs per-file counts in ``quality.ingest_log``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ml import contract, settings
from ml.contract import Entity
from ml.ingest import read, rules
from ml.ingest.reconcile import ReconciliationResult, reconcile
from ml.ingest.sql import ident, lit, quoted
from ml.ingest.tables import (
    OUT_OF_HISTORY_RULES,
    ensure_tables,
    format_range,
    quarantine_scope_sql,
    raw_scope_sql,
)

PREVIEW_ROWS = 10


@dataclass
class FileResult:
    source_file: str  # relative to raw/
    format: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    rows_outside_partition: int
    extra_columns: list[str]
    empty: bool


@dataclass
class IngestResult:
    entity: str
    run_id: str
    present: bool
    partition_range: tuple[date, date] | None = None
    files: list[FileResult] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_outside_partition: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    empty_files: list[str] = field(default_factory=list)
    skipped_rules: list[str] = field(default_factory=list)
    when_absent: str = ""
    preview: pd.DataFrame = field(default_factory=pd.DataFrame)
    reconciles: bool = False
    reconciliation: ReconciliationResult | None = None

    def summary(self) -> str:
        """One line for run logs."""
        if not self.present:
            return f"{self.entity}: no files; {self.when_absent}"
        text = (
            f"{self.entity}: {len(self.files)} file(s), {self.rows_read} rows read, "
            f"{self.rows_accepted} accepted, {self.rows_quarantined} quarantined"
        )
        if self.partition_range is not None:
            text += f", {self.rows_outside_partition} outside {format_range(self.partition_range)}"
        if self.quarantined_by_rule:
            text += " (" + ", ".join(f"{k}: {n}" for k, n in self.quarantined_by_rule.items()) + ")"
        return text


@dataclass(frozen=True)
class _Names:
    """Temporary objects of one ingest (temp objects are private to the connection)."""

    entity: str

    def __getattr__(self, part: str) -> str:
        return f"_kj_{self.entity}_{part}"


def _typed_view_sql(ent: Entity, n: _Names) -> str:
    trimmed = ", ".join(
        f'{rules.trimmed_sql("s." + ident(c))} AS "v__{c}"' for c in ent.column_names
    )
    zone = rules.local_zone_sql(ent)
    typed = ", ".join(
        f'{rules.typed_sql(col, ident("v__" + col.name), zone)} AS "t__{col.name}"'
        for col in ent.columns
    )
    return f"""
        CREATE OR REPLACE TEMP VIEW {n.typed} AS
        SELECT t.*, {rules.partition_date_sql(ent)} AS _pdate
        FROM (
            SELECT *, {typed}
            FROM (
                SELECT s.rowid AS _rid, s._file_idx, s.rowid - f.row_offset + 1 AS _row,
                       f.path AS _file, s._malformed, {trimmed}
                FROM {n.stage} s JOIN {n.files} f USING (_file_idx)
            )
        ) t
    """


def _bad_rows_sql(compiled: rules.CompiledRules, n: _Names) -> str:
    checks = compiled.checks
    any_fails = " OR ".join(c.fails for c in checks) or "false"
    by_rule: dict[str, list[str]] = {}
    for c in checks:
        by_rule.setdefault(c.rule, []).append(c.fails)
    rule_list = ", ".join(
        f"CASE WHEN {' OR '.join(fails)} THEN {lit(rule)} END" for rule, fails in by_rule.items()
    )
    reasons = ", ".join(f"CASE WHEN {c.fails} THEN {c.reason} END" for c in checks)
    joins = "\n".join(j.sql for j in compiled.joins)
    return f"""
        CREATE OR REPLACE TEMP TABLE {n.bad} AS
        SELECT t._rid, t._file_idx, t._row, t._pdate,
               -- A row that does not fit the header fails every column after it: say why once.
               CASE WHEN t._malformed IS NOT NULL THEN ['malformed_row']
                    ELSE list_filter([{rule_list}], lambda x: x IS NOT NULL) END AS rules,
               coalesce(t._malformed, concat_ws('; ', {reasons})) AS reason
        FROM {n.typed} t
        {joins}
        WHERE {any_fails}
    """


def _key_text(cols: tuple[str, ...]) -> tuple[str, str]:
    """('(a, b)', SQL for "('x', 'y')") naming a key and its values in a reason.

    A key value may be empty where the entity has a scope (a rule for every SKU): it reads
    ``empty``, since one NULL would make the whole reason NULL."""
    values = " || ', ' || ".join(f"coalesce({quoted(rules.v(c))}, 'empty')" for c in cols)
    return "(" + ", ".join(cols) + ")", f"'(' || {values} || ')'"


def _duplicates_sql(ent: Entity, n: _Names) -> str:
    keys = ", ".join(f'"t__{k}"' for k in ent.key)
    key_names, key_values = _key_text(ent.key)
    return f"""
        CREATE OR REPLACE TEMP TABLE {n.dup} AS
        WITH ok AS (
            SELECT * FROM {n.typed} ANTI JOIN {n.bad} USING (_rid)
        ),
        -- Grouping on a 64-bit hash of the key is much faster than on the key's strings; a
        -- collision only adds candidates, which the window below tells apart by the real key.
        repeated AS (SELECT hash({keys}) AS h FROM ok GROUP BY h HAVING count(*) > 1),
        ranked AS (
            SELECT ok.*, row_number() OVER w AS rn,
                   first_value(_file) OVER w AS kept_file, first_value(_row) OVER w AS kept_row
            FROM ok WHERE hash({keys}) IN (SELECT h FROM repeated)
            WINDOW w AS (PARTITION BY {keys} ORDER BY _rid)
        )
        SELECT t._rid, t._file_idx, t._row, t._pdate, ['duplicate_key'] AS rules,
               {lit("key " + key_names + " = ")} || {key_values}
               || ' repeats the row kept at ' || kept_file || ' row ' || kept_row AS reason
        FROM ranked t WHERE rn > 1
    """


def _overlaps_sql(ent: Entity, n: _Names) -> str:
    val = ent.validity
    assert val is not None
    keys = ", ".join(f'"t__{k}"' for k in val.key)
    key_names, key_values = _key_text(val.key)
    vf, vt = f'"t__{val.valid_from}"', f'"t__{val.valid_to}"'
    return f"""
        CREATE OR REPLACE TEMP TABLE {n.overlap} AS
        WITH ok AS (
            SELECT *, {vf} AS vf, coalesce({vt}, DATE '{rules.FOREVER}') AS vt
            FROM {n.typed} ANTI JOIN {n.bad} USING (_rid) ANTI JOIN {n.dup} USING (_rid)
        ),
        w AS (
            SELECT ok.*,
                   max(vt) OVER w_prev AS prev_to,
                   arg_max(_file || ' row ' || _row, vt) OVER w_prev AS prev_at,
                   lead(vf) OVER w_next AS next_from,
                   lead(_file || ' row ' || _row) OVER w_next AS next_at
            FROM ok
            WINDOW w_prev AS (PARTITION BY {keys} ORDER BY vf, _rid
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   w_next AS (PARTITION BY {keys} ORDER BY vf, _rid)
        )
        SELECT t._rid, t._file_idx, t._row, t._pdate, ['overlapping_validity'] AS rules,
               {lit(val.valid_from + ".." + val.valid_to + " ")} || CAST(vf AS VARCHAR) || '..'
               || coalesce(CAST({vt} AS VARCHAR), 'open-ended') || ' overlaps '
               || CASE WHEN prev_to >= vf THEN prev_at ELSE next_at END
               || {lit(" with the same " + key_names + " = ")} || {key_values} AS reason
        FROM w t WHERE prev_to >= vf OR next_from <= vt
    """


def _in_run_sql(partition_range: tuple[date, date] | None, alias: str) -> str:
    """Which quarantined rows (of ``alias``) the run owns: see ``tables.quarantine_scope_sql``."""
    if partition_range is None:
        return "true"
    s, e = (lit(d.isoformat()) for d in partition_range)
    return (
        f"({alias}._pdate IS NULL OR {alias}._pdate BETWEEN DATE {s} AND DATE {e} "
        f"OR {alias}.out_of_history)"
    )


def _original_values_sql(src: read.SourceFile) -> str:
    """The row exactly as read (every value text), keys in the file's column order."""
    by_position = {position: name for name, position in src.mapping.items()}
    parts = []
    for position, col in enumerate(src.columns):
        if position in by_position:
            parts.append(f"{lit(col)}, s.{ident(by_position[position])}")
        else:
            parts.append(f"{lit(col)}, s._extras[{src.extras.index(position) + 1}]")
    return f"CAST(json_object({', '.join(parts)}) AS JSON)"


def ingest_entity(
    con: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    entity: str,
    *,
    run_id: str,
    run_date: date,
    partition_range: tuple[date, date] | None = None,
) -> IngestResult:
    """Read ``raw_dir/<entity>/`` into ``raw.<entity>``, quarantining rows that break a rule.

    Raises ``MalformedFileError`` (nothing written) for an unreadable file or a missing
    required column. Without files, ``present`` is False and ``when_absent`` says what follows
    (for the required orders: that they are required; nothing is written then).
    """
    ent = contract.entity(entity)
    raw_dir = Path(raw_dir)
    if partition_range is not None:
        if ent.partition_column is None:
            raise ValueError(f"{entity} is not partitioned; partition_range must be None")
        if partition_range[0] > partition_range[1]:
            raise ValueError(f"partition_range {partition_range} ends before it starts")
    ensure_tables(con)
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    result = IngestResult(
        entity=entity, run_id=run_id, present=False, partition_range=partition_range
    )

    paths = read.discover_files(raw_dir, entity)
    if not paths:
        result.reconciles = True
        if ent.required:
            # Nothing is touched: the caller fails the run with this text.
            result.when_absent = (
                f"no {entity} files (*.csv, *.parquet) in {raw_dir / entity}: {entity} is required"
            )
            return result
        # The warehouse mirrors raw/: an entity whose files were removed has no rows left.
        _in_transaction(
            con,
            [
                f"DELETE FROM {contract.raw_table(entity).qualified} "
                f"WHERE {raw_scope_sql(entity, partition_range)}",
                f"DELETE FROM {contract.QUARANTINE.qualified} "
                f"WHERE {quarantine_scope_sql(entity, partition_range)}",
            ],
        )
        result.when_absent = ent.when_absent
        return result

    result.present = True
    n = _Names(entity)
    try:
        sources = _stage(con, ent, raw_dir, n)

        targets = {r.target for r in ent.references}
        targets |= {m.reference.target for m in rules.REFERENCE_MATCHES.get(entity, ())}
        present = {tgt for tgt in targets if read.discover_files(raw_dir, tgt)}
        compiled = rules.compile_rules(
            ent,
            run_date=run_date,
            present=present,
            qualify_table=lambda name: contract.raw_table(name).qualified,
        )
        result.skipped_rules = compiled.skipped

        con.execute(_bad_rows_sql(compiled, n))
        con.execute(_duplicates_sql(ent, n))
        if ent.validity is not None:
            con.execute(_overlaps_sql(ent, n))
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {n.overlap} AS SELECT * FROM {n.dup} WHERE false"
            )
        history = "[" + ", ".join(lit(r) for r in OUT_OF_HISTORY_RULES) + "]"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {n.q} AS
            SELECT *, list_has_any(rules, {history}) AS out_of_history FROM (
                SELECT * FROM {n.bad} UNION ALL SELECT * FROM {n.dup}
                UNION ALL SELECT * FROM {n.overlap})
        """)

        counts = _count_per_file(con, n, sources, partition_range)
        _write(
            con,
            ent,
            n,
            sources,
            counts,
            run_id=run_id,
            ingested_at=ingested_at,
            partition_range=partition_range,
        )
        by_rule = con.execute(f"""
            SELECT rules[1], count(*) FROM {n.q} q WHERE {_in_run_sql(partition_range, "q")}
            GROUP BY 1 ORDER BY 1
        """).fetchall()
    finally:
        _drop_temporaries(con, n)

    order = list(contract.RULES)
    result.quarantined_by_rule = dict(sorted(by_rule, key=lambda kv: order.index(kv[0])))
    for src in sources:
        accepted, quarantined, outside = counts[src.index]
        result.files.append(
            FileResult(
                src.rel,
                src.fmt,
                src.rows,
                accepted,
                quarantined,
                outside,
                src.extra_names,
                src.empty,
            )
        )
        if src.extras:
            result.extra_columns[src.rel] = src.extra_names
        if src.empty:
            result.empty_files.append(src.rel)
    result.rows_read = sum(f.rows_read for f in result.files)
    result.rows_accepted = sum(f.rows_accepted for f in result.files)
    result.rows_quarantined = sum(f.rows_quarantined for f in result.files)
    result.rows_outside_partition = sum(f.rows_outside_partition for f in result.files)
    result.preview = con.execute(f"""
        SELECT * FROM {contract.raw_table(entity).qualified}
        WHERE {raw_scope_sql(entity, partition_range)}
        ORDER BY _source_file, _source_row LIMIT {PREVIEW_ROWS}
    """).df()
    result.reconciliation = reconcile(con, entity, run_id)
    result.reconciles = result.reconciliation.ok
    return result


def _stage(
    con: duckdb.DuckDBPyConnection, ent: Entity, raw_dir: Path, n: _Names
) -> list[read.SourceFile]:
    """Stage every file of the entity and create the typed view over it (``n.typed``)."""
    sources = read.read_sources(con, ent, raw_dir, n.stage)
    _check_row_numbers(con, n, sources)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {n.files} "
        "(_file_idx INTEGER, path VARCHAR, row_offset BIGINT)"
    )
    con.executemany(
        f"INSERT INTO {n.files} VALUES (?, ?, ?)",
        [(s.index, s.rel, s.row_offset) for s in sources],
    )
    con.execute(_typed_view_sql(ent, n))
    return sources


def _drop_temporaries(con: duckdb.DuckDBPyConnection, n: _Names) -> None:
    con.execute(f"DROP VIEW IF EXISTS {n.typed}")
    for table in ("stage", "files", "bad", "dup", "overlap", "q"):
        con.execute(f"DROP TABLE IF EXISTS {getattr(n, table)}")


def partition_span(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, entity: str, run_date: date
) -> tuple[date, date] | None:
    """First and last partition day of the entity's rows, read exactly as ingest reads them
    (same files, same dialect, same local-time conversion), clipped to the partitions a run can
    cover (from ``ORDERS_FIRST_PARTITION`` to ``run_date``). None if no row has such a day.

    Raises ``MalformedFileError`` (naming the file) for a file ingest could not read either.
    """
    ent = contract.entity(entity)
    if ent.partition_column is None:
        raise ValueError(f"{entity} is not partitioned")
    n = _Names(f"{entity}_span")
    try:
        _stage(con, ent, Path(raw_dir), n)
        first, last = con.execute(
            f"SELECT min(_pdate), max(_pdate) FROM {n.typed} WHERE _malformed IS NULL AND "
            f"_pdate BETWEEN DATE {lit(settings.ORDERS_FIRST_PARTITION)} "
            f"AND DATE {lit(run_date.isoformat())}"
        ).fetchall()[0]
    finally:
        _drop_temporaries(con, n)
    return None if first is None else (first, last)


def _check_row_numbers(
    con: duckdb.DuckDBPyConnection, n: _Names, sources: list[read.SourceFile]
) -> None:
    """Row numbers come from the staging rowids: prove they are dense and in file blocks."""
    got = {
        idx: (lo, hi, cnt)
        for idx, lo, hi, cnt in con.execute(
            f"SELECT _file_idx, min(rowid), max(rowid), count(*) FROM {n.stage} GROUP BY 1"
        ).fetchall()
    }
    for src in sources:
        if src.rows and got.get(src.index) != (
            src.row_offset,
            src.row_offset + src.rows - 1,
            src.rows,
        ):
            raise RuntimeError(
                f"staging rows of {src.rel} are not contiguous: {got.get(src.index)}"
            )


def _count_per_file(
    con: duckdb.DuckDBPyConnection,
    n: _Names,
    sources: list[read.SourceFile],
    partition_range: tuple[date, date] | None,
) -> dict[int, tuple[int, int, int]]:
    """(accepted, quarantined, outside the partition) per file index."""
    if partition_range is None:
        quarantined = dict(
            con.execute(f"SELECT _file_idx, count(*) FROM {n.q} GROUP BY 1").fetchall()
        )
        return {
            s.index: (s.rows - quarantined.get(s.index, 0), quarantined.get(s.index, 0), 0)
            for s in sources
        }
    s, e = (lit(d.isoformat()) for d in partition_range)
    rows = con.execute(f"""
        SELECT t._file_idx,
               count(*) FILTER (WHERE q._rid IS NULL AND t._pdate BETWEEN DATE {s} AND DATE {e}),
               count(*) FILTER (WHERE q._rid IS NOT NULL AND {_in_run_sql(partition_range, "q")})
        FROM {n.typed} t LEFT JOIN {n.q} q USING (_rid)
        GROUP BY 1
    """).fetchall()
    got = {idx: (acc, qua) for idx, acc, qua in rows}
    out = {}
    for src in sources:
        acc, qua = got.get(src.index, (0, 0))
        out[src.index] = (acc, qua, src.rows - acc - qua)
    return out


def _in_transaction(con: duckdb.DuckDBPyConnection, statements: list[str | tuple]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        for st in statements:
            if isinstance(st, tuple):
                con.execute(*st)
            else:
                con.execute(st)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _write(
    con: duckdb.DuckDBPyConnection,
    ent: Entity,
    n: _Names,
    sources: list[read.SourceFile],
    counts: dict[int, tuple[int, int, int]],
    *,
    run_id: str,
    ingested_at: datetime,
    partition_range: tuple[date, date] | None,
) -> None:
    """Replace the run's rows in raw.<entity> and quality.quarantine; log per-file counts."""
    raw = contract.raw_table(ent.name)
    quarantine, log = contract.QUARANTINE, contract.INGEST_LOG
    ts = f"TIMESTAMP {lit(ingested_at.isoformat(sep=' '))}"
    in_range = "true"
    if partition_range is not None:
        s, e = (lit(d.isoformat()) for d in partition_range)
        in_range = f"t._pdate BETWEEN DATE {s} AND DATE {e}"
    cols = ", ".join(ident(c) for c in raw.columns)
    typed = ", ".join(f'"t__{c}"' for c in ent.column_names)
    statements: list[str | tuple] = [
        f"DELETE FROM {raw.qualified} WHERE {raw_scope_sql(ent.name, partition_range)}",
        f"DELETE FROM {quarantine.qualified} "
        f"WHERE {quarantine_scope_sql(ent.name, partition_range)}",
        f"""INSERT INTO {raw.qualified} ({cols})
            SELECT {typed}, t._file, t._row, {ts}
            FROM {n.typed} t ANTI JOIN {n.q} USING (_rid)
            WHERE {in_range}""",
    ]
    qcols = ", ".join(quarantine.columns)
    groups: dict[tuple[str, ...], list[read.SourceFile]] = {}
    for src in sources:
        if not src.empty:
            groups.setdefault(tuple(src.columns), []).append(src)
    row_key = (
        "CAST(json_object("
        + ", ".join(f"{lit(k)}, {rules.trimmed_sql('s.' + ident(k))}" for k in ent.key)
        + ") AS JSON)"
    )
    for members in groups.values():
        idx = ", ".join(str(m.index) for m in members)
        statements.append(f"""
            INSERT INTO {quarantine.qualified} ({qcols})
            SELECT {lit(ent.name)}, f.path, q._row, q.rules[1], q.rules, q.reason,
                   {_original_values_sql(members[0])}, strftime(q._pdate, '%Y-%m-%d'),
                   {lit(run_id)}, {ts}, {row_key}
            FROM {n.q} q
            JOIN {n.stage} s ON s.rowid = q._rid
            JOIN {n.files} f ON f._file_idx = q._file_idx
            WHERE q._file_idx IN ({idx}) AND {_in_run_sql(partition_range, "q")}
        """)
    for src in sources:
        if src.empty:
            what = "a header but no rows" if src.columns else "no header and no rows"
            statements.append(
                (
                    f"INSERT INTO {quarantine.qualified} ({qcols}) VALUES "
                    f"(?, ?, NULL, 'empty_file', ['empty_file'], ?, NULL, NULL, ?, {ts}, NULL)",
                    [ent.name, src.rel, f"{src.rel} has {what}", run_id],
                )
            )
    range_text = format_range(partition_range)
    statements.append(
        (
            f"DELETE FROM {log.qualified} WHERE entity = ? AND run_id = ? "
            "AND partition_range IS NOT DISTINCT FROM ?",
            [ent.name, run_id, range_text],
        )
    )
    for src in sources:
        accepted, quarantined, outside = counts[src.index]
        statements.append(
            (
                f"INSERT INTO {log.qualified} ({', '.join(log.columns)}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, {ts})",
                [ent.name, src.rel, range_text, src.rows, accepted, quarantined, outside, run_id],
            )
        )
    _in_transaction(con, statements)
