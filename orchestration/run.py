"""``make run``: the whole pipeline once, through the persistent Dagster instance.

1. Prepare the data folder and its Dagster instance (``<data>/dagster``).
2. Create the built-in demo data if ``raw/orders/`` has no files.
3. Find the order history's days and run the ``kuajing_pipeline`` job over all of them in one
   run (a single-run backfill), so the run and every asset show up afterwards in the UI. When
   the model registry has no champion yet, ``kuajing_pipeline_with_training`` runs instead: it
   trains (and registers) a demand forecast model before scoring.
4. Print a short summary: what was built, what was quarantined, what was absent, and where.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from tqdm import tqdm

from ml import contract
from ml.settings import DATA_DIR_ENV, ORDERS_FIRST_PARTITION, DataPaths

PIPELINE_JOB = "kuajing_pipeline"
FULL_JOB = "kuajing_pipeline_with_training"
DAGSTER_YAML = """\
# Kuajing's local Dagster instance (run history, schedules, sensors) lives in this folder.
telemetry:
  enabled: false
nux:
  enabled: false
"""
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class PipelineError(RuntimeError):
    """The run failed; the message says where and how to see why."""


def prepare_instance(paths: DataPaths) -> Path:
    """Create the Dagster instance folder with its settings (kept if already there)."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(DAGSTER_YAML)
    return home


def has_files(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.suffix.lower() in {".csv", ".parquet"} and not p.name.startswith(".")
        for p in folder.iterdir()
    )


