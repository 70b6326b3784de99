"""Pricing assets: each listing's elasticity, then tonight's recommended prices and exports.

Thin wiring: the estimation is ``ml.pricing.elasticity``, the optimizer ``ml.pricing.optimizer``,
the reads and writes ``ml.pricing.nightly``.
"""

import base64

import dagster as dg

from orchestration.defs.forecast.assets import DEMAND_MARTS, FORECAST_KEY, PRICE_PLAN
from orchestration.metadata import markdown_preview
from orchestration.resources import KuajingResource

GROUP = "pricing"
ELASTICITIES_KEY = dg.AssetKey(["pricing", "price_elasticities"])
RECOMMENDATIONS_KEY = dg.AssetKey(["pricing", "price_recommendations"])
PLANNED_PRICES_KEY = dg.AssetKey(["pricing", "planned_prices"])
PRICING_MARTS = [
    dg.AssetKey(["marts", "mart_landed_cost"]),
    dg.AssetKey(["marts", "mart_inventory_position"]),
    dg.AssetKey(["staging", "stg_raw__pricing_rules"]),
]
PREVIEW_COLUMNS = [
    "sku",
    "marketplace",
    "date",
    "currency",
    "current_price",
    "recommended_price",
    "units_current",
    "units_recommended",
    "profit_current",
    "profit_recommended",
    "elasticity_used",
    "elasticity_status",
    "binding_guardrail",
    "status",
    "reason_codes",
]


@dg.asset(
    key=PLANNED_PRICES_KEY,
    group_name=GROUP,
    kinds={"duckdb"},
    description="The prices the last run published (out/prices/price_recommendations.csv) as "
    "pricing.planned_prices: the price plan (marts.fct_price_plan) plans them over the seller's "
    "price list on their days, so tonight's forecast is scored at the prices last night put "
    "up. The loop closes through the export, as it does through the marketplace: empty before "
    "the first pricing run.",
)
def planned_prices(
    context: dg.AssetExecutionContext, kuajing: KuajingResource
) -> dg.MaterializeResult:
    from ml.pricing.nightly import published_prices, write_planned_prices

    try:
        rows, source = published_prices(kuajing.paths)
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None
    write_planned_prices(kuajing.paths, rows)
    if rows.empty:
        context.log.info(f"no published prices yet ({source} does not exist): the price list")
    else:
        context.log.info(f"{len(rows):,} published listing-days from {source}")
    days = rows["plan_date"]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "source": dg.MetadataValue.path(str(source)),
            "listings": int(len(rows[["sku", "marketplace"]].drop_duplicates())),
            "first_day": str(days.min().date()) if len(rows) else "-",
            "last_day": str(days.max().date()) if len(rows) else "-",
        }
    )


