"""Tariff-aware price optimizer: one recommended price per SKU x marketplace x day of the horizon.

Objective, per listing-day, in the marketplace's currency and per day:

    profit(p) = units(p) * (net(p) - referral_rate * p - unit_cost)

with ``p`` the displayed price, ``net(p) = p / (1 + vat)`` where displayed prices include VAT
(else ``p``), the referral fee charged on the displayed price and ``unit_cost`` the landed cost of
the day the units are sold (a tariff starting next week prices next week's units). The landed
cost of ``mart_landed_cost`` already holds the fulfilment fee; with
``landed_cost_includes_fulfilment=False`` the fee is added (the ``fulfilment_fee_local`` column,
else the marketplace reference's fee per unit). So ``profit = units * (k * p - unit_cost)``
with ``k = net share - referral rate``: the price share the seller keeps.

Demand: ``units_ref * (p / price_ref) ** elasticity`` per row (with a ``curvature`` column: the
log-quadratic response of ``ml.pricing.curvature`` around ``response_reference``), or any
vectorised callable
``units(prices) -> units`` per listing (a learned model). With an ``elasticity_se`` column (the
posterior sd of the estimate) the constant-elasticity units are the expectation over that
uncertainty, not the units at the mean estimate (``Demand``). The search is a grid, not calculus, so
any response works: ``n_grid`` candidates between the day's bounds, rounded to the marketplace's
price endings, then finer grids between the best candidate's neighbours until they hold every
ending there (one more pass for ranges up to ~20,000 currency units with ``n_grid`` = 200). It is
vectorised with numpy over listings; days run in order because each day's rate limit is
measured against the previous day's price.

Guardrails (``PricingRules``, per listing, ``DEFAULT_RULES`` otherwise; ``describe_rules``):
- hard bounds: the min price, the landed-cost floor (net of VAT and fees >= unit cost x
  (1 + min_margin)), the max price (default: ``max_price_multiple`` x the listing's typical
  price, the median list price of its last 365 days: an anchor the tool's own prices move only
  after half a year, so a ceiling cannot compound day after day)
  and the optional cross-market band (+-band around the reference market's price at the day's
  FX). Missing or contradictory hard bounds pause the listing with a reason (as the Amazon and
  Walmart repricers do), never a guess; zero demand at every price is not a contradiction.
- the rate limit (max change per day versus the previous day's price) gives way to the hard
  bounds: a price outside them (a tariff lifted the floor) moves to the nearest bound at once,
  since selling below the margin floor for days to respect a pace would be the worse error.
- changes under ``min_change`` (1 %) are not pushed, unless the held price breaks a hard bound.
- strategies: ``optimize``; ``keep`` (hold the price); ``follow_reference`` (the reference
  market's price at the day's FX, times 1 + ``reference_markup``, inside every bound).
- price endings: .99 in US, UK, CA, AU and every marketplace not named; whole yen in JP; EU
  marketplaces (the reference's customs union) ``eu_ending`` .99 or .95; a ``price_ending``
  column ("99", "95", "whole") overrides. Bounds round inwards: the lowest allowed price is the
  first ending at or above the lower bound, the highest the last at or below the upper one.

Stock (``optimize`` only; rows with ``stock_units`` and ``days_to_replenish`` or
``demand_to_replenish``): when stock cannot cover the demand until replenishment can arrive, the
price rises to sell-through (the lowest price whose expected units over the window fit the
stock), inside the guardrails. With stock beyond ``days_of_cover_limit`` (and the window) at the
previous price, the downward rate limit is lifted, so the price may fall straight to the
profit-maximising one down to the min price / margin floor; the band still holds (it protects
against cross-market arbitrage, which a markdown does not excuse) and so does the upward limit.
It is a permission, not a clearance target: without a holding cost in the objective, a
markdown below the profit optimum would only lose money.

Reason codes per changed row: ``tariff``, ``fx``, ``freight`` from the landed-cost change since
the current price was set (the ``*_then`` columns): the largest contributor(s) moving the same
way as the price; ``stock`` when a stock rule moved it; ``demand`` when neither explains the
move (unless a rule alone moved it); then ``rule`` when a guardrail binds or the strategy is not
``optimize``. E.g. ``tariff;rule``: the tariff raised the price, the daily limit capped it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from ml.reference.marketplaces import marketplace_rows

from .curvature import log_units_shift, response_elasticity

Strategy = Literal["optimize", "keep", "follow_reference"]
EuEnding = Literal["99", "95"]
UnitsFunction = Callable[[np.ndarray], np.ndarray]

DEFAULT_GRID_SIZE = 200
MAX_REFINEMENTS = 6  # each divides the searched span by ~n_grid / 2
STRATEGIES = ("optimize", "keep", "follow_reference")
GUARDRAILS = ("min_price", "max_price", "min_margin", "max_change", "band", "stock", "min_change")
REASON_CODES = ("tariff", "fx", "freight", "stock", "demand", "rule")
# Price endings: the price's offset above a whole currency unit; endings are one unit apart.
ENDING_OFFSETS = {"99": 0.99, "95": 0.95, "whole": 0.0}
ENDING_STEP = 1.0
MARKETPLACE_ENDINGS = {"US": "99", "UK": "99", "CA": "99", "AU": "99", "JP": "whole"}
# A cost component explains a price move when it moves the same way, is at least this share of
# the largest component's change and at least this share of the landed cost.
CONTRIBUTOR_SHARE = 0.5
MATERIAL_COST_CHANGE = 0.005
LOWEST_PRICE = 0.01
_EPS = 1e-9

REQUIRED_COLUMNS = ("sku", "marketplace", "date", "current_price", "landed_cost_local")
RESULT_COLUMNS = (
    "sku",
    "marketplace",
    "date",
    "currency",
    "current_price",
    "previous_price",
    "recommended_price",
    "price_change",
    "units_current",
    "profit_current",
    "units_recommended",
    "profit_recommended",
    "elasticity_used",
    "binding_guardrail",
    "status",
    "reason_codes",
    "status_reason",
    "min_allowed_price",
    "max_allowed_price",
    "landed_cost_change",
    "cost_change_tariff",
    "cost_change_fx",
    "cost_change_freight",
)


@dataclass(frozen=True)
class PricingRules:
    """A listing's guardrails. Prices are displayed prices in the marketplace's currency;
    shares are fractions (0.10 = 10 %)."""

    min_price: float | None = None  # None: the landed-cost floor alone
    max_price: float | None = None  # None: max_price_multiple x the typical price
    min_margin: float = 0.10  # over the unit cost, on the price net of VAT and fees
    max_change: float = 0.10  # per day, versus the previous day's price
    min_change: float = 0.01  # smaller changes are not pushed
    strategy: Strategy = "optimize"
    reference_marketplace: str | None = None  # for the band and follow_reference
    band: float | None = None  # stay within +-band of the reference market's price
    reference_markup: float = 0.0  # follow_reference: percent above (+) or below (-)
    max_price_multiple: float = 2.0
    days_of_cover_limit: float = 90.0  # stock beyond it allows a markdown

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}: {self.strategy!r}")
        for name in ("max_change", "min_change", "days_of_cover_limit"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0: {getattr(self, name)!r}")
        if self.band is not None and not self.band >= 0:
            raise ValueError(f"band must be >= 0: {self.band!r}")
        if not self.min_margin > -1 or not self.max_price_multiple > 0:
            raise ValueError("min_margin must be > -1 and max_price_multiple > 0")


DEFAULT_RULES = PricingRules()


def describe_rules(rules: PricingRules = DEFAULT_RULES) -> str:
    """The rules in one line, for the run output."""
    lo = "landed-cost floor" if rules.min_price is None else f"max({rules.min_price:g}, floor)"
    hi = (
        f"{rules.max_price_multiple:g} x typical price (median of the last year)"
        if rules.max_price is None
        else f"{rules.max_price:g}"
    )
    band = (
        "no cross-market band"
        if rules.band is None
        else f"within +-{rules.band:.0%} of {rules.reference_marketplace or 'the reference'}"
    )
    return (
        f"strategy {rules.strategy}; min price {lo} at {rules.min_margin:.0%} margin; "
        f"max price {hi}; max change {rules.max_change:.0%}/day; changes under "
        f"{rules.min_change:.0%} not pushed; {band}; markdown allowed past "
        f"{rules.days_of_cover_limit:g} days of cover"
    )


# --- economics ------------------------------------------------------------------------------


def net_of_vat_share(vat_rate: npt.ArrayLike, prices_include_vat: npt.ArrayLike) -> np.ndarray:
    """The share of the displayed price that is not VAT."""
    vat = np.asarray(vat_rate, dtype=float)
    return np.where(np.asarray(prices_include_vat, dtype=bool), 1.0 / (1.0 + vat), 1.0)


def kept_share(
    vat_rate: npt.ArrayLike, prices_include_vat: npt.ArrayLike, referral_fee_rate: npt.ArrayLike
) -> np.ndarray:
    """``k``: the share of the displayed price the seller keeps after VAT and the referral fee
    (charged on the displayed price)."""
    return net_of_vat_share(vat_rate, prices_include_vat) - np.asarray(referral_fee_rate, float)


def listing_profit(
    price: npt.ArrayLike,
    units: npt.ArrayLike,
    vat_rate: npt.ArrayLike,
    prices_include_vat: npt.ArrayLike,
    referral_fee_rate: npt.ArrayLike,
    fulfilment_fee: npt.ArrayLike,
    landed_cost: npt.ArrayLike,
) -> np.ndarray:
    """units x (price net of VAT - referral fee on the displayed price - fulfilment - landed)."""
    p = np.asarray(price, dtype=float)
    net = p * net_of_vat_share(vat_rate, prices_include_vat)
    fees = np.asarray(referral_fee_rate, float) * p + np.asarray(fulfilment_fee, float)
    margin = net - fees - np.asarray(landed_cost, float)
    return np.asarray(units, dtype=float) * margin


def margin_floor_price(unit_cost: np.ndarray, min_margin: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The lowest displayed price whose share kept covers the unit cost x (1 + min_margin)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 0, unit_cost * (1.0 + min_margin) / k, np.nan)


def constant_elasticity_units(
    price: np.ndarray, units_ref: np.ndarray, price_ref: np.ndarray, elasticity: np.ndarray
) -> np.ndarray:
    """``units_ref * (price / price_ref) ** elasticity``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return units_ref * (price / price_ref) ** elasticity


