"""What is about to go wrong: one function per kind of alert, each returning ``ALERT_COLUMNS``.

Every alert has a severity (``high``, ``medium``, ``low``), an explanation in plain words, the
figures behind it (a JSON object) and a suggested action. The kinds:

- ``stockout_risk``: a listing's days of supply are shorter than the fastest lane's transit
  (high: even air would land after it runs out) or the ocean lane's (medium);
- ``overstock``: days of supply beyond ``overstock_days``, with the holding cost the excess
  burns a month;
- ``margin_erosion``: tonight's price recommendation meets a landed-cost rise from a tariff, FX
  or freight move (its share of the current price, and the cause);
- ``late_lane``: a lane whose recent arrivals land ``late_days_min`` days or more after their
  expected arrival at the median, or with shipments that many days overdue now;
- ``stale_input``: an entity whose newest date is older than its expected age on the run date.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

ALERT_COLUMNS = (
    "alert_type",
    "severity",
    "sku",
    "marketplace",
    "subject",
    "explanation",
    "figures",
    "suggested_action",
)
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}
# Days after which an entity's newest date is stale on the run date.
EXPECTED_AGE_DAYS = {"orders": 2, "inventory": 8, "fx_rates": 5, "shipments": 14}


@dataclass(frozen=True)
class AlertSettings:
    overstock_days: float = 120.0
    holding_rate: float = 0.25  # a year's holding cost as a share of landed cost
    margin_erosion_min: float = 0.02  # landed-cost rise as a share of the current price
    late_days_min: float = 3.0
    recent_days: int = 42  # the arrivals a lane is judged on
    bias_days: int = 28  # the recent days whose sales are compared with their forecasts
    bias_min: float = 0.3  # |forecast / sold - 1| that raises a forecast bias alert
    bias_min_units: float = 20.0  # units sold or forecast below which a bias is noise


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(ALERT_COLUMNS))


def _figures(**values: object) -> str:
    def plain(v: object) -> object:
        if isinstance(v, float | np.floating):
            return round(float(v), 4)
        if isinstance(v, np.integer):
            return int(v)
        return v

    return json.dumps({k: plain(v) for k, v in values.items()})


def stockout_risk(supply: pd.DataFrame) -> pd.DataFrame:
    """``supply``: sku, marketplace, days_of_supply, fast_days, base_days (lane transits)."""
    rows = []
    for r in supply.itertuples():
        days = r.days_of_supply
        if not np.isfinite(days):
            continue
        if np.isfinite(r.fast_days) and days < r.fast_days:
            severity, action = "high", "ship by air now; consider raising the price to slow sales"
        elif np.isfinite(r.base_days) and days < r.base_days:
            severity, action = "medium", "ship by air now: an ocean shipment would land too late"
        else:
            continue
        rows.append(
            {
                "alert_type": "stockout_risk",
                "severity": severity,
                "sku": r.sku,
                "marketplace": r.marketplace,
                "subject": f"{r.sku} in {r.marketplace}",
                "explanation": f"{days:.0f} days of supply left; air takes {r.fast_days:.0f} "
                f"days and ocean {r.base_days:.0f}",
                "figures": _figures(
                    days_of_supply=days, fast_days=r.fast_days, base_days=r.base_days
                ),
                "suggested_action": action,
            }
        )
    return _frame(rows)


def overstock(supply: pd.DataFrame, settings: AlertSettings) -> pd.DataFrame:
    """``supply``: sku, marketplace, days_of_supply, daily_demand, on_hand, inbound,
    landed_cost_usd."""
    rows = []
    for r in supply.itertuples():
        days = r.days_of_supply
        if not (np.isfinite(days) and days > settings.overstock_days):
            continue
        excess = (r.on_hand + r.inbound) - r.daily_demand * settings.overstock_days
        monthly = excess * r.landed_cost_usd * settings.holding_rate / 12.0
        rows.append(
            {
                "alert_type": "overstock",
                "severity": "medium" if days > 2 * settings.overstock_days else "low",
                "sku": r.sku,
                "marketplace": r.marketplace,
                "subject": f"{r.sku} in {r.marketplace}",
                "explanation": f"{days:.0f} days of supply, beyond {settings.overstock_days:.0f}: "
                f"{excess:.0f} units too many cost about ${monthly:,.2f} a month to hold",
                "figures": _figures(
                    days_of_supply=days, excess_units=excess, holding_usd_per_month=monthly
                ),
                "suggested_action": "pause shipments to this warehouse; a markdown down to the "
                "margin floor is allowed",
            }
        )
    return _frame(rows)


def margin_erosion(recommendations: pd.DataFrame, settings: AlertSettings) -> pd.DataFrame:
    """Tonight's first recommendation day: listings whose landed cost rose by at least
    ``margin_erosion_min`` of their current price since it was set."""
    if recommendations.empty:
        return _frame([])
    first = recommendations[recommendations["date"] == recommendations["date"].min()]
    rows = []
    for r in first.itertuples():
        rise = float(np.nan_to_num(r.landed_cost_change))
        if not (r.current_price > 0 and rise / r.current_price >= settings.margin_erosion_min):
            continue
        causes = {
            "tariff": r.cost_change_tariff,
            "fx": r.cost_change_fx,
            "freight": r.cost_change_freight,
        }
        cause = max(causes, key=lambda k: np.nan_to_num(causes[k]))
        share = rise / r.current_price
        rows.append(
            {
                "alert_type": "margin_erosion",
                "severity": "high" if share >= 0.10 else "medium",
                "sku": r.sku,
                "marketplace": r.marketplace,
                "subject": f"{r.sku} in {r.marketplace}",
                "explanation": f"landed cost up {rise:.2f} {r.currency} ({share:.0%} of the "
                f"price), mostly {cause}; recommended price {r.recommended_price:.2f} from "
                f"{r.current_price:.2f}",
                "figures": _figures(
                    landed_cost_change=rise,
                    share_of_price=share,
                    **{f"{k}_change": float(np.nan_to_num(v)) for k, v in causes.items()},
                ),
                "suggested_action": "raise the price (see pricing/price_recommendations)",
            }
        )
    return _frame(rows)


def late_lanes(lanes: pd.DataFrame, settings: AlertSettings) -> pd.DataFrame:
    """``lanes``: per lane, the shipments that arrived in the last weeks (``arrived``,
    ``median_days_late`` against their expected arrival, ``on_time_rate``) and those overdue now
    (``overdue``, ``overdue_units``, ``max_days_overdue``)."""
    rows = []
    for r in lanes.itertuples():
        late = float(np.nan_to_num(r.median_days_late))
        overdue = float(np.nan_to_num(r.max_days_overdue))
        if not (late >= settings.late_days_min or overdue >= settings.late_days_min):
            continue
        worst = max(late, overdue)
        rows.append(
            {
                "alert_type": "late_lane",
                "severity": "high" if worst >= 2 * settings.late_days_min else "medium",
                "sku": None,
                "marketplace": None,
                "subject": r.lane_id,
                "explanation": f"recent arrivals {late:+.0f} days late at the median "
                f"({r.arrived} arrived, {np.nan_to_num(r.on_time_rate):.0%} on time); "
                f"{r.overdue} shipments ({r.overdue_units} units) overdue, up to "
                f"{overdue:.0f} days",
                "figures": _figures(
                    median_days_late=late,
                    on_time_rate=float(np.nan_to_num(r.on_time_rate)),
                    overdue_shipments=r.overdue,
                    overdue_units=r.overdue_units,
                    max_days_overdue=overdue,
                ),
                "suggested_action": "check the lane with the forwarder; plan on the longer "
                "transit and cover the gap by air where stock runs short",
            }
        )
    return _frame(rows)


def forecast_bias(compared: pd.DataFrame, settings: AlertSettings) -> pd.DataFrame:
    """``compared``: per listing, over its recent days, the units ``sold`` and the units
    ``forecast`` for those days by the forecasts made before them (``days`` compared). A
    forecast running ``bias_min`` or more above or below what sold, on enough units, drifts."""
    rows = []
    for r in compared.itertuples():
        sold, forecast = float(r.sold), float(r.forecast)
        if max(sold, forecast) < settings.bias_min_units:
            continue
        bias = forecast / sold - 1.0 if sold > 0 else np.inf
        if abs(bias) < settings.bias_min:
            continue
        over = bias > 0
        rows.append(
            {
                "alert_type": "forecast_bias",
                "severity": "high" if abs(bias) >= 2 * settings.bias_min else "medium",
                "sku": r.sku,
                "marketplace": r.marketplace,
                "subject": f"{r.sku} in {r.marketplace}",
                "explanation": f"over the last {r.days} days the forecasts made for them said "
                f"{forecast:.0f} units, {sold:.0f} sold "
                + ("(nothing sold)" if not np.isfinite(bias) else f"({bias:+.0%})"),
                "figures": _figures(
                    days=r.days,
                    sold=sold,
                    forecast=forecast,
                    bias=float(bias) if np.isfinite(bias) else None,
                ),
                "suggested_action": "check what changed (a listing problem, a competitor, a "
                "lost buy box); hold shipments and the factory order until the forecast "
                "catches up"
                if over
                else "demand runs above the forecast: check stock cover and ship or order "
                "more before the plan catches up",
            }
        )
    return _frame(rows)


def stale_inputs(newest: dict[str, date | None], today: date) -> pd.DataFrame:
    """``newest``: each entity's newest date (None: no rows)."""
    rows = []
    for entity, limit in EXPECTED_AGE_DAYS.items():
        if entity not in newest:
            continue
        day = newest[entity]
        age = None if day is None else (today - day).days
        if age is not None and age <= limit:
            continue
        rows.append(
            {
                "alert_type": "stale_input",
                "severity": "high" if entity in ("orders", "inventory") else "medium",
                "sku": None,
                "marketplace": None,
                "subject": entity,
                "explanation": f"{entity}: no rows at all"
                if day is None
                else f"{entity}: the newest date is {day} ({age} days ago; expected within "
                f"{limit})",
                "figures": _figures(newest=None if day is None else str(day), age_days=age),
                "suggested_action": f"export fresh {entity} into raw/{entity}/",
            }
        )
    return _frame(rows)


def ranked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Every alert, most severe first."""
    out = (
        pd.concat([f for f in frames if len(f)], ignore_index=True)
        if any(len(f) for f in frames)
        else _frame([])
    )
    order = out["severity"].map(SEVERITY_ORDER)
    return out.assign(_o=order).sort_values(["_o", "alert_type"], kind="stable").drop(columns="_o")