def order_date_range(paths: DataPaths, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last order day in ``raw/orders`` (unreadable dates are left to quarantine)."""
    folder = paths.raw_entity("orders")
    dates: list[dt.date] = []
    con = duckdb.connect()
    try:
        for f in sorted(folder.iterdir()):
            suffix = f.suffix.lower()
            if f.name.startswith(".") or suffix not in {".csv", ".parquet"}:
                continue
            reader = (
                f"read_parquet('{f}')"
                if suffix == ".parquet"
                else f"read_csv('{f}', all_varchar = true, header = true)"
            )
            row = con.execute(
                "SELECT min(d), max(d) FROM (SELECT TRY_CAST(TRY_CAST(order_date AS VARCHAR) "
                f"AS TIMESTAMP)::DATE AS d FROM {reader})"
            ).fetchall()[0]
            dates += [d for d in row if d is not None]
    finally:
        con.close()
    first = max(min(dates), dt.date.fromisoformat(ORDERS_FIRST_PARTITION)) if dates else None
    last = min(max(dates), today) if dates else None
    if first is None or last is None or first > last:
        raise PipelineError(
            f"No order in {folder} has a readable date on or before {today}: nothing to run."
        )
    return first, last


def choose_job(paths: DataPaths) -> str:
    """Train before scoring only while the registry has no champion."""
    from ml.forecast.registry import current_champion

    return PIPELINE_JOB if current_champion(paths.mlflow) is not None else FULL_JOB


def run_pipeline(
    paths: DataPaths, first: dt.date, last: dt.date, log_file: Path, job: str = PIPELINE_JOB
) -> str:
    """Run ``job`` over [first, last] in one run; returns the run id."""
    env = {
        **os.environ,
        DATA_DIR_ENV: str(paths.root),
        "DAGSTER_HOME": str(paths.dagster_home),
        # line by line: the progress bar and the log follow the run as it happens
        "PYTHONUNBUFFERED": "1",
    }
    tags = {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
    command = [
        sys.executable, "-m", "dagster", "job", "execute",
        "-m", "orchestration.definitions", "-j", job, "--tags", json.dumps(tags),
    ]  # fmt: skip
    log_file.parent.mkdir(parents=True, exist_ok=True)
    run_id = ""
    failures: list[str] = []
    step_start = re.compile(r" - (\S+) - STEP_START - ")
    with (
        log_file.open("w") as log,
        tqdm(
            desc="pipeline", unit=" step", bar_format="{desc}: {n} steps {elapsed} {postfix}"
        ) as bar,
    ):
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if not run_id and (m := re.search(rf" - {job} - ([0-9a-f-]{{36}}) - ", line)):
                run_id = m.group(1)
            if m := step_start.search(line):
                bar.update(1)
                bar.set_postfix_str(m.group(1))
            if "STEP_FAILURE" in line or "RUN_FAILURE" in line:
                failures.append(line.strip())
        process.wait()
    if process.returncode != 0 or failures:
        detail = "\n  ".join(failures[-3:]) or "(see the log)"
        raise PipelineError(
            f"The pipeline run {run_id or ''} failed:\n  {detail}\nFull log: {log_file}\n"
            "Open the UI (`make ui`) to see each step's logs and checks."
        )
    return run_id


def summarize(paths: DataPaths, run_id: str, seconds: float) -> str:
    """What was built, what was quarantined, what was absent, and where it all is."""
    lines = [f"Kuajing pipeline finished in {seconds:.0f} s (run {run_id})."]
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        quarantined = dict(
            con.execute(
                f"SELECT entity, count(*) FROM {contract.QUARANTINE.qualified} GROUP BY entity"
            ).fetchall()
        )
        lines.append("Raw entities (rows accepted / quarantined):")
        absent = []
        for e in contract.ENTITIES:
            table = f"{contract.RAW_SCHEMA}.{e.name}"
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            present = has_files(paths.raw_entity(e.name))
            if not present:
                absent.append(e)
            state = f"{rows:>10,} / {quarantined.get(e.name, 0):,}" if present else "absent"
            lines.append(f"  {e.name:<16} {state}")
        for e in absent:
            lines.append(f"  Without {e.name}: {e.when_absent}.")
        marts = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
            "ORDER BY table_name"
        ).fetchall()
        lines.append("Marts (rows):")
        for (name,) in marts:
            rows = con.execute(f'SELECT count(*) FROM marts."{name}"').fetchall()[0][0]
            lines.append(f"  marts.{name:<34} {rows:>12,}")
        lines += forecast_summary(con, paths)
    finally:
        con.close()
    lines += [
        f"Warehouse:      {paths.warehouse}  (quarantine: {contract.QUARANTINE.qualified})",
        f"Dagster runs:   {paths.dagster_home}  (open the UI with `make ui`)",
        f"Raw inputs:     {paths.raw}",
        f"MLflow:         {paths.mlflow}  (open the runs and the registry with `make mlflow-ui`)",
    ]
    return "\n".join(lines)


def forecast_summary(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> list[str]:
    from ml.forecast.nightly import FORECAST_TABLE
    from ml.forecast.registry import champion_metrics

    found = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'forecast' AND table_name = 'demand_forecast'"
    ).fetchall()[0][0]
    if not found:
        return ["Demand forecast: not scored."]
    rows, series, version, first, last = con.execute(
        f"SELECT count(*), count(DISTINCT (sku, marketplace)), max(model_version), min(date), "
        f"max(date) FROM {FORECAST_TABLE}"
    ).fetchall()[0]
    metrics = champion_metrics(paths.mlflow)
    backtest = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
    return [
        f"Demand forecast ({FORECAST_TABLE}, out/demand_forecast.parquet): {rows:,} rows, "
        f"{series:,} series, {first} .. {last}",
        f"  by demand_forecast v{version} (the registry's champion); backtest: {backtest}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.run",
        description="Run the whole Kuajing pipeline once over all order history "
        "(what `make run` does).",
    )
    parser.add_argument("--data-dir", help=f"data folder (default: ${DATA_DIR_ENV} or data/)")
    parser.add_argument(
        "--scenario", default="default",
        help="built-in scenario for demo data when raw/orders is empty (default: default)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    paths = DataPaths.from_env(args.data_dir).ensure()
    prepare_instance(paths)
    started = time.monotonic()
    if not has_files(paths.raw_entity("orders")):
        from ml.simulator import generate, load_scenario

        print(f"No orders in {paths.raw_entity('orders')}: creating the built-in demo data "
              f"(scenario {args.scenario}).")  # fmt: skip
        print(generate(load_scenario(args.scenario), paths, progress=True))
    else:
        print(f"Using the raw files in {paths.raw}.")
    today = dt.datetime.now(dt.UTC).date()
    try:
        first, last = order_date_range(paths, today)
        job = choose_job(paths)
        print(f"Order history {first} to {last}: running {job} over those days.")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        log_file = paths.dagster_home / "logs" / f"run-{stamp}.log"
        run_id = run_pipeline(paths, first, last, log_file, job=job)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summarize(paths, run_id, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
