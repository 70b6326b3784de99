"""Risk alerts: what is about to go wrong, ranked, with what to do about it.

Thin wiring: the rules are ``ml.alerts.rules``, the reads and writes ``ml.alerts.nightly``.
"""

import dagster as dg

from orchestration.defs.allocation.assets import ALLOCATION_MARTS
from orchestration.defs.forecast.assets import FORECAST_KEY
from orchestration.defs.pricing.assets import RECOMMENDATIONS_KEY
from orchestration.metadata import markdown_preview
from orchestration.resources import KuajingResource

ALERTS_KEY = dg.AssetKey(["alerts", "risk_alerts"])
FRESHNESS_INPUTS = [
    dg.AssetKey(["staging", f"stg_raw__{entity}"])
    for entity in ("orders", "inventory", "fx_rates", "shipments")
]


class AlertConfig(dg.Config):
    overstock_days: float = 120.0
    margin_erosion_min: float = 0.02  # landed-cost rise as a share of the current price
    late_days_min: float = 3.0
    bias_min: float = 0.3  # |forecast / sold - 1| over the last 28 days that raises an alert


@dg.asset(
    key=ALERTS_KEY,
    group_name="alerts",
    deps=[
        FORECAST_KEY,
        RECOMMENDATIONS_KEY,
        *ALLOCATION_MARTS,
        *FRESHNESS_INPUTS,
        dg.AssetKey(["marts", "fct_daily_demand"]),
    ],
    kinds={"duckdb"},
    description="What is about to go wrong, most severe first: stock-outs before the fastest "
    "lane could refill, overstock with the holding cost it burns, margins eroded by a tariff, "
    "FX or freight move, lanes running late, forecasts drifting from what sold (against "
    "the forecasts kept in forecast.forecast_history), stale inputs. Each alert has a severity, an "
    "explanation, its figures and a suggested action. Table alerts.risk_alerts and "
    "out/alerts/risk_alerts.csv.",
)
def risk_alerts(
    context: dg.AssetExecutionContext, kuajing: KuajingResource, config: AlertConfig
) -> dg.MaterializeResult:
    from ml.alerts.nightly import alerts, write_alerts
    from ml.alerts.rules import AlertSettings

    settings = AlertSettings(
        overstock_days=config.overstock_days,
        margin_erosion_min=config.margin_erosion_min,
        late_days_min=config.late_days_min,
        bias_min=config.bias_min,
    )
    with kuajing.connect(read_only=True) as con:
        rows = alerts(con, settings, kuajing.today())
    csv = write_alerts(kuajing.paths, rows)
    counts = rows.groupby(["alert_type", "severity"]).size()
    by_type = {f"{t} ({s})": int(n) for (t, s), n in counts.items()}
    high = rows[rows["severity"] == "high"]
    for r in high.head(20).itertuples():
        context.log.warning(f"{r.alert_type}: {r.subject}: {r.explanation} -> {r.suggested_action}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "high": len(high),
            "by_type_and_severity": dg.MetadataValue.json(by_type),
            **{
                f"{kind}_alerts": markdown_preview(part, rows=50)
                for kind, part in rows.groupby("alert_type")
            },
            "csv": dg.MetadataValue.path(str(csv)),
        }
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(assets=[risk_alerts])
