"""``kuajing bench pipeline``: wall time and peak memory of each pipeline stage by size.

Each stage runs in its own process so its peak resident memory can be read from the kernel
(``wait4``): generation (the simulator), ingest + checks (every entity through the quarantine
rules, the reconciliation and its Great Expectations suite), and ``dbt build``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ml import contract
from ml.bench.output import Column, machine, text_table
from ml.settings import DBT_PROJECT_DIR, DataPaths, dbt_env, dbt_executable
from ml.settings import run_date as run_date_setting

STAGES = ("generate", "ingest_checks", "dbt_build")


def measure(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> dict:
    """Run a command; its wall seconds, peak RSS (MB) and exit code."""
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "output_tail": output.strip().splitlines()[-1:] if output.strip() else [],
    }


def ingest_all(data_dir: Path, run_date: dt.date | None = None) -> dict:
    """Ingest and check every entity, in reference order, with the function the pipeline's
    ingest assets call (``ml.quality.checks.ingest_and_check``)."""
    import duckdb

    from ml.quality.checks import ingest_and_check

    paths = DataPaths.from_env(data_dir)
    run_date = run_date or run_date_setting()
    summary: dict[str, dict] = {}
    con = duckdb.connect(str(paths.warehouse))
    try:
        for name in contract.ingest_order():
            checked = ingest_and_check(con, paths.raw, name, run_id="bench", run_date=run_date)
            summary[name] = {
                "rows_read": checked.result.rows_read,
                "accepted": checked.result.rows_accepted,
                "quarantined": checked.result.rows_quarantined,
                "reconciles": bool(checked.reconciliation.ok),
                "suite_passed": None if checked.suite is None else bool(checked.suite.success),
            }
    finally:
        con.close()
    return summary


def bench_size(n_skus: int, root: Path, scenario: str) -> dict:
    data_dir = root / f"skus_{n_skus}"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    paths = DataPaths(data_dir)
    python = sys.executable
    stages = {
        "generate": measure(
            [
                python,
                "-m",
                "ml.cli",
                "demo",
                "--data-dir",
                str(data_dir),
                "--scenario",
                scenario,
                "--skus",
                str(n_skus),
            ]
        ),
        "ingest_checks": measure([python, "-m", "ml.bench.pipeline", "ingest", str(data_dir)]),
        "dbt_build": measure(
            [str(dbt_executable()), "build", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
            env=dbt_env(paths),
            cwd=DBT_PROJECT_DIR,
        ),
    }
    ingest_counts = json.loads((data_dir / "out" / "bench_ingest.json").read_text())
    order_rows = ingest_counts.get("orders", {}).get("rows_read", 0)
    for stage in stages.values():
        stage.pop("output_tail", None)
    ingest_dbt = stages["ingest_checks"]["seconds"] + stages["dbt_build"]["seconds"]
    return {
        "skus": n_skus,
        "order_rows": order_rows,
        "stages": stages,
        "ingest_checks_dbt_seconds": round(ingest_dbt, 2),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
        "ingest": ingest_counts,
    }


def growth_exponents(results: list[dict]) -> dict[str, float]:
    """Slope of log(time) against log(SKUs) between the smallest and largest size (1 = linear)."""
    if len(results) < 2:
        return {}
    small, large = results[0], results[-1]
    ratio = math.log(large["skus"] / small["skus"])
    out = {}
    for stage in STAGES:
        a, b = small["stages"][stage]["seconds"], large["stages"][stage]["seconds"]
        out[stage] = round(math.log(max(b, 1e-3) / max(a, 1e-3)) / ratio, 2)
    a, b = small["ingest_checks_dbt_seconds"], large["ingest_checks_dbt_seconds"]
    out["ingest_checks_dbt"] = round(math.log(b / a) / ratio, 2)
    return out


def run_pipeline_bench(
    sizes: list[int],
    *,
    marketplaces: int = 10,
    scenario: str = "default",
    workdir: Path | None = None,
) -> dict:
    sizes = sorted(sizes)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kuajing-bench-"))
    results = []
    try:
        for n in sizes:
            print(f"bench: {n:,} SKUs ...", file=sys.stderr, flush=True)
            results.append(bench_size(n, root, scenario))
    finally:
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "pipeline",
        "machine": machine(),
        "marketplaces": marketplaces,
        "scenario": scenario,
        "sizes": results,
        "growth_exponent": growth_exponents(results),
        "targets": {
            "ingest_checks_dbt_seconds_at_10000": 300,
            "peak_rss_mb": 6144,
            "growth_exponent_max": 1.0,
        },
    }


SIZE_COLUMNS = (
    Column("SKUs", 7, ","),
    Column("orders", 11, ",", "order_rows"),
    Column("generate s", 12, ".1f", "generate"),
    Column("ingest+chk s", 14, ".1f", "ingest_checks"),
    Column("dbt s", 8, ".1f", "dbt_build"),
    Column("ing+dbt s", 11, ".1f", "ingest_checks_dbt_seconds"),
    Column("peak MB", 9, ".0f", "peak_rss_mb"),
)


def format_table(report: dict) -> str:
    rows = [
        {**r, "SKUs": r["skus"], **{k: v["seconds"] for k, v in r["stages"].items()}}
        for r in report["sizes"]
    ]
    lines = text_table(SIZE_COLUMNS, rows)
    lines.insert(1, "-" * len(lines[0]))
    if report["growth_exponent"]:
        lines.append(
            "time growth exponent vs SKUs (1.0 = linear): "
            + ", ".join(f"{k} {v}" for k, v in report["growth_exponent"].items())
        )
    return "\n".join(lines)


def _ingest_main(data_dir: str) -> None:
    summary = ingest_all(Path(data_dir))
    out = DataPaths(Path(data_dir)).out
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_ingest.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "ingest":
        _ingest_main(sys.argv[2])
    else:
        sys.exit("usage: python -m ml.bench.pipeline ingest DATA_DIR")
