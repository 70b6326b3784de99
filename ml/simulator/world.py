"""The simulated seller before the day-by-day run: catalogue, listings, FX, prices, promotions,
advertising campaigns. All arrays are indexed by series (one SKU listed in one marketplace) and by
day (0 = first day of history; days beyond the history end are the planning horizon).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from . import calendar as cal
from .reference import FX_LEVELS, MARKETPLACES, PRODUCT_TYPES, lane_specs
from .scenario import Scenario
from .tariffs import (
    ScheduleBlock,
    build_tariff_measures,
    duty_timeline,
    load_schedule,
    published_measures,
    tariff_destination,
)

CATEGORY_CODES = {
    "Audio": "AUD",
    "Apparel": "APP",
    "Toys": "TOY",
    "Bags": "BAG",
    "Footwear": "FTW",
    "Lighting": "LGT",
    "Home": "HOM",
    "Kitchen": "KIT",
    "Home Textiles": "TXT",
    "Computer Accessories": "CMP",
    "Cables": "CBL",
}
BRANDS = (
    "Nordvik",
    "Lumora",
    "Kaito",
    "Brisa",
    "Vantro",
    "Oakleaf",
    "Zenda",
    "Mirabel",
    "Hako",
    "Solenne",
    "Tarn",
    "Quill",
)
VARIANTS = (
    "Black",
    "White",
    "Blue",
    "Grey",
    "Green",
    "Red",
    "Pink",
    "Beige",
    "2-Pack",
    "Large",
    "Small",
    "Deluxe",
)
DECIMALS = {"JPY": 0}  # currencies without minor units
REVIEW_CYCLE_DAYS = 28  # the seller reviews each list price about monthly
REPRICE_THRESHOLD = 0.05  # a new target price is pushed when it moves more than this
PRICE_TEST_RANGE = (0.85, 1.15)  # a test price is the target times a draw from this range
LOGIT_REF_SHARE = (0.1, 0.5)  # range of the logit's choice share at the reference price
# Sales events that come with a promotion window: (calendar event, promo code, window days).
PROMO_EVENTS = {
    "black_friday_week": "BFCM",
    "prime_day": "PRIME",
    "prime_big_deal_days": "PBDD",
    "singles_day": "1111",
    "click_frenzy": "CLICKF",
    "buen_fin": "BUENFIN",
    "hot_sale": "HOTSALE",
    "boxing_day": "BOXING",
    "new_year_sale": "HATSUURI",
}


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """An independent random stream per purpose, so adding draws in one place keeps the rest."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def round_money(x: np.ndarray, currency: str | np.ndarray) -> np.ndarray:
    if isinstance(currency, str):
        return np.round(x, DECIMALS.get(currency, 2))
    out = np.round(x, 2)
    jpy = currency == "JPY"
    out[jpy] = np.round(x[jpy])
    return out


