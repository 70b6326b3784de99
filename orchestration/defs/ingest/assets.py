"""Ingest assets: one per raw entity of the contract, each guarded by its quality checks.

Every asset reads ``raw/<entity>/`` into ``raw.<entity>`` in the warehouse, quarantines bad rows
with a reason, and reports three checks: the entity's Great Expectations suite on the accepted
rows, the reconciliation (rows read = accepted + quarantined), and a warning when rows were
quarantined. Orders are partitioned by day; every other entity is replaced whole.
"""

import datetime as dt
from typing import Any

import dagster as dg

from ml import contract
from ml.contract import Entity
from orchestration.metadata import markdown_preview
from orchestration.resources import KuajingResource
from orchestration.settings import orders_partitions

GROUP = "ingest"
SUITE_CHECK = "contract_suite"
RECONCILIATION_CHECK = "reconciliation"
QUARANTINE_CHECK = "no_quarantined_rows"


def raw_asset_key(entity_name: str) -> dg.AssetKey:
    return dg.AssetKey([contract.RAW_SCHEMA, entity_name])


def column_schema(entity: Entity) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.duckdb_type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in entity.columns
        ]
    )


def partition_dates(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date] | None:
    """The inclusive day range of this run's order partitions: one day (a single-partition run,
    as the nightly schedule launches) or a backfill range. A partition run touches its days only.
    """
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    key_range = context.partition_key_range
    return dt.date.fromisoformat(key_range.start), dt.date.fromisoformat(key_range.end)


def _previous_row_count(context: dg.AssetExecutionContext, key: dg.AssetKey) -> int | None:
    event = context.instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get("rows_in_table")
    return int(value.value) if value is not None else None


def build_ingest_asset(entity: Entity) -> dg.AssetsDefinition:
    key = raw_asset_key(entity.name)
    references = sorted({r.target for r in entity.references if r.target != entity.name})
    partitioned = entity.partition_column is not None

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=f"{entity.description} (raw/{entity.name}/, "
        f"{'required' if entity.required else 'optional'})",
        deps=[raw_asset_key(r) for r in references],
        partitions_def=orders_partitions() if partitioned else None,
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        kinds={"duckdb", "python"},
        metadata={"dagster/column_schema": column_schema(entity)},
        check_specs=[
            dg.AssetCheckSpec(
                SUITE_CHECK,
                asset=key,
                blocking=True,
                description="Great Expectations suite from the raw data contract: schema, "
                "types, ranges, ISO codes, HS codes, keys, dates",
            ),
            dg.AssetCheckSpec(
                RECONCILIATION_CHECK,
                asset=key,
                blocking=True,
                description="rows read = rows accepted + rows quarantined (+ rows of other "
                "partitions), proven against the tables",
            ),
            dg.AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=key,
                description="warns when rows were quarantined; see quality.quarantine",
            ),
        ],
    )
    def _ingest(context: dg.AssetExecutionContext, kuajing: KuajingResource):
        # Imported here: the Great Expectations import costs seconds and only runs with checks.
        from ml.ingest import MalformedFileError, quarantine
        from ml.quality.checks import ingest_and_check

        days = partition_dates(context) if partitioned else None
        raw_dir = kuajing.paths.raw
        with kuajing.connect() as con:
            try:
                checked = ingest_and_check(
                    con,
                    raw_dir,
                    entity.name,
                    run_id=context.run_id,
                    run_date=kuajing.today(),
                    partition_range=days,
                )
            except MalformedFileError as error:
                # One line naming the file and what is wrong, not a DuckDB traceback.
                raise dg.Failure(description=f"raw/{error}") from None
        result, recon, rows_in_table = checked.result, checked.reconciliation, checked.rows_in_table

        if not result.present:
            if entity.required:
                raise dg.Failure(
                    description=f"No files in {raw_dir / entity.name}: {entity.name} is "
                    "required (CSV or Parquet, see the README's raw data contract).",
                )
            context.log.warning(f"{entity.name} is absent (optional): {entity.when_absent}")
        for skipped in result.skipped_rules:
            context.log.warning(f"{entity.name}: rule skipped: {skipped}")

        previous = _previous_row_count(context, key)
        metadata: dict[str, Any] = {
            "present": result.present,
            "files": len(result.files),
            "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted,
            "rows_quarantined": result.rows_quarantined,
            "rows_in_table": rows_in_table,
            "dagster/row_count": rows_in_table,
            "change_in_rows": (rows_in_table - previous) if previous is not None else None,
            "quarantined_by_rule": dict(result.quarantined_by_rule),
            "preview": markdown_preview(result.preview),
        }
        if days is not None:
            metadata["partition_range"] = f"{days[0]}...{days[1]}"
            metadata["rows_outside_partition"] = result.rows_outside_partition
        if not result.present:
            metadata["when_absent"] = entity.when_absent
        if result.skipped_rules:
            metadata["skipped_rules"] = list(result.skipped_rules)
        if result.empty_files:
            metadata["empty_files"] = list(result.empty_files)
        if any(result.extra_columns.values()):
            metadata["extra_columns_ignored"] = {
                f: cols for f, cols in result.extra_columns.items() if cols
            }
        yield dg.MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})

        if checked.suite is not None:
            yield dg.AssetCheckResult(
                check_name=SUITE_CHECK,
                passed=bool(checked.suite.success),
                metadata={
                    "rows_validated": checked.rows_validated,
                    "results": dg.MetadataValue.md(checked.suite.as_markdown()),
                },
            )
        else:
            yield dg.AssetCheckResult(
                check_name=SUITE_CHECK,
                passed=True,
                metadata={"absent": entity.when_absent},
            )
        yield dg.AssetCheckResult(
            check_name=RECONCILIATION_CHECK,
            passed=bool(recon.ok),
            metadata={"details": dg.MetadataValue.md(str(recon))},
        )
        yield dg.AssetCheckResult(
            check_name=QUARANTINE_CHECK,
            passed=result.rows_quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_quarantined": result.rows_quarantined,
                "by_rule": dict(result.quarantined_by_rule),
                # The first failing rows, so the UI shows what to fix, not only how many.
                "sample_rows": markdown_preview(
                    checked.failing_rows[list(quarantine.LISTED)], len(checked.failing_rows)
                ),
                "see_all": "kuajing quarantine --entity " + entity.name,
            },
        )

    return _ingest


def quarantine_spec() -> dg.AssetSpec:
    """``quality.quarantine``: written by every ingest asset, read by dbt (the catalog flags)."""
    return dg.AssetSpec(
        dg.AssetKey(["quality", contract.QUARANTINE.name]),
        group_name=GROUP,
        description="Rows the ingest assets refused, with the rule, the reason and the values as "
        "read (list them with `kuajing quarantine`)",
        deps=[raw_asset_key(e.name) for e in contract.ENTITIES],
        kinds={"duckdb"},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[*(build_ingest_asset(e) for e in contract.ENTITIES), quarantine_spec()]
    )
