"""Run the simulated seller day by day and write the raw files and the ground truth.

The run loops over days and vectorises across series (SKU x marketplace): demand, censoring by
stock, order lines, replenishment shipments, hub purchase orders and inventory snapshots.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from ml import contract
from ml.contract import entity
from ml.settings import DataPaths

from . import calendar as cal
from .demand import lifecycle, mean_demand, sample_demand
from .issues import inject_issues
from .reference import HUB_ID, MARKETPLACES
from .scenario import ISSUE_RULES, Scenario
from .world import World, build_world, order_id_parts, rng_for, round_money

MARKER = ".kuajing_simulator.json"  # in raw/: the folder was written by the simulator
TRUTH_SAMPLE_SERIES = 40  # series whose daily true mean is stored to check the truth against


@dataclass
class GenerationSummary:
    scenario: str
    seed: int
    history_start: date
    history_end: date
    n_skus: int
    n_series: int
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stockout_share: float = 0.0  # listed series-days that opened with no stock
    injected_issues: dict[str, int] = field(default_factory=dict)
    raw_dir: Path | None = None
    truth_dir: Path | None = None

    def __str__(self) -> str:
        lines = [
            f"Simulated seller '{self.scenario}' (seed {self.seed}): {self.n_skus} SKUs, "
            f"{self.n_series} listings, {self.history_start} .. {self.history_end}, "
            f"{self.seconds:.1f} s",
            f"  raw files in {self.raw_dir}",
        ]
        for name in self.rows:
            lines.append(f"  {name:<16} {self.rows[name]:>11,} rows  {self.files[name]:>4} files")
        lines.append(f"  stock-out days: {self.stockout_share:.1%} of listed days")
        bad = {k: v for k, v in self.injected_issues.items() if v}
        lines.append(
            "  injected data issues: "
            + (", ".join(f"{k} {v}" for k, v in bad.items()) if bad else "none")
        )
        lines.append(f"  ground truth in {self.truth_dir} (the pipeline never reads it)")
        return "\n".join(lines)


class IntervalTrack:
    """A per-series value that holds over [start, end] intervals (no overlaps per series)."""

    def __init__(self, n_series: int, series, start, end, value, n_days: int):
        series, start, end = (np.asarray(a, dtype=np.int64) for a in (series, start, end))
        value = np.asarray(value, dtype=float)
        self.current = np.zeros(n_series)
        o = np.argsort(start, kind="stable")
        self.s_ser, self.s_day, self.s_val = series[o], start[o], value[o]
        o = np.argsort(end, kind="stable")
        self.e_ser, self.e_day = series[o], end[o]
        self.s_cut = np.searchsorted(self.s_day, np.arange(n_days + 1), side="left")
        self.e_cut = np.searchsorted(self.e_day, np.arange(n_days + 1) - 1, side="left")

    def advance(self, t: int) -> np.ndarray:
        """Values on day ``t`` (call with t = 0, 1, 2, ...)."""
        a, b = self.e_cut[t], self.e_cut[t + 1]  # intervals that ended yesterday
        self.current[self.e_ser[a:b]] = 0.0
        a, b = self.s_cut[t], self.s_cut[t + 1]
        self.current[self.s_ser[a:b]] = self.s_val[a:b]
        return self.current


def _check_target(paths: DataPaths) -> None:
    """Refuse to mix simulated files into a raw folder holding someone else's data."""
    raw = paths.raw
    if not raw.exists() or (raw / MARKER).exists():
        return
    foreign = [p for p in raw.rglob("*") if p.is_file() and p.name != ".gitkeep"]
    if foreign:
        raise FileExistsError(
            f"{raw} already holds data not written by the simulator (e.g. {foreign[0]}); "
            "generate into an empty data folder or remove those files first"
        )


def _clear(paths: DataPaths, entities: list[str]) -> None:
    from ml.ingest import discover_files

    for name in entities:
        for p in discover_files(paths.raw, name):  # what ingest would read, subfolders too
            p.unlink()
    if paths.truth.exists():
        shutil.rmtree(paths.truth)


def _write_csv(df: pd.DataFrame, name: str, path: Path) -> None:
    cols = list(entity(name).column_names)
    df = df[cols].copy()
    for c in df.columns:
        if df[c].dtype == bool:
            df[c] = np.where(df[c], "true", "false")
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")


def order_ids(numbers: np.ndarray, prefixes: np.ndarray) -> pa.Array:
    """Amazon-style ids (113-4829304-1234567) from unique counters, scrambled bijectively."""
    hi, lo = order_id_parts(numbers)
    a = pc.utf8_lpad(pa.array(hi).cast(pa.string()), width=7, padding="0")
    b = pc.utf8_lpad(pa.array(lo).cast(pa.string()), width=7, padding="0")
    return pc.binary_join_element_wise(pa.array(prefixes, pa.string()), a, b, "-")


