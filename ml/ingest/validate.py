"""``kuajing validate``: the contract's checks on a data folder, without running the pipeline.

Every entity is ingested, in reference order, into a throw-away in-memory DuckDB (the
warehouse is not touched): the same files, rules and quarantine as a run, so the answer is
exactly what a run would accept and quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from ml import contract
from ml.ingest import quarantine
from ml.ingest.ingest import IngestResult, ingest_entity
from ml.ingest.read import MalformedFileError, unsupported_files
from ml.ingest.tables import ensure_tables

RUN_ID = "validate"


@dataclass
class EntityCheck:
    entity: str
    result: IngestResult | None = None
    error: str | None = None  # a file that cannot be ingested at all
    unsupported: list[str] = field(default_factory=list)
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class ValidationReport:
    raw_dir: Path
    checks: list[EntityCheck]

    @property
    def unreadable(self) -> list[str]:
        return [c.error for c in self.checks if c.error]

    @property
    def missing_required(self) -> list[str]:
        return [
            c.entity for c in self.checks
            if contract.entity(c.entity).required and c.result and not c.result.present
        ]  # fmt: skip

    @property
    def ok(self) -> bool:
        """No file that cannot be ingested and the required entities present."""
        return not self.unreadable and not self.missing_required

    def rows(self) -> list[dict]:
        out = []
        for c in self.checks:
            r = c.result
            state = "unreadable" if c.error else ""
            if not state and (r is None or not r.present):
                state = "MISSING (required)" if contract.entity(c.entity).required else "absent"
            out.append(
                {
                    "entity": c.entity,
                    "files": len(r.files) if r else 0,
                    "rows_read": r.rows_read if r else 0,
                    "accepted": r.rows_accepted if r else 0,
                    "quarantined": r.rows_quarantined if r else 0,
                    "by_rule": ", ".join(f"{k} {n}" for k, n in r.quarantined_by_rule.items())
                    if r
                    else "",
                    "state": state,
                }
            )
        return out

    def as_dict(self) -> dict:
        return {
            "raw_dir": str(self.raw_dir),
            "ok": self.ok,
            "entities": self.rows(),
            "unreadable_files": self.unreadable,
            "missing_required": self.missing_required,
            "unsupported_files": [f for c in self.checks for f in c.unsupported],
        }


def validate_folder(raw_dir: Path, run_date: date, samples: int = 5) -> ValidationReport:
    """Ingest every entity of ``raw_dir`` into memory; each unreadable file is reported and the
    other entities are still checked (an entity that refers to it then skips that check)."""
    con = duckdb.connect()
    checks: list[EntityCheck] = []
    try:
        ensure_tables(con)
        for name in contract.ingest_order():
            check = EntityCheck(name)
            check.unsupported = [
                p.relative_to(raw_dir).as_posix() for p in unsupported_files(raw_dir, name)
            ]
            try:
                check.result = ingest_entity(con, raw_dir, name, run_id=RUN_ID, run_date=run_date)
            except MalformedFileError as error:
                check.error = str(error)
            if check.result is not None and check.result.rows_quarantined:
                check.samples = quarantine.sample(con, entity=name, limit=samples)
            checks.append(check)
    finally:
        con.close()
    return ValidationReport(Path(raw_dir), checks)
