"""Where Kuajing keeps everything it reads and writes: one data folder.

The folder is ``data/`` in the project by default, or the one named by ``KUAJING_DATA_DIR``.
The environment is read when a function is called, never at import time.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV = "KUAJING_DATA_DIR"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# dbt's profile reads the warehouse file from this variable (see dbt_project/profiles.yml).
WAREHOUSE_ENV = "KUAJING_WAREHOUSE_PATH"
# First day an order can be partitioned on (orders before it are quarantined).
ORDERS_FIRST_PARTITION = "2009-01-01"
# The day treated as "today" (ISO date): runs, the future-date rule and the demo's last day
# follow it. Tests and benchmarks pin it; unset, it is today in UTC.
RUN_DATE_ENV = "KUAJING_RUN_DATE"
# Where MLflow tracks runs and registers models: a tracking server's URI (http://host:5000) or
# any MLflow store URI. Unset, the SQLite store in the data folder's mlflow/.
MLFLOW_TRACKING_URI_ENV = "KUAJING_MLFLOW_TRACKING_URI"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``explicit`` if given, else ``$KUAJING_DATA_DIR``, else ``data/``."""
    chosen = explicit or os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "data"
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class DataPaths:
    """The layout of one data folder."""

    root: Path

    @classmethod
    def from_env(cls, explicit: str | os.PathLike[str] | None = None) -> DataPaths:
        return cls(resolve_data_dir(explicit))

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    def raw_entity(self, entity: str) -> Path:
        return self.raw / entity

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def truth(self) -> Path:
        """Simulator ground truth: kept apart from ``raw/``; the pipeline never reads it."""
        return self.root / "truth"

    def ensure(self) -> DataPaths:
        for folder in (self.raw, self.out, self.dagster_home, self.mlflow):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def mlflow_tracking_uri(paths: DataPaths) -> str:
    """``$KUAJING_MLFLOW_TRACKING_URI`` if set, else the data folder's SQLite store,
    ``sqlite:///<data>/mlflow/mlflow.db`` (its artifacts go to ``<data>/mlflow/artifacts``)."""
    chosen = os.environ.get(MLFLOW_TRACKING_URI_ENV)
    return chosen or f"sqlite:///{paths.mlflow.expanduser().resolve() / 'mlflow.db'}"


def run_date() -> dt.date:
    """``$KUAJING_RUN_DATE`` if set, else today (UTC)."""
    pinned = os.environ.get(RUN_DATE_ENV)
    if not pinned:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(pinned)
    except ValueError:
        raise ValueError(f"{RUN_DATE_ENV}={pinned!r} is not an ISO date (YYYY-MM-DD)") from None


def dbt_executable() -> Path:
    """The ``dbt`` of the environment running Kuajing (it need not be activated)."""
    return Path(sys.executable).parent / "dbt"


def dbt_env(paths: DataPaths) -> dict[str, str]:
    """Environment for a dbt process: the profile reads the warehouse path from it."""
    return {**os.environ, WAREHOUSE_ENV: str(paths.warehouse)}
