"""UI smoke test: `dagster dev` on the e2e data folder, seen by headless Chromium."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from ml.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these flags Chromium keeps trying to reach Google's hosts on this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@pytest.fixture(scope="module")
def dagster_ui(pipeline_run, tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
    port = free_port()
    log = (tmp_path_factory.mktemp("ui") / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env=pipeline_run.env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/server_info", process)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_asset_graph_shows_the_marts(dagster_ui, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            # The global lineage collapses each layer to a group node: all five must be there.
            page.goto(f"{dagster_ui}/asset-groups", wait_until="domcontentloaded")
            for group in ("ingest", "reference", "staging", "intermediate", "marts"):
                page.get_by_text(group, exact=True).first.wait_for(timeout=120_000)
            # The marts group's graph shows marts as nodes (it renders only those in view, and
            # which ones are in view depends on the layout of however many marts there are) ...
            group = f"{dagster_ui}/locations/kuajing/asset-groups/marts"
            page.goto(group, wait_until="domcontentloaded")
            mart_node = re.compile(r"^(fct|dim|mart)_[a-z_]+$")
            page.get_by_text(mart_node).first.wait_for(timeout=120_000)
            # ... and its list every one of them.
            page.goto(f"{group}/list", wait_until="domcontentloaded")
            for name in ("fct_daily_demand", "dim_sku", "mart_tariff_exposure", "fct_price_plan"):
                page.get_by_text(f"marts / {name}", exact=True).first.wait_for(timeout=120_000)
            page.screenshot(path=str(tmp_path / "marts-graph.png"))
            page.goto(f"{dagster_ui}/assets/marts/mart_landed_cost", wait_until="domcontentloaded")
            page.get_by_text("mart_landed_cost").first.wait_for(timeout=60_000)
            # Materialized by the e2e run, with the row count the dbt asset reports.
            page.get_by_text("Latest materialization").first.wait_for(timeout=60_000)
            page.get_by_text("Row count").first.wait_for(timeout=60_000)
            # The forecast's metadata: the champion's backtest metrics and the model version.
            forecast_page = f"{dagster_ui}/assets/forecast/demand_forecast"
            page.goto(forecast_page, wait_until="domcontentloaded")
            for label in ("backtest_wape", "model_version", "plot"):
                page.get_by_text(label, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "forecast-asset.png"), full_page=True)
        finally:
            browser.close()
