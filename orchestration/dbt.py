"""The dbt project as Dagster sees it: where it is, how its nodes map to asset keys."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject

from ml.contract import RAW_SCHEMA
from ml.settings import DBT_PROJECT_DIR, WAREHOUSE_ENV, DataPaths, dbt_env, dbt_executable


@contextmanager
def warehouse_env(paths: DataPaths) -> Iterator[None]:
    """Point dbt's profile at this data folder's warehouse for the processes started inside.

    ``DbtCliResource`` copies ``os.environ`` when it starts dbt and takes no env of its own.
    """
    saved = os.environ.get(WAREHOUSE_ENV)
    os.environ[WAREHOUSE_ENV] = str(paths.warehouse)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(WAREHOUSE_ENV, None)
        else:
            os.environ[WAREHOUSE_ENV] = saved


def kuajing_dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    """True when the manifest is missing or older than any model, seed, macro or config file.

    A stale manifest makes dagster-dbt fail mid-run on nodes it has never heard of.
    """
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "seeds", "macros", "tests"):
        sources += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def ensure_manifest(project: DbtProject, paths: DataPaths) -> Path:
    """Build ``target/manifest.json`` (``dbt parse``, a few seconds) if missing or stale."""
    if manifest_is_stale(Path(project.project_dir), project.manifest_path):
        subprocess.run(
            [str(dbt_executable()), "parse", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
            cwd=DBT_PROJECT_DIR,
            env=dbt_env(paths),
            check=True,
        )
    return project.manifest_path


class KuajingDbtTranslator(DagsterDbtTranslator):
    """Sources are the tables ingest writes (``raw/<entity>``, ``quality/quarantine``); models
    are ``<layer>/<model>``."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # raw.<entity> -> raw/<entity> (the ingest assets); quality.quarantine likewise.
            schema = dbt_resource_props.get("schema") or RAW_SCHEMA
            return dg.AssetKey([schema, dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or dbt_resource_props.get(
            "schema", "marts"
        )
        return dg.AssetKey([str(schema), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "ingest"
        return dbt_resource_props.get("config", {}).get("schema") or "marts"
