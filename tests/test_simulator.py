"""The chain simulator: deterministic, contract-shaped, realistic, and honest about its dirt."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pycountry
import pytest

from ml.contract import ENTITIES, entity
from ml.settings import DataPaths
from ml.simulator import GroundTruth, generate, load_scenario
from ml.simulator.scenario import ISSUE_RULES

ISO_CURRENCIES = {c.alpha_3 for c in pycountry.currencies}
TINY = {"n_skus": 6, "history_start": "2026-06-01"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    paths = DataPaths(tmp_path_factory.mktemp("small"))
    scenario = load_scenario("small")
    summary = generate(scenario, paths)
    return scenario, paths, summary


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    paths = DataPaths(tmp_path_factory.mktemp("clean"))
    scenario = load_scenario("small", {"data_issues": {}, "n_skus": 12})
    generate(scenario, paths)
    return scenario, paths


def _read(path: Path) -> pd.DataFrame:
    """A raw file as strings, the way an ingest would see it before typing."""
    if path.suffix == ".parquet":
        df = pq.read_table(path).to_pandas()
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].dt.strftime("%Y-%m-%d %H:%M:%S")
            elif df[c].dtype == object and len(df) and isinstance(df[c].iloc[0], date):
                df[c] = df[c].map(lambda d: d.isoformat())
        return df.astype(str).replace({"None": "", "nan": "", "NaT": ""})
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _entity(paths: DataPaths, name: str) -> pd.DataFrame:
    files = sorted(paths.raw_entity(name).glob("*.*"))
    return pd.concat([_read(p).assign(_file=p.name) for p in files], ignore_index=True)


def _orders(paths: DataPaths) -> pd.DataFrame:
    return _entity(paths, "orders")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _overlapping_rows(t: pd.DataFrame) -> int:
    """Rows whose validity overlaps another row with the same key (brute-force reference)."""
    key = list(entity("tariff_measures").validity.key)
    n = 0
    for _, g in t.groupby(key):
        spans = [
            (vf, vt or "9999-12-31") for vf, vt in zip(g["valid_from"], g["valid_to"], strict=True)
        ]
        for i, (a0, a1) in enumerate(spans):
            n += any(a0 <= b1 and b0 <= a1 for j, (b0, b1) in enumerate(spans) if j != i)
    return n


# --- scenario loading ---------------------------------------------------------------------


def test_load_scenario_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="n_skuz"):
        load_scenario("small", {"n_skuz": 10})
    with pytest.raises(ValueError, match="n_skus.*integer"):
        load_scenario("small", {"n_skus": -3})
    with pytest.raises(ValueError, match="marketplaces"):
        load_scenario("small", {"marketplaces": ["US", "XX"]})
    with pytest.raises(ValueError, match="bogus_rule"):
        load_scenario("small", {"data_issues": {"bogus_rule": 0.1}})
    with pytest.raises(ValueError, match="available"):
        load_scenario("no_such_scenario")


def test_default_scenario_shape():
    sc = load_scenario()
    assert (sc.history_start, sc.history_end) == (date(2024, 11, 1), date(2026, 10, 31))
    assert sc.n_days == 730 and sc.n_skus == 200 and len(sc.marketplaces) == 10
    sc2 = load_scenario("default", {"n_skus": 2000, "seed": 3})
    assert (sc2.n_skus, sc2.seed) == (2000, 3)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_files_different_seed_different_files(tmp_path):
    runs = {}
    for label, seed in (("a", 11), ("b", 11), ("c", 12)):
        paths = DataPaths(tmp_path / label)
        generate(load_scenario("small", {**TINY, "seed": seed}), paths)
        runs[label] = _tree_digest(paths.root)
    assert runs["a"] == runs["b"]
    orders = [k for k in runs["a"] if k.startswith("raw/orders/")]
    assert orders and all(runs["a"][k] != runs["c"].get(k) for k in orders)


def test_refuses_a_raw_folder_with_foreign_data(tmp_path):
    paths = DataPaths(tmp_path)
    (paths.raw / "orders").mkdir(parents=True)
    (paths.raw / "orders" / "mine.csv").write_text("order_id\n1\n")
    with pytest.raises(FileExistsError, match="not written by the simulator"):
        generate(load_scenario("small", TINY), paths)


# --- the contract ---------------------------------------------------------------------------


# What the simulated seller never writes: it prices by the optimizer's defaults.
SELLER_ONLY_ENTITIES = ("pricing_rules", "allocation_rules")


def test_every_entity_has_exactly_the_contract_columns_and_types_parse(small):
    _, paths, summary = small
    injected = pd.read_csv(paths.truth / "injected_rows.csv", dtype=str)
    bad_type_keys = set(injected.loc[injected["rule"] == "bad_type", "key"])
    for e in ENTITIES:
        files = sorted(paths.raw_entity(e.name).glob("*.*"))
        if e.name in SELLER_ONLY_ENTITIES:
            assert not files and summary.rows[e.name] == 0, e.name
            continue
        assert files, e.name
        assert summary.files[e.name] == len(files)
        total = 0
        for f in files:
            df = _read(f)
            assert tuple(df.columns) == e.column_names, f
            total += len(df)
            for col in e.columns:
                vals = df[col.name]
                if e.name == "orders" and col.name == "unit_price":
                    vals = vals[~df["order_id"].isin(bad_type_keys)]
                filled = vals[vals != ""]
                if not col.nullable:
                    assert len(filled) == len(vals), (f, col.name)
                if col.dtype == "integer":
                    assert (pd.to_numeric(filled) % 1 == 0).all(), (f, col.name)
                elif col.dtype == "decimal":
                    pd.to_numeric(filled)  # raises if any value does not parse
                elif col.dtype in ("date", "timestamp"):
                    fmt = "%Y-%m-%d" if col.dtype == "date" else "ISO8601"
                    pd.to_datetime(filled, format=fmt)
                elif col.dtype == "boolean":
                    assert set(filled) <= {"true", "false"}, (f, col.name)
                if col.allowed:
                    assert set(filled) <= set(col.allowed), (f, col.name)
        assert total == summary.rows[e.name], e.name
    orders = sorted(p.name for p in paths.raw_entity("orders").glob("*.parquet"))
    assert orders[0] == "orders_2025-09.parquet" and orders[-1] == "orders_2026-10.parquet"


def test_marketplaces_regions_and_reference_figures(small):
    _, paths, _ = small
    m = _entity(paths, "marketplaces").set_index("marketplace")
    assert len(m) >= 8 and m["region"].nunique() >= 3
    assert m.loc["UK", "country"] == "GB" and m.loc["DE", "customs_union"] == "EU"
    vat = m["vat_rate"].astype(float)
    assert vat["US"] == 0 and vat["DE"] == 0.19 and vat["IT"] == 0.22 and vat["JP"] == 0.10
    assert set(m.loc[m["prices_include_vat"] == "false"].index) == {"US", "CA"}
    assert set(m.loc[m["customs_basis"] == "FOB"].index) == {"US", "CA", "AU"}
    w = _entity(paths, "warehouses")
    assert (w["warehouse_type"] == "hub").sum() == 1 and len(w) == len(m) + 1
    lanes = _entity(paths, "lanes")
    rail_dest = set(lanes.loc[lanes["mode"] == "rail", "destination_warehouse_id"])
    assert rail_dest == set(w.loc[w["marketplace"].isin(["DE", "FR", "IT", "ES"]), "warehouse_id"])


def test_date_span_fx_weekdays_and_planned_prices(small):
    sc, paths, _ = small
    o = _orders(paths)
    days = pd.to_datetime(o["order_date"]).dt.date
    real = days[days.map(lambda d: d.year) < 2030]
    assert real.min() == sc.history_start and real.max() == sc.history_end
    fx = _entity(paths, "fx_rates")
    fx_days = pd.to_datetime(fx["rate_date"])
    assert (fx_days.dt.dayofweek < 5).all()
    assert set(fx["currency"]) == {"EUR", "GBP", "JPY", "CAD", "MXN", "AUD", "CNY"}
    eur = fx.loc[fx["currency"] == "EUR", "usd_per_unit"].astype(float)
    assert 0.8 < eur.min() < eur.max() < 1.5 and eur.nunique() > 100  # it moves
    end = pd.Timestamp(sc.history_end)
    horizon = end + timedelta(days=sc.planning_horizon_days)
    prices = _entity(paths, "prices")
    vf = pd.to_datetime(prices["valid_from"])
    assert ((vf > end) & (vf <= horizon)).any()  # planned price changes
    promos = _entity(paths, "promotions")
    ps = pd.to_datetime(promos["start_date"])
    assert ((ps > end) & (ps <= horizon)).any()
    ship = _entity(paths, "shipments")
    assert (ship["arrived_date"] == "").any() and (ship["arrived_date"] != "").any()
    late = pd.to_datetime(ship["arrived_date"]) > pd.to_datetime(ship["expected_arrival_date"])
    assert 0.05 < late.mean() < 0.8


def test_prices_have_no_overlaps_and_market_endings(small):
    _, paths, _ = small
    p = _entity(paths, "prices")
    for _, g in p.groupby(["sku", "marketplace"]):
        g = g.sort_values("valid_from")
        to = g["valid_to"].iloc[:-1].to_numpy()
        nxt = g["valid_from"].iloc[1:].to_numpy()
        assert (to < nxt).all() and (to != "").all()
    price = p["list_price"].astype(float)
    assert ((price[p["currency"] == "EUR"] * 100).round() % 100 == 99).all()
    assert (price[p["currency"] == "JPY"] % 10 == 0).all()


# --- demand, censoring, truth ---------------------------------------------------------------


def _daily_sales(paths: DataPaths) -> pd.DataFrame:
    o = _orders(paths)
    o = o[o["_file"].str.endswith(".parquet")]
    o = o[(o["quantity"].astype(int) > 0) & (o["order_date"] < "2030")]
    o = o.drop_duplicates(["order_id", "sku"])
    o["day"] = pd.to_datetime(o["order_date"]).dt.normalize()
    return o.groupby(["sku", "marketplace", "day"], as_index=False)["quantity"].apply(
        lambda q: q.astype(int).sum()
    )


def test_truth_reproduces_the_generators_daily_mean(small):
    _, paths, _ = small
    truth = GroundTruth.load(paths.truth)
    sample = pd.read_parquet(paths.truth / "daily_mean_sample.parquet")
    start = pd.Timestamp(truth.meta["history_start"])
    for (sku, mkt), g in sample.groupby(["sku", "marketplace"]):
        dates = start + pd.to_timedelta(g["day"], unit="D")
        np.testing.assert_allclose(
            truth.expected_demand(sku, mkt, dates), g["expected_units"], rtol=1e-9, atol=1e-12
        )


def test_sales_follow_expected_demand_and_stockouts_censor_them(small):
    sc, paths, summary = small
    truth = GroundTruth.load(paths.truth)
    days = pd.date_range(sc.history_start, sc.history_end, freq="D")
    sales = _daily_sales(paths).set_index(["sku", "marketplace", "day"])["quantity"]
    wh = _entity(paths, "warehouses").set_index("warehouse_id")["marketplace"]
    inv = _entity(paths, "inventory")
    inv = inv[inv["warehouse_id"] != "CN-SZX-HUB"].assign(
        marketplace=lambda d: d["warehouse_id"].map(wh),
        day=lambda d: pd.to_datetime(d["snapshot_date"]),
        on_hand=lambda d: d["on_hand"].astype(int),
    )
    ship = _entity(paths, "shipments")
    lanes = _entity(paths, "lanes").set_index("lane_id")["destination_warehouse_id"]
    ship = ship[ship["arrived_date"] != ""].assign(
        marketplace=lambda d: d["lane_id"].map(lanes).map(wh),
        day=lambda d: pd.to_datetime(d["arrived_date"]),
    )
    arrivals = ship.groupby(["sku", "marketplace"])["day"].apply(set).to_dict()
    by_day = sales.unstack("day").reindex(columns=days).fillna(0)
    sold_total = expected_total = 0.0
    censored_days = censored_with_demand = 0
    for (sku, mkt), g in inv.groupby(["sku", "marketplace"]):
        # End-of-day stock by as-of join: a snapshot holds until the next one.
        eod = g.set_index("day")["on_hand"].sort_index().reindex(days).ffill()
        mu = truth.expected_demand(sku, mkt, days)
        s = by_day.loc[(sku, mkt)].to_numpy() if (sku, mkt) in by_day.index else np.zeros(len(days))
        # Opening stock is yesterday's end of day plus today's arrivals.
        out = ((eod.shift(1) == 0) & (eod == 0)).to_numpy() & ~days.isin(
            arrivals.get((sku, mkt), set())
        )
        assert (s[out] == 0).all(), (sku, mkt)  # no stock at opening -> no sales
        censored_days += int(out.sum())
        censored_with_demand += int((out & (mu > 0.05)).sum())
        ok = (~out) & (eod.shift(1) > 5).to_numpy()
        sold_total += s[ok].sum()
        expected_total += mu[ok].sum()
    assert censored_with_demand > 20  # stock-outs hide real demand
    assert 0.005 < summary.stockout_share < 0.15
    assert sold_total == pytest.approx(expected_total, rel=0.06)


def test_price_response_decreases_with_the_true_elasticity(small):
    _, paths, _ = small
    truth = GroundTruth.load(paths.truth)
    listings = truth.listings()
    lo, hi = load_scenario("small").elasticity_range
    assert listings["elasticity"].between(lo, hi).all()
    assert listings["elasticity"].max() - listings["elasticity"].min() > 1.0
    day = date(2026, 3, 10)
    checked = 0
    for row in listings.itertuples():
        prices = np.linspace(0.6, 1.6, 6) * row.ref_price
        units = truth.price_response(row.sku, row.marketplace, day, prices)
        if units[0] == 0:
            continue  # not listed that day
        assert (np.diff(units) < 0).all()
        np.testing.assert_allclose(
            units[1:] / units[0], (prices[1:] / prices[0]) ** row.elasticity, rtol=1e-9
        )
        checked += 1
    assert checked > 20


def test_events_and_seasonality_lift_demand(small):
    sc, paths, _ = small
    truth = GroundTruth.load(paths.truth)
    bf, ordinary = pd.Timestamp("2025-11-28"), pd.date_range("2025-11-03", "2025-11-07")
    lifts = []
    for row in truth.listings().itertuples():
        mu = truth.expected_demand(row.sku, row.marketplace, [bf, *ordinary], price=row.ref_price)
        if mu[1:].min() > 0:
            lifts.append(mu[0] / mu[1:].mean())
    assert np.median(lifts) > 1.8
    daily = _daily_sales(paths).groupby("day")["quantity"].sum()
    assert daily[bf] > 1.5 * daily[ordinary].mean()
    # The truth extends beyond the history: next year's Black Friday, trend included.
    live = truth.listings().query("discontinued > 100000")
    row = live.sort_values("base").iloc[-1]
    future = truth.expected_demand(row.sku, row.marketplace, ["2026-11-27", "2026-11-17"])
    assert np.isfinite(future).all() and future[0] > future[1] > 0


# --- tariffs --------------------------------------------------------------------------------


def test_tariff_timeline_follows_2025_2026_changes(clean):
    _, paths = clean
    t = _entity(paths, "tariff_measures")
    assert _overlapping_rows(t) == 0

    def rows(dest, origin, mtype, basis_part=""):
        r = t[
            (t["destination"] == dest)
            & (t["origin_country"] == origin)
            & (t["measure_type"] == mtype)
            & t["legal_basis"].str.contains(basis_part)
        ]
        return r.sort_values("valid_from")

    cn = rows("US", "CN", "de_minimis")
    chapter = cn["hs_code_prefix"].iloc[0]
    cn = cn[cn["hs_code_prefix"] == chapter]
    assert list(cn["valid_to"]) == ["2025-05-01", ""]
    assert list(cn["value_threshold"].astype(float)) == [800.0, 0.0]
    al = rows("US", "ALL", "de_minimis")
    al = al[al["hs_code_prefix"] == chapter]
    assert list(al["valid_from"])[-1] == "2025-08-29" and float(al["value_threshold"].iloc[-1]) == 0
    fent = rows("US", "CN", "additional", "fentanyl")
    fent = fent[fent["hs_code_prefix"] == chapter]
    assert list(fent["ad_valorem_rate"].astype(float)) == [0.10, 0.20, 0.10]
    assert list(fent["valid_from"]) == ["2025-02-04", "2025-03-04", "2025-11-10"]
    ieepa = t[t["legal_basis"].str.contains("IEEPA")]
    assert (ieepa["valid_to"] == "2026-02-19").any() and (ieepa["valid_to"] <= "2026-02-19").all()
    assert (ieepa["valid_to"] != "").all()
    s122 = rows("US", "ALL", "surcharge", "Section 122")
    assert set(s122["valid_from"]) == {"2026-02-24"} and set(s122["valid_to"]) == {"2026-07-23"}
    eu_item = rows("EU", "ALL", "surcharge")
    assert set(eu_item["valid_from"]) == {"2026-07-01"} and set(eu_item["rate_type"]) == {
        "per_item"
    }
    assert set(eu_item["specific_rate"].astype(float)) == {3.0}
    assert set(eu_item["value_threshold"].astype(float)) == {150.0}
    assert set(rows("EU", "ALL", "de_minimis")["valid_to"]) == {"2026-06-30"}
    assert {"GB", "AU", "JP", "CA", "MX"} <= set(t["destination"])
    assert (t["legal_basis"] != "").all()


def test_duty_rate_stacks_and_prices_react_to_tariffs():
    from ml.simulator.tariffs import ad_valorem_duty, build_tariff_measures

    rows = build_tariff_measures(["851660", "610910"], ["US", "EU", "AU"])
    d = date.fromisoformat
    # Kitchen appliance from CN into the US: MFN 4 % + Section 301 25 % + IEEPA at each date.
    assert ad_valorem_duty(rows, "US", "851660", "CN", d("2025-01-15")) == pytest.approx(0.29)
    assert ad_valorem_duty(rows, "US", "851660", "CN", d("2025-04-20")) == pytest.approx(
        0.04 + 0.25 + 0.20 + 1.25
    )
    assert ad_valorem_duty(rows, "US", "851660", "CN", d("2026-03-01")) == pytest.approx(
        0.04 + 0.25 + 0.10
    )  # IEEPA gone, Section 122 surcharge
    assert ad_valorem_duty(rows, "US", "851660", "VN", d("2025-09-01")) == pytest.approx(0.24)
    assert ad_valorem_duty(rows, "AU", "610910", "CN", d("2026-01-01")) == 0.0  # ChAFTA
    assert ad_valorem_duty(rows, "AU", "610910", "IN", d("2026-01-01")) == pytest.approx(0.05)


def test_tariff_schedule_file_expands_per_catalogue_and_rejects_bad_rows(tmp_path):
    from ml.simulator.tariffs import SCHEDULE_PATH, build_tariff_measures, load_schedule

    # HS6 rows only for codes the catalogue uses, measures on all goods once per HS chapter.
    rows = build_tariff_measures(["851660", "851830"], ["US"])
    assert {r["hs_code_prefix"] for r in rows} == {"851660", "851830", "85"}
    assert {r["destination"] for r in rows} == {"US"}
    assert [r["measure_id"] for r in rows[:2]] == ["TM-US-00001", "TM-US-00002"]
    assert {r["measure_type"] for r in build_tariff_measures(["851660"], ["JP"])} == {"mfn"}
    blocks = {b.name: b for b in load_schedule()}
    assert blocks["us_all_goods"].each_chapter and not blocks["mfn"].each_chapter
    header, first, *rest = SCHEDULE_PATH.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    for lines, message in (
        ([first.replace(",hs6,", ",hs4,")], "applies_to"),
        ([first.replace(",2024-01-01,", ",2024-13-01,")], "month"),
        ([first, rest[-1], first], "split"),
        (["mfn,each_chapter" + first[len("mfn,hs6") :]], "six-digit"),
    ):
        bad.write_text("\n".join([header, *lines]) + "\n")
        with pytest.raises(ValueError, match=message):
            load_schedule(bad)


# --- dirty data -----------------------------------------------------------------------------


def _measured_issues(paths: DataPaths, sc) -> dict[str, int]:
    """Count each rule's failures straight from the files (reference computation)."""
    o = _orders(paths)
    catalog = set(_entity(paths, "catalog")["sku"])
    currency = _entity(paths, "marketplaces").set_index("marketplace")["currency"]
    price_ok = pd.to_numeric(o["unit_price"], errors="coerce").notna()
    valid_ccy = o["currency"].isin(ISO_CURRENCIES)
    when = pd.to_datetime(o["order_date"])
    return {
        "duplicate_key": int(o.duplicated(["order_id", "sku"]).sum()),
        "orphan_reference": int((~o["sku"].isin(catalog)).sum()),
        "invalid_currency": int((~valid_ccy).sum()),
        "out_of_range": int((o["quantity"].astype(int) <= 0).sum()),
        "bad_type": int((~price_ok).sum()),
        "future_date": int((when > pd.Timestamp(sc.history_end) + pd.Timedelta(days=365)).sum()),
        "currency_mismatch": int(
            (valid_ccy & (o["currency"] != o["marketplace"].map(currency))).sum()
        ),
        "overlapping_validity": _overlapping_rows(_entity(paths, "tariff_measures")),
    }


