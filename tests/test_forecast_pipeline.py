"""The forecast in the end-to-end run: trained and registered on first run, scored from the
registry's champion, stored in the warehouse and the out/ folder."""

import re

import duckdb
import pandas as pd
import pytest

from ml.settings import DataPaths

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def forecast(pipeline_run) -> pd.DataFrame:
    con = duckdb.connect(str(DataPaths(pipeline_run.data_dir).warehouse), read_only=True)
    try:
        return con.execute("SELECT * FROM forecast.demand_forecast").df()
    finally:
        con.close()


def test_first_run_trains_and_registers_a_champion(pipeline_run):
    from ml.forecast.registry import current_champion
    from ml.registry import TrackingStore
    from orchestration.run import FULL_JOB, PIPELINE_JOB, choose_job

    paths = DataPaths(pipeline_run.data_dir)
    assert f"running {FULL_JOB}" in pipeline_run.output
    champion = current_champion(TrackingStore.from_paths(paths))
    assert champion is not None and champion[0] == 1
    # With a champion registered, the next `make run` only scores.
    assert choose_job(paths) == PIPELINE_JOB


def test_every_series_is_forecast_over_the_horizon_by_the_champion(pipeline_run, forecast):
    paths = DataPaths(pipeline_run.data_dir)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        # Series still listed on the last day; discontinued ones are not forecast.
        series, last_day = con.execute(
            "SELECT count(*), any_value(demand_date) FROM marts.fct_daily_demand "
            "WHERE demand_date = (SELECT max(demand_date) FROM marts.fct_daily_demand)"
        ).fetchall()[0]
    finally:
        con.close()
    per_series = forecast.groupby(["sku", "marketplace"]).size()
    assert len(per_series) == series
    assert set(per_series) == {28}
    assert forecast["date"].min() == pd.Timestamp(last_day) + pd.Timedelta(days=1)
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    assert (forecast["p10"] >= 0).all()
    assert set(forecast["model_version"]) == {1}
    stored = pd.read_parquet(paths.out / "demand_forecast.parquet")
    assert len(stored) == len(forecast)


def test_summary_reports_the_forecast_and_mlflow(pipeline_run):
    out = pipeline_run.output
    assert "forecast.demand_forecast" in out
    assert re.search(r"demand_forecast v1 \(the registry's champion, serving [a-z_]+\)", out)
    assert "make mlflow-ui" in out