ORDER_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("order_date", pa.timestamp("s")),
        ("marketplace", pa.string()),
        ("sku", pa.string()),
        ("quantity", pa.int64()),
        ("unit_price", pa.float64()),
        ("currency", pa.string()),
    ]
)
INVENTORY_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
        ("warehouse_id", pa.string()),
        ("sku", pa.string()),
        ("on_hand", pa.int64()),
    ]
)
AD_SCHEMA = pa.schema(
    [
        ("spend_date", pa.date32()),
        ("sku", pa.string()),
        ("marketplace", pa.string()),
        ("spend", pa.float64()),
        ("currency", pa.string()),
    ]
)


class _MonthlyWriter:
    """Buffers one month of rows per entity and writes ``<entity>_YYYY-MM.parquet``."""

    def __init__(self, folder: Path, stem: str, schema: pa.Schema):
        self.folder, self.stem, self.schema = folder, stem, schema
        self.parts: list[dict[str, np.ndarray]] = []
        self.rows = 0
        self.files: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, cols: dict[str, np.ndarray]) -> None:
        if len(next(iter(cols.values()))):
            self.parts.append(cols)

    def flush(self, month: str, build) -> None:
        if not self.parts:
            return
        cols = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        self.parts = []
        table = build(cols)
        path = self.folder / f"{self.stem}_{month}.parquet"
        pq.write_table(table.cast(self.schema), path)
        self.rows += table.num_rows
        self.files.append(path)


def generate(scenario: Scenario, paths: DataPaths, *, progress: bool = False) -> GenerationSummary:
    """Write every raw entity into ``paths.raw`` and the ground truth into ``paths.truth``."""
    t0 = time.perf_counter()
    _check_target(paths)
    names = list(contract.ENTITY_NAMES)
    _clear(paths, names)
    paths.raw.mkdir(parents=True, exist_ok=True)
    paths.truth.mkdir(parents=True, exist_ok=True)
    world = build_world(scenario)
    summary = GenerationSummary(
        scenario.name,
        scenario.seed,
        scenario.history_start,
        scenario.history_end,
        scenario.n_skus,
        len(world.series),
        raw_dir=paths.raw,
        truth_dir=paths.truth,
    )
    sim = _simulate(world, paths, progress)
    files: dict[str, list[Path]] = defaultdict(list)
    rows: dict[str, int] = {}
    for name in ("orders", "inventory", "ad_spend"):
        files[name] = sim[name].files
        rows[name] = sim[name].rows
    tables = _static_tables(world, sim)
    issue_rng = rng_for(scenario.seed, "issues")
    injected, injected_rows, tables["tariff_measures"], extra_files = inject_issues(
        scenario.data_issues,
        issue_rng,
        paths.raw,
        files["orders"],
        tables["tariff_measures"],
        set(world.catalog["sku"]),
        sim["next_order_no"],
        world.n_hist,
        scenario.history_start,
    )
    for name, df in tables.items():
        path = paths.raw_entity(name) / f"{name}.csv"
        _write_csv(df, name, path)
        files[name] = [path]
        rows[name] = len(df)
    files["orders"] += extra_files
    rows["orders"] = sum(
        pq.read_metadata(p).num_rows if p.suffix == ".parquet" else len(pd.read_csv(p))
        for p in files["orders"]
    )
    _write_truth(world, sim, paths.truth, injected, injected_rows)
    (paths.raw / MARKER).write_text(
        json.dumps({"scenario": scenario.name, "seed": scenario.seed}) + "\n"
    )
    summary.rows = {n: rows[n] for n in names}
    summary.files = {n: len(files[n]) for n in names}
    summary.injected_issues = injected
    summary.stockout_share = sim["stockout_days"] / max(sim["listed_days"], 1)
    summary.seconds = time.perf_counter() - t0
    return summary


def _lane_by_market_and_mode(world: World) -> dict[tuple[str, str], int]:
    return {(ln.destination, ln.mode): i for i, ln in enumerate(world.lanes)}


def _transit(
    rng: np.random.Generator, mode: str, typical: int, tmin: int, late_share: float
) -> int:
    """Actual transit of one departure: small noise, and a heavy late tail (ocean worst)."""
    noise_sd, late_p, late_mean = {
        "ocean": (1.5, late_share, 9.0),
        "rail": (1.5, late_share * 0.6, 4.0),
        "air": (1.0, 0.10, 2.0),
        "express": (0.7, 0.05, 1.5),
    }[mode]
    days = typical + rng.normal(0, noise_sd)
    if rng.random() < late_p:
        days += min(rng.exponential(late_mean), 5 * late_mean) + 1
    return int(max(tmin, round(days)))