def test_injected_issue_counts_match_the_files(small):
    sc, paths, summary = small
    truth = GroundTruth.load(paths.truth)
    assert set(truth.injected_issues) == set(ISSUE_RULES)
    assert all(v > 0 for v in truth.injected_issues.values())
    assert _measured_issues(paths, sc) == truth.injected_issues == summary.injected_issues
    records = pd.read_csv(paths.truth / "injected_rows.csv")
    assert records["rule"].value_counts().to_dict() == truth.injected_issues
    # Each injected order row breaks one rule: apart from its defect it is a normal order line.
    o = _orders(paths)
    clean_rows = o[~o["order_id"].isin(records["key"])]
    assert (clean_rows["quantity"].astype(int) > 0).all()
    dupes = records.loc[records["rule"] == "duplicate_key", ["key", "sku"]]
    dup_rows = o.merge(dupes, left_on=["order_id", "sku"], right_on=["key", "sku"])
    assert len(dup_rows) == 2 * len(dupes)
    assert dup_rows.drop(columns="key").duplicated(keep=False).all()  # exact copies


def test_clean_scenario_has_no_issues(clean):
    sc, paths = clean
    truth = GroundTruth.load(paths.truth)
    assert set(truth.injected_issues.values()) == {0}
    assert set(_measured_issues(paths, sc).values()) == {0}
    assert not list(paths.raw_entity("orders").glob("*.csv"))
    assert json.loads((paths.truth / "injected_issues.json").read_text()) == truth.injected_issues


def test_the_catalog_codes_are_ten_digit_lines_whose_hs6_rows_apply():
    """Each product type's code is a 10-digit HTSUS line (checked against the real schedule in
    test_hts_import); the schedule's hs6 rows apply to it through its first six digits."""
    from ml.simulator.reference import PRODUCT_TYPES
    from ml.simulator.tariffs import build_tariff_measures

    assert all(len(p.hs_code) == 10 and p.hs_code.isdigit() for p in PRODUCT_TYPES)
    rows = build_tariff_measures(["8516604070"], ["US"])
    assert {r["hs_code_prefix"] for r in rows} == {"851660", "85"}
