"""MLflow tracking, the pyfunc model and the registry gate, on a real SQLite store in tmp.

One registry per module, trained in steps (each fixture records the champion right after its
step, so the assertions do not depend on test order): a first model, a deliberately worse
config, the same config on the same data, and the same config on newer data.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from importlib.metadata import version as dist_version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from ml.forecast.model import ForecastConfig, fit, predict
from ml.forecast.panel import DEMAND_COLUMNS, build_panel, plan_from_demand
from ml.forecast.pyfunc import ATTRIBUTE_COLUMNS, SERVED_MODULES, model_input
from ml.forecast.registry import (
    CHALLENGER,
    CHAMPION,
    FIRST_MODEL_REASON,
    MODEL_NAME,
    NEWER_DATA_REASON,
    current_champion,
    data_fingerprint,
    gate,
    load_champion,
    open_store,
)
from ml.forecast.synthetic import synthetic_mart
from ml.forecast.training import TrainingOutcome, train_and_register
from ml.registry import TrackingStore
from ml.registry.code_paths import import_closure
from ml.settings import PROJECT_ROOT

CONFIG = ForecastConfig(
    grain="daily",
    max_rounds=40,
    learning_rate=0.15,
    min_data_in_leaf=40,
    num_leaves=15,
    num_threads=1,
)
# One two-leaf tree predicting units: near one level for every series. (Relative to each
# series' level, one tree is a fair moving average and loses on coverage, not on WAPE.)
WORSE = replace(CONFIG, max_rounds=1, num_leaves=2, relative_target=False)
MODELS = ("kuajing", "seasonal_naive")
DAYS, OLDER_DAYS = 175, 168


@dataclass(frozen=True)
class Step:
    outcome: TrainingOutcome
    champion_after: tuple[int, str] | None
    messages: list[str]


@pytest.fixture(scope="module", autouse=True)
def no_default_store(tmp_path_factory):
    """Any MLflow call that is not pointed at the registry would land in this store (instead of
    ./mlflow.db in the working directory): it must never be created."""
    stray = tmp_path_factory.mktemp("stray") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=6, marketplaces=("US", "DE"), days=DAYS, seed=3)


@pytest.fixture(scope="module")
def older(mart) -> pd.DataFrame:
    """The data of the first trainings: the mart without its last week."""
    end = mart.demand["demand_date"].min() + pd.Timedelta(days=OLDER_DAYS)
    return mart.demand[mart.demand["demand_date"] < end].reset_index(drop=True)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kuajing-data") / "mlflow"


def _store(mlflow_dir: Path) -> TrackingStore:
    """The SQLite store in ``mlflow_dir``, opened (its experiment created)."""
    return open_store(TrackingStore.local(mlflow_dir))


def _train(mart, demand: pd.DataFrame, config: ForecastConfig, mlflow_dir: Path) -> Step:
    panel = build_panel(demand, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    messages: list[str] = []
    outcome = train_and_register(
        panel,
        config=config,
        store=TrackingStore.local(mlflow_dir),
        data_info=data_fingerprint(demand),
        models=MODELS,
        progress=messages.append,
        demand=demand,
    )
    return Step(outcome, current_champion(_store(mlflow_dir)), messages)


@pytest.fixture(scope="module")
def first(mart, older, registry) -> Step:
    return _train(mart, older, CONFIG, registry)


@pytest.fixture(scope="module")
def worse(mart, older, registry, first) -> Step:
    return _train(mart, older, WORSE, registry)


@pytest.fixture(scope="module")
def same(mart, older, registry, worse) -> Step:
    return _train(mart, older, CONFIG, registry)


@pytest.fixture(scope="module")
def newer(mart, registry, same) -> Step:
    return _train(mart, mart.demand, CONFIG, registry)


@pytest.fixture(scope="module")
def no_revenue(mart, registry, newer) -> Step:
    """The champion's configuration on data without revenue: no revenue-weighted RMSSE."""
    return _train(mart, mart.demand.drop(columns="revenue"), CONFIG, registry)


def _client(registry: Path) -> MlflowClient:
    return _store(registry).client()


