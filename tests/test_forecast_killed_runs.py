"""A training killed mid-run (kill -9) leaves its MLflow run RUNNING; the next training (or
`make run`) marks it FAILED, and never a run whose process is still alive (real subprocess,
real SQLite store)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from ml.forecast.model import ForecastConfig
from ml.forecast.panel import build_panel
from ml.forecast.registry import EXPERIMENT_NAME, data_fingerprint, open_store
from ml.forecast.synthetic import synthetic_mart
from ml.forecast.training import train_and_register
from ml.registry import TrackingStore
from ml.registry.runs import DEAD_RUN_TAG, PROCESS_TAGS, mark_dead_runs_failed, process_tags
from ml.settings import PROJECT_ROOT

CONFIG = ForecastConfig(max_rounds=5, min_data_in_leaf=20, num_leaves=7, num_threads=1)
WAITING = "waiting to be killed"
# A training that stops inside its run (the backtest's first progress message) until killed.
TRAINING = f"""
import sys, time
from pathlib import Path
from ml.forecast.model import ForecastConfig
from ml.forecast.panel import build_panel
from ml.forecast.registry import data_fingerprint
from ml.forecast.synthetic import synthetic_mart
from ml.forecast.training import train_and_register
from ml.registry import TrackingStore

mart = synthetic_mart(n_skus=3, marketplaces=("US",), days=150, seed=2)
panel = build_panel(mart.demand, skus=mart.skus, grain="daily")

def progress(message):
    if message.startswith("backtest: "):
        print({WAITING!r}, flush=True)
        time.sleep(600)

train_and_register(
    panel, config=ForecastConfig(max_rounds=5, num_threads=1),
    store=TrackingStore.local(Path(sys.argv[1])),
    data_info=data_fingerprint(mart.demand), models=("kuajing",), progress=progress,
)
"""


@pytest.fixture(autouse=True)
def no_default_store(tmp_path, monkeypatch):
    stray = tmp_path / "stray" / "mlflow.db"
    stray.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


def _store(mlflow_dir: Path) -> TrackingStore:
    return open_store(TrackingStore.local(mlflow_dir))


def _client(mlflow_dir: Path) -> MlflowClient:
    return _store(mlflow_dir).client()


def _running(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    return client.search_runs(
        [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'"
    )


def _wait_for(proc: subprocess.Popen, text: str, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if text in line:
                return
        if proc.poll() is not None:
            pytest.fail(f"training exited {proc.returncode}:\n{log.read_text()[-3000:]}")
    pytest.fail(f"no {text!r} within {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow  # another process or a whole training round trip
def test_a_killed_training_run_is_marked_failed_by_the_next_training(tmp_path):
    mlflow_dir = tmp_path / "mlflow"
    log = tmp_path / "training.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", TRAINING, str(mlflow_dir)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        _wait_for(proc, WAITING, log)
        client = _client(mlflow_dir)
        (run,) = _running(client)
        tags = run.data.tags
        assert tags["kuajing.host"] == socket.gethostname()
        assert tags["kuajing.pid"] == str(proc.pid)
        assert set(PROCESS_TAGS) <= set(tags)
        # Alive: not touched.
        assert mark_dead_runs_failed(_store(mlflow_dir)) == []
        assert client.get_run(run.info.run_id).info.status == "RUNNING"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert client.get_run(run.info.run_id).info.status == "RUNNING"  # what MLflow leaves

    mart = synthetic_mart(n_skus=3, marketplaces=("US",), days=150, seed=2)
    panel = build_panel(mart.demand, skus=mart.skus, grain="daily")
    messages: list[str] = []
    outcome = train_and_register(
        panel,
        config=CONFIG,
        store=TrackingStore.local(mlflow_dir),
        data_info=data_fingerprint(mart.demand),
        models=("kuajing",),
        progress=messages.append,
    )
    killed = client.get_run(run.info.run_id)
    assert killed.info.status == "FAILED" and killed.info.end_time is not None
    reason = killed.data.tags[DEAD_RUN_TAG]
    assert f"process {proc.pid} on {socket.gethostname()}" in reason and "gone" in reason
    assert any(run.info.run_id in m and "FAILED" in m for m in messages), messages
    assert client.get_run(outcome.run_id).info.status == "FINISHED"
    assert _running(client) == [] and mark_dead_runs_failed(_store(mlflow_dir)) == []


def test_only_runs_whose_process_is_gone_are_marked(tmp_path):
    mlflow_dir = tmp_path / "mlflow"
    client = _client(mlflow_dir)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME).experiment_id
    mine = process_tags()
    alive = client.create_run(experiment, tags=mine).info.run_id
    # The same pid started at another time: the process that ran it is gone (pid reused).
    reused = client.create_run(
        experiment, tags={**mine, "kuajing.pid_started": str(int(mine["kuajing.pid_started"]) - 1)}
    ).info.run_id
    # Another machine's run, and a run without process tags: cannot tell, left alone.
    elsewhere = client.create_run(experiment, tags={**mine, "kuajing.host": "elsewhere"})
    untagged = client.create_run(experiment)
    assert mark_dead_runs_failed(_store(mlflow_dir)) == [reused]
    status = {r: client.get_run(r).info.status for r in (alive, reused)}
    assert status == {alive: "RUNNING", reused: "FAILED"}
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"
    assert client.get_run(untagged.info.run_id).info.status == "RUNNING"
