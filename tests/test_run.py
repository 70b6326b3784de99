"""The `make run` runner's own logic: pre-flight checks, the order history's days, the
instance folder, runs left behind, and the summary's warnings."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import dagster as dg
import duckdb
import ingest_fixtures as fx
import pandas as pd
import pytest
import yaml

from ml.settings import PROJECT_ROOT, DataPaths
from orchestration.run import (
    LAUNCH_TAG,
    LOCK_FILE,
    PipelineError,
    check_files,
    check_writable,
    clean_up_dead_runs,
    demo_scenario,
    freshness_warning,
    has_files,
    order_date_range,
    prepare_instance,
)


def order_rows(dates: list[str], prefix: str = "O") -> list[dict[str, str]]:
    base = fx.valid_rows("orders")[0]
    return [{**base, "order_id": f"{prefix}{i}", "order_date": d} for i, d in enumerate(dates)]


def write_orders(folder, name, dates, prefix="O"):
    frame = pd.DataFrame(order_rows(dates, prefix))
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def test_order_date_range_spans_every_file_and_ignores_unreadable_dates(tmp_path):
    paths = DataPaths(tmp_path)
    folder = paths.raw_entity("orders")
    write_orders(folder, "a.csv", ["2025-03-04 10:15", "not a date", "2025-01-02"])
    write_orders(folder, "b.parquet", ["2025-06-30", "2025-02-01"])
    (folder / "notes.txt").write_text("ignored")
    assert has_files(folder)
    assert order_date_range(paths, dt.date(2026, 1, 1)) == (
        dt.date(2025, 1, 2),
        dt.date(2025, 6, 30),
    )


def test_order_date_range_reads_subfolders_and_odd_names_as_ingest_does(tmp_path):
    paths = DataPaths(tmp_path)
    folder = paths.raw_entity("orders")
    write_orders(folder, "current.csv", ["2025-06-01"])
    write_orders(folder, "archive/2024/old.csv", ["2024-02-03"], "A")  # was dropped silently
    write_orders(folder, "seller's manual orders [1].csv", ["2025-07-09"], "M")  # SQL error
    write_orders(folder, "x.csv')); COPY (SELECT 1) TO 'PWNED.txt'; --.csv", ["2025-01-01"], "X")
    assert order_date_range(paths, dt.date(2026, 1, 1)) == (
        dt.date(2024, 2, 3),
        dt.date(2025, 7, 9),
    )
    assert not list(tmp_path.rglob("PWNED*")) and not (PROJECT_ROOT / "PWNED.txt").exists()


def test_order_date_range_is_clipped_to_today_and_first_partition(tmp_path):
    paths = DataPaths(tmp_path)
    write_orders(paths.raw_entity("orders"), "a.csv", ["2008-05-01", "2025-03-01", "2031-01-01"])
    first, last = order_date_range(paths, dt.date(2026, 11, 23))
    assert (first, last) == (dt.date(2025, 3, 1), dt.date(2025, 3, 1))


def test_order_date_range_without_any_readable_date_is_a_clear_error(tmp_path):
    paths = DataPaths(tmp_path)
    write_orders(paths.raw_entity("orders"), "a.csv", ["soon", "later"])
    with pytest.raises(PipelineError, match="No order .* has a readable date"):
        order_date_range(paths, dt.date(2026, 11, 23))


def test_files_ingest_cannot_read_are_named_one_line_each_before_the_run(tmp_path):
    paths = DataPaths(tmp_path)
    folder = paths.raw_entity("orders")
    write_orders(folder, "good.csv", ["2025-06-01"])
    (folder / "empty.csv").write_text("")  # a 0-byte export is an empty file, not an error
    (folder / "backup.csv").mkdir()  # a folder, not a file
    frame = pd.DataFrame(order_rows(["2025-06-01"])).drop(columns=["order_date"])
    frame.to_csv(folder / "no_date.csv", index=False)
    (paths.raw_entity("catalog")).mkdir(parents=True)
    (paths.raw_entity("catalog") / "items.parquet").write_bytes(b"PAR1 not really")

    with pytest.raises(PipelineError) as error:
        check_files(paths)
    lines = str(error.value).splitlines()
    assert lines[0] == "2 file(s) cannot be ingested; fix or remove them:"
    assert lines[1].startswith(
        "  raw/orders/no_date.csv: missing required column(s) order_date; the file has: order_id"
    )
    assert lines[2].startswith("  raw/catalog/items.parquet: cannot be read as PARQUET")
    assert len(lines) == 3


def test_a_read_only_data_folder_is_one_clear_line(tmp_path):
    """Run as a user who cannot write the folder (root ignores file modes)."""
    paths = DataPaths(tmp_path / "data")
    write_orders(paths.raw_entity("orders"), "a.csv", ["2025-06-01"])
    os.chmod(tmp_path, 0o755)
    code = (
        "from orchestration.run import check_writable, PipelineError\n"
        "from ml.settings import DataPaths\n"
        f"try: check_writable(DataPaths.from_env({str(paths.root)!r}))\n"
        "except PipelineError as e: print(e)\n"
    )
    if os.geteuid() == 0:
        os.chmod(paths.root, 0o755)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   sys.executable, "-c", code]  # fmt: skip
    else:
        paths.root.chmod(0o555)
        command = [sys.executable, "-c", code]
    try:
        out = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT)
    finally:
        paths.root.chmod(0o755)
    assert out.stderr == ""
    assert out.stdout.startswith(f"The data folder {paths.root} is not writable (")
    assert len(out.stdout.strip().splitlines()) == 1
    check_writable(paths)  # writable again: no error


def test_prepare_instance_turns_off_the_first_visit_dialog_and_keeps_user_settings(tmp_path):
    paths = DataPaths(tmp_path)
    home = prepare_instance(paths)
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["nux"] == {"enabled": False}
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    prepare_instance(paths)
    assert "enabled: true" in (home / "dagster.yaml").read_text()
    assert not has_files(tmp_path / "missing")


def test_the_run_of_a_killed_make_run_is_marked_failed(tmp_path):
    paths = DataPaths(tmp_path).ensure()
    home = prepare_instance(paths)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.create_run_for_job(
            dg.define_asset_job("j", selection="*").resolve(
                asset_graph=dg.Definitions(
                    assets=[dg.asset(lambda: 1, name="a")]
                ).resolve_asset_graph()
            ),
            tags={LAUNCH_TAG: "launch-1"},
        )
        instance.handle_run_event(
            run.run_id,
            dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=run.job_name),
        )
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    (home / LOCK_FILE).write_text(json.dumps({"launch_id": "launch-1", "pid": dead.pid}))

    marked = clean_up_dead_runs(paths)

    assert f"Dagster run {run.run_id}" in marked
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert not (home / LOCK_FILE).exists()


def test_a_live_run_blocks_a_second_one(tmp_path):
    paths = DataPaths(tmp_path).ensure()
    home = prepare_instance(paths)
    (home / LOCK_FILE).write_text(json.dumps({"launch_id": "x", "pid": os.getpid()}))
    with pytest.raises(PipelineError, match=f"Another pipeline run \\(pid {os.getpid()}\\)"):
        clean_up_dead_runs(paths)


def test_the_demo_ends_the_day_before_the_run_date_with_the_same_history_length():
    from ml.simulator import load_scenario

    base = load_scenario("small")
    moved = demo_scenario("small", dt.date(2026, 12, 1))
    assert moved.history_end == dt.date(2026, 11, 30)
    assert moved.n_days == base.n_days and moved.seed == base.seed


def test_the_summary_warns_when_the_newest_order_is_old():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.fct_daily_demand (demand_date DATE)")
    con.execute("INSERT INTO marts.fct_daily_demand VALUES ('2026-11-19'), ('2026-11-20')")
    assert freshness_warning(con, dt.date(2026, 11, 23)) == []
    [warning] = freshness_warning(con, dt.date(2026, 12, 1))
    assert warning.startswith("warning: the newest order is from 2026-11-20, 11 days before")


def test_make_ui_takes_a_port():
    out = subprocess.run(["make", "-n", "ui", "PORT=3123"], capture_output=True, text=True,
                         cwd=PROJECT_ROOT)  # fmt: skip
    assert "-p 3123" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow  # a copy of the project and a Dagster process
def test_the_code_location_name_does_not_depend_on_the_checkout_folder(tmp_path):
    """dg names the project after its folder unless told: a clone in 'repo/' logged a mismatch
    with the workspace's 'kuajing' on every load."""
    clone = tmp_path / "repo"
    shutil.copytree(PROJECT_ROOT, clone, ignore=shutil.ignore_patterns(
        ".venv", ".tools", "data", ".git", "target", "__pycache__", "*.duckdb"))  # fmt: skip
    shutil.copytree(PROJECT_ROOT / "dbt_project" / "target", clone / "dbt_project" / "target")
    (tmp_path / "data" / "dagster").mkdir(parents=True)
    env = {
        **os.environ,
        "KUAJING_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "data" / "dagster"),
        "PYTHONPATH": str(clone),
    }
    out = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "does not match the name" not in out.stdout + out.stderr


def test_an_unreachable_tracking_server_is_one_line_before_the_run(tmp_path, monkeypatch):
    import socket

    from orchestration.run import check_tracking_store

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("KUAJING_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(PipelineError) as error:
        check_tracking_store(DataPaths(tmp_path))
    message = str(error.value)
    assert message.startswith(f"The MLflow tracking server http://127.0.0.1:{port} does not ")
    assert "\n" not in message
    monkeypatch.delenv("KUAJING_MLFLOW_TRACKING_URI")
    check_tracking_store(DataPaths(tmp_path))  # the data folder's own store: nothing to reach
