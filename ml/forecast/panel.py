"""The demand panel: ``marts.fct_daily_demand`` as dense series x period arrays.

Every feature, baseline and metric reads the same arrays, so "what was known at the origin" is
one slice (``[:, : t + 1]``) rather than a per-function date filter. Censored (stock-out) and
unlisted periods are NaN in ``units``: they are neither zero demand nor a training target.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

Grain = Literal["daily", "weekly"]

DEMAND_COLUMNS = (
    "sku",
    "marketplace",
    "demand_date",
    "units",
    "list_price_local",
    "discount_pct",
    "is_promoted",
    "ad_spend_usd",
    "is_censored",
)
# Optional: the day's revenue (one currency across series), for revenue-weighted metrics.
REVENUE_COLUMN = "revenue"
# Columns a plan of future prices may carry (the rest of a day is assumed as at the origin).
PLAN_COLUMNS = ("sku", "marketplace", "demand_date", "list_price_local", "discount_pct")
# Holiday-library codes where a marketplace code is not an ISO country (Amazon's "UK").
_COUNTRY_BY_MARKETPLACE = {"UK": "GB"}
PERIOD_DAYS: dict[str, int] = {"daily": 1, "weekly": 7}


@dataclass(frozen=True)
class Panel:
    """Series x period arrays; ``dates`` are period starts (Mondays at weekly grain).

    ``units`` is NaN where demand was not observed (censored or not listed). Price arrays may be
    longer than ``units`` (planned prices after the last observed period).
    """

    series: pd.DataFrame  # one row per series: sku, marketplace, category, country, launch_date
    dates: pd.DatetimeIndex  # period starts, including planned periods after the history
    grain: Grain
    units: np.ndarray  # (n_series, n_history) float, NaN = not observed
    listed: np.ndarray  # (n_series, n_history) bool: period on the series' grid
    list_price: np.ndarray  # (n_series, n_dates) local currency
    discount: np.ndarray  # (n_series, n_dates) fraction off the list price
    promoted: np.ndarray  # (n_series, n_dates) share of the period on promotion
    ad_spend_usd: np.ndarray  # (n_series, n_history)
    revenue: np.ndarray  # (n_series, n_history), NaN where demand has no revenue column

    @property
    def n_series(self) -> int:
        return len(self.series)

    @property
    def n_history(self) -> int:
        return self.units.shape[1]

    @property
    def history_dates(self) -> pd.DatetimeIndex:
        return self.dates[: self.n_history]

    @property
    def period_days(self) -> int:
        return PERIOD_DAYS[self.grain]

    def truncate(self, n_history: int, keep_plan: int = 0) -> Panel:
        """The panel as known at the end of period ``n_history - 1``, with ``keep_plan`` periods
        of planned prices after it (prices are planned ahead; units are not)."""
        if not 0 < n_history <= self.n_history:
            raise ValueError(f"n_history {n_history} outside 1..{self.n_history}")
        end = min(n_history + keep_plan, len(self.dates))
        return replace(
            self,
            dates=self.dates[:end],
            units=self.units[:, :n_history],
            listed=self.listed[:, :n_history],
            list_price=self.list_price[:, :end],
            discount=self.discount[:, :end],
            promoted=self.promoted[:, :end],
            ad_spend_usd=self.ad_spend_usd[:, :n_history],
            revenue=self.revenue[:, :n_history],
        )

    def select(self, rows: np.ndarray) -> Panel:
        """A subset of series (``rows`` indexes or a boolean mask)."""
        return replace(
            self,
            series=self.series.iloc[rows].reset_index(drop=True),
            units=self.units[rows],
            listed=self.listed[rows],
            list_price=self.list_price[rows],
            discount=self.discount[rows],
            promoted=self.promoted[rows],
            ad_spend_usd=self.ad_spend_usd[rows],
            revenue=self.revenue[rows],
        )


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; it has {list(frame.columns)}")


def infer_grain(demand: pd.DataFrame) -> Grain:
    """Weekly when the median gap between the distinct dates with sales is 7 days or more
    (a seller reporting weekly totals), else daily."""
    _require(demand, ("demand_date", "units"), "demand")
    sold = np.sort(pd.to_datetime(demand.loc[demand["units"] > 0, "demand_date"]).unique())
    if len(sold) < 3:
        raise ValueError("demand has fewer than 3 dates with sales: cannot forecast it")
    gaps = np.diff(sold).astype("timedelta64[D]").astype(int)
    return "weekly" if float(np.median(gaps)) >= 7 else "daily"


def series_table(
    demand: pd.DataFrame,
    skus: pd.DataFrame | None = None,
    marketplaces: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (sku, marketplace) with category, holiday country and launch date.

    ``skus`` is ``marts.dim_sku`` (sku, category, launch_date), ``marketplaces`` is
    ``marts.dim_marketplace`` (marketplace, country); both optional.
    """
    keys = demand[["sku", "marketplace"]].drop_duplicates().sort_values(["sku", "marketplace"])
    out = keys.reset_index(drop=True)
    if skus is not None:
        _require(skus, ("sku",), "skus")
        cols = [c for c in ("sku", "category", "launch_date") if c in skus.columns]
        out = out.merge(skus[cols].drop_duplicates("sku"), on="sku", how="left")
    if "category" not in out:
        out["category"] = None
    out["category"] = out["category"].fillna("unknown").astype(str)
    if "launch_date" not in out:
        out["launch_date"] = pd.NaT
    out["launch_date"] = pd.to_datetime(out["launch_date"])
    country = out["marketplace"].map(lambda m: _COUNTRY_BY_MARKETPLACE.get(m, m))
    if marketplaces is not None and "country" in marketplaces.columns:
        by_code = marketplaces.drop_duplicates("marketplace").set_index("marketplace")["country"]
        country = out["marketplace"].map(by_code).fillna(country)
    out["country"] = country.astype(str)
    return out


