"""Hub-to-market allocation: how many units of a SKU each market's warehouse should receive.

Per listing (SKU x marketplace) the demand until the next shipment after this one can land (lead
time plus review period) is a distribution, not a point: a negative binomial with the mean and
variance of the forecast over that window. From it:

- **target level** (order-up-to): the smallest stock whose chance of covering the window is at
  least the critical ratio ``underage / (underage + overage)``, the service level that maximizes
  expected profit (newsvendor), with ``underage`` the margin a stock-out loses per unit and
  ``overage`` what a unit left over costs (holding it one more review period);
- **allocation when the hub is short**: one case (the SKU's case pack) at a time to the listing
  whose next case adds the most expected profit (per unit ``underage * P(demand > stock) -
  overage * P(demand <= stock)``), never past its target. Each listing's expected profit is
  concave in its stock, so this greedy order is optimal for one hub (the tests check it against
  a brute force);
- **base-surge mode**: the regular (slow, cheap) shipment goes by ocean; when the stock cannot
  cover the demand until that shipment lands, a fast mode (air, express) carries the units whose
  chance of selling before then beats the mode's premium: the ``1 - premium / underage`` quantile
  of that demand, less the stock (none when the premium exceeds the margin).

Units are whole, shipments whole case packs. Pure numpy and scipy: the Dagster asset and the
benchmark wire it to the forecast, the lanes and the inventory position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

MIN_DISPERSION = 1e-6  # a variance at or below the mean is treated as (almost) Poisson
MAX_LEVEL = 1 - 1e-6  # the highest service level a quantile is taken at
SAILING_WEEKDAY = 0  # regular ocean shipments leave on Mondays (Python's weekday numbers)
MAX_SAILING_WEEKS = 4  # the longest interval between a market's regular sailings
LEVEL_DAYS = 56  # the recent days a listing's level is judged on (its in-stock days count)


@dataclass(frozen=True)
class WindowDemand:
    """Demand per listing over a window: its mean and variance (units)."""

    mean: np.ndarray
    variance: np.ndarray

    @classmethod
    def of(cls, mean: npt.ArrayLike, variance: npt.ArrayLike) -> WindowDemand:
        m = np.maximum(np.asarray(mean, dtype=float), 0.0)
        v = np.maximum(np.asarray(variance, dtype=float), m * (1 + MIN_DISPERSION))
        return cls(m, v)

    def take(self, i: int) -> WindowDemand:
        """Listing ``i`` alone (arrays of one)."""
        return WindowDemand(self.mean[[i]], self.variance[[i]])

    def _nb(self) -> tuple[np.ndarray, np.ndarray]:
        """scipy's (n, p) of the negative binomial with this mean and variance."""
        m = np.maximum(self.mean, 1e-12)
        v = np.maximum(self.variance, m * (1 + MIN_DISPERSION))
        p = m / v
        return m * p / (1 - p), p

    def cdf(self, units: npt.ArrayLike) -> np.ndarray:
        """P(demand <= units), per listing (broadcasts over a trailing axis)."""
        n, p = self._nb()
        x = np.asarray(units, dtype=float)
        if x.ndim > n.ndim:
            n, p = n[..., None], p[..., None]
        out = stats.nbinom.cdf(np.floor(x), n, p)
        return np.where(x < 0, 0.0, out)

    def quantile(self, level: npt.ArrayLike) -> np.ndarray:
        """The smallest whole number of units whose cdf reaches ``level``; a level of 1 (a
        stock-out that costs something against a unit left over that costs nothing) takes the
        ``MAX_LEVEL`` quantile, as demand has no finite maximum."""
        n, p = self._nb()
        q = stats.nbinom.ppf(np.clip(np.asarray(level, dtype=float), 0.0, MAX_LEVEL), n, p)
        return np.where(self.mean > 0, q, 0.0)


def window_variance(
    daily_var: npt.ArrayLike, days: npt.ArrayLike, days_seen: npt.ArrayLike
) -> np.ndarray:
    """The variance of the demand over ``days`` days, from a daily variance around a level
    that is itself an estimate from ``days_seen`` days in stock: that estimate's error, var /
    n a day, is the same on every day of the window, so it adds var / n x days^2 to the
    days' own var x days. ``days_seen`` inf: a level known exactly."""
    var = np.asarray(daily_var, dtype=float)
    d = np.asarray(days, dtype=float)
    return var * d * (1.0 + d / np.maximum(np.asarray(days_seen, dtype=float), 1.0))


