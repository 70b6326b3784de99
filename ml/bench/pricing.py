"""``kuajing bench pricing``: the price-response estimates and the closed-loop replay, as figures.

On a data folder in the raw contract (marts are built if missing) or on a simulated seller (a
scenario, generated into a work folder): every listing's own-price elasticity
(``ml.pricing.elasticity``), identified or pooled, their distribution by category and
marketplace, and, where the folder holds the simulator's ground truth, the absolute error
against the true elasticity at the reference price (identified and pooled listings apart).

On a scenario the elasticities are estimated from the history before the 90-day holdout, and the
holdout is replayed day by day through the simulator with each pricing policy
(``ml.bench.replay``): kuajing, the oracle, cost-plus, keep-price and FX parity; their profit,
revenue, units, margin and profit after the holdout's first duty change, kuajing's guardrail
violations and the seconds to re-price 10,000 listings.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.bench import replay
from ml.bench.forecast import build_marts, has_marts, scenario_history
from ml.bench.output import Column, Echo, text_table
from ml.forecast.nightly import read_marts
from ml.forecast.panel import DEMAND_COLUMNS, build_panel
from ml.pricing.elasticity import ElasticityEstimates, estimate_elasticities
from ml.settings import DataPaths
from ml.simulator.engine import holdout_days

TARGETS = {"median_abs_error_identified_max": 0.25}
REPLAY_TARGETS = {
    "profit_vs_oracle_min": 0.95,  # on constant-elasticity scenarios
    "profit_vs_oracle_min_other_shapes": 0.90,  # linear or logit response
    "uplift_over_each_baseline_min": 0.10,  # on constant-elasticity scenarios
    "guardrail_violations_max": 0,
    "reprice_10k_seconds_max": 60.0,
}
BASELINES = ("cost_plus", "keep_price", "fx_parity")
LISTING_COLUMNS = (
    "sku",
    "marketplace",
    "category",
    "elasticity",
    "se",
    "status",
    "own",
    "own_se",
    "reference_price",
    "curvature",
)


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
    data_dir: Path | None, scenario: str = "default", echo: Echo = print, demand_stream: int = 0
) -> dict[str, Any]:
    """Estimate every listing's elasticity on ``data_dir``; without one, on a simulated seller
    of ``scenario`` (the built-in default unless named), from the history before its holdout,
    then replay the holdout with every pricing policy, its shoppers from the engine's
    ``demand_stream`` (0: the default)."""
    with tempfile.TemporaryDirectory(prefix="kuajing-bench-pricing-") as tmp:
        world = None
        if data_dir is None:
            from ml.simulator import load_scenario
            from ml.simulator.world import build_world

            world = build_world(load_scenario(scenario))
            holdout_start = pd.Timestamp(world.date_of(holdout_days(world).start))
            seller = scenario_history(Path(tmp) / "scenario", scenario, holdout_start, echo)
            paths, demand, skus, markets = seller.paths, seller.demand, seller.skus, seller.markets
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
        out = report(estimates, source, panel.grain, seconds, truth_dir)
        echo("Held-out test: the last quarter's price changes, elasticities fitted without it")
        out["heldout"] = heldout_figures(panel)
        if world is not None:
            refit = elasticity_refit(demand, skus, markets, echo)
            out["closed_loop"] = closed_loop(
                world, estimates.listings, echo, demand_stream, refit=refit, truth_dir=truth_dir
            )
        return out


def heldout_figures(panel) -> dict[str, float | None]:
    """The registry gate's held-out test (``ml.pricing.registry.holdout_error``): WAPE of units
    in the last quarter's periods where the price moved, with the price response and without
    it (the listing's mean units of the quarter before, at its last price)."""
    from ml.pricing.registry import GATE_METRIC, holdout_error

    try:
        figures = holdout_error(panel)
    except ValueError as error:  # a history too short for a held-out quarter
        return {"rows": 0, "note": str(error)}  # type: ignore[dict-item]
    return {
        "rows": int(figures.get("heldout_rows", 0)),
        "wape_with_price_response": figures.get(GATE_METRIC),
        "wape_without_price_response": figures.get("heldout_wape_without_price_response"),
    }


def elasticity_refit(
    history: pd.DataFrame, skus: pd.DataFrame, markets: pd.DataFrame, echo: Echo = print
) -> replay.RefitElasticities:
    """Kuajing's re-estimate in the replay: the elasticities of ``history`` (the demand mart
    before the holdout) with the holdout's days so far, as the nightly fits them."""
    before = history[list(DEMAND_COLUMNS)]

    def refit(holdout_rows: pd.DataFrame) -> pd.DataFrame:
        last = pd.to_datetime(holdout_rows["demand_date"]).max().date()
        echo(f"  kuajing re-estimates its elasticities on the history to {last}")
        rows = pd.concat([before, holdout_rows[list(DEMAND_COLUMNS)]], ignore_index=True)
        panel = build_panel(rows, skus=skus, marketplaces=markets, grain="auto")
        return estimate_elasticities(panel).listings

    return refit


def closed_loop(
    world,
    estimates: pd.DataFrame,
    echo: Echo = print,
    demand_stream: int = 0,
    refit: replay.RefitElasticities | None = None,
    truth_dir: Path | None = None,
) -> dict[str, Any]:
    """Replay the holdout of ``world`` with every pricing policy (``ml.bench.replay``);
    kuajing re-estimates its elasticities every ``replay.REFIT_DAYS`` with ``refit``, each
    re-estimate scored against the scenario's truth in ``truth_dir`` where there is one."""
    from ml.simulator.demand import DemandModel

    days = holdout_days(world)
    shock = replay.first_duty_change(world, days)
    kuajing = replay.KuajingPricing(estimates, refit=refit)
    policies: list[replay.HoldoutPolicy] = [
        kuajing,
        replay.OraclePricing(DemandModel.of(world)),
        replay.CostPlus(),
        replay.KeepPrice(),
        replay.FxParity(),
    ]
    results = {}
    for policy in policies:
        echo(f"Replaying the {len(days)}-day holdout with {policy.name}")
        run = replay.replay(world, policy, days, demand_stream)
        results[policy.name] = replay.outcome(world, run, shock)
    decisions = pd.concat(kuajing.decisions, ignore_index=True)
    violations = replay.guardrail_violations(decisions)
    reprice = replay.repricing_seconds(kuajing.last_frame)
    shape = world.scenario.price_response
    out = summarize(results, violations, reprice, shape, world.date_of(days.start), shock, world)
    out["demand_stream"] = demand_stream
    out["kuajing_refits"] = [
        refit_figures(str(world.date_of(day)), listings, seconds, truth_dir)
        for day, listings, seconds in kuajing.refits
    ]
    out["kuajing_curvature"] = [
        {
            "date": str(world.date_of(day)),
            "curvature": c.value,
            "se": c.se,
            "applied": c.applied,
            "rows": c.rows,
        }
        for day, c in kuajing.curvatures
    ]
    return out


def refit_figures(
    day: str, listings: pd.DataFrame, seconds: float, truth_dir: Path | None
) -> dict[str, Any]:
    """One of kuajing's re-estimates: its date, identified share, error against the truth."""
    error = None if truth_dir is None else with_truth(listings, truth_dir)["abs_error"].median()
    return {
        "date": day,
        "identified_share": float((listings["status"] == "identified").mean()),
        "median_abs_error": None if error is None else float(error),
        "seconds": round(seconds, 1),
    }


def summarize(
    results: dict[str, dict[str, Any]],
    violations: dict[str, int],
    reprice_seconds: float,
    shape: str,
    first_day,
    shock: int | None,
    world,
) -> dict[str, Any]:
    """The policies' table with kuajing's ratios, and the verdict on each target."""
    profit = {name: r["profit_usd"] for name, r in results.items()}
    vs_oracle = profit["kuajing"] / profit["oracle"] if profit["oracle"] > 0 else None
    uplift = {b: profit["kuajing"] / profit[b] - 1.0 for b in BASELINES if profit[b] > 0}
    floor = REPLAY_TARGETS[
        "profit_vs_oracle_min" if shape == "constant" else "profit_vs_oracle_min_other_shapes"
    ]
    verdict = {
        "profit_vs_oracle": None if vs_oracle is None else bool(vs_oracle >= floor),
        # the uplift is a target on constant-elasticity scenarios (the default, the tariff shock)
        "uplift_over_each_baseline": None
        if shape != "constant"
        else bool(
            len(uplift) == len(BASELINES)
            and min(uplift.values()) >= REPLAY_TARGETS["uplift_over_each_baseline_min"]
        ),
        "guardrail_violations": violations["total"] <= REPLAY_TARGETS["guardrail_violations_max"],
        "reprice_10k_seconds": reprice_seconds < REPLAY_TARGETS["reprice_10k_seconds_max"],
    }
    return {
        "holdout_start": str(first_day),
        "price_response": shape,
        "duty_change_day": None if shock is None else str(world.date_of(shock)),
        "policies": [{"policy": n, **r} for n, r in results.items()],
        "kuajing_vs_oracle": vs_oracle,
        "kuajing_uplift": uplift,
        "guardrail_violations": violations,
        "reprice_10k_seconds": round(reprice_seconds, 2),
        "targets": {**REPLAY_TARGETS, "profit_vs_oracle_applied": floor},
        "verdict": verdict,
    }


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
    held = report.get("heldout", {})
    if held.get("wape_with_price_response") is not None:
        lines += [
            "",
            f"Held out: {held['rows']:,} periods of the last quarter with a price move; units "
            f"WAPE {held['wape_with_price_response']:.3f} with the price response, "
            f"{held['wape_without_price_response']:.3f} without it",
        ]
    if "closed_loop" in report:
        lines += ["", *format_closed_loop(report["closed_loop"])]
    return "\n".join(lines)


def format_closed_loop(loop: dict[str, Any]) -> list[str]:
    shock = loop["duty_change_day"]
    v, g = loop["verdict"], loop["guardrail_violations"]
    rows = [
        {
            **r,
            "profit_k": r["profit_usd"] / 1e3,
            "revenue_k": r["revenue_usd"] / 1e3,
            "after_k": None
            if r["profit_after_shock_usd"] is None
            else r["profit_after_shock_usd"] / 1e3,
        }
        for r in loop["policies"]
    ]
    uplift = ", ".join(f"{b} {u:+.1%}" for b, u in loop["kuajing_uplift"].items())
    return [
        f"Closed loop: the holdout from {loop['holdout_start']} replayed day by day "
        f"({loop['price_response']} price response"
        + (f"; first duty change {shock}" if shock else "; no duty change in the holdout")
        + (f"; demand stream {loop['demand_stream']}" if loop.get("demand_stream") else "")
        + "), profit in USD thousands:",
        *text_table(
            [
                Column("policy", 12),
                Column("profit_k", 10, ",.1f"),
                Column("revenue_k", 11, ",.1f"),
                Column("units", 9, ","),
                Column("margin", 8, ".1%"),
                Column("after_k", 9, ",.1f"),
                Column("stockout_share", 15, ".1%"),
            ],
            rows,
        ),
        "(after_k: profit in the 30 days from the first duty change)",
        f"kuajing / oracle profit: {loop['kuajing_vs_oracle']:.3f} "
        f"(target >= {loop['targets']['profit_vs_oracle_applied']:.2f}); uplift: {uplift} "
        f"(target >= +{loop['targets']['uplift_over_each_baseline_min']:.0%} each)",
        *_refit_lines(loop.get("kuajing_refits", [])),
        f"Guardrail violations: {g['total']} of {g['checked']:,} priced listing-days "
        f"({g['paused']} paused, {g['markdowns_past_daily_limit']} markdowns past the daily "
        "limit for excess stock); re-pricing 10,000 listings took "
        f"{loop['reprice_10k_seconds']} s",
        "Targets: " + ", ".join(f"{k} {_word(x)}" for k, x in v.items()),
    ]


def _refit_lines(refits: list[dict[str, Any]]) -> list[str]:
    """kuajing's re-estimates during the replay, with their error against the truth."""
    if not refits:
        return []
    each = ", ".join(
        f"{r['date']} {r['median_abs_error']:.2f}"
        for r in refits
        if r["median_abs_error"] is not None
    )
    return [f"kuajing's elasticities re-estimated on the days so far; median error: {each}"]


def _word(met: bool | None) -> str:
    return "n/a" if met is None else "met" if met else "MISSED"
