"""The forecast against a real MLflow tracking server: ``mlflow server`` on 127.0.0.1 (SQLite
backend in tmp, artifacts proxied as ``mlflow-artifacts:`` into a tmp folder), selected by
``KUAJING_MLFLOW_TRACKING_URI`` alone. Train and register, gate a second candidate, load the
champion and score the nightly forecast, all through the server; the data folder gets no
MLflow store of its own. No mock."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import pytest
from test_forecast_data_folder import make_data_folder

from ml.forecast.model import ForecastConfig
from ml.forecast.nightly import score, train
from ml.forecast.pyfunc import model_input
from ml.forecast.registry import (
    CHALLENGER,
    CHAMPION,
    FIRST_MODEL_REASON,
    MODEL_NAME,
    champion_metrics,
    current_champion,
    latest_version,
    load_champion,
)
from ml.forecast.synthetic import synthetic_mart
from ml.registry import TrackingStore, mark_dead_runs_failed
from ml.settings import MLFLOW_TRACKING_URI_ENV, PROJECT_ROOT, DataPaths

pytestmark = pytest.mark.slow

# The small registry tests' data and configurations (tests/test_forecast_registry.py).
CONFIG = ForecastConfig(
    grain="daily", max_rounds=40, learning_rate=0.15, min_data_in_leaf=40, num_leaves=15,
    num_threads=1,
)  # fmt: skip
WORSE = replace(CONFIG, max_rounds=1, num_leaves=2, relative_target=False)
MODELS = ("kuajing", "seasonal_naive")
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Server:
    url: str
    artifacts: Path  # --artifacts-destination
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its workers too), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    served = Server(f"http://127.0.0.1:{port}", root / "artifacts", root / "server.log")
    cmd = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{root / 'server.db'}"]
    cmd += ["--artifacts-destination", str(served.artifacts), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "KUAJING_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"  # it execs uvicorn from PATH
    with open(served.log, "w") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while not _healthy(served.url):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited {proc.returncode}:\n{served.log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no /health within 90 s:\n{served.log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield served
    finally:
        _stop(proc)


@pytest.fixture(scope="module", autouse=True)
def through_the_server(server, tmp_path_factory):
    """Only KUAJING_MLFLOW_TRACKING_URI names the server; a call that ignored it and used
    MLflow's own default would create the stray store."""
    stray = tmp_path_factory.mktemp("stray") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MLFLOW_TRACKING_URI_ENV, server.url)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=6, marketplaces=("US", "DE"), days=175, seed=3)


@pytest.fixture(scope="module")
def paths(tmp_path_factory, mart) -> DataPaths:
    return make_data_folder(tmp_path_factory.mktemp("kuajing") / "data", mart)


@pytest.fixture(scope="module")
def trained(paths):
    """A first model, then a worse candidate the gate keeps out, both through the server."""
    first = train(paths, config=CONFIG, models=MODELS)
    worse = train(paths, config=WORSE, models=MODELS)
    return first, worse


def test_the_store_is_the_server_named_by_the_setting(paths, server):
    store = TrackingStore.from_paths(paths)
    assert store == TrackingStore(server.url)
    assert store.artifact_root is None and store.database is None


def test_training_registers_and_gates_through_the_server(trained, paths, server):
    first, worse = trained
    assert (first.alias, first.reason, first.version) == (CHAMPION, FIRST_MODEL_REASON, 1)
    assert (worse.alias, worse.version) == (CHALLENGER, 2)
    assert worse.reason.startswith("does not beat champion v1: WAPE")
    assert worse.champion_metrics["wape"] == pytest.approx(first.metrics["wape"])

    store = TrackingStore.from_paths(paths)
    assert current_champion(store) == (1, first.run_id)
    assert latest_version(store) == (2, CHALLENGER, worse.reason)
    assert champion_metrics(store)["wape"] == pytest.approx(first.metrics["wape"])
    assert mark_dead_runs_failed(store) == []

    client = store.client()
    assert int(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == 2
    run = client.get_run(worse.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["gate_decision"] == CHALLENGER
    assert run.data.metrics["champion_wape"] == pytest.approx(first.metrics["wape"])
    # Artifacts went through the server into its destination, none into the data folder.
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    download = client.get_model_version_download_uri(MODEL_NAME, "1")
    assert download.startswith("mlflow-artifacts:")
    stored = {p.name for p in server.artifacts.rglob("*") if p.is_file()}
    assert {"MLmodel", "python_model.pkl", "forecaster.pkl", "gate_decision.txt"} <= stored
    assert not [p for p in paths.mlflow.rglob("*") if p.is_file()]


def test_the_champion_is_loaded_and_scores_through_the_server(trained, paths, mart):
    first, _ = trained
    store = TrackingStore.from_paths(paths)
    model, version = load_champion(store)
    assert version == 1 and model.metadata.run_id == first.run_id
    older = mart.demand
    fc = model.predict(model_input(older, skus=mart.skus, marketplaces=mart.marketplaces))
    n_series = len(older[["sku", "marketplace"]].drop_duplicates())
    assert len(fc) == n_series * 28
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()

    scored = score(paths)
    assert scored.version == 1 and len(scored.forecast) == n_series * 28
    assert scored.forecast["date"].min() == pd.Timestamp(older["demand_date"].max()) + (
        pd.Timedelta(days=1)
    )
    assert scored.csv is not None and scored.csv.is_file()