def _simulate(world: World, paths: DataPaths, progress: bool) -> dict:
    sc = world.scenario
    s = world.series
    cat = world.catalog
    k = len(s)
    n_hist, n_total = world.n_hist, world.n_total
    rng = rng_for(sc.seed, "simulation")
    t_rng = rng_for(sc.seed, "transit")
    markets = world.markets
    m_idx = s["m_idx"].to_numpy()
    sku_idx = s["sku_idx"].to_numpy()
    n_sku = len(cat)
    sku_codes = cat["sku"].to_numpy().astype(object)
    ser_sku = sku_codes[sku_idx]
    ser_mkt = s["marketplace"].to_numpy().astype(object)
    ser_ccy = s["currency"].to_numpy().astype(object)
    mk = [MARKETPLACES[m] for m in markets]
    prefix = np.array([m.order_prefix for m in mk], dtype=object)[m_idx]
    wh_of_series = np.array([m.warehouse_id for m in mk], dtype=object)[m_idx]
    weight = cat["weight_kg"].to_numpy()[sku_idx]

    dates = pd.date_range(world.start, periods=n_total, freq="D")
    dow = dates.dayofweek.to_numpy()
    doy = dates.dayofyear.to_numpy()
    weekly = np.stack([cal.weekly_factor(m, dow) for m in markets])  # market x day
    event = np.stack([cal.event_factor(m, dates) for m in markets])
    pkeys = s["profile_key"].to_numpy()
    pk_codes, pk_uniq = pd.factorize(pkeys)
    shapes = np.stack([cal.yearly_log_shape(p, doy)[0] for p in pk_uniq])
    amps = np.array([cal.yearly_log_shape(p, doy[:1])[1] for p in pk_uniq])
    strength = s["season_strength"].to_numpy() * amps[pk_codes]
    yearly_norm = np.i0(strength)

    base = s["base"].to_numpy()
    growth = s["growth"].to_numpy()
    listed_from = s["listed_from"].to_numpy()
    disc = s["discontinued"].to_numpy()
    ramp = s["ramp_days"].to_numpy()
    sens = s["event_sensitivity"].to_numpy()
    elast = s["elasticity"].to_numpy()
    ref_price = s["ref_price"].to_numpy()
    uplift = s["promo_uplift"].to_numpy()
    ad_beta = s["ad_beta"].to_numpy()
    ad_scale = s["ad_scale"].to_numpy()
    nb_size = s["nb_size"].to_numpy()

    pc_ = world.price_changes
    price_track_day = np.maximum(pc_["day"].to_numpy(), 0)
    order = np.argsort(price_track_day, kind="stable")
    price_ser = pc_["series"].to_numpy()[order]
    price_val = pc_["list_price"].to_numpy()[order]
    price_track_day = price_track_day[order]
    price_cut = np.searchsorted(price_track_day, np.arange(n_total + 1), side="left")
    list_price = ref_price.copy()
    promo = world.promotions
    disc_track = IntervalTrack(
        k, promo["series"], promo["start"], promo["end"], promo["discount"], n_total
    )
    camp = world.campaigns
    budget_track = IntervalTrack(
        k, camp["series"], camp["start"], camp["end"], camp["budget"], n_total
    )

    # Lanes and the seller's planning lead times.
    lane_by = _lane_by_market_and_mode(world)
    lanes = world.lanes
    rail = s["rail"].to_numpy()
    main_lane = np.array(
        [lane_by[(m, "rail" if r else "ocean")] for m, r in zip(ser_mkt, rail, strict=True)]
    )
    air_lane = np.array([lane_by[(m, "air")] for m in ser_mkt])
    express_lane = np.array([lane_by[(m, "express")] for m in ser_mkt])
    lane_typ = np.array([ln.transit_typical for ln in lanes])
    lead = lane_typ[main_lane] + 7.0
    cover_days = 28.0
    safety = sc.safety_days

    # The seller's demand estimate: a noisy start, then an average of uncensored sales.
    life0 = lifecycle(np.maximum(listed_from, 0) + 60, listed_from, disc, ramp)
    est = base * np.exp(growth * np.maximum(listed_from, 0) / 365.25) * np.maximum(life0, 0.3)
    est *= rng.lognormal(0, 0.3, k)
    est = np.maximum(est, 0.01)
    on_hand = np.zeros(k, dtype=np.int64)
    start_listed = listed_from <= 0
    on_hand[start_listed] = np.ceil(
        est[start_listed] * rng.uniform(25, 60, start_listed.sum())
    ).astype(np.int64)
    in_transit = np.zeros(k, dtype=np.int64)
    arrivals: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)

    # Hub stock per SKU with supplier purchase orders.
    supplier_lead = rng.integers(12, 36, n_sku)
    hub = np.zeros(n_sku, dtype=np.int64)
    hub_on_order = np.zeros(n_sku, dtype=np.int64)
    hub_arrivals: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    sku_rate0 = np.bincount(sku_idx, weights=est * (listed_from <= 120), minlength=n_sku)
    hub[:] = np.ceil(sku_rate0 * 75).astype(np.int64)
    launch_day = cat["launch_day"].to_numpy()
    sku_disc = cat["discontinued_day"].to_numpy()

    # Launch batches for listings opening during the history: ocean if there is time, else air.
    ship_lead = lane_typ[main_lane] + 3
    launch_dep = np.where(
        listed_from - ship_lead >= 0,
        listed_from - ship_lead,
        np.maximum(listed_from - lane_typ[air_lane] - 3, 0),
    )
    launch_lane = np.where(listed_from - ship_lead >= 0, main_lane, air_lane)
    # Launch batches leave with the weekly (Monday) departures of their lane.
    launch_dep = launch_dep - dow[np.clip(launch_dep, 0, n_total - 1)]
    launch_lane = np.where(launch_dep < 0, air_lane, launch_lane)
    launch_dep = np.where(listed_from > 0, np.maximum(launch_dep, 0), -1)
    launch_cut = defaultdict(list)
    for i in np.nonzero(launch_dep >= 0)[0]:
        launch_cut[int(launch_dep[i])].append(i)
    # Hub buys launch stock ahead of the first departures.
    launch_need = np.bincount(
        sku_idx[launch_dep >= 0],
        weights=np.ceil(est * (lead + 7 + cover_days))[launch_dep >= 0] * 1.5,
        minlength=n_sku,
    )
    first_dep = np.full(n_sku, 10**6)
    np.minimum.at(first_dep, sku_idx[launch_dep >= 0], launch_dep[launch_dep >= 0])
    for j in np.nonzero(launch_need > 0)[0]:
        if launch_day[j] >= 0:  # a new SKU: its first purchase order lands before departure
            day = max(int(first_dep[j]) - 3, 0)
            hub_arrivals[day].append((np.array([j]), np.array([int(np.ceil(launch_need[j]))])))
            hub_on_order[j] += int(np.ceil(launch_need[j]))

    ships: list[tuple[int, int, np.ndarray, np.ndarray, int, int]] = []
    transit_cache: dict[tuple[int, int], int] = {}

    def ship(t: int, lane_ids: np.ndarray, rows: np.ndarray, qty: np.ndarray) -> None:
        """Send ``qty`` of series ``rows`` on their lanes today, limited by hub stock."""
        keep = qty > 0
        rows, qty, lane_ids = rows[keep], qty[keep], lane_ids[keep]
        if not len(rows):
            return
        want = np.bincount(sku_idx[rows], weights=qty, minlength=n_sku)
        ratio = np.where(want > hub, hub / np.maximum(want, 1), 1.0)
        qty = np.floor(qty * ratio[sku_idx[rows]]).astype(np.int64)
        keep = qty > 0
        rows, qty, lane_ids = rows[keep], qty[keep], lane_ids[keep]
        if not len(rows):
            return
        np.subtract.at(hub, sku_idx[rows], qty)
        in_transit[rows] += qty
        for lane in np.unique(lane_ids):
            sel = lane_ids == lane
            ln = lanes[lane]
            key = (int(lane), t)
            if key not in transit_cache:
                transit_cache[key] = _transit(
                    t_rng, ln.mode, ln.transit_typical, ln.transit_min, sc.late_shipment_share
                )
            arr = t + transit_cache[key]
            arrivals[arr].append((rows[sel], qty[sel]))
            ships.append((int(lane), t, rows[sel], qty[sel], t + ln.transit_typical, arr))

    orders_w = _MonthlyWriter(paths.raw_entity("orders"), "orders", ORDER_SCHEMA)
    inv_w = _MonthlyWriter(paths.raw_entity("inventory"), "inventory", INVENTORY_SCHEMA)
    ad_w = _MonthlyWriter(paths.raw_entity("ad_spend"), "ad_spend", AD_SCHEMA)
    next_order_no = 1
    prev_zero = on_hand == 0
    hub_prev_zero = hub == 0
    hub_tracked = hub > 0
    stockout_days = 0
    listed_days = 0
    sample_rows = np.sort(
        rng_for(sc.seed, "truth-sample").choice(k, size=min(TRUTH_SAMPLE_SERIES, k), replace=False)
    )
    sample_mu = np.zeros((len(sample_rows), n_hist))
    epoch_day = (np.datetime64(world.start) - np.datetime64("1970-01-01")).astype(np.int64)
    hour_cdf = np.cumsum(cal.HOURLY_SHARE)

    days = range(n_hist)
    if progress:
        from tqdm import tqdm

        days = tqdm(days, desc="simulating days", unit="day")
    for t in days:
        a, b = price_cut[t], price_cut[t + 1]
        list_price[price_ser[a:b]] = price_val[a:b]
        discount = disc_track.advance(t)
        budget = budget_track.advance(t)
        for rows, qty in arrivals.pop(t, []):
            on_hand[rows] += qty
            in_transit[rows] -= qty
        for js, qty in hub_arrivals.pop(t, []):
            hub[js] += qty
            hub_on_order[js] -= qty

        listed = (listed_from <= t) & (t <= disc)
        life = lifecycle(np.full(k, t), listed_from, disc, ramp)
        shown = list_price * (1 - discount)
        yearly = np.exp(strength * shapes[pk_codes, t]) / yearly_norm
        mu = mean_demand(
            base=base,
            growth=growth,
            years=t / 365.25,
            life=life,
            weekly=weekly[m_idx, t],
            yearly=yearly,
            event=event[m_idx, t],
            event_sensitivity=sens,
            price=shown,
            ref_price=ref_price,
            elasticity=elast,
            on_promo=(discount > 0),
            promo_uplift=uplift,
            budget=budget,
            ad_beta=ad_beta,
            ad_scale=ad_scale,
        )
        sample_mu[:, t] = mu[sample_rows]
        demand = sample_demand(rng, mu, nb_size)
        opening = on_hand.copy()
        sales = np.minimum(demand, opening)
        on_hand -= sales
        out_today = listed & (opening == 0)
        stockout_days += int(out_today.sum())
        listed_days += int(listed.sum())
        # The seller learns from days it could sell (it knows when it was out of stock).
        learn = listed & ~out_today
        est[learn] += (sales[learn] - est[learn]) / 28.0
        est = np.maximum(est, 0.01)

        # Order lines: units grouped into lines of mostly 1, sometimes 2-3 units.
        idx = np.nonzero(sales)[0]
        if len(idx):
            unit_series = np.repeat(idx, sales[idx])
            new_line = rng.random(len(unit_series)) < 0.85
            new_line[np.r_[0, np.cumsum(sales[idx])[:-1]]] = True
            line_series = unit_series[new_line]
            line_qty = np.bincount(np.cumsum(new_line) - 1)
            perm = rng.permutation(len(line_series))
            perm = perm[np.argsort(m_idx[line_series[perm]], kind="stable")]
            line_series, line_qty = line_series[perm], line_qty[perm]
            n_lines = len(line_series)
            join = rng.random(n_lines) < 0.06  # some orders hold several SKUs
            join[0] = False
            same_mkt = m_idx[line_series[1:]] == m_idx[line_series[:-1]]
            diff_sku = sku_idx[line_series[1:]] != sku_idx[line_series[:-1]]
            join[1:] &= same_mkt & diff_sku & ~join[:-1]  # at most two SKUs per order
            order_no = next_order_no + np.cumsum(~join) - 1
            next_order_no = int(order_no[-1]) + 1
            n_orders = int((~join).sum())
            secs = np.searchsorted(hour_cdf, rng.random(n_orders)) * 3600 + rng.integers(
                0, 3600, n_orders
            )
            line_secs = secs[order_no - order_no[0]]
            orders_w.add(
                {
                    "series": line_series,
                    "order_no": order_no,
                    "ts": (epoch_day + t) * 86400 + line_secs,
                    "qty": line_qty,
                    "price": round_money(shown[line_series], ser_ccy[line_series]),
                }
            )
        # Ad spend: most of the daily budget gets used.
        ads = np.nonzero(budget > 0)[0]
        if len(ads):
            spent = round_money(budget[ads] * rng.uniform(0.75, 1.0, len(ads)), ser_ccy[ads])
            ad_w.add({"series": ads, "day": np.full(len(ads), t), "spend": spent})

        # Replenishment, weekly on Mondays: order-up-to on the main lane, air when nearly out.
        for i in launch_cut.pop(t, []):
            q = np.array([int(np.ceil(est[i] * (lead[i] + 7 + cover_days))) + 2])
            ship(t, np.array([launch_lane[i]]), np.array([i]), q)
        if dow[t] == 0:
            active = (listed_from <= t) & (t <= disc - 60)
            ip = on_hand + in_transit
            reorder = est * (lead + 7 + safety) + 1
            up_to = est * (lead + 7 + cover_days + safety) + 1
            need = active & (ip < reorder)
            q = np.where(need, np.maximum(np.ceil(up_to - ip), 3), 0).astype(np.int64)
            rows = np.nonzero(q)[0]
            ship(t, main_lane[rows], rows, q[rows])
            soon = np.zeros(k, dtype=np.int64)
            for d in range(t + 1, t + 11):
                for r_, q_ in arrivals.get(d, []):
                    np.add.at(soon, r_, q_)
            urgent = (
                active
                & s["expedites"].to_numpy()
                & (on_hand < est * 7)
                & (soon == 0)
                & (in_transit < est * 14 + 1)
            )
            rows = np.nonzero(urgent)[0]
            q = np.ceil(est[rows] * 21 + 1).astype(np.int64)
            # Small urgent top-ups go by courier (express), bigger ones by air freight.
            small = weight[rows] * q < 15
            ship(t, np.where(small, express_lane[rows], air_lane[rows]), rows, q)
            # Hub purchase orders cover the forward warehouses' pull.
            rate = np.bincount(sku_idx, weights=est * active, minlength=n_sku)
            hub_ip = hub + hub_on_order
            buy = (hub_ip < rate * (supplier_lead + 21)) & (t <= sku_disc - 150) & (launch_day <= t)
            qty = np.where(buy, np.ceil(rate * (supplier_lead + 56) - hub_ip), 0).astype(np.int64)
            js = np.nonzero(qty > 0)[0]
            if len(js):
                lt = supplier_lead[js] + rng.integers(-3, 8, len(js))
                for d in np.unique(lt):
                    sel = lt == d
                    hub_arrivals[t + int(d)].append((js[sel], qty[js][sel]))
                hub_on_order[js] += qty[js]

        # Inventory snapshots: weekly (Sunday) for every listing, plus each day stock changes
        # to or from zero; the hub likewise.
        now_zero = on_hand == 0
        tracked = (listed_from <= t) | ~now_zero
        write = (now_zero != prev_zero) | (listed_from == t) | ((dow[t] == 6 or t == 0) & tracked)
        prev_zero = now_zero
        rows = np.nonzero(write)[0]
        hub_zero = hub == 0
        hub_tracked |= ~hub_zero
        hw = (hub_zero != hub_prev_zero) | ((dow[t] == 6 or t == 0) & hub_tracked)
        hub_prev_zero = hub_zero
        js = np.nonzero(hw)[0]
        inv_w.add(
            {
                "day": np.full(len(rows) + len(js), t),
                "wh": np.concatenate([wh_of_series[rows], np.full(len(js), HUB_ID, dtype=object)]),
                "sku": np.concatenate([ser_sku[rows], sku_codes[js]]),
                "on_hand": np.concatenate([on_hand[rows], hub[js]]),
            }
        )

        if t == n_hist - 1 or dates[t + 1].month != dates[t].month:
            month = dates[t].strftime("%Y-%m")
            orders_w.flush(month, lambda c: _orders_table(c, prefix, ser_mkt, ser_sku, ser_ccy))
            inv_w.flush(month, lambda c: _inventory_table(c, world))
            ad_w.flush(month, lambda c: _ad_table(c, world, ser_sku, ser_mkt, ser_ccy))

    return {
        "orders": orders_w,
        "inventory": inv_w,
        "ad_spend": ad_w,
        "ships": ships,
        "next_order_no": next_order_no,
        "stockout_days": stockout_days,
        "listed_days": listed_days,
        "sample_rows": sample_rows,
        "sample_mu": sample_mu,
        "weight": weight,
    }


