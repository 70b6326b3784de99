"""Demand forecasting: one global LightGBM model over all SKU x marketplace series.

from ml.forecast import build_panel, fit, predict, backtest, compare, is_better
demand, skus, markets = load_demand(con)            # marts.fct_daily_demand + dims
panel = build_panel(demand, skus=skus, marketplaces=markets, plan=plan, plan_days=28)
model = fit(panel=panel.truncate(panel.n_history))   # or fit(demand, skus=..., ...)
forecast = predict(model, panel)                     # sku, marketplace, date, p10/p50/p90
result = backtest(panel=panel, truth=ground_truth)   # rolling origin, baselines and peers
table = compare(result)                              # one row per model
"""

from .backtest import MODEL_KEYS, BacktestResult, backtest, compare, fold_cutoffs, is_better
from .data import load_demand
from .model import DemandForecaster, ForecastConfig, fit, predict
from .panel import Panel, build_panel, infer_grain, plan_from_demand, to_weekly

__all__ = [
    "MODEL_KEYS",
    "BacktestResult",
    "DemandForecaster",
    "ForecastConfig",
    "Panel",
    "backtest",
    "build_panel",
    "compare",
    "fit",
    "fold_cutoffs",
    "infer_grain",
    "is_better",
    "load_demand",
    "plan_from_demand",
    "predict",
    "to_weekly",
]
