"""A data folder is self-contained: copied, moved or restored, its registry still scores and
trains; its champion's artifacts deleted or corrupted, scoring fails in one clear line; the
nightly forecast is also written as a CSV a seller opens. Real DuckDB warehouse (the marts the
forecast reads), real SQLite MLflow store, real training on a small synthetic mart."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ml.forecast.model import ForecastConfig
from ml.forecast.nightly import NoChampionError, score, train
from ml.forecast.panel import DEMAND_COLUMNS
from ml.forecast.registry import (
    CHAMPION,
    EXPERIMENT_NAME,
    MODEL_NAME,
    ChampionUnavailableError,
    current_champion,
    load_champion,
    open_store,
)
from ml.forecast.synthetic import synthetic_mart
from ml.registry import TrackingStore
from ml.registry.store import REBASED_TAG
from ml.settings import MLFLOW_TRACKING_URI_ENV, DataPaths
from orchestration.defs.forecast.assets import demand_forecast
from orchestration.resources import KuajingResource

CONFIG = ForecastConfig(
    grain="daily", max_rounds=30, learning_rate=0.15, min_data_in_leaf=20, num_leaves=15,
    num_threads=1,
)  # fmt: skip
MODELS = ("kuajing", "seasonal_naive")


@pytest.fixture(scope="module", autouse=True)
def no_default_store(tmp_path_factory):
    """An MLflow call not pointed at a data folder's store would create this one."""
    stray = tmp_path_factory.mktemp("stray") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{stray}")
        mp.delenv("MLFLOW_REGISTRY_URI", raising=False)
        mp.delenv(MLFLOW_TRACKING_URI_ENV, raising=False)  # each data folder's own store
        yield
    assert not stray.exists(), "an MLflow call used the default tracking store"


@pytest.fixture(scope="module")
def mart():
    return synthetic_mart(n_skus=4, marketplaces=("US", "DE"), days=150, seed=7)


def make_data_folder(root: Path, mart) -> DataPaths:
    """A data folder whose warehouse holds the marts the forecast reads; the price plan keeps
    each series' last list price over the days ahead."""
    paths = DataPaths(root).ensure()
    demand = mart.demand.assign(revenue_local=mart.demand["revenue"], revenue_usd=None)
    demand = demand[[*DEMAND_COLUMNS, "revenue_local", "revenue_usd"]]
    last = mart.demand.sort_values("demand_date").groupby(["sku", "marketplace"]).tail(1)
    con = duckdb.connect(str(paths.warehouse))
    try:
        con.execute("CREATE SCHEMA marts")
        for table, frame in (
            ("marts.fct_daily_demand", demand),
            ("marts.dim_sku", mart.skus),
            ("marts.dim_marketplace", mart.marketplaces),
        ):
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
            con.unregister("frame")
        con.register("last_day", last)
        con.execute(
            "CREATE TABLE marts.fct_price_plan AS SELECT sku, marketplace, "
            "CAST(demand_date AS DATE) + CAST(d AS INTEGER) AS demand_date, "
            "CAST(list_price_local AS DOUBLE) AS list_price_local, "
            "CAST(NULL AS DOUBLE) AS discount_pct FROM last_day, range(1, 366) AS t(d)"
        )
        con.unregister("last_day")
    finally:
        con.close()
    return paths


def _train(paths: DataPaths):
    return train(paths, config=CONFIG, models=MODELS)


def _store(paths: DataPaths) -> TrackingStore:
    return TrackingStore.from_paths(paths)


