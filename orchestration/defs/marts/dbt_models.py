"""Every dbt model as a Dagster asset: staging -> intermediate -> marts, with lineage."""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from ml.settings import DataPaths
from orchestration.dbt import (
    KuajingDbtTranslator,
    dbt_executable,
    ensure_manifest,
    kuajing_dbt_project,
    warehouse_env,
)
from orchestration.metadata import PREVIEW_ROWS, markdown_preview
from orchestration.resources import KuajingResource


def table_metadata(kuajing: KuajingResource, schema: str, table: str) -> dict:
    """Row count and a preview of a built model (dbt itself reports neither)."""
    with kuajing.connect(read_only=True) as con:
        found = con.execute(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
        if not found:
            return {}
        rows = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall()[0][0]
        metadata: dict = {"dagster/row_count": rows}
        if schema == "marts":
            preview = con.execute(f'SELECT * FROM "{schema}"."{table}" LIMIT {PREVIEW_ROWS}').df()
            metadata["preview"] = markdown_preview(preview)
        return metadata


def build_dbt_assets(paths: DataPaths) -> dg.AssetsDefinition:
    project = kuajing_dbt_project()
    manifest = ensure_manifest(project, paths)

    @dbt_assets(manifest=manifest, project=project, dagster_dbt_translator=KuajingDbtTranslator())
    def kuajing_dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, kuajing: KuajingResource
    ):
        # dbt runs in its own process and reads the warehouse path from its environment.
        with warehouse_env(kuajing.paths):
            events = list(dbt.cli(["build"], context=context).stream())
        # Metadata is added once dbt has released the DuckDB file (it holds a write lock).
        for event in events:
            if isinstance(event, dg.Output | dg.AssetMaterialization):
                key = (
                    event.asset_key
                    if isinstance(event, dg.AssetMaterialization)
                    else context.asset_key_for_output(event.output_name)
                )
                if len(key.path) == 2:
                    event = event.with_metadata(
                        {**event.metadata, **table_metadata(kuajing, *key.path)}
                    )
            yield event

    return kuajing_dbt_models


@dg.definitions
def defs() -> dg.Definitions:
    paths = DataPaths.from_env()
    return dg.Definitions(
        assets=[build_dbt_assets(paths)],
        resources={
            "dbt": DbtCliResource(
                project_dir=kuajing_dbt_project(), dbt_executable=str(dbt_executable())
            )
        },
    )