def test_data_fingerprint_ignores_row_and_column_order_but_not_values(older):
    fp = data_fingerprint(older)
    assert fp["rows"] == len(older) and fp["n_series"] == 12
    assert fp["date_from"] == "2025-01-06"
    shuffled = older.sample(frac=1.0, random_state=1)[list(reversed(older.columns))]
    assert data_fingerprint(shuffled)["sha256"] == fp["sha256"]
    loaded_differently = older.astype({"units": float, "sku": object}).assign(
        demand_date=older["demand_date"].astype("datetime64[us]")
    )
    assert data_fingerprint(loaded_differently)["sha256"] == fp["sha256"]
    changed = older.copy()
    changed.loc[5, "units"] += 1
    assert data_fingerprint(changed)["sha256"] != fp["sha256"]


def test_the_first_model_becomes_champion(first, registry):
    out = first.outcome
    assert (out.alias, out.reason) == (CHAMPION, FIRST_MODEL_REASON)
    assert first.champion_after == (out.version, out.run_id)
    assert out.champion_version is None
    assert set(out.comparison.index) == set(MODELS)
    assert {"US", "DE"} == set(out.by_marketplace.index.get_level_values("marketplace"))
    assert out.metrics["wape"] == pytest.approx(out.comparison.loc["kuajing", "wape"])
    mv = _client(registry).get_model_version(MODEL_NAME, str(out.version))
    assert mv.tags["gate_decision"] == CHAMPION and mv.tags["gate_reason"] == FIRST_MODEL_REASON
    assert "backtest: kuajing fold 2 done" in first.messages
    assert not any("champion backtest" in m for m in first.messages)