def _orders_table(c, prefix, ser_mkt, ser_sku, ser_ccy) -> pa.Table:
    ser = c["series"]
    o = np.lexsort((c["order_no"], c["ts"]))
    ser = ser[o]
    return pa.table(
        {
            "order_id": order_ids(c["order_no"][o], prefix[ser]),
            "order_date": pa.array(c["ts"][o].astype("datetime64[s]")),
            "marketplace": pa.array(ser_mkt[ser], pa.string()),
            "sku": pa.array(ser_sku[ser], pa.string()),
            "quantity": pa.array(c["qty"][o].astype(np.int64)),
            "unit_price": pa.array(c["price"][o]),
            "currency": pa.array(ser_ccy[ser], pa.string()),
        }
    )


def _inventory_table(c, world: World) -> pa.Table:
    d = np.datetime64(world.start) + c["day"].astype("timedelta64[D]")
    return pa.table(
        {
            "snapshot_date": pa.array(d),
            "warehouse_id": pa.array(c["wh"], pa.string()),
            "sku": pa.array(c["sku"], pa.string()),
            "on_hand": pa.array(c["on_hand"].astype(np.int64)),
        }
    )


def _ad_table(c, world: World, ser_sku, ser_mkt, ser_ccy) -> pa.Table:
    ser = c["series"]
    d = np.datetime64(world.start) + c["day"].astype("timedelta64[D]")
    return pa.table(
        {
            "spend_date": pa.array(d),
            "sku": pa.array(ser_sku[ser], pa.string()),
            "marketplace": pa.array(ser_mkt[ser], pa.string()),
            "spend": pa.array(c["spend"]),
            "currency": pa.array(ser_ccy[ser], pa.string()),
        }
    )


