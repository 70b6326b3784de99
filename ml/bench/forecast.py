"""``kuajing bench forecast``: the backtest comparison and the scoring speed, as figures.

On the built-in default scenario (generated into a work folder) or on any data folder in the raw
contract: the marts are built if the warehouse lacks them, then every model runs the same
rolling-origin folds. The oracle is added where the folder holds the simulator's ground truth.
Scoring speed is measured on 10,000 SKU x marketplace series (the data's series replicated under
new SKU codes when it has fewer), for the configured horizon.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.bench.output import Column, progress, text_table
from ml.forecast.backtest import MODEL_KEYS, backtest, compare
from ml.forecast.model import ForecastConfig, fit, predict
from ml.forecast.nightly import read_marts
from ml.forecast.panel import PERIOD_DAYS, PLAN_COLUMNS, build_panel
from ml.settings import DBT_PROJECT_DIR, DataPaths, dbt_env, dbt_executable

SCORING_SERIES = 10_000
TARGETS: dict[str, Any] = {
    # Issue 12: no worse than the forecast of issue 3 on the built-in scenario (1.024 then).
    "wape_vs_oracle_max": 1.03,
    "wape_vs_seasonal_naive_max": 0.75,
    "coverage_p10_p90_range": [0.75, 0.85],
    "train_and_backtest_seconds_max": 300,
    "scoring_10000_series_seconds_max": 60,
}
# The accuracy, coverage and time targets are set for the built-in scenario, judged only there.
DEFAULT_SOURCE = "built-in default scenario"
# Calibration (PIT coverage), beating every peer and a P50 no worse than the mean on smooth
# series are judged on every dataset.
DEFAULT_SCENARIO_TARGETS = (
    "wape_vs_oracle",
    "wape_vs_seasonal_naive",
    "coverage_share_of_actuals",
    "train_and_backtest_time",
)

# The split by dormancy (no sales in the horizon before the cutoff) shows where the unweighted
# RMSSE is won: a mean of per-series square roots rewards forecasting 0 for series that mostly
# stay at 0, however many units they sell together (see the README's Online Retail figures).
DORMANCY_METRICS = ("wape_mean", "rmsse", "bias")


def has_marts(paths: DataPaths) -> bool:
    import duckdb

    if not paths.warehouse.exists():
        return False
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'marts' AND table_name = 'fct_daily_demand'"
        ).fetchall()[0][0]
    finally:
        con.close()
    return bool(found)


def build_marts(paths: DataPaths, echo: Callable[[str], None]) -> None:
    """Ingest and check the raw files, then ``dbt build``: what the pipeline does before ML."""
    from ml.bench.pipeline import ingest_all

    echo(f"Building the marts in {paths.warehouse} (ingest + checks + dbt build)")
    ingest_all(paths.root)
    subprocess.run(
        [str(dbt_executable()), "build", "--quiet", "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR,
        env=dbt_env(paths),
        check=True,
    )


def generate_scenario(root: Path, scenario: str, echo: Callable[[str], None]) -> DataPaths:
    """A simulated seller (``ml/simulator/scenarios/<scenario>.yaml`` or a YAML file)."""
    from ml.simulator import generate, load_scenario

    paths = DataPaths(root)
    echo(f"Generating the {scenario} scenario in {root}")
    generate(load_scenario(scenario), paths.ensure(), progress=True)
    return paths


@dataclass(frozen=True)
class ScenarioHistory:
    """A simulated seller's marts as a replayed policy may read them: the demand mart before
    the holdout, the SKUs and marketplaces, and the seller's planned list prices and
    promotions of the holdout (``PLAN_COLUMNS``: what the plan mart holds for the days ahead
    of a nightly run; the simulator's schedule, which no policy's decision moves)."""

    paths: DataPaths
    demand: pd.DataFrame
    skus: pd.DataFrame
    markets: pd.DataFrame
    plan: pd.DataFrame


def scenario_history(
    root: Path, scenario: str, holdout_start: pd.Timestamp, echo: Callable[[str], None]
) -> ScenarioHistory:
    """A simulated seller generated into ``root`` with its marts built, read as of its
    holdout's first day ``holdout_start``."""
    paths = generate_scenario(root, scenario, echo)
    if not has_marts(paths):
        build_marts(paths, echo)
    demand, skus, markets = read_marts(paths)
    before = pd.to_datetime(demand["demand_date"]) < holdout_start
    echo(f"Learning from the history before the holdout ({holdout_start.date()} on)")
    plan = demand.loc[~before, list(PLAN_COLUMNS)].reset_index(drop=True)
    return ScenarioHistory(paths, demand[before], skus, markets, plan)


def generate_default(root: Path, echo: Callable[[str], None]) -> DataPaths:
    return generate_scenario(root, "default", echo)


