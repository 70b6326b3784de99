"""``make run``: the whole pipeline once, through the persistent Dagster instance.

1. Prepare the data folder and its Dagster instance (``<data>/dagster``); refuse, in one line,
   a folder that cannot be written; mark runs left behind by a killed ``make run`` as failed.
2. Create the built-in demo data if ``raw/orders/`` has no files (ending the day before the
   run date, so the forecast starts tomorrow).
3. Find the order history's days (reading the files exactly as ingest does) and run the
   ``kuajing_pipeline`` job over all of them in one run (a single-run backfill), so the run and
   every asset show up afterwards in the UI. When the model registry has no champion yet,
   ``kuajing_pipeline_with_training`` runs instead: it trains (and registers) a demand forecast
   model before scoring.
4. Read the run's outcome from the Dagster instance: on failure, print the failing assets and
   their errors (file, column, rule) and the failed checks; on success, compact the warehouse
   file if re-runs left much free space in it, and print a short summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
from tqdm import tqdm

from ml import contract
from ml.settings import DATA_DIR_ENV, DataPaths, run_date
from ml.warehouse import compact, has_table
from orchestration.names import FULL_JOB, PIPELINE_JOB

DAGSTER_YAML = """\
# Kuajing's local Dagster instance (run history, schedules, sensors) lives in this folder.
telemetry:
  enabled: false
nux:
  enabled: false
"""
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
LAUNCH_TAG = "kuajing/launch_id"
LOCK_FILE = "make-run.lock"  # in the Dagster folder: the launch and pid of a run in progress
# The summary warns when the newest order is older than this: the forecast would start in the
# past (an export that stopped arriving).
STALE_AFTER_DAYS = 3
ERROR_LINES = 6  # lines of an error message shown per failing step
POLL_SECONDS = 1.0  # how often the progress bar asks the instance for new steps


class PipelineError(RuntimeError):
    """The run failed or cannot start; the message says where and what to do."""


def prepare_instance(paths: DataPaths) -> Path:
    """Create the Dagster instance folder with its settings (kept if already there)."""
    home = paths.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(DAGSTER_YAML)
    return home


def check_writable(paths: DataPaths) -> None:
    """Fail in one line when the data folder (or its warehouse) cannot be written."""
    for folder in (paths.root, paths.dagster_home, paths.mlflow, paths.out):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise PipelineError(
                f"The data folder {paths.root} is not writable ({folder}: "
                f"{error.strerror or error}). Kuajing writes its warehouse, runs and models "
                f"there: choose a writable folder with {DATA_DIR_ENV}=..."
            ) from None
    if paths.warehouse.exists() and not os.access(paths.warehouse, os.W_OK):
        raise PipelineError(f"The warehouse {paths.warehouse} is read-only: make it writable.")


def has_files(folder: Path) -> bool:
    """Whether ``raw/<entity>/`` holds any file ingest reads (``ingest.discover_files``)."""
    from ml.ingest import discover_files

    return bool(discover_files(folder.parent, folder.name))


def check_files(paths: DataPaths) -> None:
    """Read every raw file's header as ingest will, before any asset runs: a file that cannot
    be ingested (unreadable, a required column missing or repeated) is named, one line each."""
    from ml.ingest import MalformedFileError, discover_files
    from ml.ingest.read import inspect_file

    problems: list[str] = []
    con = duckdb.connect()
    try:
        for ent in contract.ENTITIES:
            for index, path in enumerate(discover_files(paths.raw, ent.name)):
                try:
                    inspect_file(con, ent, path, paths.raw, index)
                except MalformedFileError as error:
                    problems.append(f"raw/{error}")
    finally:
        con.close()
    if problems:
        raise PipelineError(
            f"{len(problems)} file(s) cannot be ingested; fix or remove them:\n  "
            + "\n  ".join(problems)
        )


def order_date_range(paths: DataPaths, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last order day in ``raw/orders``, read as ingest reads them (same files,
    subfolders included, same dialect and local time), clipped to [first partition, today]."""
    from ml.ingest import MalformedFileError, partition_span

    con = duckdb.connect()
    try:
        span = partition_span(con, paths.raw, "orders", today)
    except MalformedFileError as error:
        raise PipelineError(str(error)) from None
    finally:
        con.close()
    if span is None:
        raise PipelineError(
            f"No order in {paths.raw_entity('orders')} has a readable date on or before "
            f"{today}: nothing to run."
        )
    return span