# --- price endings ----------------------------------------------------------------------------


def ending_style(marketplace: str, eu_marketplaces: frozenset[str], eu_ending: EuEnding) -> str:
    """The marketplace's price-ending style: "99", "95" or "whole"."""
    if marketplace in MARKETPLACE_ENDINGS:
        return MARKETPLACE_ENDINGS[marketplace]
    return eu_ending if marketplace in eu_marketplaces else "99"


def ending_floor(x: npt.ArrayLike, offset: npt.ArrayLike) -> np.ndarray:
    """The highest price ending at or below ``x``."""
    x, offset = np.asarray(x, float), np.asarray(offset, float)
    return np.round(np.floor((x - offset) / ENDING_STEP + _EPS) * ENDING_STEP + offset, 2)


def ending_ceil(x: npt.ArrayLike, offset: npt.ArrayLike) -> np.ndarray:
    """The lowest price ending at or above ``x``."""
    x, offset = np.asarray(x, float), np.asarray(offset, float)
    return np.round(np.ceil((x - offset) / ENDING_STEP - _EPS) * ENDING_STEP + offset, 2)


def ending_nearest(x: npt.ArrayLike, offset: npt.ArrayLike) -> np.ndarray:
    """The price ending nearest ``x``."""
    x, offset = np.asarray(x, float), np.asarray(offset, float)
    return np.round(np.round((x - offset) / ENDING_STEP) * ENDING_STEP + offset, 2)


# --- demand -----------------------------------------------------------------------------------


def truncated_lognormal_mean(
    mean: npt.ArrayLike, sd: npt.ArrayLike, log_ratio: npt.ArrayLike
) -> np.ndarray:
    """E[(p / p_ref)^min(e, 0)] for e ~ N(mean, sd^2) and ``log_ratio`` = log(p / p_ref): the
    part of the normal below 0 gives exp(mean L + sd^2 L^2 / 2) Phi(-(mean + sd^2 L) / sd)
    (completing the square), the part above it units as at p_ref, Phi(mean / sd)."""
    m, s, lr = (np.asarray(x, dtype=float) for x in (mean, sd, log_ratio))
    below = m * lr + (s * lr) ** 2 / 2 + stats.norm.logcdf(-(m + s * s * lr) / s)
    return np.exp(below) + stats.norm.cdf(m / s)