def _iso(world: World, days) -> list[str | None]:
    return [None if d is None else (world.start + timedelta(days=int(d))).isoformat() for d in days]


def _static_tables(world: World, sim: dict) -> dict[str, pd.DataFrame]:
    """Every CSV entity, as contract-named frames (dates as ISO strings)."""
    cat = world.catalog
    s = world.series
    out: dict[str, pd.DataFrame] = {}
    c = cat.copy()
    launch = c["launch_day"].to_numpy()
    # Older SKUs sometimes have no launch date on file.
    blank = (launch < 0) & (np.arange(len(c)) % 9 == 4)
    c["launch_date"] = [None if b else d for b, d in zip(blank, _iso(world, launch), strict=True)]
    c["discontinued_date"] = _iso(world, [d if d < 10**5 else None for d in c["discontinued_day"]])
    out["catalog"] = c
    mk = [MARKETPLACES[m] for m in world.markets]
    out["marketplaces"] = pd.DataFrame(
        [
            {
                "marketplace": m.code,
                "name": m.name,
                "country": m.country,
                "region": m.region,
                "currency": m.currency,
                "vat_rate": m.vat_rate,
                "referral_fee_rate": m.referral_fee_rate,
                "prices_include_vat": m.prices_include_vat,
                "customs_basis": m.customs_basis,
                "fulfilment_fee_per_unit": m.fulfilment_fee_per_unit,
                "fulfilment_fee_per_kg": m.fulfilment_fee_per_kg,
                "customs_union": m.customs_union,
            }
            for m in mk
        ]
    )
    out["warehouses"] = pd.DataFrame(
        [
            {
                "warehouse_id": HUB_ID,
                "name": "Shenzhen hub warehouse",
                "country": "CN",
                "warehouse_type": "hub",
                "marketplace": None,
            }
        ]
        + [
            {
                "warehouse_id": m.warehouse_id,
                "name": m.warehouse_name,
                "country": m.country,
                "warehouse_type": "market",
                "marketplace": m.code,
            }
            for m in mk
        ]
    )
    wh = {m.code: m.warehouse_id for m in mk}
    out["lanes"] = pd.DataFrame(
        [
            {
                "lane_id": ln.lane_id,
                "origin_warehouse_id": HUB_ID,
                "destination_warehouse_id": wh[ln.destination],
                "mode": ln.mode,
                "cost_per_kg": ln.cost_per_kg,
                "fixed_cost_per_shipment": ln.fixed_cost,
                "cost_currency": "USD",
                "transit_days_min": ln.transit_min,
                "transit_days_typical": ln.transit_typical,
                "transit_days_max": ln.transit_max,
                "insurance_rate": ln.insurance_rate,
            }
            for ln in world.lanes
        ]
    )
    out["shipments"] = _shipments(world, sim)
    out["tariff_measures"] = pd.DataFrame(world.tariff_rows)
    fx_rows = []
    for i, ccy in enumerate(world.fx_currencies):
        for t in range(world.n_hist):
            d = world.start + timedelta(days=t)
            if d.weekday() < 5:
                fx_rows.append((d.isoformat(), ccy, float(world.fx[i, t])))
    out["fx_rates"] = pd.DataFrame(fx_rows, columns=["rate_date", "currency", "usd_per_unit"])
    # Prices: consecutive intervals per listing; the last one is open-ended unless discontinued.
    p = world.price_changes
    ser = p["series"].to_numpy()
    nxt = np.r_[p["day"].to_numpy()[1:] - 1, 0]
    last = np.r_[ser[1:] != ser[:-1], True]
    disc = s["discontinued"].to_numpy()[ser]
    valid_to = np.where(last, np.where(disc < 10**5, disc, -(10**7)), nxt)
    out["prices"] = pd.DataFrame(
        {
            "sku": s["sku"].to_numpy()[ser],
            "marketplace": s["marketplace"].to_numpy()[ser],
            "valid_from": _iso(world, p["day"]),
            "valid_to": _iso(world, [None if v == -(10**7) else v for v in valid_to]),
            "list_price": p["list_price"].to_numpy(),
            "currency": s["currency"].to_numpy()[ser],
        }
    )
    pr = world.promotions
    out["promotions"] = pd.DataFrame(
        {
            "promotion_id": pr["promotion_id"],
            "sku": s["sku"].to_numpy()[pr["series"]],
            "marketplace": s["marketplace"].to_numpy()[pr["series"]],
            "promo_type": pr["promo_type"],
            "discount_pct": pr["discount"].round(4),
            "start_date": _iso(world, pr["start"]),
            "end_date": _iso(world, pr["end"]),
        }
    )
    return out