def check_tracking_store(paths: DataPaths) -> None:
    """One line, before anything runs, when the configured MLflow server cannot be reached."""
    from ml.registry import TrackingStore, TrackingStoreUnavailable

    try:
        TrackingStore.from_paths(paths).check_reachable()
    except TrackingStoreUnavailable as error:
        raise PipelineError(str(error)) from None


def choose_job(paths: DataPaths) -> str:
    """Train before scoring only while the registry has no champion."""
    from ml.forecast.registry import current_champion
    from ml.registry import TrackingStore

    champion = current_champion(TrackingStore.from_paths(paths))
    return PIPELINE_JOB if champion is not None else FULL_JOB


# --------------------------------------------------------------------------- runs left behind


@dataclass(frozen=True)
class Launch:
    launch_id: str
    pid: int


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_up_dead_runs(paths: DataPaths) -> list[str]:
    """After a ``make run`` was killed: mark its Dagster run and any MLflow run whose process
    is gone as failed, instead of leaving them STARTED / RUNNING. Returns what was marked.

    Refuses (PipelineError) while the previous launch's process is still running.
    """
    import dagster as dg

    from ml import registry

    marked: list[str] = []
    lock = paths.dagster_home / LOCK_FILE
    if lock.exists():
        launch = Launch(**json.loads(lock.read_text()))
        if _alive(launch.pid):
            raise PipelineError(
                f"Another pipeline run (pid {launch.pid}) is still working on {paths.root}; "
                f"wait for it or stop it (kill {launch.pid})."
            )
        with dg.DagsterInstance.from_config(str(paths.dagster_home)) as instance:
            runs = instance.get_runs(
                filters=dg.RunsFilter(
                    tags={LAUNCH_TAG: launch.launch_id},
                    statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
                )
            )
            for run in runs:
                instance.report_run_failed(
                    run, message=f"The process running it (pid {launch.pid}) was killed."
                )
                marked.append(f"Dagster run {run.run_id}")
        lock.unlink()
    store = registry.TrackingStore.from_paths(paths)
    marked += [f"MLflow run {r}" for r in registry.mark_dead_runs_failed(store)]
    return marked


# --------------------------------------------------------------------------- the run