@dataclass(frozen=True)
class Demand:
    """Expected units per day at any price, per row: the log-quadratic response of
    ``ml.pricing.curvature`` (constant elasticity where the curvature is 0), or a callable.

    ``elasticity_sd`` (0: known) is the posterior standard deviation of a row's elasticity:
    under a constant elasticity its expected units are the average over that normal, cut at 0
    where demand would rise with price (``truncated_lognormal_mean``, exact), rather than the
    units at its mean. Demand is convex in the elasticity, and a price far from the one the
    units were seen at is where the spread matters: a listing estimated very elastic from thin
    data is not priced as if that were certain. Under a bent response (a curvature) the mean
    is taken: its vertex and the cut at 0 leave no closed form (Gauss-Hermite with 9 to 25
    nodes was off by 2 to 5 %)."""

    units_ref: np.ndarray
    price_ref: np.ndarray
    elasticity: np.ndarray
    functions: tuple[UnitsFunction | None, ...]
    curvature: np.ndarray  # 0: constant elasticity
    reference: np.ndarray  # the price the curvature is centred on (its L = 0)
    elasticity_sd: np.ndarray | None = None  # None: every elasticity known

    def take(self, idx: np.ndarray) -> Demand:
        return Demand(
            self.units_ref[idx],
            self.price_ref[idx],
            self.elasticity[idx],
            tuple(self.functions[i] for i in idx),
            self.curvature[idx],
            self.reference[idx],
            None if self.elasticity_sd is None else self.elasticity_sd[idx],
        )

    @property
    def has_input(self) -> np.ndarray:
        constant = (
            np.isfinite(self.units_ref)
            & np.isfinite(self.elasticity)
            & (np.nan_to_num(self.price_ref) > 0)
        )
        return constant | np.array([f is not None for f in self.functions], dtype=bool)

    def units(self, prices: np.ndarray) -> np.ndarray:
        """Units at ``prices`` (rows x candidates); negative or undefined units count as 0."""
        g = self.curvature[:, None]
        out = constant_elasticity_units(
            prices, self.units_ref[:, None], self.price_ref[:, None], self.elasticity[:, None]
        )
        sd = np.zeros(len(out)) if self.elasticity_sd is None else self.elasticity_sd
        spread = np.flatnonzero((np.nan_to_num(sd) > 0) & (self.curvature == 0))
        if len(spread):
            with np.errstate(divide="ignore", invalid="ignore"):
                log_ratio = np.log(prices[spread] / self.price_ref[spread, None])
            out[spread] = self.units_ref[spread, None] * truncated_lognormal_mean(
                self.elasticity[spread, None], sd[spread, None], log_ratio
            )
        curved = np.flatnonzero(self.curvature != 0)
        if len(curved):
            with np.errstate(over="ignore", invalid="ignore"):
                shift = log_units_shift(
                    prices[curved],
                    self.price_ref[curved, None],
                    self.elasticity[curved, None],
                    g[curved],
                    self.reference[curved, None],
                )
                out[curved] = self.units_ref[curved, None] * np.exp(shift)
        for i, f in enumerate(self.functions):
            if f is not None:
                out[i] = np.asarray(f(prices[i]), dtype=float)
        return np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0), 0.0, None)

    def units_at(self, price: np.ndarray) -> np.ndarray:
        return self.units(np.asarray(price, dtype=float)[:, None])[:, 0]

    def point_elasticity(self, price: np.ndarray) -> np.ndarray:
        """d log units / d log price at ``price`` (model rows: analytic)."""
        step = 1.01
        up, down = self.units_at(price * step), self.units_at(price / step)
        with np.errstate(divide="ignore", invalid="ignore"):
            numeric = (np.log(up) - np.log(down)) / (2 * np.log(step))
        numeric = np.where((up > 0) & (down > 0), numeric, np.nan)
        is_function = np.array([f is not None for f in self.functions], dtype=bool)
        model = response_elasticity(price, self.elasticity, self.curvature, self.reference)
        return np.where(is_function, numeric, np.where(self.curvature != 0, model, self.elasticity))


# --- grid search ------------------------------------------------------------------------------


def candidate_prices(lo: np.ndarray, hi: np.ndarray, offset: np.ndarray, n: int) -> np.ndarray:
    """``n`` prices per row from ``lo`` to ``hi`` (both endings), rounded to endings."""
    raw = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n)[None, :]
    return np.clip(ending_nearest(raw, offset[:, None]), lo[:, None], hi[:, None])


