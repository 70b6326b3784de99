"""``kuajing bench pricing``: the price-response estimates, as figures.

On a data folder in the raw contract (marts are built if missing) or on the built-in default
scenario (generated into a work folder): every listing's own-price elasticity
(``ml.pricing.elasticity``), identified or pooled, their distribution by category and
marketplace, and, where the folder holds the simulator's ground truth, the absolute error
against the true elasticity at the reference price (identified and pooled listings apart).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.bench.forecast import build_marts, generate_scenario, has_marts
from ml.bench.output import Column, Echo, text_table
from ml.forecast.nightly import read_marts
from ml.forecast.panel import build_panel
from ml.pricing.elasticity import ElasticityEstimates, estimate_elasticities
from ml.settings import DataPaths

TARGETS = {"median_abs_error_identified_max": 0.25}
LISTING_COLUMNS = ("sku", "marketplace", "category", "elasticity", "se", "status", "own", "own_se")


def with_truth(listings: pd.DataFrame, truth_dir: Path) -> pd.DataFrame:
    """The listings with the true elasticity at the reference price and the absolute error."""
    from ml.simulator.truth import GroundTruth

    truth = GroundTruth.load(truth_dir)
    true = [
        truth.elasticity(s, m)
        for s, m in zip(listings["sku"], listings["marketplace"], strict=True)
    ]
    out = listings.assign(true_elasticity=np.asarray(true, dtype=float))
    return out.assign(abs_error=(out["elasticity"] - out["true_elasticity"]).abs())


def distribution(listings: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: listings, identified share and the elasticity's quartiles."""
    grouped = listings.groupby(by)
    return pd.DataFrame(
        {
            "listings": grouped.size(),
            "identified": grouped["status"].apply(lambda s: float((s == "identified").mean())),
            "p25": grouped["elasticity"].quantile(0.25),
            "median": grouped["elasticity"].median(),
            "p75": grouped["elasticity"].quantile(0.75),
        }
    ).reset_index()


def error_summary(listings: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Median and mean absolute error against the truth, identified and pooled apart."""
    out = {}
    for status, rows in [("all", listings), *listings.groupby("status")]:
        out[str(status)] = {
            "listings": int(len(rows)),
            "median_abs_error": float(rows["abs_error"].median()),
            "mean_abs_error": float(rows["abs_error"].mean()),
            "mean_estimate": float(rows["elasticity"].mean()),
            "mean_truth": float(rows["true_elasticity"].mean()),
        }
    return out


def run_pricing_bench(
    data_dir: Path | None, scenario: str = "default", echo: Echo = print
) -> dict[str, Any]:
    """Estimate every listing's elasticity on ``data_dir`` (default: a simulated seller of
    ``scenario``, the built-in default one unless named)."""
    with tempfile.TemporaryDirectory(prefix="kuajing-bench-pricing-") as tmp:
        if data_dir is None:
            paths = generate_scenario(Path(tmp) / "scenario", scenario, echo)
            source = f"simulated {scenario} scenario"
        else:
            paths, source = DataPaths(data_dir), str(data_dir)
        if not has_marts(paths):
            build_marts(paths, echo)
        demand, skus, markets = read_marts(paths)
        panel = build_panel(demand, skus=skus, marketplaces=markets, grain="auto")
        echo(f"Estimating {panel.n_series:,} listings' elasticities ({panel.grain} periods)")
        started = time.perf_counter()
        estimates = estimate_elasticities(panel)
        seconds = time.perf_counter() - started
        truth_dir = paths.truth if (paths.truth / "meta.json").exists() else None
        return report(estimates, source, panel.grain, seconds, truth_dir)


def report(
    estimates: ElasticityEstimates,
    source: str,
    grain: str,
    seconds: float,
    truth_dir: Path | None,
) -> dict[str, Any]:
    listings = estimates.listings
    if truth_dir is not None:
        listings = with_truth(listings, truth_dir)
    status = listings["status"]
    out: dict[str, Any] = {
        "benchmark": "pricing",
        "source": source,
        "grain": grain,
        "listings": int(len(listings)),
        "identified_share": float((status == "identified").mean()),
        "estimate_seconds": round(seconds, 1),
        "by_category_marketplace": distribution(listings, ["category", "marketplace"]).to_dict(
            "records"
        ),
        "by_category": distribution(listings, ["category"]).to_dict("records"),
        "pooling": estimates.group_means.to_dict("records"),
        "targets": dict(TARGETS),
    }
    if truth_dir is not None:
        errors = error_summary(listings)
        out["error_vs_truth"] = errors
        identified = errors.get("identified", {}).get("median_abs_error")
        out["verdict"] = {
            "median_abs_error_identified": None
            if identified is None
            else bool(identified <= TARGETS["median_abs_error_identified_max"])
        }
    columns = [c for c in (*LISTING_COLUMNS, "true_elasticity", "abs_error") if c in listings]
    out["listing_estimates"] = listings[columns].to_dict("records")
    return out


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"Price response on {report['source']}: {report['listings']:,} listings, "
        f"{report['grain']} periods, {report['identified_share']:.1%} identified "
        f"(own standard error at most 0.3), estimated in {report['estimate_seconds']} s",
        "",
        "Elasticity by category:",
        *text_table(
            [
                Column("category", 22),
                Column("listings", 10, ","),
                Column("identified", 12, ".1%"),
                Column("p25", 8, ".2f"),
                Column("median", 8, ".2f"),
                Column("p75", 8, ".2f"),
            ],
            report["by_category"],
        ),
    ]
    if "error_vs_truth" in report:
        rows = [{"listings_of": k, **v} for k, v in report["error_vs_truth"].items()]
        lines += [
            "",
            "Against the simulator's true elasticity at the reference price:",
            *text_table(
                [
                    Column("listings_of", 14),
                    Column("listings", 10, ","),
                    Column("median_abs_error", 18, ".3f"),
                    Column("mean_abs_error", 16, ".3f"),
                    Column("mean_estimate", 15, ".2f"),
                    Column("mean_truth", 12, ".2f"),
                ],
                rows,
            ),
            "Targets: " + ", ".join(f"{k} {_word(v)}" for k, v in report["verdict"].items()),
        ]
    return "\n".join(lines)


def _word(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "MISSED"