def run_pipeline(
    paths: DataPaths, first: dt.date, last: dt.date, log_file: Path, job: str = PIPELINE_JOB
) -> str:
    """Run ``job`` over [first, last] in one run; returns the run id.

    The run's outcome is read from the Dagster instance, not from its log: a failure raises
    PipelineError naming each failing asset and its error, and each failed check.
    """
    import dagster as dg

    launch_id = uuid.uuid4().hex
    env = {
        **os.environ,
        DATA_DIR_ENV: str(paths.root),
        "DAGSTER_HOME": str(paths.dagster_home),
        # line by line: the log follows the run as it happens
        "PYTHONUNBUFFERED": "1",
    }
    tags = {
        RANGE_START_TAG: first.isoformat(),
        RANGE_END_TAG: last.isoformat(),
        LAUNCH_TAG: launch_id,
    }
    command = [
        sys.executable, "-m", "dagster", "job", "execute",
        "-m", "orchestration.definitions", "-j", job, "--tags", json.dumps(tags),
    ]  # fmt: skip
    log_file.parent.mkdir(parents=True, exist_ok=True)
    lock = paths.dagster_home / LOCK_FILE
    with (
        log_file.open("w") as log,
        tqdm(
            desc="pipeline", unit=" step", bar_format="{desc}: {n} steps {elapsed} {postfix}"
        ) as bar,
        dg.DagsterInstance.from_config(str(paths.dagster_home)) as instance,
    ):
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        lock.write_text(json.dumps({"launch_id": launch_id, "pid": process.pid}))
        try:
            follow_steps(instance, launch_id, process, bar)
        finally:
            lock.unlink(missing_ok=True)

    with dg.DagsterInstance.from_config(str(paths.dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: launch_id}), limit=1)
        if not runs:
            raise PipelineError(
                f"The pipeline did not start (exit code {process.returncode}):\n  "
                + "\n  ".join(log_tail(log_file))
                + f"\nFull log: {log_file}"
            )
        run = runs[0]
        if run.status == dg.DagsterRunStatus.SUCCESS and process.returncode == 0:
            return run.run_id
        problems = run_problems(instance, run.run_id)
    raise PipelineError(
        f"The pipeline run {run.run_id} failed ({run.status.value}):\n"
        + ("\n".join(problems) or "  (no step failed; see the log)")
        + f"\nFull log: {log_file}\n"
        "Open the UI (`make ui`) to see each step's logs and checks."
    )


def follow_steps(instance, launch_id: str, process: subprocess.Popen, bar: tqdm) -> None:
    """Advance the progress bar on each step the run starts, read from the instance's event
    log (not from the process's output) until the process ends."""
    import dagster as dg

    run_id, cursor = None, None
    while True:
        done = process.poll() is not None
        if run_id is None:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={LAUNCH_TAG: launch_id}), limit=1)
            run_id = runs[0].run_id if runs else None
        if run_id is not None:
            page = instance.get_records_for_run(
                run_id, cursor=cursor, of_type=dg.DagsterEventType.STEP_START
            )
            cursor = page.cursor
            for record in page.records:
                bar.update(1)
                bar.set_postfix_str(record.event_log_entry.dagster_event.step_key)
        if done:
            return
        time.sleep(POLL_SECONDS)


def log_tail(log_file: Path, lines: int = ERROR_LINES) -> list[str]:
    text = log_file.read_text(errors="replace").strip().splitlines() if log_file.exists() else []
    return text[-lines:]


