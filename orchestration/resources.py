"""Dagster resources: the data folder and the DuckDB warehouse inside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from ml.settings import DataPaths, run_date


class KuajingResource(dg.ConfigurableResource):
    """Where Kuajing reads raw files and keeps its warehouse.

    Both settings default at run time (never at import time): the data folder is
    ``$KUAJING_DATA_DIR`` or the project's ``data/``; the run date is ``$KUAJING_RUN_DATE`` or
    today (UTC).
    """

    data_dir: str | None = None
    run_date: str | None = None  # ISO date treated as "today" by the future-date rule

    @property
    def paths(self) -> DataPaths:
        return DataPaths.from_env(self.data_dir)

    def today(self) -> dt.date:
        if self.run_date:
            return dt.date.fromisoformat(self.run_date)
        return run_date()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, closed on exit so dbt can open the file next."""
        paths = self.paths
        paths.root.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(paths.warehouse), read_only=read_only)
        try:
            yield con
        finally:
            con.close()