def _shipments(world: World, sim: dict) -> pd.DataFrame:
    """Shipment lines; a lane's departures of one day form one shipment (fixed cost shared by
    weight). Lines still at sea at the history end have no arrived_date."""
    lanes = world.lanes
    s = world.series
    ships = sim["ships"]
    if not ships:
        return pd.DataFrame(columns=list(entity("shipments").column_names))
    n = np.array([len(x[2]) for x in ships])
    df = pd.DataFrame(
        {
            "lane": np.repeat([x[0] for x in ships], n),
            "dep": np.repeat([x[1] for x in ships], n),
            "series": np.concatenate([x[2] for x in ships]),
            "quantity": np.concatenate([x[3] for x in ships]).astype(np.int64),
            "exp": np.repeat([x[4] for x in ships], n),
            "arr": np.repeat([x[5] for x in ships], n),
        }
    )
    # A launch batch and a weekly top-up of the same listing on one departure are one line.
    df = df.groupby(["lane", "dep", "series"], sort=True, as_index=False).agg(
        {"quantity": "sum", "exp": "first", "arr": "first"}
    )
    lane = df["lane"].to_numpy()
    kg = sim["weight"][df["series"].to_numpy()] * df["quantity"].to_numpy()
    key = df["lane"].to_numpy() * 100_000 + df["dep"].to_numpy()
    _, inv = np.unique(key, return_inverse=True)
    share = kg / np.bincount(inv, weights=kg)[inv]
    per_kg = np.array([ln.cost_per_kg for ln in lanes])[lane]
    fixed = np.array([ln.fixed_cost for ln in lanes])[lane]
    mode3 = {"ocean": "OCN", "air": "AIR", "express": "EXP", "rail": "RAL"}
    lane_tag = np.array(
        [f"{MARKETPLACES[ln.destination].warehouse_id}-{mode3[ln.mode]}" for ln in lanes],
        dtype=object,
    )
    dep = df["dep"].to_numpy()
    dep_iso = np.array(_iso(world, range(int(dep.min()), int(dep.max()) + 1)), dtype=object)
    a0 = int(min(df["exp"].min(), df["arr"].min()))
    arr_all = np.array(
        _iso(world, range(a0, int(max(df["exp"].max(), df["arr"].max())) + 1)), dtype=object
    )
    dep_d = dep_iso[dep - dep.min()]
    arr = df["arr"].to_numpy()
    out = pd.DataFrame(
        {
            "shipment_id": "SH-" + pd.Series(dep_d).str.replace("-", "") + "-" + lane_tag[lane],
            "lane_id": np.array([ln.lane_id for ln in lanes], dtype=object)[lane],
            "sku": s["sku"].to_numpy()[df["series"].to_numpy()],
            "quantity": df["quantity"].to_numpy(),
            "departed_date": dep_d,
            "expected_arrival_date": arr_all[df["exp"].to_numpy() - a0],
            "arrived_date": np.where(arr < world.n_hist, arr_all[arr - a0], None),
            "freight_cost": np.round(per_kg * kg + fixed * share, 2),
            "cost_currency": "USD",
        }
    )
    return out.sort_values(["departed_date", "shipment_id", "sku"], kind="stable").reset_index(
        drop=True
    )