def _innermost_message(error) -> str:
    """The user's own error inside Dagster's wrappers ("Error occurred while executing ...")."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = (error.message or "").strip()
    # A dg.Failure is a message written for the user: shown as it is. Other errors keep their
    # class: "ml.ingest.read.MalformedFileError: ..." -> "MalformedFileError: ...".
    message = re.sub(r"^(?:[\w.]+\.)?Failure: ", "", message)
    return re.sub(r"^[\w.]+\.(\w+: )", r"\1", message)


def run_problems(instance, run_id: str) -> list[str]:
    """One entry per failing step (asset and error) and per failed asset check."""
    from dagster import DagsterEventType

    out: list[str] = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        message = _innermost_message(event.step_failure_data.error)
        shown = message.splitlines()[:ERROR_LINES]
        out.append(f"  {event.step_key} failed: " + "\n    ".join(shown))
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.asset_check_evaluation_data
        if evaluation.passed or evaluation.severity.value == "WARN":
            continue
        detail = ""
        for value in evaluation.metadata.values():
            text = str(getattr(value, "value", value))
            failing = [ln for ln in text.splitlines() if "FAIL" in ln or "fail" in ln]
            if failing:
                detail = "; ".join(ln.strip(" |") for ln in failing[:3])
                break
        out.append(
            f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed"
            + (f": {detail}" if detail else "")
        )
    return out


# --------------------------------------------------------------------------- the summary


def summarize(paths: DataPaths, run_id: str, seconds: float, today: dt.date | None = None) -> str:
    """What was built, what was quarantined, what was absent, and where it all is."""
    from ml.ingest.read import unsupported_files

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
            # The staging view: the same rows as raw.<entity>, read through dbt's lineage.
            table = f"staging.stg_raw__{e.name}"
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            present = has_files(paths.raw_entity(e.name))
            if not present:
                absent.append(e)
            state = f"{rows:>10,} / {quarantined.get(e.name, 0):,}" if present else "absent"
            lines.append(f"  {e.name:<16} {state}")
        for e in absent:
            lines.append(f"  Without {e.name}: {e.when_absent}.")
        if quarantined:
            lines.append("  See the quarantined rows: .venv/bin/kuajing quarantine")
        for e in contract.ENTITIES:
            for path in unsupported_files(paths.raw, e.name):
                lines.append(
                    f"  warning: {path.relative_to(paths.raw)} was not read: only .csv and "
                    ".parquet files are (export it as CSV)"
                )
        marts = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
            "ORDER BY table_name"
        ).fetchall()
        lines.append("Marts (rows):")
        for (name,) in marts:
            rows = con.execute(f'SELECT count(*) FROM marts."{name}"').fetchall()[0][0]
            lines.append(f"  marts.{name:<34} {rows:>12,}")
        lines += freshness_warning(con, today or run_date())
        lines += forecast_summary(con, paths)
        lines += pricing_summary(con)
        lines += allocation_summary(con)
        lines += alerts_summary(con)
    finally:
        con.close()
    lines += [
        f"Warehouse:      {paths.warehouse}  (quarantine: {contract.QUARANTINE.qualified})",
        f"Dagster runs:   {paths.dagster_home}  (open the UI with `make ui`)",
        f"Raw inputs:     {paths.raw}",
        f"MLflow:         {paths.mlflow}  (open the runs and the registry with `make mlflow-ui`)",
        f"Exports:        {paths.out}  (CSV and Parquet)",
    ]
    return "\n".join(lines)


def freshness_warning(con: duckdb.DuckDBPyConnection, today: dt.date) -> list[str]:
    """A warning when the history ends more than STALE_AFTER_DAYS ago (the forecast starts the
    day after the last day of ``marts.fct_daily_demand``)."""
    newest = con.execute("SELECT max(demand_date) FROM marts.fct_daily_demand").fetchall()[0][0]
    if newest is None or (today - newest).days <= STALE_AFTER_DAYS:
        return []
    return [
        f"warning: the newest order is from {newest}, {(today - newest).days} days before "
        f"{today}: the forecast starts after {newest}, in the past. Add the latest orders "
        "export to raw/orders/."
    ]


def forecast_summary(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> list[str]:
    from ml.forecast.nightly import FORECAST_TABLE
    from ml.forecast.registry import champion_metrics, champion_serves, champion_training_note
    from ml.registry import TrackingStore

    if not has_table(con, "forecast", "demand_forecast"):
        return ["Demand forecast: not scored."]
    rows, series, version, first, last = con.execute(
        f"SELECT count(*), count(DISTINCT (sku, marketplace)), max(model_version), min(date), "
        f"max(date) FROM {FORECAST_TABLE}"
    ).fetchall()[0]
    store = TrackingStore.from_paths(paths)
    metrics = champion_metrics(store)
    backtest = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
    lines = [
        f"Demand forecast ({FORECAST_TABLE}, out/demand_forecast.parquet and .csv): {rows:,} "
        f"rows, {series:,} series, {first} .. {last}",
        f"  by demand_forecast v{version} (the registry's champion, serving "
        f"{champion_serves(store) or 'kuajing'}); backtest: {backtest}",
    ]
    note = champion_training_note(store)
    if note:
        lines.append(f"  note: {note}")
    return lines


def pricing_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    from ml.pricing.nightly import RECOMMENDATIONS_TABLE
    from ml.pricing.optimizer import DEFAULT_RULES, describe_rules

    if not has_table(con, "pricing", "price_recommendations"):
        return ["Prices: not recommended."]
    rows, listings, first, last, changed, paused = con.execute(
        "SELECT count(*), count(DISTINCT (sku, marketplace)), min(date), max(date), "
        "count(*) FILTER (status = 'changed'), count(*) FILTER (status = 'paused') "
        f"FROM {RECOMMENDATIONS_TABLE}"
    ).fetchall()[0]
    return [
        f"Prices ({RECOMMENDATIONS_TABLE}, out/prices/): {rows:,} rows, {listings:,} listings, "
        f"{first} .. {last}; {changed:,} changed, {paused:,} paused",
        f"  guardrails without seller rules: {describe_rules(DEFAULT_RULES)}",
    ]


def allocation_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    from ml.allocation.nightly import PLAN_TABLE

    if not has_table(con, "allocation", "allocation_plan"):
        return ["Shipments: not planned."]
    by_mode = con.execute(
        f"SELECT mode, count(*), sum(quantity) FROM {PLAN_TABLE} GROUP BY mode ORDER BY mode"
    ).fetchall()
    modes = ", ".join(f"{mode} {n:,} shipments / {units:,} units" for mode, n, units in by_mode)
    return [
        f"Shipments ({PLAN_TABLE}, out/allocation/inbound_shipment_plan.csv): "
        + (modes or "none needed tonight")
    ]


def alerts_summary(con: duckdb.DuckDBPyConnection) -> list[str]:
    from ml.alerts.nightly import ALERTS_TABLE

    if not has_table(con, "alerts", "risk_alerts"):
        return ["Alerts: not raised."]
    counts = dict(
        con.execute(f"SELECT severity, count(*) FROM {ALERTS_TABLE} GROUP BY severity").fetchall()
    )
    figures = ", ".join(f"{counts.get(s, 0):,} {s}" for s in ("high", "medium", "low"))
    return [f"Alerts ({ALERTS_TABLE}, out/alerts/risk_alerts.csv): {figures}"]


def demo_scenario(name: str, today: dt.date):
    """The built-in scenario, moved to end the day before ``today`` (same length of history),
    so the demo's forecast starts tomorrow; deterministic for a given date."""
    from ml.simulator import load_scenario

    base = load_scenario(name)
    end = today - dt.timedelta(days=1)
    start = end - (base.history_end - base.history_start)
    return load_scenario(name, {"history_start": start.isoformat(), "history_end": end.isoformat()})


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

    paths = DataPaths.from_env(args.data_dir)
    today = run_date()
    started = time.monotonic()
    try:
        check_writable(paths)
        paths.ensure()
        prepare_instance(paths)
        check_tracking_store(paths)
        for marked in clean_up_dead_runs(paths):
            print(f"Marked {marked} as failed: its process was killed.")
        if not has_files(paths.raw_entity("orders")):
            from ml.simulator import generate

            scenario = demo_scenario(args.scenario, today)
            print(f"No orders in {paths.raw_entity('orders')}: creating the built-in demo data "
                  f"(scenario {args.scenario}, {scenario.history_start} to "
                  f"{scenario.history_end}).")  # fmt: skip
            print(generate(scenario, paths, progress=True))
        else:
            print(f"Using the raw files in {paths.raw}.")
        check_files(paths)
        first, last = order_date_range(paths, today)
        job = choose_job(paths)
        print(f"Order history {first} to {last}: running {job} over those days.")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        log_file = paths.dagster_home / "logs" / f"run-{stamp}.log"
        run_id = run_pipeline(paths, first, last, log_file, job=job)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    compaction = compact(paths.warehouse)  # the run is over: nothing else holds the file
    print(summarize(paths, run_id, time.monotonic() - started, today))
    if compaction is not None:
        print(compaction)
    return 0


if __name__ == "__main__":
    sys.exit(main())
