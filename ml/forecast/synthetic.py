"""A small synthetic demand mart (``fct_daily_demand`` columns) with a known mean, for tests and
scale benchmarks: weekly pattern, price elasticity, promotions, price changes, launches and
stock-outs. Deterministic for a seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

WEEKLY = np.array([1.1, 1.0, 1.0, 0.95, 0.9, 0.95, 1.1])


@dataclass
class SyntheticMart:
    demand: pd.DataFrame
    skus: pd.DataFrame
    marketplaces: pd.DataFrame
    true_mean: pd.Series  # indexed by (sku, marketplace, demand_date), unconstrained by stock


def synthetic_mart(
    n_skus: int = 20,
    marketplaces: tuple[str, ...] = ("US", "DE"),
    days: int = 240,
    start: str = "2025-01-06",
    seed: int = 0,
    elasticity: float = -2.0,
    base_range: tuple[float, float] = (0.5, 6.0),
    stockout_share: float = 0.03,
    new_sku_share: float = 0.0,
    weekly_orders: bool = False,
) -> SyntheticMart:
    """``weekly_orders``: every week's units land on its Monday (a seller reporting weekly)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    categories = ["Audio", "Kitchen", "Toys"]
    skus = pd.DataFrame(
        {
            "sku": [f"SKU-{i:05d}" for i in range(n_skus)],
            "category": [categories[i % len(categories)] for i in range(n_skus)],
            "launch_date": pd.Timestamp(start) - pd.Timedelta(days=400),
        }
    )
    n_new = int(round(new_sku_share * n_skus))
    launch_offsets: np.ndarray | list[int] = (
        rng.integers(days // 2, days - 40, n_new) if n_new else []
    )
    for j, off in enumerate(launch_offsets):
        skus.loc[n_skus - 1 - j, "launch_date"] = dates[off]
    frames, means = [], []
    dow = dates.dayofweek.to_numpy()
    for s in skus.itertuples():
        cat_level = 1.0 + categories.index(s.category)
        for m_i, market in enumerate(marketplaces):
            base = rng.uniform(*base_range) * cat_level / 2 * (1.0 if m_i == 0 else 0.6)
            ref = float(rng.choice([9.99, 19.99, 49.99]))
            # List price: a change every ~60 days of -20 %..+25 %.
            steps = np.cumsum(rng.random(days) < 1 / 60)
            levels = ref * np.exp(rng.uniform(-0.2, 0.22, steps.max() + 1))
            levels[0] = ref
            list_price = levels[steps]
            promo = np.zeros(days)
            for p_start in np.flatnonzero(rng.random(days) < 1 / 45):
                promo[p_start : p_start + rng.integers(3, 8)] = rng.choice([0.1, 0.2, 0.3])
            shown = list_price * (1 - promo)
            listed = dates >= s.launch_date
            mean = base * WEEKLY[dow] * (shown / ref) ** elasticity * (1 + 0.5 * (promo > 0))
            mean = np.where(listed, mean, 0.0)
            units = rng.poisson(mean).astype(float)
            censored = np.zeros(days, bool)
            for o_start in np.flatnonzero(rng.random(days) < stockout_share / 6):
                censored[o_start : o_start + 6] = True
            units[censored] = 0
            if weekly_orders:
                # Weeks counted from ``start``: each total lands on the week's first day.
                totals = np.bincount(np.arange(days) // 7, weights=units)
                units = np.zeros(days)
                units[np.arange(0, days, 7)] = totals
                censored[:] = False
            keep = listed
            frames.append(
                pd.DataFrame(
                    {
                        "sku": s.sku,
                        "marketplace": market,
                        "demand_date": dates[keep],
                        "units": units[keep].astype(int),
                        "list_price_local": list_price[keep],
                        "discount_pct": promo[keep],
                        "revenue": units[keep] * list_price[keep] * (1 - promo[keep]),
                        "is_promoted": promo[keep] > 0,
                        "ad_spend_usd": 0.0,
                        "in_stock": ~censored[keep],
                        "is_censored": censored[keep],
                    }
                )
            )
            means.append(
                pd.Series(
                    mean[keep],
                    index=pd.MultiIndex.from_arrays(
                        [[s.sku] * keep.sum(), [market] * keep.sum(), dates[keep]],
                        names=["sku", "marketplace", "demand_date"],
                    ),
                )
            )
    markets = pd.DataFrame(
        {
            "marketplace": list(marketplaces),
            "country": [m if m != "UK" else "GB" for m in marketplaces],
        }
    )
    return SyntheticMart(
        demand=pd.concat(frames, ignore_index=True),
        skus=skus,
        marketplaces=markets,
        true_mean=pd.concat(means),
    )