def price_ending(x: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Marketplace price endings: 19.99, 24.95, MXN 299, JPY 1,980."""
    x = np.maximum(np.asarray(x, dtype=float), 1.0)
    out = np.floor(x) + 0.99
    out = np.where(style == "95", np.floor(x) + 0.95, out)
    out = np.where(style == "mx9", np.maximum(np.round(x / 10) * 10 - 1, 9), out)
    yen = np.where(x >= 1000, np.round(x / 100) * 100 - 20, np.maximum(np.round(x / 10) * 10, 10))
    out = np.where(style == "yen80", yen, out)
    return np.round(out, 2)


@dataclass
class World:
    scenario: Scenario
    start: date
    n_hist: int  # days of history
    n_total: int  # history + planning horizon
    markets: list[str]
    catalog: pd.DataFrame  # contract columns + internal ones
    series: pd.DataFrame  # one row per listing, demand parameters + internal columns
    fx: np.ndarray  # currency x day, USD per unit (weekends carry Friday)
    fx_currencies: list[str]
    tariff_rows: list[dict]
    lanes: list  # LaneSpec
    price_changes: pd.DataFrame  # series, day, list_price (day may be < 0 for the first row)
    promotions: pd.DataFrame  # promotion_id, series, promo_type, discount, start, end
    campaigns: pd.DataFrame  # series, start, end, budget
    duty: np.ndarray  # ad valorem duty by (destination, HS code, origin) group and day
    duty_group: np.ndarray  # each series' row of ``duty``
    duty_keys: list[tuple[str, str, str]]  # (destination, HS code, origin) of each row of ``duty``

    def day(self, d: date) -> int:
        return (d - self.start).days

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=int(day))


def _catalog(sc: Scenario, n_hist: int, rng: np.random.Generator) -> pd.DataFrame:
    n = sc.n_skus
    shares = np.array([p.share for p in PRODUCT_TYPES])
    ptype = rng.choice(len(PRODUCT_TYPES), size=n, p=shares / shares.sum())
    rows = []
    u = rng.random((n, 6))
    for i in range(n):
        p = PRODUCT_TYPES[ptype[i]]
        origins, weights = zip(*p.origins, strict=True)
        w = np.asarray(weights) / sum(weights)
        origin = origins[int(np.searchsorted(np.cumsum(w), u[i, 0] * 0.999999))]
        lo, hi = p.cost_usd
        cost_usd = float(np.exp(np.log(lo) + u[i, 1] * (np.log(hi) - np.log(lo))))
        wlo, whi = p.weight_kg
        rows.append(
            {
                "sku": f"KJ-{CATEGORY_CODES[p.category]}-{i + 1:05d}",
                "title": f"{BRANDS[int(u[i, 2] * len(BRANDS))]} {p.titles[int(u[i, 3] * 4)]} "
                f"{VARIANTS[int(u[i, 4] * len(VARIANTS))]}",
                "category": p.category,
                "hs_code": p.hs_code,
                "origin_country": origin,
                "cost_usd": round(cost_usd, 2),
                "weight_kg": round(wlo + u[i, 5] * (whi - wlo), 3),
                "profile": p.seasonal_profile,
            }
        )
    cat = pd.DataFrame(rows)
    if sc.seasonal_profile is not None:  # e.g. a seller of summer products only
        cat["profile"] = sc.seasonal_profile
    # Some Chinese suppliers quote in CNY.
    cat["cost_currency"] = np.where(
        (cat["origin_country"] == "CN") & (rng.random(n) < 0.4), "CNY", "USD"
    )
    launched = rng.random(n) < sc.launch_share
    launch_day = np.where(
        launched, rng.integers(14, max(15, n_hist - 45), n), -rng.integers(60, 1500, n)
    )
    cat["launch_day"] = launch_day
    cat["launched"] = launched
    can_end = launch_day < n_hist - 150
    ends = can_end & (rng.random(n) < sc.discontinued_share / max(can_end.mean(), 1e-9))
    lo_end = np.maximum(launch_day + 120, 60)
    disc = lo_end + (rng.random(n) * np.maximum(n_hist - 10 - lo_end, 1)).astype(int)
    cat["discontinued_day"] = np.where(ends & (lo_end < n_hist - 10), disc, 10**6)
    cat["popularity"] = rng.lognormal(0.0, 1.0, n)
    return cat


def _listings(
    sc: Scenario, cat: pd.DataFrame, n_hist: int, rng: np.random.Generator
) -> pd.DataFrame:
    markets = list(sc.marketplaces)
    share = np.array([MARKETPLACES[m].listing_share for m in markets])
    n = len(cat)
    # Popular SKUs are listed in more marketplaces.
    boost = np.clip(np.log(cat["popularity"].to_numpy()) * 0.15, -0.25, 0.25)
    listed = rng.random((n, len(markets))) < np.clip(share[None, :] + boost[:, None], 0.05, 1)
    none = ~listed.any(axis=1)
    listed[none, 0] = True
    sku_idx, m_idx = np.nonzero(listed)
    s = pd.DataFrame({"sku_idx": sku_idx, "m_idx": m_idx})
    s["sku"] = cat["sku"].to_numpy()[sku_idx]
    s["marketplace"] = np.asarray(markets)[m_idx]
    launch = cat["launch_day"].to_numpy()[sku_idx]
    disc = cat["discontinued_day"].to_numpy()[sku_idx]
    k = len(s)
    # Some listings open later than the SKU: the seller expands to more marketplaces.
    expand = rng.random(k) < 0.15
    later = np.where(
        launch >= 0, launch + rng.integers(20, 200, k), rng.integers(20, max(21, n_hist - 60), k)
    )
    listed_from = np.where(expand, later, launch)
    listed_from = np.minimum(listed_from, np.minimum(disc - 30, n_hist - 30))
    s["listed_from"] = np.maximum(listed_from, launch)
    s["discontinued"] = disc
    s["launched"] = s["listed_from"].to_numpy() >= 0
    return s


def _fx(
    sc: Scenario, n_total: int, start: date, rng: np.random.Generator
) -> tuple[list[str], np.ndarray]:
    """Mean-reverting random walks in log space; rates move on weekdays only."""
    ccys = sorted(FX_LEVELS)
    out = np.empty((len(ccys), n_total))
    weekday = np.array([(start + timedelta(days=t)).weekday() < 5 for t in range(n_total)])
    for i, c in enumerate(ccys):
        level, vol = FX_LEVELS[c]
        x = np.log(level) + rng.normal(0, vol * 0.3)
        z = rng.normal(0, vol / np.sqrt(260), n_total)
        for t in range(n_total):
            if weekday[t]:
                x += 0.004 * (np.log(level) - x) + z[t]
            out[i, t] = x
    return ccys, np.exp(out)


def _usd_level(ccy: np.ndarray) -> np.ndarray:
    return np.array([FX_LEVELS[c][0] if c in FX_LEVELS else 1.0 for c in ccy])


def _significant(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round each currency's row to ``digits`` significant figures (as rates are quoted)."""
    out = np.empty_like(x)
    for i, row in enumerate(x):
        decimals = digits - 1 - int(np.floor(np.log10(np.abs(row[0]))))
        out[i] = np.round(row, decimals)
    return out


ORDER_ID_MULT = 98_245_163  # coprime with 10 and < 10**8 (see _mulmod)
ORDER_ID_MULT2 = 73_939_133


def _mulmod(a: np.ndarray, b: int, m: int) -> np.ndarray:
    """(a * b) % m without int64 overflow for a < m = 10**14 and b < 10**8."""
    hi, lo = divmod(b, 10**4)
    return ((a * hi % m) * 10**4 % m + a * lo % m) % m


def order_id_parts(numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 7-digit blocks that look random but are a bijection of the order counter."""
    m = 10**14
    x = _mulmod(np.asarray(numbers, dtype=np.int64) % m, ORDER_ID_MULT, m)
    x = (x % 10**7) * 10**7 + x // 10**7  # swap the halves, then mix again
    x = (_mulmod(x, ORDER_ID_MULT2, m) + 4_862_193_537) % m
    return x // 10**7, x % 10**7


def build_world(sc: Scenario) -> World:
    start, n_hist = sc.history_start, sc.n_days
    n_total = n_hist + sc.planning_horizon_days
    markets = list(sc.marketplaces)
    cat = _catalog(sc, n_hist, rng_for(sc.seed, "catalog"))
    ccys, fx = _fx(sc, n_total, start, rng_for(sc.seed, "fx"))
    fx = _significant(fx)
    fx_idx = {c: i for i, c in enumerate(ccys)}
    cny0 = fx[fx_idx["CNY"], 0]
    cat["unit_cost"] = np.where(
        cat["cost_currency"] == "CNY", (cat["cost_usd"] / cny0).round(2), cat["cost_usd"]
    )
    ser = _listings(sc, cat, n_hist, rng_for(sc.seed, "listings"))
    _demand_parameters(sc, cat, ser, rng_for(sc.seed, "parameters"))

    dests = sorted(
        {
            tariff_destination(MARKETPLACES[m].country, MARKETPLACES[m].customs_union)
            for m in markets
        }
    )
    schedule = load_schedule()
    if sc.extra_tariff_path is not None:
        schedule = _extend_schedule(schedule, load_schedule(sc.extra_tariff_path))
    tariff_rows = build_tariff_measures(cat["hs_code"].tolist(), dests, schedule)
    duty_group, duty, duty_keys = _duty_by_group(sc, cat, ser, tariff_rows, n_total)
    ser["price_tests"] = _price_testers(sc.price_test_share, len(ser), sc.seed)
    lanes = lane_specs(markets)
    price_changes = _prices(
        sc,
        world_inputs=(cat, ser, fx, fx_idx, duty_group, duty, lanes),
        n_total=n_total,
        rng=rng_for(sc.seed, "prices"),
    )
    promotions = _promotions(sc, ser, n_total, rng_for(sc.seed, "promotions"))
    campaigns = _campaigns(sc, ser, n_total, rng_for(sc.seed, "ads"))
    return World(
        sc,
        start,
        n_hist,
        n_total,
        markets,
        cat,
        ser,
        fx,
        ccys,
        tariff_rows,
        lanes,
        price_changes,
        promotions,
        campaigns,
        duty,
        duty_group,
        duty_keys,
    )


def _extend_schedule(
    built_in: tuple[ScheduleBlock, ...], extra: tuple[ScheduleBlock, ...]
) -> tuple[ScheduleBlock, ...]:
    """The built-in schedule's blocks, then the scenario's (the built-in ids stay as they are)."""
    clash = {b.name for b in built_in} & {b.name for b in extra}
    if clash:
        raise ValueError(f"extra tariff schedule: block {sorted(clash)[0]!r} is already built in")
    return (*built_in, *extra)


def _price_testers(share: float, k: int, seed: int) -> np.ndarray:
    """Which listings run price tests; on their own stream, so the price draws stay as they are
    (share 1: every listing, without a draw)."""
    if share >= 1.0:
        return np.ones(k, dtype=bool)
    return rng_for(seed, "price_testers").random(k) < share


def _demand_parameters(
    sc: Scenario, cat: pd.DataFrame, s: pd.DataFrame, rng: np.random.Generator
) -> None:
    k = len(s)
    sku_idx = s["sku_idx"].to_numpy()
    size = np.array([MARKETPLACES[m].size for m in s["marketplace"]])
    raw = cat["popularity"].to_numpy()[sku_idx] * size * rng.lognormal(0, 0.5, k)
    s["base"] = raw / raw.mean() * sc.mean_daily_units
    s["growth"] = np.clip(rng.normal(0.03, 0.25, k), -0.6, 0.8)
    s["ramp_days"] = rng.uniform(10, 60, k)
    prof = cat["profile"].to_numpy()[sku_idx]
    s["profile_key"] = [cal.profile_key(p, m) for p, m in zip(prof, s["marketplace"], strict=True)]
    s["season_strength"] = rng.uniform(*sc.season_strength_range, k)
    s["event_sensitivity"] = rng.uniform(0.6, 1.3, k)
    lo, hi = sc.elasticity_range
    sku_el = rng.uniform(lo, hi, len(cat))
    s["elasticity"] = np.clip(sku_el[sku_idx] + rng.normal(0, 0.25, k), lo, hi)
    s["promo_uplift"] = rng.uniform(0.05, 0.5, k)
    ccy = np.array([MARKETPLACES[m].currency for m in s["marketplace"]])
    s["currency"] = ccy
    weight = np.sqrt(s["base"].to_numpy() / s["base"].mean())
    p_ad = np.clip(sc.ad_share * weight / max(weight.mean(), 1e-9), 0, 0.95)
    s["advertised"] = rng.random(k) < p_ad
    s["ad_beta"] = np.where(s["advertised"], rng.uniform(0.05, 0.3, k), 0.0)
    s["ad_budget_usd"] = rng.uniform(2.0, 15.0, k)
    # Ad returns saturate around the listing's typical budget (in local currency).
    s["ad_scale"] = s["ad_budget_usd"].to_numpy() / _usd_level(ccy) * 0.5
    s["nb_size"] = rng.uniform(*sc.nb_size_range, k)
    s["margin"] = rng.uniform(0.15, 0.40, k)
    s["rail"] = np.isin(s["marketplace"], ("DE", "FR", "IT", "ES")) & (rng.random(k) < 0.25)
    s["expedites"] = rng.random(k) < 0.5
    s["review_offset"] = rng.integers(0, REVIEW_CYCLE_DAYS, k)
    s["reaction_lag"] = rng.integers(0, 10, k)
    if sc.price_response == "logit":  # own stream: the constant seller's draws stay as they are
        s["ref_share"] = rng_for(sc.seed, "price_response").uniform(*LOGIT_REF_SHARE, k)


def _duty_by_group(
    sc: Scenario, cat: pd.DataFrame, s: pd.DataFrame, tariff_rows: list[dict], n_total: int
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str, str]]]:
    """Each series' (destination, HS code, origin) group, the daily duty of each group, and
    the groups."""
    mk = [MARKETPLACES[m] for m in s["marketplace"]]
    sku_idx = s["sku_idx"].to_numpy()
    dest = np.array([tariff_destination(m.country, m.customs_union) for m in mk])
    hs = cat["hs_code"].to_numpy()[sku_idx]
    origin = cat["origin_country"].to_numpy()[sku_idx]
    keys = pd.Series([f"{d}|{h}|{o}" for d, h, o in zip(dest, hs, origin, strict=True)])
    codes, uniq = pd.factorize(keys)
    groups = [(d, h, o) for d, h, o in (u.split("|") for u in uniq)]
    return np.asarray(codes), _group_duty(tariff_rows, groups, sc.history_start, n_total), groups


def _group_duty(
    rows: list[dict], groups: list[tuple[str, str, str]], start: date, n_days: int
) -> np.ndarray:
    return np.stack([duty_timeline(rows, d, h, o, start, n_days) for d, h, o in groups])


class DutyOutlook:
    """The duty of each listing and day as published on a given day (``published_measures``):
    what a seller can know in advance, announced measures included. The published set changes
    only when a measure is announced, starts or ends, so the latest set's timeline is kept."""

    def __init__(self, world: World):
        self._world = world
        self._key: tuple = ()
        self._timeline = np.zeros((0, 0))

    def __call__(self, as_of: int, first_day: int, last_day: int) -> np.ndarray:
        """Series x day from ``first_day`` to ``last_day`` (inclusive, any days from 0)."""
        w = self._world
        if not 0 <= first_day <= last_day:
            raise ValueError(f"days from 0 with first <= last, got {first_day}..{last_day}")
        rows = published_measures(w.tariff_rows, w.date_of(as_of))
        key = tuple((r["measure_id"], r["valid_to"]) for r in rows)
        if key != self._key or self._timeline.shape[1] <= last_day:
            n_days = max(w.n_total, last_day + 1)
            self._key, self._timeline = key, _group_duty(rows, w.duty_keys, w.start, n_days)
        return self._timeline[w.duty_group, first_day : last_day + 1]


@dataclass(frozen=True)
class ListingEconomics:
    """What one unit of each listing costs the seller and what it keeps of a price.

    Landed cost in USD: goods, ocean freight (1.2 x the lane's rate per kg), insurance, the
    duty of the day on the customs value (CIF or FOB by marketplace) and the fulfilment fee at
    the day's FX. Of a displayed price the seller keeps ``kept_share``: the price net of VAT
    (where prices include it) less the referral fee on the displayed price.
    """

    cost: np.ndarray  # USD, by series
    freight: np.ndarray
    insurance: np.ndarray
    customs_value: np.ndarray
    fee_local: np.ndarray  # fulfilment fee, local currency
    referral: np.ndarray
    vat_mult: np.ndarray  # 1 + VAT where displayed prices include it, else 1
    margin: np.ndarray  # the simulated seller's target margin

    def landed_usd(self, rows: np.ndarray, duty: np.ndarray, fx: np.ndarray) -> np.ndarray:
        """Landed cost per unit in USD of listings ``rows`` at ``duty`` and ``fx`` (USD per
        unit of local currency)."""
        return (
            self.cost[rows]
            + self.freight[rows]
            + self.insurance[rows]
            + duty * self.customs_value[rows]
            + self.fee_local[rows] * fx
        )

    @property
    def kept_share(self) -> np.ndarray:
        return 1.0 / self.vat_mult - self.referral


def _economics(
    cat: pd.DataFrame, s: pd.DataFrame, lanes: list, mode: str = "ocean"
) -> ListingEconomics:
    sku_idx = s["sku_idx"].to_numpy()
    mk = [MARKETPLACES[m] for m in s["marketplace"]]
    by_market = {ln.destination: ln for ln in lanes if ln.mode == mode}
    cost = cat["cost_usd"].to_numpy()[sku_idx]
    weight = cat["weight_kg"].to_numpy()[sku_idx]
    lane = [by_market.get(m.code) for m in mk]  # None: no lane of this mode (freight NaN)
    per_kg = np.array([np.nan if ln is None else ln.cost_per_kg for ln in lane])
    freight = per_kg * weight * 1.2
    insurance = cost * np.array([np.nan if ln is None else ln.insurance_rate for ln in lane])
    cif = np.array([m.customs_basis == "CIF" for m in mk])
    return ListingEconomics(
        cost=cost,
        freight=freight,
        insurance=insurance,
        customs_value=np.where(cif, cost + freight + insurance, cost),
        fee_local=np.array([m.fulfilment_fee_per_unit for m in mk])
        + np.array([m.fulfilment_fee_per_kg for m in mk]) * weight,
        referral=np.array([m.referral_fee_rate for m in mk]),
        vat_mult=np.array([1 + m.vat_rate if m.prices_include_vat else 1.0 for m in mk]),
        margin=s["margin"].to_numpy(),
    )


def listing_economics(world: World, mode: str = "ocean") -> ListingEconomics:
    """Every listing's economics with its stock brought in by ``mode`` (the simulated seller's
    landed cost: ocean); a listing without a lane of that mode has NaN freight."""
    return _economics(world.catalog, world.series, world.lanes, mode)


def _target_rule(world_inputs, n_hist: int) -> Callable[[int, np.ndarray], np.ndarray]:
    """The seller's cost-plus target list price of listings ``rows`` on day ``t`` (before price
    endings): landed cost (``ListingEconomics``) grossed up for the referral fee and margin, in
    local currency with VAT where prices include it. Days after the history are priced at the
    last known FX rate."""
    cat, s, fx, fx_idx, codes, duty, lanes = world_inputs
    econ = _economics(cat, s, lanes)
    ccy = s["currency"].to_numpy()
    fx_row = np.array([fx_idx.get(c, -1) for c in ccy])
    fx_t = np.where(fx_row[:, None] >= 0, fx[np.maximum(fx_row, 0)], 1.0)  # series x day
    fx_t[:, n_hist:] = fx_t[:, [n_hist - 1]]  # the future is priced at the last known rate

    def target(t: int, rows: np.ndarray) -> np.ndarray:
        f = fx_t[rows, t]
        landed = econ.landed_usd(rows, duty[codes[rows], t], f)
        net_usd = landed / (1 - econ.referral[rows] - econ.margin[rows])
        return net_usd / f * econ.vat_mult[rows]

    return target


def target_price(world: World) -> Callable[[int, np.ndarray], np.ndarray]:
    """The built world's ``_target_rule``: the price the plan follows between price tests."""
    fx_idx = {c: i for i, c in enumerate(world.fx_currencies)}
    inputs = (
        world.catalog,
        world.series,
        world.fx,
        fx_idx,
        world.duty_group,
        world.duty,
        world.lanes,
    )
    return _target_rule(inputs, world.n_hist)


def _prices(sc: Scenario, world_inputs, n_total: int, rng: np.random.Generator) -> pd.DataFrame:
    """List-price changes: target price from landed cost and margin, pushed when it moves >5 %,
    reviewed monthly and after tariff changes; occasional price tests around the target by the
    listings that test (``price_tests``: all of them at price_test_share 1)."""
    _, s, _, _, codes, duty, _ = world_inputs
    target = _target_rule(world_inputs, sc.n_days)
    k = len(s)
    style = np.array([MARKETPLACES[m].price_ending for m in s["marketplace"]])
    changed = np.zeros_like(duty, dtype=bool)
    changed[:, 1:] = np.abs(np.diff(duty, axis=1)) > 1e-12
    lag = s["reaction_lag"].to_numpy()
    offset = s["review_offset"].to_numpy()
    listed_from = s["listed_from"].to_numpy()
    disc = s["discontinued"].to_numpy()
    testers = s["price_tests"].to_numpy()

    first_day = np.maximum(listed_from, 0)
    # Listings older than the history keep the price that was current at its start.
    first_valid = np.where(
        listed_from < 0, np.maximum(listed_from, -rng.integers(1, 120, k)), listed_from
    )
    current = np.zeros(k)
    all_rows = np.arange(k)
    init = all_rows[first_day == 0]
    current[init] = price_ending(target(0, init), style[init])
    ser_out = [init]
    day_out = [first_valid[init]]
    price_out = [current[init].copy()]
    ref_price = current.copy()
    for t in range(1, n_total):
        new = all_rows[first_day == t]
        if len(new):
            current[new] = price_ending(target(t, new), style[new])
            ref_price[new] = current[new]
            ser_out.append(new)
            day_out.append(np.full(len(new), t))
            price_out.append(current[new].copy())
        active = (first_day < t) & (t <= disc)
        review = active & (
            ((t - offset) % REVIEW_CYCLE_DAYS == 0)
            | changed[codes, np.clip(t - lag, 0, n_total - 1)] & (t - lag > 0)
        )
        rows = all_rows[review]
        if not len(rows):
            continue
        tgt = target(t, rows)
        move = np.abs(tgt / current[rows] - 1) > REPRICE_THRESHOLD
        # The draws happen for every reviewed row, testers or not, so the share moves no draw.
        price_test = (~move) & (rng.random(len(rows)) < sc.price_test_rate) & testers[rows]
        tgt = np.where(price_test, tgt * rng.uniform(*PRICE_TEST_RANGE, len(rows)), tgt)
        upd = move | price_test
        newp = price_ending(tgt[upd], style[rows[upd]])
        really = np.abs(newp - current[rows[upd]]) > 1e-9
        r = rows[upd][really]
        current[r] = newp[really]
        ser_out.append(r)
        day_out.append(np.full(len(r), t))
        price_out.append(current[r].copy())
    s["ref_price"] = ref_price
    out = pd.DataFrame(
        {
            "series": np.concatenate(ser_out),
            "day": np.concatenate(day_out),
            "list_price": np.concatenate(price_out),
        }
    )
    out = out.sort_values(["series", "day"], kind="stable").reset_index(drop=True)
    return out


def _event_windows(sc: Scenario, n_total: int) -> list[tuple[str, str, int, int, str]]:
    """(market, code, first day, last day, event) of promotion windows within the run."""
    start = sc.history_start
    end = start + timedelta(days=n_total - 1)
    out = []
    for year in range(start.year, end.year + 1):
        events = cal.sales_events(year)
        bf_week = next(e for e in events if e[0] == "black_friday_week")
        for name, first, days, markets, _ in events:
            if name not in PROMO_EVENTS:
                continue
            last = first + timedelta(days=days - 1)
            if name == "black_friday_week":  # the deal runs through Cyber Monday
                last = bf_week[1] + timedelta(days=10)
            if name == "boxing_day":
                last = first + timedelta(days=5)
            a, b = (first - start).days, (last - start).days
            if b < 0 or a > n_total - 1:
                continue
            for m in markets:
                if m in sc.marketplaces:
                    out.append((m, PROMO_EVENTS[name], max(a, 0), min(b, n_total - 1), name))
    return out


def _promotions(
    sc: Scenario, s: pd.DataFrame, n_total: int, rng: np.random.Generator
) -> pd.DataFrame:
    k = len(s)
    listed_from = s["listed_from"].to_numpy()
    end_day = np.minimum(s["discontinued"].to_numpy(), n_total - 1)
    mk = s["marketplace"].to_numpy()
    ev_parts = []
    for m, code, a, b, _name in _event_windows(sc, n_total):
        rows = np.nonzero((mk == m) & (listed_from <= a) & (end_day >= b))[0]
        rows = rows[rng.random(len(rows)) < sc.event_participation]
        if not len(rows):
            continue
        disc = rng.choice(
            [0.10, 0.15, 0.20, 0.25, 0.30], size=len(rows), p=[0.2, 0.25, 0.25, 0.2, 0.1]
        )
        pid = f"EV-{m}-{(sc.history_start + timedelta(days=a)).strftime('%Y%m%d')}-{code}"
        ev_parts.append(
            pd.DataFrame(
                {
                    "promotion_id": pid,
                    "series": rows,
                    "promo_type": "event",
                    "discount": disc,
                    "start": a,
                    "end": b,
                }
            )
        )
    cols = ["promotion_id", "series", "promo_type", "discount", "start", "end"]
    events = pd.concat(ev_parts, ignore_index=True) if ev_parts else pd.DataFrame(columns=cols)
    # Random deals (1-7 days) and coupons (1-4 weeks) over each listing's active days.
    first = np.maximum(listed_from, 0)
    active = np.maximum(end_day - first + 1, 0)
    rand = []
    for kind, every, (dlo, dhi), discounts in (
        ("deal", 75.0, (1, 8), [0.10, 0.15, 0.20, 0.25, 0.30, 0.35]),
        ("coupon", 120.0, (7, 29), [0.05, 0.10, 0.15]),
    ):
        n_per = rng.poisson(sc.promo_intensity * active / every)
        ser = np.repeat(np.arange(k), n_per)
        if not len(ser):
            continue
        st = first[ser] + (rng.random(len(ser)) * active[ser]).astype(int)
        en = np.minimum(st + rng.integers(dlo, dhi, len(ser)) - 1, end_day[ser])
        rand.append(
            pd.DataFrame(
                {
                    "promotion_id": kind,
                    "series": ser,
                    "promo_type": kind,
                    "discount": rng.choice(discounts, len(ser)),
                    "start": st,
                    "end": en,
                }
            )
        )
    if rand:
        r = pd.concat(rand, ignore_index=True)
        # Drop random promotions overlapping a sales event of the same listing.
        big = np.int64(n_total + 10)
        ev = events.sort_values(["series", "start"])
        ev_end_key = ev["series"].to_numpy(np.int64) * big + ev["end"].to_numpy(np.int64)
        ev_start = ev["start"].to_numpy(np.int64)
        ev_ser = ev["series"].to_numpy(np.int64)
        rs, rst, ren = (
            r["series"].to_numpy(np.int64),
            r["start"].to_numpy(np.int64),
            r["end"].to_numpy(np.int64),
        )
        pos = np.searchsorted(ev_end_key, rs * big + rst, side="left")
        ok = pos >= len(ev_end_key)
        inside = ~ok
        p = np.minimum(pos, max(len(ev_end_key) - 1, 0))
        clash = inside & (ev_ser[p] == rs) & (ev_start[p] <= ren) if len(ev) else inside
        r = r[~clash]
        # Then drop random promotions overlapping an earlier one of the same listing.
        r = r.sort_values(["series", "start", "end"], kind="stable").reset_index(drop=True)
        prev_end = r.groupby("series")["end"].cummax().groupby(r["series"]).shift(1)
        r = r[~(r["start"] <= prev_end.fillna(-1))]
        r = r.reset_index(drop=True)
        r["promotion_id"] = [
            f"{'DL' if t == 'deal' else 'CP'}-{i + 1:07d}" for i, t in enumerate(r["promo_type"])
        ]
        promos = pd.concat([events, r], ignore_index=True)
    else:
        promos = events
    promos = promos.astype(
        {"series": np.int64, "start": np.int64, "end": np.int64, "discount": float}
    )
    return promos.sort_values(["start", "series"], kind="stable").reset_index(drop=True)


def _campaigns(
    sc: Scenario, s: pd.DataFrame, n_total: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Advertised listings run campaigns of 3-13 weeks with pauses of 2-8 weeks."""
    ads = np.nonzero(s["advertised"].to_numpy())[0]
    first = np.maximum(s["listed_from"].to_numpy()[ads], 0)
    end_day = np.minimum(s["discontinued"].to_numpy()[ads], n_total - 1)
    ccy = s["currency"].to_numpy()[ads]
    budget_local = s["ad_budget_usd"].to_numpy()[ads] / _usd_level(ccy)
    parts = []
    cursor = first + rng.integers(0, 30, len(ads))
    while True:
        live = cursor <= end_day
        if not live.any():
            break
        length = rng.integers(21, 92, len(ads))
        b = round_money(budget_local * rng.uniform(0.7, 1.3, len(ads)), ccy)
        parts.append(
            pd.DataFrame(
                {
                    "series": ads[live],
                    "start": cursor[live],
                    "end": np.minimum(cursor + length - 1, end_day)[live],
                    "budget": b[live],
                }
            )
        )
        cursor = cursor + length + rng.integers(14, 57, len(ads))
    if not parts:
        return pd.DataFrame(
            {
                "series": pd.Series(dtype=np.int64),
                "start": pd.Series(dtype=np.int64),
                "end": pd.Series(dtype=np.int64),
                "budget": pd.Series(dtype=float),
            }
        )
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["start", "series"], kind="stable").reset_index(drop=True)