@dg.asset(
    key=ELASTICITIES_KEY,
    group_name=GROUP,
    deps=DEMAND_MARTS,
    kinds={"lightgbm", "mlflow", "duckdb"},
    description="Own-price elasticity per SKU x marketplace: a Poisson regression of units on "
    "the price within each quarter, offset by the demand the forecast's features explain at "
    "the usual price (so promotions and events are not read as price response), pooled towards "
    "the same SKU elsewhere and its category where own price history is thin; identified or "
    "pooled, and the seller's curvature of the response (from the last quarter's price moves). "
    "Registered as a version of `price_response` (champion only if its held-out error on "
    "price-change periods is no worse) and written to pricing.price_elasticities.",
)
def price_elasticities(
    context: dg.AssetExecutionContext, kuajing: KuajingResource
) -> dg.MaterializeResult:
    from ml.bench.pricing import distribution
    from ml.forecast.nightly import read_marts
    from ml.forecast.panel import build_panel
    from ml.pricing.nightly import write_estimates
    from ml.pricing.registry import train_and_register
    from ml.registry import TrackingStore

    demand, skus, markets = read_marts(kuajing.paths)
    panel = build_panel(demand, skus=skus, marketplaces=markets, grain="auto")
    try:
        outcome = train_and_register(
            panel, TrackingStore.from_paths(kuajing.paths), progress=context.log.info
        )
    except ValueError as error:
        raise dg.Failure(description=str(error)) from None
    if outcome.alias != "champion":
        context.log.warning(f"price_response v{outcome.version} stays challenger: {outcome.reason}")
    write_estimates(kuajing.paths, outcome.estimates)
    listings = outcome.estimates.listings
    identified = float((listings["status"] == "identified").mean())
    context.log.info(f"{identified:.1%} of listings identified from their own prices")
    curvature = float(listings["curvature"].median()) if "curvature" in listings else 0.0
    curvature_se = float(listings["curvature_se"].median()) if "curvature_se" in listings else 0.0
    context.log.info(
        f"curvature of the price response {curvature:+.2f} (sd {curvature_se:.2f}; 0: constant "
        "elasticity), from the last quarter's price moves"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(listings),
            "model_version": outcome.version,
            "alias": outcome.alias,
            "gate_reason": outcome.reason,
            "mlflow_run_id": outcome.run_id,
            **{k: float(v) for k, v in outcome.metrics.items()},
            "by_category": markdown_preview(distribution(listings, ["category"]), rows=50),
            "preview": markdown_preview(listings),
        }
    )


@dg.asset(
    key=RECOMMENDATIONS_KEY,
    group_name=GROUP,
    deps=[FORECAST_KEY, ELASTICITIES_KEY, PRICE_PLAN, *DEMAND_MARTS, *PRICING_MARTS],
    kinds={"duckdb"},
    description="Tomorrow's price per SKU x marketplace x day of the next week: most expected "
    "profit from the forecast, the elasticity and the landed cost of the sale date, inside the "
    "guardrails; table pricing.price_recommendations, out/prices/ (Amazon Price & Quantity "
    "files per marketplace, a CSV with currency and effective date).",
)
def price_recommendations(
    context: dg.AssetExecutionContext, kuajing: KuajingResource
) -> dg.MaterializeResult:
    from ml.pricing.nightly import (
        cost_driven_changes,
        price_change_plot,
        recommend,
        summary_counts,
    )
    from ml.pricing.optimizer import pass_through
    from ml.pricing.registry import load_champion_estimates
    from ml.registry import ChampionUnavailableError, TrackingStore

    try:
        estimates, version = load_champion_estimates(TrackingStore.from_paths(kuajing.paths))
        outcome = recommend(kuajing.paths, estimates)
    except (ValueError, LookupError, ChampionUnavailableError) as error:
        raise dg.Failure(description=str(error)) from None
    context.log.info(f"elasticities of models:/price_response@champion (v{version})")
    rows = outcome.rows
    counts = summary_counts(rows)
    context.log.info(outcome.rules)
    context.log.info(f"listing-days by status: {counts['by_status']}")
    passed = pass_through(rows)
    cost_driven = cost_driven_changes(rows)
    if len(cost_driven):
        context.log.info(
            f"{len(cost_driven):,} listings re-priced for a tariff, FX or freight move"
        )
    png = base64.b64encode(price_change_plot(rows)).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "rules": outcome.rules,
            "price_response_version": version,
            **{f"{k}": dg.MetadataValue.json(v) for k, v in counts.items()},
            "pass_through": markdown_preview(passed, rows=50),
            "cost_driven_changes": len(cost_driven),
            "cost_driven_preview": markdown_preview(cost_driven, rows=50),
            "plot": dg.MetadataValue.md(f"![price changes](data:image/png;base64,{png})"),
            "preview": markdown_preview(rows[[c for c in PREVIEW_COLUMNS if c in rows]]),
            "csv": dg.MetadataValue.path(str(outcome.csv)),
            "amazon_files": dg.MetadataValue.path(str(outcome.csv.parent)),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[planned_prices, price_elasticities, price_recommendations])