def _one_row_per_week(frame: pd.DataFrame) -> bool:
    """Every row on the same weekday: one row per series and week (weekly totals), not the
    demand mart's row per day."""
    weekdays = pd.to_datetime(frame["demand_date"]).dt.dayofweek
    return len(frame) > 0 and weekdays.nunique() == 1


# Per-row amounts of a week (the rest of a row is a state that holds all week).
WEEK_TOTALS = ("units", "ad_spend_usd", REVENUE_COLUMN)


def spread_weekly_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per series and week (each on the week's first day, e.g. Monday) as the demand
    mart's 7 rows per week: the week's units, ad spend and revenue on its first day and 0 on
    the other six, price, discount and flags on all seven. Without it the other six days would
    be unlisted, and a week with an unlisted day is not observed (``to_weekly``)."""
    out = frame.loc[frame.index.repeat(7)].reset_index(drop=True)
    offset = np.tile(np.arange(7), len(frame))
    out["demand_date"] = pd.to_datetime(out["demand_date"]) + pd.to_timedelta(offset, unit="D")
    later = offset > 0
    for col in WEEK_TOTALS:
        if col in out.columns:
            out.loc[later & out[col].notna().to_numpy(), col] = 0
    return out


def build_panel(
    demand: pd.DataFrame,
    *,
    skus: pd.DataFrame | None = None,
    marketplaces: pd.DataFrame | None = None,
    grain: Grain | Literal["auto"] = "auto",
    plan: pd.DataFrame | None = None,
    plan_days: int = 0,
) -> Panel:
    """The panel of ``demand`` (rows of ``marts.fct_daily_demand``).

    ``plan`` holds planned list prices and discounts for days after the history (sku,
    marketplace, demand_date, list_price_local, discount_pct); days it does not cover keep the
    last known list price and no discount. ``plan_days`` days of plan are laid out.

    At weekly grain ``demand`` may also hold one row per series and week, all on the same
    weekday (weekly totals on each week's Monday): see ``spread_weekly_rows``.
    """
    _require(demand, DEMAND_COLUMNS, "demand")
    if demand.empty:
        raise ValueError("demand is empty")
    dupes = demand.duplicated(["sku", "marketplace", "demand_date"])
    if dupes.any():
        first = demand.loc[dupes, ["sku", "marketplace", "demand_date"]].iloc[0].tolist()
        raise ValueError(f"demand repeats {int(dupes.sum())} sku x marketplace x day keys: {first}")
    if (demand["units"] < 0).any():
        raise ValueError("demand has negative units")
    chosen: Grain = infer_grain(demand) if grain == "auto" else grain
    if chosen not in PERIOD_DAYS:
        raise ValueError(f"grain must be daily, weekly or auto, not {grain!r}")
    if chosen == "weekly" and _one_row_per_week(demand):
        demand = spread_weekly_rows(demand)
        if plan is not None and len(plan) and _one_row_per_week(plan):
            plan = spread_weekly_rows(plan)

    series = series_table(demand, skus, marketplaces)
    dates_all = pd.to_datetime(demand["demand_date"]).dt.normalize()
    start, end = dates_all.min(), dates_all.max()
    n_hist = (end - start).days + 1
    n_dates = n_hist + plan_days
    day_index = pd.date_range(start, periods=n_dates, freq="D")

    key_index = pd.MultiIndex.from_frame(series[["sku", "marketplace"]])
    rows = key_index.get_indexer(pd.MultiIndex.from_frame(demand[["sku", "marketplace"]]))
    cols = (dates_all - start).dt.days.to_numpy()
    shape_h, shape_d = (len(series), n_hist), (len(series), n_dates)

    censored = demand["is_censored"].fillna(False).to_numpy(bool)
    units = np.full(shape_h, np.nan)
    units[rows, cols] = np.where(censored, np.nan, demand["units"].to_numpy(float))
    listed = np.zeros(shape_h, bool)
    listed[rows, cols] = True
    ad = np.full(shape_h, np.nan)
    ad[rows, cols] = demand["ad_spend_usd"].fillna(0.0).to_numpy(float)
    revenue = np.full(shape_h, np.nan)
    if REVENUE_COLUMN in demand.columns:
        revenue[rows, cols] = demand[REVENUE_COLUMN].to_numpy(float)
    list_price = np.full(shape_d, np.nan)
    list_price[rows, cols] = demand["list_price_local"].to_numpy(float)
    discount = np.full(shape_d, np.nan)
    discount[rows, cols] = demand["discount_pct"].fillna(0.0).to_numpy(float)
    promoted = np.full(shape_d, np.nan)
    promoted[rows, cols] = demand["is_promoted"].fillna(False).to_numpy(float)

    if plan_days:
        # Default plan: the last known list price holds, no promotion.
        last_price = pd.DataFrame(list_price[:, :n_hist]).ffill(axis=1).to_numpy()[:, -1]
        list_price[:, n_hist:] = last_price[:, None]
        discount[:, n_hist:] = 0.0
        promoted[:, n_hist:] = 0.0
        if plan is not None and len(plan):
            _require(plan, PLAN_COLUMNS, "plan")
            p_dates = pd.to_datetime(plan["demand_date"]).dt.normalize()
            p_cols = (p_dates - start).dt.days.to_numpy()
            p_rows = key_index.get_indexer(pd.MultiIndex.from_frame(plan[["sku", "marketplace"]]))
            ok = (p_rows >= 0) & (p_cols >= n_hist) & (p_cols < n_dates)
            r, c = p_rows[ok], p_cols[ok]
            list_price[r, c] = plan["list_price_local"].to_numpy(float)[ok]
            disc = plan["discount_pct"].fillna(0.0).to_numpy(float)[ok]
            discount[r, c] = disc
            promoted[r, c] = (disc > 0).astype(float)

    panel = Panel(
        series=series,
        dates=day_index,
        grain="daily",
        units=units,
        listed=listed,
        list_price=list_price,
        discount=discount,
        promoted=promoted,
        ad_spend_usd=ad,
        revenue=revenue,
    )
    return to_weekly(panel) if chosen == "weekly" else panel


def _week_blocks(values: np.ndarray, first: int, n_weeks: int) -> np.ndarray:
    return values[:, first : first + 7 * n_weeks].reshape(values.shape[0], n_weeks, 7)


def to_weekly(panel: Panel) -> Panel:
    """Aggregate a daily panel to Monday-start weeks.

    Only complete weeks are kept (a trailing partial week would look like a demand drop). A week
    with any censored or unlisted day is not observed: its total would understate demand.
    """
    if panel.grain != "daily":
        raise ValueError("to_weekly needs a daily panel")
    first = int((7 - panel.dates[0].dayofweek) % 7)  # first Monday
    n_weeks = (panel.n_history - first) // 7
    if n_weeks < 1:
        raise ValueError("history is shorter than one complete week")
    n_plan_weeks = (len(panel.dates) - first) // 7 - n_weeks
    n_all = n_weeks + n_plan_weeks

    units_w = _week_blocks(panel.units, first, n_weeks)
    listed_w = _week_blocks(panel.listed, first, n_weeks)
    units = np.where(np.isnan(units_w).any(axis=2), np.nan, np.nansum(units_w, axis=2))

    def week_mean(values: np.ndarray, n: int) -> np.ndarray:
        with np.errstate(invalid="ignore"), _quiet():
            return np.nanmean(_week_blocks(values, first, n), axis=2)

    return Panel(
        series=panel.series,
        dates=panel.dates[first : first + 7 * n_all : 7],
        grain="weekly",
        units=units,
        listed=np.asarray(listed_w.all(axis=2)),
        list_price=week_mean(panel.list_price, n_all),
        discount=week_mean(panel.discount, n_all),
        promoted=week_mean(panel.promoted, n_all),
        ad_spend_usd=np.nansum(_week_blocks(panel.ad_spend_usd, first, n_weeks), axis=2),
        revenue=np.nansum(_week_blocks(panel.revenue, first, n_weeks), axis=2),
    )


class _quiet:
    """Silence numpy's "mean of empty slice" warnings: all-NaN windows are expected here."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def plan_from_demand(demand: pd.DataFrame, after: pd.Timestamp, days: int) -> pd.DataFrame:
    """The prices and discounts of the ``days`` after ``after`` as a plan (backtests: prices and
    promotions are decided ahead, so the realised ones are what was planned)."""
    d = pd.to_datetime(demand["demand_date"])
    window = (d > after) & (d <= after + pd.Timedelta(days=days))
    return demand.loc[window, list(PLAN_COLUMNS)].reset_index(drop=True)