def _pick(
    cands: np.ndarray,
    demand: Demand,
    k: np.ndarray,
    unit_cost: np.ndarray,
    prev: np.ndarray,
    stock_cap: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The most profitable candidate per row (ties: the one nearest the previous price), its
    column, and whether any candidate fits the stock cap (``(stock, window days)``; a row
    with none takes its highest candidate: it sells the least)."""
    units = demand.units(cands)
    profit = units * (k[:, None] * cands - unit_cost[:, None])
    allowed = np.ones(cands.shape, dtype=bool)
    if stock_cap is not None:
        stock, window = stock_cap
        limited = np.isfinite(stock) & np.isfinite(window)
        window_units = units * np.where(limited, window, 0.0)[:, None]
        allowed = window_units <= np.where(limited, stock, np.inf)[:, None] * (1 + _EPS) + _EPS
    profit = np.where(allowed, profit, -np.inf)
    best = profit.max(axis=1)
    near = profit >= best[:, None] - 1e-12 * np.maximum(np.abs(best), 1.0)[:, None]
    col = np.where(near, np.abs(cands - prev[:, None]), np.inf).argmin(axis=1)
    feasible = np.asarray(allowed.any(axis=1))
    col = np.where(feasible, col, cands.shape[1] - 1)
    return cands[np.arange(len(cands)), col], col, feasible


def best_price(
    lo_e: np.ndarray,
    hi_e: np.ndarray,
    offset: np.ndarray,
    demand: Demand,
    k: np.ndarray,
    unit_cost: np.ndarray,
    prev: np.ndarray,
    stock_cap: tuple[np.ndarray, np.ndarray] | None = None,
    n_grid: int = DEFAULT_GRID_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """The profit-maximising price ending in [lo_e, hi_e] per row: a coarse grid over the
    whole range (global: any response shape), then finer grids between the best candidate's
    neighbours until they hold every ending there. Returns the price and whether the stock
    cap could be met."""
    if len(lo_e) == 0:
        return np.empty(0), np.empty(0, dtype=bool)
    rows = np.arange(len(lo_e))
    cands = candidate_prices(lo_e, hi_e, offset, n_grid)
    price, col, feasible = _pick(cands, demand, k, unit_cost, prev, stock_cap)
    for _ in range(MAX_REFINEMENTS):
        left = cands[rows, np.maximum(col - 1, 0)]
        right = cands[rows, np.minimum(col + 1, cands.shape[1] - 1)]
        # The best so far stays a candidate, so a refinement never loses ground.
        fine = candidate_prices(left, right, offset, n_grid)
        cands = np.sort(np.concatenate([fine, price[:, None]], axis=1), axis=1)
        price, col, fits = _pick(cands, demand, k, unit_cost, prev, stock_cap)
        feasible |= fits
        if np.all(right - left <= ENDING_STEP * (n_grid - 1)):
            break  # this pass held every ending between the neighbours
    return price, feasible


# --- landed-cost attribution ------------------------------------------------------------------


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)


def landed_cost_change(frame: pd.DataFrame) -> pd.DataFrame:
    """Landed cost (local currency) now minus when the current price was set, and the parts
    due to duty, freight and FX. Columns read: ``landed_cost_local`` and
    ``landed_cost_local_then`` (else ``landed_cost_usd_then / usd_per_local_then``); in USD
    (the mart's unit), ``duty_total_usd``, ``freight_usd``, ``landed_cost_usd``, each with a
    ``_then`` twin, and ``usd_per_local`` / ``usd_per_local_then``. Since local = USD / FX:

        tariff  = (duty_usd - duty_usd_then) / fx
        freight = (freight_usd - freight_usd_then) / fx
        fx      = landed_cost_usd_then * (1 / fx - 1 / fx_then)

    A missing pair contributes 0; the total is NaN without a landed cost then."""
    fx, fx_then = _column(frame, "usd_per_local"), _column(frame, "usd_per_local_then")
    then_local = _column(frame, "landed_cost_local_then")
    usd_then = _column(frame, "landed_cost_usd_then")
    usd_then = np.where(np.isfinite(usd_then), usd_then, _column(frame, "landed_cost_usd"))
    with np.errstate(divide="ignore", invalid="ignore"):
        then_local = np.where(np.isfinite(then_local), then_local, usd_then / fx_then)

        def part(name: str) -> np.ndarray:
            delta = (_column(frame, name) - _column(frame, f"{name}_then")) / fx
            return np.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0)

        fx_part = np.nan_to_num(usd_then * (1.0 / fx - 1.0 / fx_then), nan=0.0, posinf=0.0)
    return pd.DataFrame(
        {
            "landed_cost_change": _column(frame, "landed_cost_local") - then_local,
            "cost_change_tariff": part("duty_total_usd"),
            "cost_change_fx": fx_part,
            "cost_change_freight": part("freight_usd"),
        },
        index=frame.index,
    )


def cost_reason_codes(
    contributions: pd.DataFrame, price_move: np.ndarray, landed_cost: np.ndarray
) -> list[list[str]]:
    """Per row, the cost codes explaining a price move: the components moving the same way as
    the price, at least ``CONTRIBUTOR_SHARE`` of the largest one's change and at least
    ``MATERIAL_COST_CHANGE`` of the landed cost."""
    names = ("tariff", "fx", "freight")
    parts = contributions[[f"cost_change_{n}" for n in names]].to_numpy(dtype=float)
    largest = np.abs(parts).max(axis=1, initial=0.0)
    material = np.abs(parts) >= MATERIAL_COST_CHANGE * np.abs(np.nan_to_num(landed_cost))[:, None]
    explains = (
        (np.sign(parts) == np.sign(price_move)[:, None])
        & (np.sign(price_move)[:, None] != 0)
        & (np.abs(parts) >= CONTRIBUTOR_SHARE * largest[:, None])
        & material
    )
    return [[n for n, hit in zip(names, row, strict=True) if hit] for row in explains]


def pass_through(
    recommendations: pd.DataFrame,
    price_before: str = "current_price",
    price_after: str = "recommended_price",
    cost_change: str = "landed_cost_change",
) -> pd.DataFrame:
    """Per marketplace: sum of price changes / sum of landed-cost changes over the rows whose
    landed cost moved (a ratio of sums, so listings with tiny cost moves do not dominate).
    Both in the marketplace's currency, the price as displayed (incl. VAT where it applies):
    on a VAT-inclusive market, passing a cost on in full is a pass-through of 1 + VAT / (1 -
    referral share) and more, not 1."""
    delta_cost = pd.to_numeric(recommendations[cost_change], errors="coerce")
    moved = recommendations[delta_cost.abs() > _EPS]
    frame = pd.DataFrame(
        {
            "marketplace": moved["marketplace"],
            "price_change": moved[price_after] - moved[price_before],
            "landed_cost_change": delta_cost[moved.index],
        }
    )
    out = frame.groupby("marketplace").agg(
        rows=("price_change", "size"),
        price_change=("price_change", "sum"),
        landed_cost_change=("landed_cost_change", "sum"),
    )
    out["pass_through"] = out["price_change"] / out["landed_cost_change"]
    return out.reset_index()


# --- inputs -----------------------------------------------------------------------------------


def _market_reference() -> pd.DataFrame:
    table = pd.DataFrame(list(marketplace_rows())).set_index("marketplace")
    return pd.DataFrame(
        {
            "currency": table["currency"],
            "vat_rate": table["vat_rate"].astype(float),
            "prices_include_vat": table["prices_include_vat"].str.lower() == "true",
            "referral_fee_rate": table["referral_fee_rate"].astype(float),
            "fulfilment_fee_per_unit": table["fulfilment_fee_per_unit"].astype(float),
            "customs_union": table["customs_union"],
        }
    )


def _market_value(frame: pd.DataFrame, ref: pd.DataFrame, column: str, ref_column: str) -> Any:
    """The frame's own column where given, else the marketplace reference's value."""
    reference = frame["marketplace"].map(ref[ref_column])
    if column in frame:
        return frame[column].where(frame[column].notna(), reference)
    return reference


@dataclass(frozen=True)
class ListingDays:
    """Per-row inputs of the sorted frame, resolved (rules, reference data, defaults)."""

    k: np.ndarray
    unit_cost: np.ndarray
    margin_floor: np.ndarray
    min_margin: np.ndarray
    min_price: np.ndarray  # NaN: none
    max_price: np.ndarray  # the rule's, else multiple x typical price
    max_change: np.ndarray
    min_change: np.ndarray
    strategy: np.ndarray
    band_lo: np.ndarray  # -inf without a band
    band_hi: np.ndarray  # +inf without a band
    needs_reference: np.ndarray
    follow_target: np.ndarray
    days_of_cover_limit: np.ndarray
    offset: np.ndarray
    stock: np.ndarray
    window: np.ndarray  # days until replenishment can arrive
    demand_to_replenish: np.ndarray
    static_pause: np.ndarray  # reason text, "" when none
    demand: Demand

    def take(self, idx: np.ndarray) -> ListingDays:
        values: dict[str, Any] = {
            f.name: getattr(self, f.name).take(idx) if f.name != "demand" else self.demand.take(idx)
            for f in fields(self)
        }
        return ListingDays(**values)


def _rule_arrays(
    frame: pd.DataFrame, rules: Mapping[tuple[str, str], PricingRules], default: PricingRules
) -> dict[str, np.ndarray]:
    keys = list(zip(frame["sku"].astype(str), frame["marketplace"].astype(str), strict=True))
    by_listing = {key: rules.get(key, default) for key in set(keys)}
    per_row = [by_listing[key] for key in keys]

    def values(name: str, missing: float = np.nan) -> np.ndarray:
        got = [getattr(r, name) for r in per_row]
        return np.array([missing if v is None else v for v in got], dtype=float)

    return {
        "min_price": values("min_price"),
        "max_price": values("max_price"),
        "min_margin": values("min_margin"),
        "max_change": values("max_change"),
        "min_change": values("min_change"),
        "band": values("band"),
        "reference_markup": values("reference_markup"),
        "max_price_multiple": values("max_price_multiple"),
        "days_of_cover_limit": values("days_of_cover_limit"),
        "strategy": np.array([r.strategy for r in per_row], dtype=object),
        "reference_marketplace": np.array([r.reference_marketplace for r in per_row], dtype=object),
    }


def reference_prices(frame: pd.DataFrame, reference_marketplace: np.ndarray) -> np.ndarray:
    """Per row, the reference market's price in this row's currency at the day's FX: the
    ``reference_price_fx`` column where given, else the reference listing's ``current_price``
    (same SKU and date in the frame) x its ``usd_per_local`` / this row's ``usd_per_local``."""
    out = _column(frame, "reference_price_fx")
    need = np.isnan(out) & pd.notna(reference_marketplace)
    if not need.any() or "usd_per_local" not in frame:
        return out
    reference = frame[["sku", "date", "marketplace", "current_price", "usd_per_local"]].rename(
        columns={
            "marketplace": "reference_marketplace",
            "current_price": "reference_price",
            "usd_per_local": "reference_usd_per_local",
        }
    )
    wanted = pd.DataFrame(
        {
            "sku": frame["sku"].to_numpy(),
            "date": frame["date"].to_numpy(),
            "reference_marketplace": reference_marketplace,
        }
    )
    found = wanted.merge(
        reference.drop_duplicates(["sku", "date", "reference_marketplace"]),
        on=["sku", "date", "reference_marketplace"],
        how="left",
    )
    converted = (
        pd.to_numeric(found["reference_price"], errors="coerce").to_numpy(float)
        * pd.to_numeric(found["reference_usd_per_local"], errors="coerce").to_numpy(float)
        / _column(frame, "usd_per_local")
    )
    return np.where(need, converted, out)


def _demand(frame: pd.DataFrame, responses: Mapping[tuple[Any, ...], UnitsFunction]) -> Demand:
    price_ref = _column(frame, "price_ref")
    current = _column(frame, "current_price")
    price_ref = np.where(np.isfinite(price_ref), price_ref, current)
    functions = tuple(
        responses.get((s, m, d), responses.get((s, m)))
        for s, m, d in zip(frame["sku"], frame["marketplace"], frame["date"], strict=True)
    )
    curvature = np.nan_to_num(_column(frame, "curvature"), nan=0.0)
    reference = _column(frame, "response_reference")
    return Demand(
        units_ref=_column(frame, "units_ref"),
        price_ref=price_ref,
        elasticity=_column(frame, "elasticity"),
        functions=functions,
        curvature=curvature,
        reference=np.where(reference > 0, reference, price_ref),
        elasticity_sd=np.nan_to_num(_column(frame, "elasticity_se"), nan=0.0),
    )


def _first_price_per_listing(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Each row's listing value of ``column`` on its first date (the plan's starting point)."""
    listing = frame.groupby(["sku", "marketplace"], sort=False).ngroup().to_numpy()
    values = _column(frame, column)
    first = pd.Series(values).groupby(listing).transform("first").to_numpy(dtype=float)
    return np.asarray(first, dtype=float)


def _static_pauses(
    landed: np.ndarray, k: np.ndarray, demand: Demand, current: np.ndarray
) -> np.ndarray:
    reason = np.full(len(landed), "", dtype=object)
    checks = [
        (~(current > 0), "no current price"),
        (~np.isfinite(k), "unknown marketplace: no VAT and referral fee reference"),
        (~(landed >= 0), "no landed cost for the date"),
        (np.isfinite(k) & ~(k > 0), "VAT and the referral fee leave no margin at any price"),
        (~demand.has_input, "no demand input: units_ref and elasticity, or a units function"),
    ]
    for bad, text in checks:
        reason = np.where((reason == "") & bad, text, reason)
    return reason


def listing_days(
    frame: pd.DataFrame,
    rules: Mapping[tuple[str, str], PricingRules],
    default_rules: PricingRules,
    responses: Mapping[tuple[Any, ...], UnitsFunction],
    eu_ending: EuEnding,
    landed_cost_includes_fulfilment: bool,
) -> ListingDays:
    """Resolve the sorted frame's inputs into per-row arrays (see ``optimize_prices``)."""
    ref = _market_reference()
    vat = pd.to_numeric(_market_value(frame, ref, "vat_rate", "vat_rate"), errors="coerce")
    incl = _market_value(frame, ref, "prices_include_vat", "prices_include_vat")
    referral = pd.to_numeric(
        _market_value(frame, ref, "referral_fee_rate", "referral_fee_rate"), errors="coerce"
    )
    known = vat.notna() & incl.notna() & referral.notna()
    k = np.where(
        known,
        kept_share(vat.fillna(0).to_numpy(), incl.fillna(False).astype(bool), referral.fillna(0)),
        np.nan,
    )
    landed = _column(frame, "landed_cost_local")
    unit_cost = landed
    if not landed_cost_includes_fulfilment:
        fee = _market_value(frame, ref, "fulfilment_fee_local", "fulfilment_fee_per_unit")
        unit_cost = landed + pd.to_numeric(fee, errors="coerce").fillna(0.0).to_numpy(float)
    r = _rule_arrays(frame, rules, default_rules)
    current = _first_price_per_listing(frame, "current_price")
    typical = _column(frame, "typical_price")
    typical = np.where(typical > 0, typical, current)
    max_price = np.where(
        np.isfinite(r["max_price"]), r["max_price"], r["max_price_multiple"] * typical
    )
    reference = reference_prices(frame, r["reference_marketplace"])
    has_band = np.isfinite(r["band"])
    eu = frozenset(ref.index[ref["customs_union"] == "EU"])
    style = np.array([ending_style(m, eu, eu_ending) for m in frame["marketplace"].astype(str)])
    if "price_ending" in frame:
        given = frame["price_ending"].astype("string").fillna("").to_numpy(dtype=str)
        style = np.where(np.isin(given, list(ENDING_OFFSETS)), given, style)
    demand = _demand(frame, responses)
    window = _column(frame, "days_to_replenish")
    return ListingDays(
        k=k,
        unit_cost=unit_cost,
        margin_floor=margin_floor_price(unit_cost, r["min_margin"], k),
        min_margin=r["min_margin"],
        min_price=r["min_price"],
        max_price=max_price,
        max_change=r["max_change"],
        min_change=r["min_change"],
        strategy=r["strategy"],
        band_lo=np.where(has_band, reference * (1 - r["band"]), -np.inf),
        band_hi=np.where(has_band, reference * (1 + r["band"]), np.inf),
        needs_reference=(has_band | (r["strategy"] == "follow_reference")) & np.isnan(reference),
        follow_target=reference * (1 + r["reference_markup"]),
        days_of_cover_limit=r["days_of_cover_limit"],
        offset=np.array([ENDING_OFFSETS[s] for s in style]),
        stock=_column(frame, "stock_units"),
        window=window,
        demand_to_replenish=_column(frame, "demand_to_replenish"),
        static_pause=_static_pauses(landed, k, demand, current),
        demand=demand,
    )


# --- one day ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayDecision:
    price: np.ndarray
    status: np.ndarray
    binding: np.ndarray
    stock_applied: np.ndarray
    status_reason: np.ndarray
    lo: np.ndarray  # lowest allowed price ending
    hi: np.ndarray  # highest allowed price ending
    forced: np.ndarray  # the previous price broke a hard bound: the rules moved it


def hard_bounds(d: ListingDays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper hard bounds (min price, margin floor, max price, band) and the name of
    the guardrail setting each."""
    lower = np.stack([d.margin_floor, np.nan_to_num(d.min_price, nan=-np.inf), d.band_lo])
    upper = np.stack([d.max_price, d.band_hi])
    lo_names = np.array(["min_margin", "min_price", "band"], dtype=object)
    hi_names = np.array(["max_price", "band"], dtype=object)
    safe_lower = np.nan_to_num(lower, nan=-np.inf)
    safe_upper = np.nan_to_num(upper, nan=np.inf)
    return (
        safe_lower.max(axis=0),
        safe_upper.min(axis=0),
        lo_names[safe_lower.argmax(axis=0)],
        hi_names[safe_upper.argmin(axis=0)],
    )


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def day_pauses(d: ListingDays, lo_hb: np.ndarray, hi_hb: np.ndarray) -> np.ndarray:
    """Reason text for rows that cannot be priced today ("" otherwise)."""
    reason = d.static_pause.copy()

    def flag(bad: np.ndarray, text: Callable[[int], str]) -> None:
        for i in np.flatnonzero((reason == "") & bad):
            reason[i] = text(int(i))

    flag(
        ~np.isfinite(d.max_price),
        lambda i: "no max price: neither a rule nor a typical price",
    )
    flag(
        d.min_price > d.max_price,
        lambda i: f"min price {_fmt(d.min_price[i])} above max price {_fmt(d.max_price[i])}",
    )
    flag(
        d.max_price < d.margin_floor,
        lambda i: (
            f"max price {_fmt(d.max_price[i])} below the landed-cost floor "
            f"{_fmt(d.margin_floor[i])} (unit cost {_fmt(d.unit_cost[i])} at "
            f"{d.min_margin[i]:.0%} margin)"
        ),
    )
    flag(d.needs_reference, lambda i: "no reference market price for the band / follow_reference")
    flag(
        lo_hb > hi_hb,
        lambda i: (
            f"cross-market band {_fmt(d.band_lo[i])}-{_fmt(d.band_hi[i])} outside the "
            f"min/max {_fmt(max(d.margin_floor[i], np.nan_to_num(d.min_price[i])))}-"
            f"{_fmt(d.max_price[i])}"
        ),
    )
    lo_e = ending_ceil(np.maximum(lo_hb, LOWEST_PRICE), d.offset)
    hi_e = ending_floor(hi_hb, d.offset)
    flag(
        lo_e > hi_e + _EPS,
        lambda i: f"no price ending between {_fmt(lo_hb[i])} and {_fmt(hi_hb[i])}",
    )
    return reason


def day_window(
    prev: np.ndarray,
    max_change: np.ndarray,
    lo_hb: np.ndarray,
    hi_hb: np.ndarray,
    lo_name: np.ndarray,
    hi_name: np.ndarray,
    relax_down: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The day's range: the rate limit around the previous price, clipped into the hard bounds
    (they win: a previous price outside them moves to the nearest one), and the guardrail
    setting each end. ``relax_down`` lifts the downward rate limit (excess stock)."""
    down = np.where(relax_down, -np.inf, prev * (1 - max_change))
    up = prev * (1 + max_change)
    lo = np.clip(down, lo_hb, hi_hb)
    hi = np.clip(up, lo_hb, hi_hb)
    # An end set by the rate limit (even when clipped onto the other hard bound: the limit
    # is what stops the price going further) is named max_change.
    lo_names = np.where(down > lo_hb, "max_change", lo_name)
    hi_names = np.where(up < hi_hb, "max_change", hi_name)
    return lo, hi, lo_names, hi_names


def ending_window(
    lo: np.ndarray, hi: np.ndarray, lo_hb: np.ndarray, hi_hb: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest price endings inside [lo, hi]. Where none fits (a rate-limit
    range narrower than the ending step around a price that is no ending), the ending nearest
    the range's middle inside the hard bounds: the rate limit gives way by under one step."""
    lo_e = ending_ceil(np.maximum(lo, LOWEST_PRICE), offset)
    hi_e = ending_floor(hi, offset)
    empty = lo_e > hi_e + _EPS
    hard_lo = ending_ceil(np.maximum(lo_hb, LOWEST_PRICE), offset)
    hard_hi = ending_floor(hi_hb, offset)
    nearest = np.clip(ending_nearest((lo + hi) / 2, offset), hard_lo, hard_hi)
    return np.where(empty, nearest, lo_e), np.where(empty, nearest, hi_e)


def stock_positions(d: ListingDays, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window days until replenishment (from ``days_to_replenish``, else
    ``demand_to_replenish`` / units at the previous price), whether the stock rules apply, and
    whether stock is in excess: more than the days-of-cover limit (and the window) at the
    previous price."""
    units_prev = d.demand.units_at(prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_demand = d.demand_to_replenish / units_prev
    window = np.where(np.isfinite(d.window), d.window, from_demand)
    window = np.where(np.isfinite(window) & (window >= 0), window, np.nan)
    has_stock = np.isfinite(d.stock) & np.isfinite(window) & (d.strategy == "optimize")
    cover_days = np.maximum(d.days_of_cover_limit, window)
    excess = has_stock & (d.stock > units_prev * cover_days) & (d.stock > 0)
    return window, has_stock, excess


def profit_at(d: ListingDays, price: np.ndarray) -> np.ndarray:
    return d.demand.units_at(price) * (d.k * price - d.unit_cost)


def binding_at_edges(
    d: ListingDays,
    price: np.ndarray,
    lo_e: np.ndarray,
    hi_e: np.ndarray,
    lo_name: np.ndarray,
    hi_name: np.ndarray,
) -> np.ndarray:
    """The guardrail a price sits against: it is at an end of its range and the next ending
    outside would earn more."""
    here = profit_at(d, price)
    tol = 1e-9 * np.maximum(np.abs(here), 1.0)
    below = np.maximum(lo_e - ENDING_STEP, LOWEST_PRICE)
    at_lo = (np.abs(price - lo_e) < _EPS) & (lo_e - ENDING_STEP > 0)
    at_lo &= profit_at(d, below) > here + tol
    at_hi = (np.abs(price - hi_e) < _EPS) & (profit_at(d, hi_e + ENDING_STEP) > here + tol)
    return np.where(at_hi, hi_name, np.where(at_lo, lo_name, "none"))


def decide_day(d: ListingDays, prev: np.ndarray, n_grid: int) -> DayDecision:
    """Every listing's price for one day, vectorised, given the previous day's prices."""
    m = len(prev)
    lo_hb, hi_hb, lo_hb_name, hi_hb_name = hard_bounds(d)
    pause = day_pauses(d, lo_hb, hi_hb)
    keep = d.strategy == "keep"
    paused = (pause != "") & ~(keep & (prev > 0))
    safe_prev = np.where(prev > 0, prev, 1.0)
    window, has_stock, excess = stock_positions(d, safe_prev)
    names = (lo_hb_name, hi_hb_name)
    lo, hi, lo_name, hi_name = day_window(safe_prev, d.max_change, lo_hb, hi_hb, *names, excess)
    lo_e, hi_e = ending_window(lo, hi, lo_hb, hi_hb, d.offset)
    # Where excess stock lifted the downward limit, the lowest price it would have allowed.
    no_relief = np.zeros(m, dtype=bool)
    normal = day_window(safe_prev, d.max_change, lo_hb, hi_hb, *names, no_relief)
    normal_lo_e = ending_window(normal[0], normal[1], lo_hb, hi_hb, d.offset)[0]

    price = safe_prev.copy()
    binding = np.full(m, "none", dtype=object)
    stock_applied = np.zeros(m, dtype=bool)
    status_reason = np.full(m, "", dtype=object)

    opt = np.flatnonzero((d.strategy == "optimize") & ~paused)
    if len(opt):
        o = d.take(opt)
        args = (lo_e[opt], hi_e[opt], o.offset, o.demand, o.k, o.unit_cost, safe_prev[opt])
        free, _ = best_price(*args, n_grid=n_grid)
        capped, fits = best_price(*args, stock_cap=(o.stock, window[opt]), n_grid=n_grid)
        short = has_stock[opt] & (np.abs(capped - free) > _EPS)
        chosen = np.where(has_stock[opt], capped, free)
        price[opt] = chosen
        edge = binding_at_edges(o, chosen, lo_e[opt], hi_e[opt], lo_name[opt], hi_name[opt])
        binding[opt] = np.where(short, np.where(fits, "stock", hi_name[opt]), edge)
        markdown = excess[opt] & (chosen < normal_lo_e[opt] - _EPS)
        stock_applied[opt] = short | markdown
        status_reason[opt] = np.where(
            short,
            "stock short of demand until replenishment: priced for sell-through",
            np.where(markdown, "excess stock: markdown past the daily change limit", ""),
        )

    follow = np.flatnonzero((d.strategy == "follow_reference") & ~paused)
    if len(follow):
        target = ending_nearest(d.follow_target[follow], d.offset[follow])
        price[follow] = np.clip(target, lo_e[follow], hi_e[follow])
        binding[follow] = np.where(
            target < lo_e[follow] - _EPS,
            lo_name[follow],
            np.where(target > hi_e[follow] + _EPS, hi_name[follow], "none"),
        )

    # Changes under min_change are not pushed, unless the held price breaks a hard bound.
    move = price / safe_prev - 1
    inside = (safe_prev >= lo_hb - _EPS) & (safe_prev <= hi_hb + _EPS)
    small = ~paused & ~keep & (np.abs(move) < d.min_change) & (np.abs(move) > _EPS) & inside
    price = np.where(small, safe_prev, price)
    binding = np.where(small, "min_change", binding)
    stock_applied &= ~small

    price = np.where(paused | keep, prev, price)
    unchanged = np.abs(price - prev) <= _EPS
    status = np.where(paused, "paused", np.where(keep | unchanged, "kept", "changed"))
    binding = np.where(paused | keep, "none", binding)
    stock_applied &= status == "changed"
    kept_text = np.where(
        keep,
        "strategy keep: the current price is held",
        np.where(
            small,
            "change under the minimum not pushed",
            "the previous price is already the best within the rules",
        ),
    )
    status_reason = np.where(paused, pause, np.where(status == "kept", kept_text, status_reason))
    return DayDecision(
        price=price,
        status=status,
        binding=binding,
        stock_applied=stock_applied,
        status_reason=status_reason,
        lo=np.where(paused | keep, np.nan, lo_e),
        hi=np.where(paused | keep, np.nan, hi_e),
        forced=~inside,
    )


# --- the optimizer ----------------------------------------------------------------------------


def _reason_codes(
    status: np.ndarray,
    binding: np.ndarray,
    strategy: np.ndarray,
    stock_applied: np.ndarray,
    forced: np.ndarray,
    cost_codes: list[list[str]],
) -> list[str]:
    """Drivers first (cost components, stock; else demand, unless a rule alone moved the
    price: another strategy, or a previous price outside the hard bounds), then ``rule``
    when a guardrail binds."""
    out = []
    for i, s in enumerate(status):
        if s == "paused":
            out.append("")
            continue
        ruled = binding[i] != "none" or strategy[i] != "optimize"
        if s == "kept":
            out.append("rule" if ruled else "")
            continue
        codes = list(cost_codes[i]) + (["stock"] if stock_applied[i] else [])
        if not codes and strategy[i] == "optimize" and not forced[i]:
            codes = ["demand"]
        out.append(";".join(codes + (["rule"] if ruled else [])))
    return out


def _changed_text(price_change: np.ndarray, binding: np.ndarray, note: np.ndarray) -> list[str]:
    out = []
    for change, bound, text in zip(price_change, binding, note, strict=True):
        line = f"{'raised' if change > 0 else 'lowered'} {abs(change):.1%}"
        line += f" ({bound} binds)" if bound != "none" else ""
        out.append(f"{line}; {text}" if text else line)
    return out


def optimize_prices(
    listings: pd.DataFrame,
    rules: Mapping[tuple[str, str], PricingRules] | None = None,
    *,
    default_rules: PricingRules = DEFAULT_RULES,
    responses: Mapping[tuple[Any, ...], UnitsFunction] | None = None,
    eu_ending: EuEnding = "99",
    landed_cost_includes_fulfilment: bool = True,
    n_grid: int = DEFAULT_GRID_SIZE,
) -> pd.DataFrame:
    """One recommended price per row of ``listings`` (SKU x marketplace x date).

    Columns read (local currency = the marketplace's; prices displayed, incl. VAT where the
    marketplace's prices include it):
    - required: ``sku``, ``marketplace``, ``date``, ``current_price`` (the live price; the
      first date's starts the plan), ``landed_cost_local`` (per unit, for that date).
    - demand: ``units_ref`` (expected units per day at ``price_ref``, default the current
      price) and ``elasticity``, optionally ``elasticity_se`` (its posterior sd: units are
      then expected over it, ``Demand``), ``curvature`` and ``response_reference`` (the
      price its log is measured from; default ``price_ref``); or a callable in ``responses``
      keyed ``(sku, marketplace)`` or ``(sku, marketplace, date)``, which takes candidate
      prices and returns units.
    - optional: ``currency``, ``vat_rate``, ``prices_include_vat``, ``referral_fee_rate``
      (default: ml.reference.marketplaces), ``fulfilment_fee_local``, ``typical_price``
      (default max price basis, else the current price), ``price_ending``;
      ``reference_price_fx`` or ``usd_per_local`` (band, follow_reference); ``stock_units``
      (on hand + inbound), ``days_to_replenish`` or ``demand_to_replenish``; the landed-cost
      columns and their ``*_then`` twins (``landed_cost_change``) for the reason codes.
    Every input column is passed through after the result columns (``RESULT_COLUMNS``).
    Days of a listing are chained: each day's rate limit and status are against the previous
    day's recommended price (``previous_price``); ``units_current`` / ``profit_current`` are
    at the live price, the do-nothing baseline.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in listings]
    if missing:
        raise ValueError(f"listings lack the columns {', '.join(missing)}")
    frame = listings.sort_values(["sku", "marketplace", "date"], kind="stable").reset_index(
        drop=True
    )
    days = listing_days(
        frame,
        rules or {},
        default_rules,
        responses or {},
        eu_ending,
        landed_cost_includes_fulfilment,
    )
    n = len(frame)
    current = _first_price_per_listing(frame, "current_price")
    rank = frame.groupby(["sku", "marketplace"], sort=False).cumcount().to_numpy()
    previous = np.full(n, np.nan)
    decided = {
        "price": np.full(n, np.nan),
        "status": np.full(n, "", dtype=object),
        "binding": np.full(n, "none", dtype=object),
        "stock_applied": np.zeros(n, dtype=bool),
        "status_reason": np.full(n, "", dtype=object),
        "lo": np.full(n, np.nan),
        "hi": np.full(n, np.nan),
        "forced": np.zeros(n, dtype=bool),
    }
    for r in range(int(rank.max(initial=-1)) + 1):
        idx = np.flatnonzero(rank == r)
        # Sorted by listing then date: a row's previous day is the row before it.
        prev = current[idx] if r == 0 else decided["price"][idx - 1]
        previous[idx] = prev
        day = decide_day(days.take(idx), prev, n_grid)
        for name in decided:
            decided[name][idx] = getattr(day, name)

    price = decided["price"]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = price / previous - 1
    units_now, units_rec = days.demand.units_at(current), days.demand.units_at(price)
    contributions = landed_cost_change(frame)
    cost_codes = cost_reason_codes(
        contributions, np.sign(np.nan_to_num(change)), _column(frame, "landed_cost_local")
    )
    status = decided["status"]
    notes = np.asarray(decided["status_reason"], dtype=object)
    changed = status == "changed"
    notes[changed] = _changed_text(change[changed], decided["binding"][changed], notes[changed])
    ref = _market_reference()
    result = pd.DataFrame(
        {
            "sku": frame["sku"],
            "marketplace": frame["marketplace"],
            "date": frame["date"],
            "currency": _market_value(frame, ref, "currency", "currency"),
            "current_price": current,
            "previous_price": previous,
            "recommended_price": price,
            "price_change": change,
            "units_current": units_now,
            "profit_current": units_now * (days.k * current - days.unit_cost),
            "units_recommended": units_rec,
            "profit_recommended": units_rec * (days.k * price - days.unit_cost),
            "elasticity_used": days.demand.point_elasticity(np.where(price > 0, price, 1.0)),
            "binding_guardrail": decided["binding"],
            "status": status,
            "reason_codes": _reason_codes(
                status,
                decided["binding"],
                days.strategy,
                decided["stock_applied"],
                decided["forced"],
                cost_codes,
            ),
            "status_reason": notes,
            "min_allowed_price": decided["lo"],
            "max_allowed_price": decided["hi"],
            **{c: contributions[c] for c in contributions},
        }
    )
    passed = frame.drop(columns=[c for c in frame if c in result])
    return pd.concat([result, passed], axis=1)
