"""Weekly order files (one row per SKU, marketplace and Monday) run end to end: ingest, every
dbt model and test, forecast training and scoring at a weekly grain."""

import datetime as dt
import os
import subprocess
import sys

import duckdb
import pandas as pd
import pytest
from conftest import E2E_RUN_DATE

from ml.settings import PROJECT_ROOT, DataPaths

pytestmark = pytest.mark.slow


def to_weekly(orders: pd.DataFrame) -> pd.DataFrame:
    day = pd.to_datetime(orders["order_date"]).dt.normalize()
    week = day - pd.to_timedelta(day.dt.weekday, unit="D")
    orders = orders.assign(week=week, revenue=orders["quantity"] * orders["unit_price"])
    weekly = orders.groupby(["week", "sku", "marketplace", "currency"], as_index=False).agg(
        quantity=("quantity", "sum"), revenue=("revenue", "sum")
    )
    return pd.DataFrame(
        {
            "order_id": "W-"
            + weekly["week"].dt.strftime("%Y-%m-%d")
            + "-"
            + weekly["sku"]
            + "-"
            + weekly["marketplace"],
            "order_date": weekly["week"].dt.strftime("%Y-%m-%d"),
            "marketplace": weekly["marketplace"],
            "sku": weekly["sku"],
            "quantity": weekly["quantity"],
            "unit_price": (weekly["revenue"] / weekly["quantity"]).round(4),
            "currency": weekly["currency"],
        }
    )


def test_weekly_orders_run_end_to_end(tmp_path):
    paths = DataPaths(tmp_path / "weekly")
    env = {**os.environ, "KUAJING_DATA_DIR": str(paths.root), "KUAJING_RUN_DATE": E2E_RUN_DATE}
    env.pop("DAGSTER_HOME", None)
    demo = subprocess.run(
        [sys.executable, "-m", "ml.cli", "demo", "--scenario", "small"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    folder = paths.raw_entity("orders")
    daily = pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))])
    daily = daily[pd.to_numeric(daily["quantity"], errors="coerce") > 0]  # the demo's dirty rows
    daily["quantity"] = daily["quantity"].astype(int)
    daily["unit_price"] = pd.to_numeric(daily["unit_price"], errors="coerce")
    daily = daily[daily["unit_price"].notna() & (daily["unit_price"] >= 0)]
    for p in folder.glob("*"):
        p.unlink()
    to_weekly(daily).to_csv(folder / "weekly_orders.csv", index=False)

    run = subprocess.run(
        [sys.executable, "-m", "orchestration.run"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-5000:]
    assert "Kuajing pipeline finished" in out
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        query = "SELECT DISTINCT date FROM forecast.demand_forecast ORDER BY 1"
        dates = [r[0] for r in con.execute(query).fetchall()]
    finally:
        con.close()
    assert len(dates) == 8  # eight weeks ahead
    assert all(pd.Timestamp(d).weekday() == 0 for d in dates)
    assert dates[0] > dt.date.fromisoformat(E2E_RUN_DATE) - dt.timedelta(days=7)