def _write_truth(
    world: World, sim: dict, truth: Path, injected: dict[str, int], injected_rows: pd.DataFrame
) -> None:
    from .demand import SERIES_COLUMNS

    sc = world.scenario
    s = world.series
    truth.mkdir(parents=True, exist_ok=True)
    (truth / "scenario.yaml").write_text(yaml.safe_dump(sc.to_dict(), sort_keys=False))
    meta = {
        "history_start": world.start.isoformat(),
        "history_end": sc.history_end.isoformat(),
        "planning_horizon_days": sc.planning_horizon_days,
        "marketplaces": world.markets,
        "scenario": sc.name,
        "seed": sc.seed,
        "day_zero": world.start.isoformat(),
        "note": "day columns count days from day_zero; discontinued 1000000 means never",
    }
    (truth / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    series = s[list(SERIES_COLUMNS)].copy()
    series.to_parquet(truth / "series.parquet", index=False)
    p = world.price_changes
    pd.DataFrame(
        {
            "sku": s["sku"].to_numpy()[p["series"]],
            "marketplace": s["marketplace"].to_numpy()[p["series"]],
            "day": np.maximum(p["day"].to_numpy(), -(10**6)),
            "list_price": p["list_price"],
        }
    ).to_parquet(truth / "prices.parquet", index=False)
    pr = world.promotions
    pd.DataFrame(
        {
            "sku": s["sku"].to_numpy()[pr["series"]],
            "marketplace": s["marketplace"].to_numpy()[pr["series"]],
            "start": pr["start"],
            "end": pr["end"],
            "discount": pr["discount"],
            "promotion_id": pr["promotion_id"],
        }
    ).to_parquet(truth / "promotions.parquet", index=False)
    cp = world.campaigns
    pd.DataFrame(
        {
            "sku": s["sku"].to_numpy()[cp["series"]],
            "marketplace": s["marketplace"].to_numpy()[cp["series"]],
            "start": cp["start"],
            "end": cp["end"],
            "budget": cp["budget"],
        }
    ).to_parquet(truth / "ad_campaigns.parquet", index=False)
    rows = sim["sample_rows"]
    mu = sim["sample_mu"]
    pd.DataFrame(
        {
            "sku": np.repeat(s["sku"].to_numpy()[rows], mu.shape[1]),
            "marketplace": np.repeat(s["marketplace"].to_numpy()[rows], mu.shape[1]),
            "day": np.tile(np.arange(mu.shape[1]), len(rows)),
            "expected_units": mu.ravel(),
        }
    ).to_parquet(truth / "daily_mean_sample.parquet", index=False)
    full = {r: int(injected.get(r, 0)) for r in ISSUE_RULES}
    (truth / "injected_issues.json").write_text(json.dumps(full, indent=2) + "\n")
    injected_rows.to_csv(truth / "injected_rows.csv", index=False, lineterminator="\n")