def critical_ratio(underage: npt.ArrayLike, overage: npt.ArrayLike) -> np.ndarray:
    """The service level that maximizes expected profit: underage / (underage + overage)."""
    u = np.maximum(np.asarray(underage, dtype=float), 0.0)
    o = np.maximum(np.asarray(overage, dtype=float), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(u + o > 0, u / (u + o), 0.0)


def target_level(demand: WindowDemand, underage: npt.ArrayLike, overage: npt.ArrayLike):
    """Order-up-to level per listing: the critical-ratio quantile of the window's demand."""
    return demand.quantile(critical_ratio(underage, overage))


def unit_values(
    demand: WindowDemand,
    position: npt.ArrayLike,
    n_units: int,
    underage: npt.ArrayLike,
    overage: npt.ArrayLike,
) -> np.ndarray:
    """Listings x ``n_units``: the expected profit of the k-th extra unit (k = 1..n_units) on top
    of ``position``: it sells (underage) if demand exceeds position + k - 1, else it is left
    over (overage). Falls with k: expected profit is concave in the stock."""
    pos = np.asarray(position, dtype=float)
    level = pos[:, None] + np.arange(n_units)[None, :]
    sells = 1.0 - demand.cdf(level)  # P(demand > position + k - 1)
    u = np.asarray(underage, dtype=float)[:, None]
    o = np.asarray(overage, dtype=float)[:, None]
    return u * sells - o * (1.0 - sells)


def allocate(
    hub_units: int,
    demand: WindowDemand,
    position: npt.ArrayLike,
    underage: npt.ArrayLike,
    overage: npt.ArrayLike,
    case_pack: int,
    target: npt.ArrayLike | None = None,
) -> np.ndarray:
    """Units to ship to each listing of one SKU (whole cases of the SKU's ``case_pack``), at
    most ``hub_units`` in all: cases go one at a time where the next case adds the most
    expected profit, while it adds any and the listing is below its ``target`` (default: its
    critical-ratio target). With one case size and values falling case by case, this greedy
    order is the optimum."""
    pos = np.asarray(position, dtype=float)
    pack = max(int(case_pack), 1)
    goal = target_level(demand, underage, overage) if target is None else np.asarray(target)
    wanted = np.maximum(np.ceil((goal - pos) / pack), 0).astype(np.int64)
    budget = int(hub_units) // pack  # cases the hub can fill
    n_cases = min(int(wanted.max(initial=0)), budget)  # the most one listing may take
    if n_cases == 0:
        return np.zeros(len(pos), dtype=np.int64)
    values = unit_values(demand, pos, n_cases * pack, underage, overage)
    case_value = values.reshape(len(pos), n_cases, pack).sum(axis=2)
    case_value[np.arange(n_cases)[None, :] >= wanted[:, None]] = -np.inf
    # the best n_cases values over all listings: each listing's values fall case by case, so
    # taking the largest ones overall takes each listing's first cases in order
    flat = case_value.ravel()
    order = np.argsort(-flat, kind="stable")[:budget]
    order = order[np.isfinite(flat[order]) & (flat[order] > 0)]
    taken = np.bincount(order // n_cases, minlength=len(pos))
    return taken.astype(np.int64) * pack


def surge_units(
    demand_until_base: WindowDemand,
    position: npt.ArrayLike,
    underage: npt.ArrayLike,
    premium: npt.ArrayLike,
) -> np.ndarray:
    """Units to send by a fast mode now, per listing: the ``1 - premium / underage`` quantile of
    the demand until the regular (slow) shipment lands, less the stock on hand and in transit
    before then; none where the fast mode's premium per unit is at least the margin lost."""
    u = np.asarray(underage, dtype=float)
    extra = np.maximum(np.asarray(premium, dtype=float), 0.0)
    worth = (u > 0) & (extra < u)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(worth, 1.0 - extra / np.where(u > 0, u, 1.0), 0.0)
    cover = demand_until_base.quantile(level)
    return np.where(worth, np.maximum(cover - np.asarray(position, dtype=float), 0.0), 0.0)


def expected_profit(
    demand: WindowDemand, stock: npt.ArrayLike, underage: npt.ArrayLike, overage: npt.ArrayLike
) -> np.ndarray:
    """Expected profit of holding ``stock`` against the window's demand, relative to none:
    the sum of each unit's value (``unit_values``), per listing."""
    s = np.maximum(np.asarray(stock, dtype=np.int64), 0)
    n = int(s.max(initial=0))
    if n == 0:
        return np.zeros(len(s))
    values = unit_values(demand, np.zeros(len(s)), n, underage, overage)
    return np.where(np.arange(n)[None, :] < s[:, None], values, 0.0).sum(axis=1)


def restock_order(
    demand: WindowDemand,
    position: npt.ArrayLike,
    underage: npt.ArrayLike,
    overage: npt.ArrayLike,
    case_pack: npt.ArrayLike,
    min_order: npt.ArrayLike,
) -> np.ndarray:
    """Units to order from the supplier per SKU: towards the critical-ratio target of the
    demand of every market over the supplier lead time plus a review period, in whole cases
    while the next case adds expected profit; an order
    below the minimum order quantity is raised to it only where the larger order still adds
    expected profit, else nothing is ordered."""
    pos = np.asarray(position, dtype=float)
    pack = np.maximum(np.asarray(case_pack, dtype=np.int64), 1)
    moq = np.maximum(np.asarray(min_order, dtype=np.int64), 0)
    gap = np.maximum(target_level(demand, underage, overage) - pos, 0)
    # whole cases while the next one adds expected profit (a case's last units may not)
    cases = np.ceil(gap / pack).astype(np.int64)
    n = int((cases * pack).max(initial=0))
    qty = np.zeros(len(pos), dtype=np.int64)
    if n:
        values = unit_values(demand, pos, n, underage, overage)
        for i in np.flatnonzero(cases):
            per_case = values[i, : cases[i] * pack[i]].reshape(cases[i], pack[i]).sum(axis=1)
            qty[i] = int(np.argmin(np.r_[per_case, -1.0] > 0)) * pack[i]
    small = (qty > 0) & (qty < moq)
    if small.any():
        raised = (np.ceil(moq / pack) * pack).astype(np.int64)
        now = expected_profit(demand, pos, underage, overage)
        after = expected_profit(demand, pos + raised, underage, overage)
        qty = np.where(small, np.where(after > now, raised, 0), qty)
    return qty


def worth_departing(
    lane: npt.ArrayLike, expected_profit: npt.ArrayLike, fixed_cost: Mapping[Any, float]
) -> np.ndarray:
    """Per shipment line: whether its lane's departure pays its fixed cost, i.e. the expected
    profit of all the lines on that lane is above the lane's ``fixed_cost`` (0 where unknown):
    a surge of a few units is not worth a freight booking that costs more than they earn."""
    lanes = pd.Series(np.asarray(lane, dtype=object))
    profit = pd.Series(np.asarray(expected_profit, dtype=float))
    total = profit.groupby(lanes).transform("sum")
    cost = lanes.map(lambda x: fixed_cost.get(x, 0.0)).astype(float)
    return (total > cost).to_numpy(copy=True)


def weekly_holding(
    lane: npt.ArrayLike,
    daily_mean: npt.ArrayLike,
    landed_usd: npt.ArrayLike,
    holding_rate: float,
    n_lanes: int,
) -> np.ndarray:
    """Per lane (codes ``0..n_lanes-1`` in ``lane``, one per listing): what holding one week of
    its listings' demand costs a week, in USD: the ``sailing_interval``'s ``weekly_holding``.
    ``holding_rate`` is a year's holding cost as a share of the landed cost."""
    week = 7.0 * np.asarray(daily_mean, dtype=float) * np.asarray(landed_usd, dtype=float)
    return np.bincount(
        np.asarray(lane, dtype=np.int64), weights=week * holding_rate * 7 / 365, minlength=n_lanes
    )


def days_to_sailing(weekday: int, sailing_weekday: int = SAILING_WEEKDAY) -> int:
    """Days from a day of ``weekday`` to the next sailing day (0 on a sailing day)."""
    return (sailing_weekday - weekday) % 7


def sailing_interval(
    fixed_cost: npt.ArrayLike,
    weekly_holding: npt.ArrayLike,
    max_weeks: int = 4,
) -> np.ndarray:
    """Weeks between regular shipments to a market (1..``max_weeks``): the whole number T that
    minimizes the weekly cost of its departures and its cycle stock, ``fixed_cost / T +
    weekly_holding * T / 2``, with ``weekly_holding`` what holding one week's demand of the
    market costs a week (the economic order interval). Costs are per market."""
    k = np.asarray(fixed_cost, dtype=float)[:, None]
    h = np.asarray(weekly_holding, dtype=float)[:, None]
    weeks = np.arange(1, max(int(max_weeks), 1) + 1, dtype=float)[None, :]
    cost = k / weeks + h * weeks / 2.0
    return (np.argmin(cost, axis=1) + 1).astype(np.int64)
