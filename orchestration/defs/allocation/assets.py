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
ALLOCATION_MARTS = [
    dg.AssetKey(["marts", "mart_inventory_position"]),
    dg.AssetKey(["marts", "mart_landed_cost"]),
    dg.AssetKey(["marts", "mart_lane_performance"]),
    dg.AssetKey(["staging", "stg_raw__lanes"]),
]


class AllocationConfig(dg.Config):
    case_pack: int = 1  # units per case (the catalog does not state case packs yet)
    holding_rate: float = 0.25  # a year's holding cost as a share of landed cost


@dg.asset(
    key=PLAN_KEY,
    group_name=GROUP,
    deps=[FORECAST_KEY, *ALLOCATION_MARTS],
    kinds={"duckdb"},
    description="Tonight's shipments from the hub to each market warehouse: per listing the "
    "forecast's demand over the ocean lead time plus a review week (a negative binomial), the "
    "order-up-to level of most expected profit (critical ratio of the margin lost to a week's "
    "holding), the hub's cases where they add most profit when it is short, and an air or "
    "express surge where a stock-out is likely before the ocean shipment lands. Table "
    "allocation.allocation_plan and out/allocation/inbound_shipment_plan.csv.",
)
def allocation_plan(
    context: dg.AssetExecutionContext, kuajing: KuajingResource, config: AllocationConfig
) -> dg.MaterializeResult:
    from ml.allocation.nightly import AllocationSettings, plan, plan_plot, write_plan

    settings = AllocationSettings(case_pack=config.case_pack, holding_rate=config.holding_rate)
    with kuajing.connect(read_only=True) as con:
        rows = plan(con, settings, kuajing.today())
    csv = write_plan(kuajing.paths, rows)
    by_mode = rows.groupby("mode")["quantity"].sum().to_dict()
    context.log.info(f"{len(rows):,} shipments planned, units by mode: {by_mode}")
    png = base64.b64encode(plan_plot(rows)).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "units_by_mode": dg.MetadataValue.json({k: int(v) for k, v in by_mode.items()}),
            "listings_at_risk": int((rows["stockout_probability_before_arrival"] > 0.5).sum()),
            "plot": dg.MetadataValue.md(f"![units by destination](data:image/png;base64,{png})"),
            "preview": markdown_preview(rows),
            "csv": dg.MetadataValue.path(str(csv)),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[allocation_plan])
