"""The domain-neutral registry (``ml.registry``) with a model that is not the forecast: a toy
``price_response`` pyfunc on a real SQLite store in tmp, its own comparison rule, the store
settings, the fluent API given back, the code a model carries, dead runs of any experiment."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from ml.registry import (
    CHALLENGER,
    CHAMPION,
    FIRST_MODEL_REASON,
    Champion,
    ChampionUnavailableError,
    ModelSpec,
    TrackingStore,
    Verdict,
    current_champion,
    decide,
    fluent,
    latest_decision,
    load_champion,
    log_pyfunc,
    mark_dead_runs_failed,
    open_experiment,
    process_tags,
    record,
)
from ml.registry.code_paths import copy_code, import_closure
from ml.registry.runs import DEAD_RUN_TAG, PID_STARTED_TAG
from ml.registry.store import local_path
from ml.settings import MLFLOW_TRACKING_URI_ENV, DataPaths, mlflow_tracking_uri

PRICE = ModelSpec("price_response", "price_response")


class Elasticity(mlflow.pyfunc.PythonModel):
    """A constant elasticity: units scale with price ** elasticity."""

    def __init__(self, elasticity: float) -> None:
        self.elasticity = elasticity

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame({"units": model_input["price"] ** self.elasticity})


class LowerError:
    """price_response's rule: a lower ``mae`` wins; no ``mae`` cannot be judged."""

    def refusal(self, candidate: Mapping[str, float]) -> str | None:
        return None if "mae" in candidate else "candidate has no mae"

    def compare(self, champion: Champion, candidate: Mapping[str, float]) -> Verdict:
        theirs = {"mae": float(champion.params["mae"])}
        if candidate["mae"] < theirs["mae"]:
            return Verdict(True, f"beats champion v{champion.version}", theirs)
        return Verdict(False, f"does not beat champion v{champion.version}", theirs)


@pytest.fixture(autouse=True)
def no_default_store(tmp_path, monkeypatch):
    """An MLflow call not pointed at a store would create this one."""
    stray = tmp_path / "stray" / "mlflow.db"
    stray.parent.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv(MLFLOW_TRACKING_URI_ENV, raising=False)
    yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


def _train(store: TrackingStore, elasticity: float, metrics: dict[str, float], tmp: Path):
    """One run of price_response: log params and the model, gate it, record the decision."""
    experiment_id = open_experiment(store, PRICE.experiment)
    with fluent(store), mlflow.start_run(experiment_id=experiment_id, tags=process_tags()) as run:
        mlflow.log_params(metrics)
        decision = decide(store, PRICE, LowerError(), metrics)
        _, version = log_pyfunc(
            PRICE, Elasticity(elasticity), artifacts={}, code_modules=(), workdir=tmp
        )
        record(store, PRICE, decision, version=version, run_id=run.info.run_id)
    return decision, version, run.info.run_id


def test_a_second_model_uses_the_registry_with_its_own_rule(tmp_path):
    store = TrackingStore.local(tmp_path / "mlflow")
    first, v1, run1 = _train(store, -1.0, {"mae": 2.0}, tmp_path / "w1")
    assert (first.alias, first.reason, v1) == (CHAMPION, FIRST_MODEL_REASON, 1)
    worse, v2, run2 = _train(store, -0.5, {"mae": 3.0}, tmp_path / "w2")
    assert (worse.alias, worse.reason) == (CHALLENGER, "does not beat champion v1")
    assert worse.champion_metrics == {"mae": 2.0}
    refused, v3, _ = _train(store, -0.5, {"rmse": 1.0}, tmp_path / "w3")
    assert (refused.alias, refused.reason, refused.champion_version) == (
        CHALLENGER,
        "candidate has no mae",
        1,
    )
    assert current_champion(store, PRICE) == (1, run1)
    assert latest_decision(store, PRICE) == (3, CHALLENGER, "candidate has no mae")

    client = store.client()
    assert int(client.get_model_version_by_alias(PRICE.name, CHALLENGER).version) == 3
    tags = client.get_model_version(PRICE.name, "2").tags
    assert tags["gate_decision"] == CHALLENGER and tags["champion_before"] == "1"
    run = client.get_run(run2).data
    assert run.tags["gate_reason"] == worse.reason and run.tags["model_version"] == "2"
    assert run.metrics["champion_mae"] == 2.0
    local = client.download_artifacts(run2, "gate_decision.txt", str(tmp_path))
    assert "decision: challenger" in Path(local).read_text()

    model, version = load_champion(store, PRICE)
    assert version == 1
    assert model.predict(pd.DataFrame({"price": [2.0]}))["units"].iloc[0] == pytest.approx(0.5)

    better, v4, run4 = _train(store, -2.0, {"mae": 1.0}, tmp_path / "w4")
    assert (better.alias, better.reason, v4) == (CHAMPION, "beats champion v1", 4)
    assert current_champion(store, PRICE) == (4, run4)


