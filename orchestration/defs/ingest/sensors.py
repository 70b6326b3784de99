"""A sensor that rebuilds everything that depends on tariffs when tariff files change."""

import json
from pathlib import Path

import dagster as dg

from orchestration.names import TARIFF_JOB
from orchestration.resources import KuajingResource


def tariff_file_fingerprint(folder: Path) -> dict[str, list[float]]:
    """File path (relative to the entity folder) -> (size, modification time) of the files
    ingest reads (``discover_files``: subfolders too), so edits count as changes."""
    from ml.ingest import discover_files

    return {
        p.relative_to(folder).as_posix(): [p.stat().st_size, p.stat().st_mtime]
        for p in discover_files(folder.parent, folder.name)
    }


def changed_files(previous: dict[str, list[float]], current: dict[str, list[float]]) -> list[str]:
    """Files added or modified since the previous fingerprint (removals count too)."""
    changed = [name for name, sig in current.items() if previous.get(name) != sig]
    removed = [name for name in previous if name not in current]
    return sorted(changed + removed)


@dg.sensor(
    job_name=TARIFF_JOB,
    minimum_interval_seconds=60,
    description="Notices new or changed files in raw/tariff_measures/ and rebuilds the tariff "
    "measures and every model downstream of them (landed cost, tariff exposure).",
)
def tariff_files_sensor(context: dg.SensorEvaluationContext, kuajing: KuajingResource):
    current = tariff_file_fingerprint(kuajing.paths.raw_entity("tariff_measures"))
    previous = json.loads(context.cursor) if context.cursor else None
    context.update_cursor(json.dumps(current))
    if previous is None:
        # First tick: remember what is there; the nightly run or `make run` built it already.
        return dg.SkipReason(f"Started watching {len(current)} tariff file(s).")
    changed = changed_files(previous, current)
    if not changed:
        return dg.SkipReason("No tariff file changed.")
    return dg.RunRequest(
        run_key=json.dumps(current, sort_keys=True),
        tags={"kuajing/changed_tariff_files": ", ".join(changed)[:250]},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[tariff_files_sensor])