def replicate_series(
    demand: pd.DataFrame, skus: pd.DataFrame, n_series: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exactly ``n_series`` SKU x marketplace series: the data's, copied under new SKU codes."""
    keys = demand[["sku", "marketplace"]].drop_duplicates()
    copies = math.ceil(n_series / len(keys))
    frames, sku_frames = [], []
    for k in range(copies):
        suffix = "" if k == 0 else f"~{k}"
        frames.append(demand.assign(sku=demand["sku"] + suffix))
        sku_frames.append(skus.assign(sku=skus["sku"] + suffix))
    many = pd.concat(frames, ignore_index=True)
    chosen = many[["sku", "marketplace"]].drop_duplicates().head(n_series)
    return many.merge(chosen, on=["sku", "marketplace"]), pd.concat(sku_frames, ignore_index=True)


def scoring_speed(model, demand, skus, markets, n_series: int = SCORING_SERIES) -> dict:
    """Seconds to build the scoring panel and predict every series over the model's horizon."""
    many, many_skus = replicate_series(demand, skus, n_series)
    started = time.perf_counter()
    # plan_days: the horizon's days, each keeping the last list price (no plan given)
    panel = build_panel(
        many,
        skus=many_skus,
        marketplaces=markets,
        grain=model.grain,
        plan_days=model.horizon * PERIOD_DAYS[model.grain],
    )
    built = time.perf_counter()
    forecast = predict(model, panel, series_mask=np.ones(panel.n_series, bool))
    done = time.perf_counter()
    return {
        "series": int(panel.n_series),
        "horizon": int(model.horizon),
        "rows": len(forecast),
        "panel_seconds": round(built - started, 2),
        "predict_seconds": round(done - built, 2),
        "seconds": round(done - started, 2),
    }


def _records(table: pd.DataFrame) -> dict:
    clean = table.astype(float).round(4).replace({np.nan: None})
    return {str(k): v for k, v in clean.to_dict(orient="index").items()}


def run_forecast_bench(
    data_dir: Path | None,
    *,
    n_folds: int = 3,
    models: tuple[str, ...] = MODEL_KEYS,
    config: ForecastConfig | None = None,
    scoring_series: int = SCORING_SERIES,
    echo: Callable[[str], None] = print,
) -> dict:
    from ml.forecast.registry import data_fingerprint
    from ml.simulator import GroundTruth

    config = config or ForecastConfig()
    with tempfile.TemporaryDirectory(prefix="kuajing-bench-forecast-") as tmp:
        if data_dir is None:
            paths = generate_default(Path(tmp) / "default", echo)
            source = DEFAULT_SOURCE
        else:
            paths = DataPaths(Path(data_dir).resolve())
            source = str(paths.root)
        if not has_marts(paths):
            build_marts(paths, echo)

        demand, skus, markets = read_marts(paths)
        truth = GroundTruth.load(paths.truth) if (paths.truth).exists() else None
        wanted = tuple(m for m in models if m != "oracle" or truth is not None)

        started = time.perf_counter()
        panel = build_panel(demand, skus=skus, marketplaces=markets, grain=config.grain)
        with progress(len(wanted) * n_folds, "backtest", "fold") as step:
            result = backtest(
                panel=panel,
                config=config,
                n_folds=n_folds,
                models=wanted,
                truth=truth,
                progress=step,
            )
        backtested = time.perf_counter()
        echo("Training the final model on the whole history")
        final = fit(panel=panel, config=config)
        trained = time.perf_counter()
        echo(f"Scoring {scoring_series:,} series")
        scoring = scoring_speed(final, demand, skus, markets, scoring_series)

    table = compare(result)
    by_market = compare(result, by="marketplace")
    by_dormancy = compare(result, by="dormant")
    kuajing_rows = result.forecasts[result.forecasts["model"] == "kuajing"]
    report = {
        "data": {"source": source, **data_fingerprint(demand)},
        "grain": result.grain,
        "horizon": result.horizon,
        "folds": n_folds,
        "cutoffs": [str(c.date()) for c in result.cutoffs],
        "models": _records(table),
        "kuajing_by_marketplace": _records(by_market.xs("kuajing", level="model"))
        if "kuajing" in wanted
        else {},
        "models_by_dormancy": {
            ("dormant" if flag else "active"): _records(
                by_dormancy.xs(flag, level="dormant")[list(DORMANCY_METRICS)]
            )
            for flag in by_dormancy.index.get_level_values("dormant").unique()
        },
        "zero_share": round(float((kuajing_rows["actual"] == 0).mean()), 4)
        if len(kuajing_rows)
        else None,
        "kuajing_by_intermittency": _by_intermittency(result) if "kuajing" in wanted else {},
        "served": _served(result) if "kuajing" in wanted else None,
        "kuajing_backtest_fit_seconds": round(float(table.loc["kuajing", "fit_seconds"]), 1)
        if "kuajing" in wanted
        else None,
        "backtest_seconds": round(backtested - started, 1),
        "final_fit_seconds": round(trained - backtested, 1),
        "train_and_backtest_seconds": round(trained - started, 1),
        "scoring": scoring,
        "targets": TARGETS,
    }
    report["verdict"] = verdict(report)
    return report


INTERMITTENCY_METRICS = ("wape", "wape_mean", "coverage_p10_p90_pit")


def _by_intermittency(result) -> dict:
    """Kuajing's WAPE of the P50 and of the mean on smooth and on intermittent series."""
    table = compare(result, by="intermittent")
    mine = table.xs("kuajing", level="model")
    return {
        ("intermittent" if flag else "smooth"): {
            k: (None if pd.isna(v) else round(float(v), 4))
            for k, v in mine.loc[flag, list(INTERMITTENCY_METRICS)].items()
        }
        for flag in mine.index
    }


SERVED_METRICS = ("wape", "wape_mean", "wrmsse", "rmsse", "pinball", "coverage_p10_p90_pit")


def _served(result) -> dict:
    """What a training run on this data would serve (the same folds: ``choose_served``), with
    its backtest metrics as served."""
    from ml.forecast.selection import choose_served

    served = choose_served(result)
    return {
        "model": served.name,
        "reason": served.reason,
        "metrics": {k: round(float(served.metrics[k]), 4) for k in SERVED_METRICS
                    if served.metrics.get(k) is not None},
    }  # fmt: skip


def _served_no_worse(report: dict, peers: list[str]) -> bool | None:
    """The served forecast's WAPE and WRMSSE are at most those of every peer (a served peer is
    compared with the others; it is chosen on these folds, so this is the selection's claim)."""
    served = (report.get("served") or {}).get("metrics", {})
    if served.get("wape") is None or served.get("wrmsse") is None or not peers:
        return None
    rows = [report["models"][m] for m in peers]
    if any(r.get("wape") is None or r.get("wrmsse") is None for r in rows):
        return None
    return all(served["wape"] <= r["wape"] and served["wrmsse"] <= r["wrmsse"] for r in rows)


def verdict(report: dict) -> dict[str, bool | None]:
    """Which targets are met (None where the data cannot tell, e.g. no oracle). The accuracy,
    coverage and training-time targets are set for the built-in default scenario; on another
    data folder: beating every baseline and peer, PIT calibration, the P50 no worse than the
    mean on smooth series, and the scoring time."""
    k = report["models"].get("kuajing", {})
    lo, hi = TARGETS["coverage_p10_p90_range"]
    pit, share = k.get("coverage_p10_p90_pit"), k.get("coverage_p10_p90")
    out: dict[str, bool | None] = {
        "wape_vs_oracle": None,
        "wape_vs_seasonal_naive": None,
        # Both readings of the coverage target (see ``metrics``): PIT is the calibration one.
        "coverage_pit": None if pit is None else lo <= pit <= hi,
        "coverage_share_of_actuals": None if share is None else lo <= share <= hi,
        "train_and_backtest_time": report["train_and_backtest_seconds"]
        <= TARGETS["train_and_backtest_seconds_max"],
        "scoring_time": report["scoring"]["seconds"] <= TARGETS["scoring_10000_series_seconds_max"],
    }
    if k.get("wape_vs_oracle") is not None:
        out["wape_vs_oracle"] = k["wape_vs_oracle"] <= TARGETS["wape_vs_oracle_max"]
    if k.get("wape_vs_seasonal_naive") is not None:
        out["wape_vs_seasonal_naive"] = (
            k["wape_vs_seasonal_naive"] <= TARGETS["wape_vs_seasonal_naive_max"]
        )
    # Peers: what a user would otherwise pick (the oracle and the zero forecast are references).
    peers = [m for m in report["models"] if m not in ("kuajing", "oracle", "zero")]
    if k and peers:

        def lowest(metric: str) -> bool | None:
            values = [report["models"][m].get(metric) for m in [*peers, "kuajing"]]
            if any(v is None for v in values):
                return None
            return all(k[metric] < report["models"][m][metric] for m in peers)

        wape, weighted = lowest("wape"), lowest("wrmsse")
        # The target: WAPE and RMSSE as in M5 (revenue-weighted); the unweighted mean beside it.
        out["beats_every_baseline_and_peer"] = (
            None if wape is None or weighted is None else wape and weighted
        )
        out["lowest_unweighted_rmsse"] = lowest("rmsse")
        out["served_no_worse_than_every_peer"] = _served_no_worse(report, peers)
    smooth = report.get("kuajing_by_intermittency", {}).get("smooth")
    out["p50_no_worse_than_mean_on_smooth_series"] = (
        None
        if not smooth or smooth.get("wape") is None or smooth.get("wape_mean") is None
        else smooth["wape"] <= smooth["wape_mean"]
    )
    if report.get("data", {}).get("source") != DEFAULT_SOURCE:
        for key in DEFAULT_SCENARIO_TARGETS:
            out[key] = None
    return out


def _dormancy_lines(report: dict) -> list[str]:
    split = report.get("models_by_dormancy", {})
    if not split:
        return []
    lines = ["", "By dormancy (dormant: no sales in the horizon before the cutoff), of the mean:"]
    for segment in ("active", "dormant"):
        for name, m in split.get(segment, {}).items():
            cells = [
                f"{k} {'-' if m.get(k) is None else format(m[k], '+.3f' if k == 'bias' else '.3f')}"
                for k in DORMANCY_METRICS
            ]
            lines.append(f"  {segment:<9}{name:<24}" + "  ".join(cells))
    return lines


MODEL_COLUMNS = (
    Column("model", 24),
    Column("WAPE", 8, ".3f", "wape"),
    Column("(mean)", 8, ".3f", "wape_mean"),
    Column("RMSSE", 8, ".3f", "rmsse"),
    Column("WRMSSE", 8, ".3f", "wrmsse"),
    Column("bias", 8, "+.3f"),
    Column("pinball", 10, ".4g"),  # in the data's units: 0.114 for counts, 2e5 for turnover
    Column("P10-P90", 9, ".1%", "coverage_p10_p90"),
    Column("PIT cov", 9, ".1%", "coverage_p10_p90_pit"),
    Column("vs oracle", 10, ".3f", "wape_vs_oracle"),
    Column("vs snaive", 10, ".3f", "wape_vs_seasonal_naive"),
    Column("fit s", 8, ".1f", "fit_seconds"),
    Column("pred s", 8, ".1f", "predict_seconds"),
)


def _intermittency_lines(report: dict) -> list[str]:
    split = report.get("kuajing_by_intermittency", {})
    if not split:
        return []
    lines = [
        "",
        "Kuajing on smooth and intermittent series (more than 24 % of periods without sales):",
    ]
    for segment, m in split.items():
        cells = "  ".join(
            f"{k} {'-' if m.get(k) is None else format(m[k], '.3f')}" for k in INTERMITTENCY_METRICS
        )
        lines.append(f"  {segment:<13}{cells}")
    return lines


def _served_lines(report: dict) -> list[str]:
    served = report.get("served")
    if not served:
        return []
    m = served["metrics"]
    cells = "  ".join(
        f"{k} {format(m[k], '.1%' if k.startswith('coverage') else '.4g')}"
        for k in SERVED_METRICS
        if k in m
    )
    return ["", f"A training run on this data serves {served['model']}: {served['reason']}",
            f"  as served: {cells}"]  # fmt: skip


def format_table(report: dict) -> str:
    lines = [
        f"Forecast backtest on {report['data']['source']}: {report['data']['rows']:,} rows, "
        f"{report['data']['n_series']:,} series, {report['data']['date_from']} .. "
        f"{report['data']['date_to']}; {report['grain']} grain, horizon {report['horizon']}, "
        f"{report['folds']} folds (cutoffs {', '.join(report['cutoffs'])})",
        "",
        *text_table(MODEL_COLUMNS, [{"model": k, **m} for k, m in report["models"].items()]),
    ]
    lines += _dormancy_lines(report)
    lines += _intermittency_lines(report)
    lines += _served_lines(report)
    s = report["scoring"]
    lines += [
        "",
        "WAPE of each model's P50 where it has one, (mean) of its mean; RMSSE (unweighted) and "
        "WRMSSE (revenue-weighted, M5) and bias of the mean;",
        "P10-P90: share of actuals inside; PIT cov: count-data calibration (80 % = calibrated); "
        "zero: the nothing-sells reference",
        f"Backtest (all models) {report['backtest_seconds']:.0f} s; final training "
        f"{report['final_fit_seconds']:.0f} s; "
        f"train + backtest {report['train_and_backtest_seconds']:.0f} s",
        f"Scoring {s['series']:,} series x {s['horizon']} periods: {s['seconds']:.1f} s "
        f"(panel {s['panel_seconds']:.1f} s, predict {s['predict_seconds']:.1f} s)",
        "Targets: " + ", ".join(
            f"{k} {'met' if v else 'MISSED'}" for k, v in report["verdict"].items() if v is not None
        ),
    ]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a debugging entry point
    print(format_table(run_forecast_bench(Path(sys.argv[1]) if len(sys.argv) > 1 else None)))
