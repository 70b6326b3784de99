"""Allocation assets: tonight's hub-to-market shipments.

Thin wiring: the decisions are ``ml.allocation.plan``, the reads and writes
``ml.allocation.nightly``.
"""

import base64

import dagster as dg

from orchestration.defs.forecast.assets import FORECAST_KEY
from orchestration.metadata import markdown_preview
from orchestration.resources import KuajingResource

GROUP = "allocation"
PLAN_KEY = dg.AssetKey(["allocation", "allocation_plan"])
RESTOCK_KEY = dg.AssetKey(["allocation", "restock_plan"])
ALLOCATION_MARTS = [
    dg.AssetKey(["marts", "mart_inventory_position"]),
    dg.AssetKey(["marts", "mart_landed_cost"]),
    dg.AssetKey(["marts", "mart_lane_performance"]),
    dg.AssetKey(["marts", "dim_sku"]),  # the discontinued dates: no stock past a SKU's end
    dg.AssetKey(["marts", "fct_daily_demand"]),  # the in-stock days behind each level
    dg.AssetKey(["staging", "stg_raw__lanes"]),
    dg.AssetKey(["staging", "stg_raw__allocation_rules"]),
]


class AllocationConfig(dg.Config):
    case_pack: int = 1  # units per case where no allocation rule states one
    holding_rate: float = 0.25  # a year's holding cost as a share of landed cost
    sailing_weekday: int = 0  # the weekday regular ocean shipments leave (0 = Monday)
    max_sailing_weeks: int = 4  # the longest interval between a market's sailings


@dg.asset(
    key=PLAN_KEY,
    group_name=GROUP,
    deps=[FORECAST_KEY, *ALLOCATION_MARTS],
    kinds={"duckdb"},
    description="Tonight's shipments from the hub to each market warehouse: per listing the "
    "forecast's demand until the next shipment after this one can land (a negative binomial), "
    "the order-up-to level of most expected profit (critical ratio of the margin lost to the "
    "holding until the next sailing), ocean sailings every 1-4 weeks (the interval that "
    "minimizes the lane's fixed cost per departure plus the cycle stock's holding), the hub's "
    "cases where they add most profit when it is short, and an air or express surge where a "
    "stock-out is likely before the ocean shipment lands and the surge earns its lane's fixed "
    "cost. Table allocation.allocation_plan and out/allocation/inbound_shipment_plan.csv.",
)
def allocation_plan(
    context: dg.AssetExecutionContext, kuajing: KuajingResource, config: AllocationConfig
) -> dg.MaterializeResult:
    from ml.allocation.nightly import (
        AllocationSettings,
        next_sailings,
        plan,
        plan_plot,
        write_plan,
    )

    try:
        settings = AllocationSettings(
            case_pack=config.case_pack,
            holding_rate=config.holding_rate,
            sailing_weekday=config.sailing_weekday,
            max_sailing_weeks=config.max_sailing_weeks,
        )
    except ValueError as error:
        raise dg.Failure(description=f"allocation_plan config: {error}") from None
    with kuajing.connect(read_only=True) as con:
        tonight = plan(con, settings, kuajing.today())
    rows, held = tonight.shipments, tonight.held_surges
    csv = write_plan(kuajing.paths, rows)
    by_mode = rows.groupby("mode")["quantity"].sum().to_dict()
    context.log.info(f"{len(rows):,} shipments planned, units by mode: {by_mode}")
    if len(held):
        context.log.info(
            f"{len(held):,} surge lines held ({int(held['quantity'].sum()):,} units, expected "
            f"profit {held['expected_profit_usd'].sum():,.0f} USD): on their lanes the departure's "
            "fixed cost is more than they earn"
        )
    png = base64.b64encode(plan_plot(rows)).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "units_by_mode": dg.MetadataValue.json({k: int(v) for k, v in by_mode.items()}),
            "listings_at_risk": int((rows["stockout_probability_before_arrival"] > 0.5).sum()),
            "surges_held": len(held),
            "next_sailing_by_marketplace": dg.MetadataValue.json(next_sailings(rows)),
            "plot": dg.MetadataValue.md(f"![units by destination](data:image/png;base64,{png})"),
            "preview": markdown_preview(rows),
            "csv": dg.MetadataValue.path(str(csv)),
        }
    )


class RestockConfig(dg.Config):
    # where no allocation rule (raw/allocation_rules/) states them for a SKU
    supplier_lead_days: int = 30
    min_order_quantity: int = 0
    case_pack: int = 1


@dg.asset(
    key=RESTOCK_KEY,
    group_name=GROUP,
    deps=[FORECAST_KEY, *ALLOCATION_MARTS],
    kinds={"duckdb"},
    description="What to order from the supplier into the hub per SKU: the demand of every "
    "market over the supplier lead time, the ocean leg and a review week against the stock in "
    "the hub, the market warehouses and in transit, up to the level of most expected profit, "
    "in whole cases, the minimum order met only where it pays. Also each listing's days of "
    "supply as FBA Restock reports them ((on hand + inbound) / forecast daily demand), at risk "
    "under 28 days. Tables allocation.restock_plan and allocation.days_of_supply, "
    "out/allocation/restock_plan.csv and days_of_supply.csv.",
)
def restock_plan(
    context: dg.AssetExecutionContext, kuajing: KuajingResource, config: RestockConfig
) -> dg.MaterializeResult:
    from ml.allocation.nightly import (
        RestockSettings,
        days_of_supply,
        describe_rules,
        listing_inputs,
        restock,
        write_restock,
    )

    settings = RestockSettings(
        supplier_lead_days=config.supplier_lead_days,
        min_order_quantity=config.min_order_quantity,
        case_pack=config.case_pack,
    )
    with kuajing.connect(read_only=True) as con:
        rows = listing_inputs(con)
    orders = restock(rows, settings, kuajing.today())
    supply = days_of_supply(rows)
    files = write_restock(kuajing.paths, orders, supply)
    ordering = orders[orders["order_quantity"] > 0]
    at_risk = supply[supply["at_risk"]]
    context.log.info(describe_rules(rows))
    context.log.info(
        f"{len(ordering):,} SKUs to order ({int(ordering['order_quantity'].sum()):,} units); "
        f"{len(at_risk):,} listings under 28 days of supply"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(orders),
            "skus_to_order": len(ordering),
            "units_to_order": int(ordering["order_quantity"].sum()),
            "listings_at_risk": len(at_risk),
            "supplier_lead_days": settings.supplier_lead_days,
            "orders": markdown_preview(ordering),
            "at_risk": markdown_preview(at_risk.sort_values("days_of_supply")),
            "csv": dg.MetadataValue.path(str(files[0])),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[allocation_plan, restock_plan])