def _stored_text(db: Path, needle: str) -> list[str]:
    """table.column of every value in the SQLite store that contains ``needle``."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        hits = []
        for table in tables:
            for column in [r[1] for r in con.execute(f"PRAGMA table_info('{table}')")]:
                found = con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?)',
                    (needle,),
                ).fetchone()[0]
                if found:
                    hits.append(f"{table}.{column}")
        return hits
    finally:
        con.close()


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow  # another process or a whole training round trip
def test_a_copied_folder_scores_and_trains_after_the_original_is_deleted(tmp_path, mart):
    a = make_data_folder(tmp_path / "a", mart)
    first = _train(a)
    assert first.alias == CHAMPION
    b = DataPaths(tmp_path / "b")
    shutil.copytree(a.root, b.root)
    shutil.rmtree(a.root)

    model, version = load_champion(_store(b))
    assert version == first.version
    scored = score(b)
    assert scored.version == first.version and len(scored.forecast) == 8 * 28

    before = _files_under(b.mlflow / "artifacts")
    again = _train(b)
    assert not a.root.exists(), "training wrote under the deleted folder"
    client = open_store(_store(b)).client()
    run = client.get_run(again.run_id)
    assert run.info.artifact_uri.startswith((b.mlflow / "artifacts").as_uri())
    download = client.get_model_version_download_uri(MODEL_NAME, str(again.version))
    assert download.startswith((b.mlflow / "artifacts").as_uri())
    assert len(_files_under(b.mlflow / "artifacts") - before) > 10  # the new run's artifacts
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    assert experiment.artifact_location == (b.mlflow / "artifacts").as_uri()
    # No stored URI names the old folder any more (artifacts, runs, models, datasets), only
    # the experiment's note of the re-basing.
    assert _stored_text(b.mlflow / "mlflow.db", str(a.root)) == ["experiment_tags.value"]
    assert experiment.tags[REBASED_TAG].startswith(
        f"{(a.mlflow / 'artifacts').as_uri()} -> {(b.mlflow / 'artifacts').as_uri()} at "
    )
    # The registry still scores, with whichever version is champion now.
    assert score(b).version == current_champion(_store(b))[0]


@pytest.mark.slow  # another process or a whole training round trip
def test_a_moved_folder_scores_and_trains(tmp_path, mart):
    a = make_data_folder(tmp_path / "before", mart)
    first = _train(a)
    moved = DataPaths(tmp_path / "elsewhere" / "after")
    moved.root.parent.mkdir()
    a.root.rename(moved.root)
    assert score(moved).version == first.version
    again = _train(moved)
    assert not a.root.exists()
    assert _stored_text(moved.mlflow / "mlflow.db", str(a.root)) == ["experiment_tags.value"]
    model, _ = load_champion(_store(moved))
    assert current_champion(_store(moved))[0] in (first.version, again.version)
    assert model.metadata.run_id == current_champion(_store(moved))[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mart) -> DataPaths:
    """A data folder with a warehouse and a champion (v1). Tests work on copies of it."""
    paths = make_data_folder(tmp_path_factory.mktemp("trained") / "data", mart)
    assert _train(paths).alias == CHAMPION
    return paths


def _copy(trained: DataPaths, dest: Path) -> DataPaths:
    shutil.copytree(trained.root, dest)
    return DataPaths(dest)


def _champion_dir(paths: DataPaths) -> Path:
    client = open_store(_store(paths)).client()
    version = client.get_model_version_by_alias(MODEL_NAME, CHAMPION).version
    download = client.get_model_version_download_uri(MODEL_NAME, version)
    local = Path(download.removeprefix("file://"))
    assert local.is_dir() and local.is_relative_to(paths.mlflow)
    return local


def _one_clear_line(error: BaseException, *fragments: str) -> str:
    message = str(error)
    assert "\n" not in message and len(message) < 700, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # No MLflow traceback chained under it (raised from None, or outside any handler).
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None
    return message


def _asset_failure(paths: DataPaths) -> dg.Failure:
    with dg.build_asset_context() as context, pytest.raises(dg.Failure) as failure:
        demand_forecast(context, kuajing=KuajingResource(data_dir=str(paths.root)))
    return failure.value


RETRAIN = "dagster job execute -m orchestration.definitions -j forecast_training"


def test_scoring_without_the_champions_artifacts_fails_in_one_line_and_retraining_fixes_it(
    trained, tmp_path
):
    paths = _copy(trained, tmp_path / "data")
    folder = _champion_dir(paths)
    shutil.rmtree(folder)
    with pytest.raises(ChampionUnavailableError) as error:
        score(paths)
    message = _one_clear_line(
        error.value, "demand_forecast v1 (champion)", "missing", str(folder), RETRAIN
    )
    assert _asset_failure(paths).description == message
    # The retrain the message asks for replaces the champion, whatever it scores.
    outcome = _train(paths)
    assert outcome.alias == CHAMPION and outcome.version == 2
    assert outcome.reason.startswith("champion v1 cannot be loaded")
    assert score(paths).version == 2


@pytest.mark.parametrize("damaged", ["artifacts/forecaster.pkl", "python_model.pkl"])
def test_scoring_with_a_truncated_model_file_fails_in_one_line(trained, tmp_path, damaged):
    paths = _copy(trained, tmp_path / "data")
    file = _champion_dir(paths) / damaged
    content = file.read_bytes()
    file.write_bytes(content[: len(content) // 2])
    with pytest.raises(ChampionUnavailableError) as error:
        load_champion(_store(paths))
    message = _one_clear_line(
        error.value, "demand_forecast v1 (champion)", "corrupt", damaged, RETRAIN
    )
    assert _asset_failure(paths).description == message


def test_the_nightly_forecast_is_also_a_csv_a_seller_opens(trained, tmp_path):
    paths = _copy(trained, tmp_path / "data")
    outcome = score(paths)
    csv_file = paths.out / "demand_forecast.csv"
    assert outcome.csv == csv_file and csv_file.parent == outcome.parquet.parent
    raw = csv_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: spreadsheets read it as UTF-8
    lines = raw.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    assert header == [
        "sku", "marketplace", "date", "horizon", "p10", "p50", "p90", "mean", "model_version"
    ]  # fmt: skip
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == len(outcome.forecast) == 8 * 28
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", row[2]), row  # ISO dates, no time
        assert row[3].isdigit() and row[8] == "1"
        for value in row[4:8]:
            assert re.fullmatch(r"\d+(\.\d{1,2})?", value), row  # units to 2 decimals
    stored = pd.read_parquet(outcome.parquet)
    read = pd.read_csv(csv_file, encoding="utf-8-sig", parse_dates=["date"])
    assert (read["date"] == stored["date"]).all() and (read["sku"] == stored["sku"]).all()
    for col in ("p10", "p50", "p90", "mean"):
        assert read[col].to_numpy() == pytest.approx(stored[col].round(2).to_numpy(), abs=1e-9)
    assert (stored["mean"] != stored["mean"].round(2)).any()  # the parquet keeps full precision


def test_without_a_champion_scoring_says_why_the_last_version_was_refused(tmp_path, mart):
    """No revenue at all: the gate cannot read WRMSSE and keeps even the first model out; the
    nightly forecast then says so instead of asking for a training that just ran."""
    paths = make_data_folder(tmp_path / "data", mart)
    con = duckdb.connect(str(paths.warehouse))
    con.execute("UPDATE marts.fct_daily_demand SET revenue_local = 0")
    con.close()
    outcome = _train(paths)
    assert outcome.alias == "challenger" and outcome.reason.startswith("candidate has no wrmsse")
    with pytest.raises(NoChampionError) as error:
        score(paths)
    message = _one_clear_line(
        error.value, "demand_forecast v1 was registered as challenger because", outcome.reason
    )
    assert _asset_failure(paths).description == message