def test_the_run_logs_params_metrics_and_artifacts(first, older, registry, tmp_path):
    client = _client(registry)
    run = client.get_run(first.outcome.run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    fp = data_fingerprint(older)
    assert params["data_sha256"] == fp["sha256"]
    assert params["data_rows"] == str(fp["rows"]) and params["data_date_to"] == fp["date_to"]
    assert params["num_leaves"] == "15" and params["max_rounds"] == "40"
    for key in ("kuajing_wape", "seasonal_naive_wape", "kuajing_coverage_p10_p90", "fold2_wape"):
        assert np.isfinite(metrics[key]), key
    assert {f"fold{k}_wape" for k in range(3)} <= set(metrics)
    assert tags["gate_decision"] == CHAMPION and tags["gate_reason"] == FIRST_MODEL_REASON

    local = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path)))
    for png in ("plots/sample_series.png", "plots/worst_series.png"):
        assert (local / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert (local / "feature_importance/feature_importance.png").stat().st_size > 1000
    importance = pd.read_csv(local / "feature_importance/feature_importance.csv")
    assert list(importance.columns) == ["feature", "gain"] and len(importance) > 10
    overall = pd.read_csv(local / "comparison/overall.csv", index_col="model")
    assert overall.loc["kuajing", "wape"] == pytest.approx(metrics["kuajing_wape"])
    by_market = pd.read_csv(local / "comparison/by_marketplace.csv")
    assert set(by_market["marketplace"]) == {"US", "DE"}
    by_dormancy = pd.read_csv(local / "comparison/by_dormancy.csv")
    assert set(by_dormancy["model"]) == set(overall.index)
    assert (local / "comparison/overall.md").read_text().count("kuajing") == 1
    assert "first model" in (local / "gate_decision.txt").read_text()


def test_the_run_is_named_after_model_data_and_time_and_logs_its_dataset(first, older, registry):
    client = _client(registry)
    run = client.get_run(first.outcome.run_id)
    fp = data_fingerprint(older)
    name = re.fullmatch(
        rf"demand_forecast daily {fp['date_from']}\.\.{fp['date_to']} (\S+)", run.info.run_name
    )
    assert name, run.info.run_name
    started = dt.datetime.fromtimestamp(run.info.start_time / 1000)
    named = dt.datetime.strptime(name.group(1), "%Y-%m-%dT%H:%M")
    assert abs((started - named).total_seconds()) < 120
    # The Dataset column of the MLflow UI: the training data's name, digest, schema, profile.
    (used,) = run.inputs.dataset_inputs
    assert {t.key: t.value for t in used.tags}["mlflow.data.context"] == "training"
    dataset = used.dataset
    assert dataset.name == "marts.fct_daily_demand"
    assert dataset.digest == fp["sha256"][:32]
    columns = {c["name"]: c for c in json.loads(dataset.schema)["mlflow_colspec"]}
    assert set(DEMAND_COLUMNS) <= set(columns)
    assert columns["units"]["type"] in ("long", "double") and columns["sku"]["type"] == "string"
    assert json.loads(dataset.profile)["num_rows"] == fp["rows"]
    # Only its description is stored: no copy of the rows among the run's artifacts.
    paths = [f.path for f in client.list_artifacts(run.info.run_id)]
    assert not any(p.endswith((".parquet", ".csv")) for p in paths), paths


def test_a_worse_config_is_a_challenger_and_the_champion_stays(first, worse, registry):
    out = worse.outcome
    assert out.alias == CHALLENGER
    assert out.reason.startswith(f"does not beat champion v{first.outcome.version}: WAPE")
    assert worse.champion_after == first.champion_after
    # The champion was scored on the same backtest: its config re-run reproduces its own run.
    assert out.champion_version == first.outcome.version
    assert out.champion_metrics["wape"] == pytest.approx(first.outcome.metrics["wape"])
    assert out.metrics["wape"] > out.champion_metrics["wape"]
    assert "champion backtest: kuajing fold 2 done" in worse.messages
    client = _client(registry)
    assert int(client.get_model_version_by_alias(MODEL_NAME, CHALLENGER).version) == out.version
    mv = client.get_model_version(MODEL_NAME, str(out.version))
    assert mv.tags["gate_decision"] == CHALLENGER and mv.tags["gate_reason"] == out.reason
    run = client.get_run(out.run_id)
    assert run.data.tags["gate_reason"] == out.reason
    assert run.data.metrics["champion_wape"] == pytest.approx(out.champion_metrics["wape"])


def test_the_same_config_on_the_same_data_is_a_challenger(first, same):
    out = same.outcome
    assert out.alias == CHALLENGER
    assert "same configuration and same data" in out.reason
    assert same.champion_after == first.champion_after
    assert out.champion_metrics == out.metrics  # reused, not re-run


def _predict_champion(registry: Path, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    model, version = load_champion(_store(registry))
    return model.predict(rows), version


def test_the_champion_pyfunc_forecasts_every_series_and_day_with_ordered_quantiles(
    first, mart, older, registry, monkeypatch
):
    rows = model_input(older, skus=mart.skus, marketplaces=mart.marketplaces)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _store(registry).tracking_uri)
    fc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}").predict(rows)
    monkeypatch.undo()
    assert load_champion(_store(registry))[1] == first.champion_after[0]
    last = pd.Timestamp(older["demand_date"].max())
    keys = older[["sku", "marketplace"]].drop_duplicates()
    assert len(fc) == len(keys) * 28
    assert (fc.groupby(["sku", "marketplace"]).size() == 28).all()
    assert set(fc["horizon"]) == set(range(1, 29))
    assert pd.to_datetime(fc["date"]).min() == last + pd.Timedelta(days=1)
    assert pd.to_datetime(fc["date"]).max() == last + pd.Timedelta(days=28)
    q = fc[["p10", "p50", "p90"]].to_numpy()
    assert np.isfinite(q).all() and (q >= 0).all()
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
    # The registered model is the final fit on the whole panel (training is deterministic).
    panel = build_panel(
        older, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily", plan_days=28
    )
    direct = predict(fit(panel=panel, config=CONFIG), panel)
    direct = direct.sort_values(["sku", "marketplace", "horizon"], ignore_index=True)
    assert fc["mean"].to_numpy() == pytest.approx(direct["mean"].to_numpy())
    assert fc["p90"].to_numpy() == pytest.approx(direct["p90"].to_numpy())

    # REST-style sparse rows: no attribute columns, nulls in the plan rows' other columns.
    sparse = model_input(older, plan=plan_from_demand(mart.demand, last, 7)).astype(object)
    sparse.loc[sparse["units"].isna(), ["is_promoted", "ad_spend_usd", "is_censored"]] = None
    got, _ = _predict_champion(registry, sparse)
    assert len(got) == len(keys) * 28 and (got["p10"] <= got["p90"]).all()

    # Plan rows (units null) carry planned prices: doubling them lowers those days' demand.
    plan = plan_from_demand(mart.demand, last, 7)
    dear = plan.assign(list_price_local=plan["list_price_local"] * 2)
    with_plan, _ = _predict_champion(registry, model_input(older, skus=mart.skus, plan=plan))
    with_dear, _ = _predict_champion(registry, model_input(older, skus=mart.skus, plan=dear))
    week = with_plan["horizon"] <= 7
    assert with_dear.loc[week, "mean"].sum() < 0.9 * with_plan.loc[week, "mean"].sum()
    later = ~week
    assert with_dear.loc[later, "mean"].to_numpy() == pytest.approx(
        with_plan.loc[later, "mean"].to_numpy()
    )


