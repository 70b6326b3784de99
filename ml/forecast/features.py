"""Features for a direct multi-horizon demand model: one row per (series, origin, horizon h).

Design (why direct, with h as a feature): every row of origin t and horizon h reads history only
from ``[:, : t + 1]`` and known-ahead inputs (calendar, planned list price and discount) only from
the target period ``t + h`` itself. One model learns how information decays with h instead of
28 models, and there is no recursion feeding predictions back as lags (errors do not compound,
and quantiles need no simulation). The planned price of period t + h is read for row h, never the
origin's price (``test_forecast_features.py`` fails if the origin price leaks into every h).

Censoring: stock-out periods are NaN in ``panel.units``, so window means average observed
periods only, and rows whose target is NaN are dropped from training.

Ad spend is not known ahead in the raw contract (no future spend dates), so it enters as its
level at the origin only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calendar import calendar_arrays
from .panel import Panel, _quiet


@dataclass(frozen=True)
class FeatureSpec:
    lags: tuple[int, ...]  # y[t - k]
    windows: tuple[int, ...]  # trailing means over these many periods
    recent: int  # the short-term level window (4 weeks)
    season: int | None  # same-weekday features at daily grain
    season_count: int  # how many past same-weekday periods to average
    year: int  # periods in a year (364 days keeps the weekday)
    year_half_window: int  # half width of the window around the same period last year
    smoothing: float  # added to both sides of ratios of small counts


def spec_for(grain: str) -> FeatureSpec:
    if grain == "daily":
        return FeatureSpec((0, 1, 2, 3, 4, 5, 6), (7, 28, 91, 364), 28, 7, 4, 364, 3, 0.05)
    if grain == "weekly":
        return FeatureSpec((0, 1, 2, 3), (4, 13, 26, 52), 4, None, 0, 52, 1, 0.35)
    raise ValueError(f"unknown grain {grain!r}")


CATEGORICAL = ("sku_code", "marketplace_code", "category_code", "event")


@dataclass(frozen=True)
class Levels:
    """Category levels seen in training: identity features are codes into these lists, and an
    unseen SKU or category is coded -1 (missing for LightGBM), so it falls back on the other
    features (category x marketplace level, age, calendar, price)."""

    sku: tuple[str, ...]
    marketplace: tuple[str, ...]
    category: tuple[str, ...]

    @classmethod
    def of(cls, series: pd.DataFrame) -> Levels:
        return cls(
            tuple(sorted(series["sku"].unique())),
            tuple(sorted(series["marketplace"].unique())),
            tuple(sorted(series["category"].unique())),
        )

    def codes(self, series: pd.DataFrame) -> dict[str, np.ndarray]:
        def code(values: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
            return pd.Categorical(values, categories=list(levels)).codes.astype(float)

        return {
            "sku_code": code(series["sku"], self.sku),
            "marketplace_code": code(series["marketplace"], self.marketplace),
            "category_code": code(series["category"], self.category),
        }


class HistoryStats:
    """Cumulative sums of a panel's units so any trailing window mean is O(1) per series."""

    def __init__(self, units: np.ndarray):
        observed = ~np.isnan(units)
        filled = np.where(observed, units, 0.0)
        n = units.shape[0]
        self.sum = np.hstack([np.zeros((n, 1)), np.cumsum(filled, axis=1)])
        self.sq = np.hstack([np.zeros((n, 1)), np.cumsum(filled**2, axis=1)])
        self.count = np.hstack([np.zeros((n, 1)), np.cumsum(observed, axis=1)])
        self.pos = np.hstack([np.zeros((n, 1)), np.cumsum(filled > 0, axis=1)])
        idx = np.arange(units.shape[1])
        self.last_sale = np.maximum.accumulate(np.where(filled > 0, idx, -1), axis=1)

    def window(self, end: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sum, sum of squares, observed count) over periods [end - width + 1, end]; periods
        before the history count as unobserved."""
        hi = end + 1
        lo = max(hi - width, 0)
        if hi <= 0:
            z = np.zeros(self.sum.shape[0])
            return z, z, z
        return (
            self.sum[:, hi] - self.sum[:, lo],
            self.sq[:, hi] - self.sq[:, lo],
            self.count[:, hi] - self.count[:, lo],
        )

    def mean(self, end: int, width: int) -> np.ndarray:
        s, _, c = self.window(end, width)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def _group_mean(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of the non-NaN ``values`` of each series' group, broadcast back to the series."""
    ok = ~np.isnan(values)
    sums = np.bincount(groups[ok], weights=values[ok], minlength=n_groups)
    counts = np.bincount(groups[ok], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return means[groups]


def _column(values: np.ndarray, index: int) -> np.ndarray:
    if 0 <= index < values.shape[1]:
        return values[:, index]
    return np.full(values.shape[0], np.nan)


def _nan_median_window(values: np.ndarray, end: int, width: int) -> np.ndarray:
    block = values[:, max(end + 1 - width, 0) : end + 1]
    with _quiet():
        return np.nanmedian(block, axis=1) if block.shape[1] else np.full(len(values), np.nan)


@dataclass
class PanelContext:
    """Per-panel arrays the row builder reuses for every origin."""

    panel: Panel
    spec: FeatureSpec
    stats: HistoryStats
    calendar: dict[str, np.ndarray]  # (n_series, n_dates) per calendar feature
    identity: dict[str, np.ndarray]
    group: np.ndarray  # category x marketplace group of each series
    n_groups: int
    launch_day: np.ndarray  # days since the epoch of each series' launch
    displayed: np.ndarray  # list price x (1 - discount), (n_series, n_dates)


def panel_context(panel: Panel, levels: Levels) -> PanelContext:
    series = panel.series
    markets = sorted(series["marketplace"].unique())
    country = series.drop_duplicates("marketplace").set_index("marketplace")["country"]
    cal = calendar_arrays(markets, [country[m] for m in markets], panel.dates, panel.period_days)
    m_index = pd.Index(markets).get_indexer(series["marketplace"])
    calendar = {k: v[m_index] for k, v in cal.items()}
    group = pd.MultiIndex.from_frame(series[["category", "marketplace"]])
    group_codes, uniques = pd.factorize(group)
    # Launch: the catalogue's launch date, else the first period the series is on the grid.
    first_listed = np.where(panel.listed.any(axis=1), panel.listed.argmax(axis=1), 0)
    first_day = panel.dates[0] + pd.to_timedelta(first_listed * panel.period_days, unit="D")
    launch = series["launch_date"].fillna(pd.Series(first_day, index=series.index))
    epoch = pd.Timestamp("1970-01-01")
    return PanelContext(
        panel=panel,
        spec=spec_for(panel.grain),
        stats=HistoryStats(panel.units),
        calendar=calendar,
        identity=levels.codes(series),
        group=np.asarray(group_codes),
        n_groups=len(uniques),
        launch_day=((pd.to_datetime(launch) - epoch).dt.days).to_numpy(float),
        displayed=panel.list_price * (1.0 - panel.discount),
    )


def origin_features(ctx: PanelContext, t: int) -> dict[str, np.ndarray]:
    """What is known at the end of origin period ``t``: history windows, price reference,
    advertising, and the category x marketplace level (the cold-start prior)."""
    p, s, st = ctx.panel, ctx.spec, ctx.stats
    out: dict[str, np.ndarray] = {}
    for k in s.lags:
        out[f"lag_{k}"] = _column(p.units, t - k)
    for w in s.windows:
        out[f"mean_{w}"] = st.mean(t, w)
    sm, sq, c = st.window(t, s.recent)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r = np.where(c > 0, sm / np.maximum(c, 1), np.nan)
        out["std_recent"] = np.sqrt(np.maximum(sq / np.maximum(c, 1) - mean_r**2, 0.0))
        out["std_recent"][c == 0] = np.nan
        pos = st.pos[:, t + 1] - st.pos[:, max(t + 1 - s.recent, 0)]
        out["nonzero_share_recent"] = np.where(c > 0, pos / np.maximum(c, 1), np.nan)
    out["observed_recent"] = c
    out["n_observed"] = st.count[:, t + 1]
    out["mean_all"] = st.mean(t, t + 1)
    last = st.last_sale[:, t] if t < st.last_sale.shape[1] else np.full(p.n_series, -1)
    out["periods_since_sale"] = np.where(last >= 0, t - last, np.nan)
    out["listed_at_origin"] = _column(p.listed, t).astype(float)
    # Last year's level around the origin: the denominator of the yearly ratio.
    out["_ly_origin"] = st.mean(t - s.year, s.recent)
    out["group_mean_recent"] = _group_mean(mean_r, ctx.group, ctx.n_groups)
    out["group_mean_long"] = _group_mean(out[f"mean_{s.windows[-2]}"], ctx.group, ctx.n_groups)
    # The SKU's reference price: its typical list price over the last year.
    ref = _nan_median_window(p.list_price[:, : p.n_history], t, s.year)
    out["_ref_price"] = ref
    out["_price_origin"] = _column(ctx.displayed, t)
    with _quiet():
        recent_price = np.nanmean(ctx.displayed[:, max(t + 1 - s.recent, 0) : t + 1], axis=1)
        list_then = _column(p.list_price, t - s.recent)
        out["list_change_recent"] = _column(p.list_price, t) / list_then - 1.0
        out["promo_share_recent"] = np.nanmean(
            p.promoted[:, max(t + 1 - s.recent, 0) : t + 1], axis=1
        )
        ad = p.ad_spend_usd
        out["ad_usd_short"] = np.log1p(np.nanmean(ad[:, max(t + 1 - s.lags[-1] - 1, 0) : t + 1], 1))
        out["ad_usd_recent"] = np.log1p(np.nanmean(ad[:, max(t + 1 - s.recent, 0) : t + 1], 1))
    out["_recent_price"] = recent_price
    return out


def target_features(ctx: PanelContext, t: int, h: int, origin: dict) -> dict[str, np.ndarray]:
    """Features of target period d = t + h: calendar, planned price of d, seasonal history."""
    p, s, st = ctx.panel, ctx.spec, ctx.stats
    d = t + h
    n = p.n_series
    date = p.dates[d]
    out: dict[str, np.ndarray] = {"h": np.full(n, float(h))}
    out["dow"] = np.full(n, float(date.dayofweek)) if p.grain == "daily" else np.zeros(n)
    out["day_of_month"] = np.full(n, float(date.day))
    out["month"] = np.full(n, float(date.month))
    out["day_of_year"] = np.full(n, float(date.dayofyear))
    out["week_of_year"] = np.full(n, float(date.isocalendar().week))
    for k, v in ctx.calendar.items():
        out[k] = v[:, d]
    # Planned price of the target period (never the origin's).
    price = ctx.displayed[:, d]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rel_price"] = price / origin["_ref_price"]
        out["log_rel_price"] = np.log(out["rel_price"])
        out["rel_list_price"] = p.list_price[:, d] / origin["_ref_price"]
        out["price_vs_origin"] = price / origin["_price_origin"] - 1.0
        out["price_vs_recent"] = price / origin["_recent_price"] - 1.0
    out["discount"] = p.discount[:, d]
    out["promoted"] = p.promoted[:, d]
    day = (date - pd.Timestamp("1970-01-01")).days
    out["age_days"] = day - ctx.launch_day
    # Same weekday in recent weeks (daily): the latest same weekday at or before the origin.
    if s.season:
        last_same = d - s.season * int(np.ceil(h / s.season))
        cols = [_column(p.units, last_same - s.season * k) for k in range(s.season_count)]
        with _quiet():
            out["same_weekday_mean"] = np.nanmean(np.vstack(cols), axis=0)
    # Same period last year and its ratio to last year's level at the origin.
    ly = st.mean(d - s.year + s.year_half_window, 2 * s.year_half_window + 1)
    out["last_year"] = ly
    a = s.smoothing
    out["last_year_ratio"] = (ly + a) / (origin["_ly_origin"] + a)
    ok = ~np.isnan(ly) & ~np.isnan(origin["_ly_origin"])
    g_num = np.bincount(ctx.group[ok], weights=ly[ok], minlength=ctx.n_groups)
    g_den = np.bincount(ctx.group[ok], weights=origin["_ly_origin"][ok], minlength=ctx.n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_ratio = np.where(g_den > 0, (g_num + a) / (g_den + a), np.nan)
    out["group_last_year_ratio"] = g_ratio[ctx.group]
    out["seasonal_level"] = origin[f"mean_{s.recent}"] * out["group_last_year_ratio"]
    return out


def feature_names(grain: str) -> list[str]:
    """The model's feature columns, in order."""
    ctx_free = spec_for(grain)
    names = [f"lag_{k}" for k in ctx_free.lags] + [f"mean_{w}" for w in ctx_free.windows]
    names += [
        "std_recent",
        "nonzero_share_recent",
        "observed_recent",
        "n_observed",
        "mean_all",
        "periods_since_sale",
        "listed_at_origin",
        "group_mean_recent",
        "group_mean_long",
        "list_change_recent",
        "promo_share_recent",
        "ad_usd_short",
        "ad_usd_recent",
        "h",
        "dow",
        "day_of_month",
        "month",
        "day_of_year",
        "week_of_year",
        "is_holiday",
        "event",
        "event_day",
        "days_to_event",
        "rel_price",
        "log_rel_price",
        "rel_list_price",
        "price_vs_origin",
        "price_vs_recent",
        "discount",
        "promoted",
        "age_days",
    ]
    if ctx_free.season:
        names.append("same_weekday_mean")
    names += ["last_year", "last_year_ratio", "group_last_year_ratio", "seasonal_level"]
    names += ["sku_code", "marketplace_code", "category_code"]
    return names


def feature_rows(
    ctx: PanelContext,
    origins: list[int] | np.ndarray,
    horizon: int,
    *,
    training: bool,
    series_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rows for every series, origin and h in 1..horizon.

    ``training``: keep only rows whose target was observed (not censored, listed) and add the
    ``target`` column. Otherwise keep the series in ``series_mask`` (all by default); the
    target period may lie after the history (its price comes from the plan).
    """
    p = ctx.panel
    names = feature_names(p.grain)
    chunks: list[dict[str, np.ndarray]] = []
    for t in origins:
        t = int(t)
        if not 0 <= t < p.n_history:
            raise ValueError(f"origin {t} outside the history (0..{p.n_history - 1})")
        origin = origin_features(ctx, t)
        for h in range(1, horizon + 1):
            d = t + h
            if training and d >= p.n_history:
                break  # no target observed yet
            if d >= len(p.dates):
                raise ValueError(
                    f"origin {t} + h {h} is past the planned periods ({len(p.dates)}): "
                    "extend the plan (plan_days) to the horizon"
                )
            row = {**origin, **target_features(ctx, t, h, origin), **ctx.identity}
            if training:
                y = _column(p.units, d)
                keep = ~np.isnan(y)
            else:
                y = None
                keep = np.ones(p.n_series, bool) if series_mask is None else series_mask
            idx = np.flatnonzero(keep)
            chunk = {k: np.asarray(row[k], dtype=float)[idx] for k in names}
            chunk["series"] = idx
            chunk["origin"] = np.full(len(idx), t)
            chunk["target_index"] = np.full(len(idx), d)
            if y is not None:
                chunk["target"] = y[idx]
            chunks.append(chunk)
    keys = [*names, "series", "origin", "target_index"] + (["target"] if training else [])
    data = {k: np.concatenate([c[k] for c in chunks]) if chunks else np.array([]) for k in keys}
    return pd.DataFrame(data)