def test_a_champion_without_its_artifacts_fails_in_one_line_and_is_replaced(tmp_path):
    store = TrackingStore.local(tmp_path / "mlflow")
    _train(store, -1.0, {"mae": 2.0}, tmp_path / "w1")
    folder = local_path(store.client().get_model_version_download_uri(PRICE.name, "1"))
    assert folder is not None and folder.is_relative_to(tmp_path / "mlflow" / "artifacts")
    shutil.rmtree(folder)
    with pytest.raises(ChampionUnavailableError) as error:
        load_champion(store, PRICE, retrain_hint="train price_response again")
    message = str(error.value)
    assert "\n" not in message and error.value.__cause__ is None
    assert message.startswith("price_response v1 (champion) cannot be loaded: its artifact")
    assert message.endswith("; train price_response again.")
    decision, _, _ = _train(store, -0.5, {"mae": 9.0}, tmp_path / "w2")
    assert decision.alias == CHAMPION and decision.reason.startswith("champion v1 cannot be")


def test_the_tracking_uri_is_read_from_the_settings_when_asked(tmp_path, monkeypatch):
    paths = DataPaths(tmp_path / "data")
    local = TrackingStore.from_paths(paths)
    assert local.tracking_uri == mlflow_tracking_uri(paths)
    assert local.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'data/mlflow/mlflow.db'}"
    assert local.artifact_root == tmp_path.resolve() / "data/mlflow/artifacts"
    assert local.database == tmp_path.resolve() / "data/mlflow/mlflow.db"
    monkeypatch.setenv(MLFLOW_TRACKING_URI_ENV, "http://127.0.0.1:5999")
    remote = TrackingStore.from_paths(paths)
    assert remote == TrackingStore("http://127.0.0.1:5999")
    assert remote.artifact_root is None and remote.database is None
    assert remote.registry_uri == remote.tracking_uri


def test_the_fluent_api_is_given_back_its_uris(tmp_path, monkeypatch):
    before = os.environ["MLFLOW_TRACKING_URI"]
    store = TrackingStore.local(tmp_path / "mlflow")
    open_experiment(store, PRICE.experiment)
    with fluent(store):
        assert mlflow.get_tracking_uri() == store.tracking_uri
        assert mlflow.get_registry_uri() == store.registry_uri
    assert mlflow.get_tracking_uri() == before == os.environ["MLFLOW_TRACKING_URI"]
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    # Nothing is pinned: the process follows its environment as before.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path / 'other.db'}"


def test_dead_runs_of_every_experiment_are_marked_failed(tmp_path):
    store = TrackingStore.local(tmp_path / "mlflow")
    client = store.client()
    mine = process_tags()
    gone = {**mine, PID_STARTED_TAG: str(int(mine[PID_STARTED_TAG]) - 1)}  # pid reused
    runs = {
        name: client.create_run(open_experiment(store, name), tags=gone).info.run_id
        for name in ("demand_forecast", "price_response")
    }
    alive = client.create_run(open_experiment(store, "price_response"), tags=mine).info.run_id
    assert mark_dead_runs_failed(store, ["price_response"]) == [runs["price_response"]]
    assert mark_dead_runs_failed(store) == [runs["demand_forecast"]]
    for run_id in runs.values():
        assert client.get_run(run_id).info.status == "FAILED"
        assert "gone" in client.get_run(run_id).data.tags[DEAD_RUN_TAG]
    assert client.get_run(alive).info.status == "RUNNING"


def test_a_model_carries_the_modules_it_imports_when_loaded(tmp_path):
    root = tmp_path / "src"
    files = {
        "pkg/__init__.py": "from . import base\n",
        "pkg/base.py": "import json\n",
        "pkg/model.py": "from pkg.util import helper\nfrom . import base\n"
        "def train():\n    from pkg import training\n",
        "pkg/util.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from pkg import typing_only\nhelper = 1\n",
        "pkg/training.py": "",
        "pkg/typing_only.py": "",
        "pkg/other.py": "",
        "elsewhere/__init__.py": "",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    closure = import_closure(["pkg.model"], root)
    assert sorted(closure) == ["pkg", "pkg.base", "pkg.model", "pkg.util"]
    paths = copy_code(["pkg.model"], tmp_path / "code", root)
    assert paths == [tmp_path / "code" / "pkg"]
    copied = sorted(str(p.relative_to(tmp_path / "code")) for p in paths[0].rglob("*.py"))
    assert copied == ["pkg/__init__.py", "pkg/base.py", "pkg/model.py", "pkg/util.py"]
    with pytest.raises(ModuleNotFoundError):
        import_closure(["pkg.missing"], root)