def test_signature_input_example_requirements_and_code_are_logged(first, registry, tmp_path):
    model, _ = load_champion(_store(registry))
    inputs = model.metadata.get_input_schema()
    required = {c.name: c.required for c in inputs.inputs}
    assert set(DEMAND_COLUMNS) <= set(required) and all(required[c] for c in DEMAND_COLUMNS)
    assert all(required[c] is False for c in ATTRIBUTE_COLUMNS)
    outputs = model.metadata.get_output_schema().input_names()
    assert {"sku", "marketplace", "date", "mean", "p10", "p50", "p90"} <= set(outputs)
    example = model.input_example
    assert isinstance(example, pd.DataFrame) and 0 < len(example) <= 400
    assert example["units"].isna().sum() == 2 * 28  # plan rows of two series
    assert example["marketplace"].nunique() == 2

    # download_artifacts(models:/...) resolves aliases on the global registry URI, whatever
    # its registry_uri argument says (MLflow 3.17): ask the client for the version's artifacts.
    client = _client(registry)
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(MODEL_NAME, str(mv.version)),
            dst_path=str(tmp_path),
        )
    )
    requirements = (local / "requirements.txt").read_text()
    for dist in ("lightgbm", "pandas", "numpy", "cloudpickle", "mlflow"):
        assert f"{dist}=={dist_version(dist)}" in requirements, dist
    assert (local / "code/ml/forecast/model.py").is_file()
    assert not list((local / "code").rglob("__pycache__"))
    assert (local / "serving_input_example.json").is_file()


# Loads a downloaded version and predicts its input example with the project folder off
# sys.path (the venv's editable install puts it there): only the version's code_paths.
CLEAN_LOAD = """
import json, sys
from pathlib import Path

project, model_dir = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != project]
import mlflow.pyfunc

model = mlflow.pyfunc.load_model(str(model_dir))
out = model.predict(model.input_example)
ml = [name for name in sys.modules if name.split(".")[0] == "ml"]
modules = {name: getattr(sys.modules[name], "__file__", None) for name in ml}
print(json.dumps({"rows": len(out), "ordered": bool((out["p10"] <= out["p90"]).all()),
                  "modules": modules}))
"""
# Never needed to load or serve a forecast (training, pipeline, other domains).
NOT_SERVED = (
    "ml/simulator", "ml/importers", "ml/ingest", "ml/quality", "ml/registry", "ml/bench",
    "ml/cli.py", "ml/forecast/nightly.py", "ml/forecast/training.py", "ml/forecast/registry.py",
    "ml/forecast/plots.py", "ml/forecast/synthetic.py",
)  # fmt: skip


