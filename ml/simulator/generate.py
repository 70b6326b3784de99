"""Generate the demo seller: build the world, run the engine, write the raw files and the truth.

The day-by-day run is ``engine.simulate`` with the default policies; this module writes what it
produced (monthly order, inventory and ad-spend files during the run; the CSV entities, the
injected data issues and the ground truth after it).
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
import pyarrow.parquet as pq
import yaml

from ml import contract
from ml.contract import entity
from ml.settings import DataPaths

from .engine import SimulationResult, simulate
from .issues import inject_issues
from .outputs import DAILY_ENTITIES
from .reference import HUB_ID, MARKETPLACES
from .scenario import ISSUE_RULES, Scenario
from .world import World, build_world, rng_for

MARKER = ".kuajing_simulator.json"  # in raw/: the folder was written by the simulator


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
    sim = simulate(world, paths=paths, progress=progress, keep_history=False)
    files: dict[str, list[Path]] = defaultdict(list)
    rows: dict[str, int] = {}
    for name in DAILY_ENTITIES:
        files[name] = sim.outputs.writers[name].files
        rows[name] = sim.outputs.writers[name].rows
    tables = _static_tables(world, sim)
    issue_rng = rng_for(scenario.seed, "issues")
    injected, injected_rows, tables["tariff_measures"], extra_files = inject_issues(
        scenario.data_issues,
        issue_rng,
        paths.raw,
        files["orders"],
        tables["tariff_measures"],
        set(world.catalog["sku"]),
        sim.next_order_no,
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
    # entities the simulated seller has no rows for (its own pricing rules: the defaults) count 0
    summary.rows = {n: rows.get(n, 0) for n in names}
    summary.files = {n: len(files[n]) for n in names}
    summary.injected_issues = injected
    summary.stockout_share = sim.stockout_share
    summary.seconds = time.perf_counter() - t0
    return summary


def _iso(world: World, days) -> list[str | None]:
    return [None if d is None else (world.start + timedelta(days=int(d))).isoformat() for d in days]


def _static_tables(world: World, sim: SimulationResult) -> dict[str, pd.DataFrame]:
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


def _shipments(world: World, sim: SimulationResult) -> pd.DataFrame:
    """Shipment lines; a lane's departures of one day form one shipment (fixed cost shared by
    weight). Lines still at sea at the history end have no arrived_date."""
    lanes = world.lanes
    s = world.series
    ships = sim.departures
    if not ships:
        return pd.DataFrame(columns=list(entity("shipments").column_names))
    n = np.array([len(x.series) for x in ships])
    df = pd.DataFrame(
        {
            "lane": np.repeat([x.lane for x in ships], n),
            "dep": np.repeat([x.day for x in ships], n),
            "series": np.concatenate([x.series for x in ships]),
            "quantity": np.concatenate([x.qty for x in ships]).astype(np.int64),
            "exp": np.repeat([x.expected_arrival for x in ships], n),
            "arr": np.repeat([x.arrival for x in ships], n),
        }
    )
    # A launch batch and a weekly top-up of the same listing on one departure are one line.
    df = df.groupby(["lane", "dep", "series"], sort=True, as_index=False).agg(
        {"quantity": "sum", "exp": "first", "arr": "first"}
    )
    lane = df["lane"].to_numpy()
    weight = world.catalog["weight_kg"].to_numpy()[s["sku_idx"].to_numpy()]
    kg = weight[df["series"].to_numpy()] * df["quantity"].to_numpy()
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
    world: World,
    sim: SimulationResult,
    truth: Path,
    injected: dict[str, int],
    injected_rows: pd.DataFrame,
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
    if sc.price_response != "constant":  # absent: constant elasticity (the built-in seller)
        meta["price_response"] = sc.price_response
        meta["reference_effect"] = sc.reference_effect
    (truth / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    # Optional columns only where they say something, so the built-in truth stays as it was:
    # the logit's ref_share, and price_tests unless every listing tests.
    optional = (
        ("ref_share", sc.price_response == "logit"),
        ("price_tests", sc.price_test_share < 1),
    )
    series = s[list(SERIES_COLUMNS) + [c for c, written in optional if written]].copy()
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
    rows = sim.truth_rows
    mu = sim.truth_mu
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
