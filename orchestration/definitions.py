"""Kuajing's Dagster code location: the defs folder, one sub-folder per domain.

Project-wide choices live here: the shared resources and the in-process executor (steps share
one process: on a 2-core machine re-importing dbt, DuckDB and GX per step costs more than it saves).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.resources import KuajingResource


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources={"kuajing": KuajingResource()},
            executor=dg.in_process_executor,
        ),
    )