@pytest.mark.slow  # another process or a whole training round trip
def test_the_served_model_carries_only_the_code_it_loads_and_predicts_with(
    first, registry, tmp_path
):
    client = _client(registry)
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=client.get_model_version_download_uri(MODEL_NAME, str(mv.version)),
            dst_path=str(tmp_path / "model"),
        )
    )
    code = local / "code"
    copied = {str(f.relative_to(code)) for f in code.rglob("*") if f.is_file()}
    needed = {str(f.relative_to(PROJECT_ROOT)) for f in import_closure(SERVED_MODULES).values()}
    assert copied == needed
    assert {"ml/forecast/pyfunc.py", "ml/forecast/model.py", "ml/__init__.py"} <= copied
    for path in NOT_SERVED:
        assert not (code / path).exists(), path

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", CLEAN_LOAD, str(PROJECT_ROOT), str(local)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["rows"] == 2 * 28 and loaded["ordered"]
    for name, file in loaded["modules"].items():
        assert file is None or Path(file).is_relative_to(code), (name, file)
    assert "ml.forecast.pyfunc" in loaded["modules"] and "ml.registry" not in loaded["modules"]


def test_the_same_config_on_newer_data_becomes_champion(newer, same, registry):
    out = newer.outcome
    assert (out.alias, out.reason) == (CHAMPION, NEWER_DATA_REASON)
    assert newer.champion_after == (out.version, out.run_id)
    assert out.champion_version == same.champion_after[0]
    mv = _client(registry).get_model_version(MODEL_NAME, str(out.version))
    assert mv.tags["gate_reason"] == NEWER_DATA_REASON


def test_a_candidate_without_a_wrmsse_is_refused_and_the_reason_logged(no_revenue, newer, registry):
    """Same configuration on different data would take over ("newer data"), but the gate
    cannot read its guard metric: it stays challenger, and the run says why."""
    out = no_revenue.outcome
    assert "wrmsse" not in out.metrics  # NaN: no series has a revenue weight
    assert out.alias == CHALLENGER
    assert out.reason.startswith("candidate has no wrmsse")
    assert no_revenue.champion_after == newer.champion_after
    run = _client(registry).get_run(out.run_id)
    assert run.data.tags["gate_decision"] == CHALLENGER
    assert run.data.tags["gate_reason"] == out.reason


def test_a_first_model_without_a_wrmsse_is_not_made_champion(mart, older, tmp_path):
    panel = build_panel(older, skus=mart.skus, marketplaces=mart.marketplaces, grain="daily")
    store = _store(tmp_path / "mlflow")
    candidate = {"wape": 0.8, "coverage_p10_p90": 0.8, "wrmsse": float("nan")}
    decision = gate(
        store, panel=panel, config=CONFIG, n_folds=3, candidate=candidate, data_sha256="x"
    )
    assert decision.alias == CHALLENGER and decision.reason.startswith("candidate has no wrmsse")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (its uvicorn workers too), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return  # the whole group is gone
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations_with_quantiles(first, registry, tmp_path):
    # The REST payload MLflow logged next to the model (dates as ISO strings, NaN as null).
    client = _client(registry)
    mv = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    model_dir = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(MODEL_NAME, str(mv.version)),
        dst_path=str(tmp_path / "model"),
    )
    body = (Path(model_dir) / "serving_input_example.json").read_text()
    example = json.loads(body)["dataframe_split"]
    sku, market = example["columns"].index("sku"), example["columns"].index("marketplace")
    n_series = len({(row[sku], row[market]) for row in example["data"]})
    port = _free_port()
    venv_bin = PROJECT_ROOT / ".venv" / "bin"
    # The server execs `uvicorn` from PATH: as in an activated venv, its bin dir comes first.
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": _store(registry).tracking_uri,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("MLFLOW_REGISTRY_URI", None)
    cmd = [str(venv_bin / "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}@{CHAMPION}"]
    cmd += ["--env-manager", "local", "-p", str(port), "-h", "127.0.0.1"]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        # Own session: the server's workers share its process group, stopped together below.
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow models serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                if _get(f"http://127.0.0.1:{port}/ping") == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no /ping within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(1.0)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            payload = json.loads(resp.read())
    finally:
        _stop(proc)
    fc = pd.DataFrame(payload["predictions"])
    assert n_series == 2 and len(fc) == n_series * 28
    assert {"sku", "marketplace", "date", "p10", "p50", "p90"} <= set(fc.columns)
    assert (fc["p10"] <= fc["p50"]).all() and (fc["p50"] <= fc["p90"]).all()
