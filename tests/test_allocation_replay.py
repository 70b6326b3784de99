"""The closed-loop allocation replay: stock policies move the simulator's holdout day by day."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ml.allocation.nightly import RestockSettings, restock
from ml.allocation.plan import sailing_interval, worth_departing
from ml.bench import stock_replay as sr
from ml.simulator import load_scenario
from ml.simulator.engine import PARCEL_RETENTION
from ml.simulator.tariffs import parcel_terms
from ml.simulator.world import build_world, listing_economics

HOLDOUT = 28


@pytest.fixture(scope="module")
def world():
    return build_world(load_scenario("small"))


@pytest.fixture(scope="module")
def days(world):
    return range(world.n_hist - HOLDOUT, world.n_hist)


@pytest.fixture(scope="module")
def base_stock(world, days):
    return sr.replay(world, sr.BaseStock(), days)


@pytest.fixture(scope="module")
def parcels(world, days):
    return sr.replay(world, sr.DirectParcel(), days)


def test_every_policy_meets_the_same_shoppers(world, days, base_stock, parcels):
    a, b = base_stock.result, parcels.result
    assert np.array_equal(a.demanded, b.demanded)
    # the decisions differ: what was sold differs
    held = slice(days.start, days.stop)
    assert not np.array_equal(a.history.sales()[held], b.history.sales()[held])


def test_direct_parcel_ships_nothing_and_sells_from_the_hub(world, days, parcels):
    res = parcels.result
    assert not [d for d in res.departures if d.day >= days.start]
    assert res.parcel_units[: days.start].sum() == 0
    held = slice(days.start, days.stop)
    parcel = res.parcel_units[held]
    assert parcel.sum() > 0
    sold = res.history.sales()[held]
    assert (parcel <= sold).all()
    # the units a market warehouse could not serve: parcels reach about PARCEL_RETENTION of them
    # while the hub holds the SKU (never more than were unserved)
    unserved = res.demanded[held] - (sold - parcel)
    assert (parcel <= unserved).all()
    assert abs(parcel.sum() / unserved.sum() - PARCEL_RETENTION) < 0.12


def test_ledger_matches_a_slow_loop(world, days, base_stock):
    run = base_stock
    book = sr.ledger(world, run)
    econ = {m: listing_economics(world, m) for m in sr.MODES}
    res = run.result
    cat = world.catalog
    fx_row = {c: i for i, c in enumerate(world.fx_currencies)}
    kept = goods = fee = ship = hold = 0.0
    sku_idx = world.series["sku_idx"].to_numpy()
    for j, t in enumerate(run.days):
        for i in range(len(world.series)):
            ccy = world.series["currency"].iloc[i]
            fx = 1.0 if ccy == "USD" else world.fx[fx_row[ccy], t]
            duty = world.duty[world.duty_group[i], t]
            q = res.history.sales()[t, i]
            p = res.history.shown_price()[t, i]
            e = econ["ocean"]
            kept += q * p * fx * (1 / e.vat_mult[i] - e.referral[i])
            goods += q * cat["cost_usd"].iloc[sku_idx[i]]
            fee += q * e.fee_local[i] * fx
            landed = e.cost[i] + e.freight[i] + e.insurance[i] + duty * e.customs_value[i]
            landed += e.fee_local[i] * fx
            hold += run.log.on_hand[j + 1][i] * landed * sr.HOLDING_RATE / 365
        hold += (run.log.hub[j + 1] * cat["cost_usd"].to_numpy()).sum() * sr.HOLDING_RATE / 365
    for dep in res.departures:
        if dep.day < days.start:
            continue
        lane = world.lanes[dep.lane]
        arrival = min(dep.arrival, days.stop - 1)
        for i, q in zip(dep.series, dep.qty, strict=True):
            e = econ[lane.mode]
            duty = world.duty[world.duty_group[i], arrival]
            ship += q * (e.freight[i] + e.insurance[i] + duty * e.customs_value[i])
        ship += lane.fixed_cost
    assert book.kept.sum() == pytest.approx(kept, rel=1e-9)
    assert book.goods.sum() == pytest.approx(goods, rel=1e-9)
    assert book.fulfilment.sum() == pytest.approx(fee, rel=1e-9)
    assert book.shipping.sum() == pytest.approx(ship, rel=1e-9)
    assert book.holding.sum() == pytest.approx(hold, rel=1e-9)
    assert book.parcels.sum() == 0
    credit = 0.0
    last = days.stop - 1
    for i in range(len(world.series)):
        built = float(run.log.on_hand[-1][i] + run.log.in_transit[-1][i])
        built -= float(run.log.on_hand[0][i] + run.log.in_transit[0][i])
        if world.series["discontinued"].iloc[i] <= last and built > 0:
            continue  # an ended listing's stock has no sale ahead
        e = econ["ocean"]
        duty = world.duty[world.duty_group[i], last]
        credit += built * (e.freight[i] + e.insurance[i] + duty * e.customs_value[i])
    assert book.stock_credit == pytest.approx(credit, rel=1e-9)
    out = sr.outcome(book, run.days, None)
    assert out["units_sold"] + out["units_lost"] == out["units_demanded"]
    assert out["profit_usd"] == pytest.approx(
        kept - goods - fee - ship - hold + book.stock_credit, rel=1e-9
    )


def test_own_stock_figures_count_the_days_from_the_first_landing_only(world, days, base_stock):
    run, res = base_stock, base_stock.result
    ocean = max(ln.transit_typical for ln in world.lanes if ln.mode == "ocean")
    assert sr.own_stock_day(world, days) == days.start + 7 + ocean
    start = int(run.days[10])  # the small scenario's holdout is shorter than an ocean transit
    out = sr.outcome(sr.ledger(world, run), run.days, None, start)
    later = [j for j, t in enumerate(run.days) if t >= start]
    sold = sum(res.history.sales()[run.days[j]].sum() for j in later)
    wanted = sum(res.demanded[run.days[j]].sum() for j in later)
    on_hand = [run.log.on_hand[j + 1].sum() for j in later]
    assert out["own_stock_fill_rate"] == pytest.approx(sold / wanted, rel=1e-12)
    daily_sold = sold / len(later)
    assert out["own_stock_days_of_supply"] == pytest.approx(np.mean(on_hand) / daily_sold)
    assert out["own_stock_fill_rate"] != pytest.approx(out["fill_rate"], rel=1e-6)
    assert "own_stock_fill_rate" not in sr.outcome(sr.ledger(world, run), run.days, None)


def test_parcels_pay_the_duty_of_their_day(world, days, parcels):
    """EU parcels under EUR 150 pay the flat EUR 3 from 2026-07-01; the US has no relief."""
    held = np.arange(days.start, days.stop)
    res = parcels.result
    from ml.simulator.engine import series_fx

    fx = series_fx(world, held)
    duty = world.duty[world.duty_group][:, held].T
    shown = res.history.shown_price()[days.start : days.stop]
    cost = sr.parcel_cost(world, held, shown, fx, duty)
    express = listing_economics(world, "express")
    weight = world.catalog["weight_kg"].to_numpy()[world.series["sku_idx"]]
    freight = express.freight / 1.2 / weight * np.maximum(weight, sr.PARCEL_MIN_KG)
    freight = freight + sr.PARCEL_FEE_USD
    mkt = world.series["marketplace"].to_numpy()
    eur = world.fx[world.fx_currencies.index("EUR"), held]
    de = np.flatnonzero(mkt == "DE")
    value = shown[:, de] * fx[:, de] / express.vat_mult[de]
    cheap = value < 150 * eur[:, None]
    assert cheap.any()
    assert np.allclose(cost[:, de][cheap], (freight[de] + 3 * eur[:, None])[cheap])
    us = np.flatnonzero(mkt == "US")
    value_us = shown[:, us] * fx[:, us]
    assert np.allclose(cost[:, us], freight[us] + duty[:, us] * value_us)


def test_parcel_terms_follow_the_schedule(world):
    rows = world.tariff_rows
    us = next(k for k in world.duty_keys if k[0] == "US" and k[2] == "CN")
    assert parcel_terms(rows, *us, date(2025, 3, 1)).threshold == 800
    assert parcel_terms(rows, *us, date(2025, 6, 1)).threshold == 0  # CN ended 2025-05-02
    eu = next(k for k in world.duty_keys if k[0] == "EU")
    before = parcel_terms(rows, *eu, date(2026, 6, 30))
    after = parcel_terms(rows, *eu, date(2026, 7, 1))
    assert (before.threshold, before.per_item) == (150, 0)
    assert (after.threshold, after.per_item, after.per_item_currency) == (150, 3, "EUR")


def test_sailing_interval_is_the_brute_force_optimum():
    rng = np.random.default_rng(3)
    fixed, holding = rng.uniform(0, 1000, 200), rng.uniform(0, 300, 200)
    got = sailing_interval(fixed, holding, max_weeks=6)
    for k, h, t in zip(fixed, holding, got, strict=True):
        costs = {w: k / w + h * w / 2 for w in range(1, 7)}
        assert costs[t] == pytest.approx(min(costs.values()))
    assert sailing_interval([0.0], [10.0])[0] == 1  # free departures: every week
    assert sailing_interval([1e6], [1.0], max_weeks=4)[0] == 4


def test_a_departure_goes_only_when_its_lines_earn_the_fixed_cost():
    keep = worth_departing([1, 1, 2, 3], [100.0, 150.0, 80.0, 5.0], {1: 240.0, 2: 240.0})
    assert keep.tolist() == [True, True, False, True]  # lane 3 states no fixed cost


def test_restock_counts_orders_already_placed_and_each_skus_lead():
    rows = pd.DataFrame(
        {
            "sku": ["A", "A", "B"],
            "on_hand": [5, 5, 5],
            "in_transit": [0, 0, 0],
            "hub_units": [10, 10, 10],
            "daily_mean": [2.0, 2.0, 2.0],
            "daily_var": [2.0, 2.0, 2.0],
            "margin_usd": [10.0, 10.0, 10.0],
            "base_landed_usd": [5.0, 5.0, 5.0],
            "base_days": [20.0, 20.0, 20.0],
        }
    )
    today = date(2026, 1, 5)
    plain = restock(rows, RestockSettings(), today).set_index("sku")
    placed = restock(rows.assign(hub_on_order=[30, 30, 0]), RestockSettings(), today)
    placed = placed.set_index("sku")
    assert placed.loc["A", "order_quantity"] == plain.loc["A", "order_quantity"] - 30
    assert placed.loc["B", "order_quantity"] == plain.loc["B", "order_quantity"]
    longer = restock(rows.assign(supplier_lead_days=[60, 60, 30]), RestockSettings(), today)
    longer = longer.set_index("sku")
    assert longer.loc["A", "order_quantity"] > plain.loc["A", "order_quantity"]
    assert longer.loc["A", "expected_delivery"] == date(2026, 3, 6)


def test_pooled_nb_size_is_the_hand_computed_moment_estimate():
    mean = np.array([1.0, 2.0, 4.0, 9.0])
    var = np.array([2.0, 1.5, 12.0, 100.0])
    pooled = np.array([True, True, True, False])
    # excess variance 1 + 0 (below its mean: counts as none) + 8; sum of squared means 21
    assert sr.pooled_nb_size(mean, var, pooled) == pytest.approx(21 / 9)
    assert sr.pooled_nb_size(mean, mean, pooled) == float("inf")
    assert sr.nb_variance(np.array([2.0]), float("inf"))[0] == 2.0
    assert sr.nb_variance(np.array([2.0]), 21 / 9)[0] == pytest.approx(2 + 4 * 9 / 21)


def test_pooled_nb_size_recovers_the_overdispersion_of_draws():
    rng = np.random.default_rng(7)
    size, mean = 1.5, rng.uniform(0.2, 6.0, 400)
    draws = rng.negative_binomial(size, size / (size + mean), size=(56, 400)).astype(float)
    est = sr.pooled_nb_size(draws.mean(axis=0), draws.var(axis=0, ddof=1), np.ones(400, bool))
    assert est == pytest.approx(size, rel=0.15)


@pytest.fixture(scope="module")
def kuajing(world, days):
    policy = sr.KuajingAllocation()
    return policy, sr.replay(world, policy, days)


def test_a_lane_departure_of_a_day_takes_the_same_transit_under_every_policy(
    days, base_stock, kuajing
):
    def transits(run):
        return {
            (d.lane, d.day): d.arrival - d.day for d in run.result.departures if d.day >= days.start
        }

    a, b = transits(base_stock), transits(kuajing[1])
    shared = a.keys() & b.keys()
    assert len(shared) >= 5 and len(a.keys() ^ b.keys()) > 0  # the policies ship differently
    assert all(a[k] == b[k] for k in shared)
    assert len(set(a.values())) > 1  # and the transit still varies


def test_kuajing_plans_from_what_the_seller_knows(world, days, kuajing):
    policy, run = kuajing
    rows = policy.last_rows
    assert {"daily_mean", "base_wait_days", "review_days", "hub_on_order"} <= set(rows)
    assert (rows["review_days"] % 7 == 0).all()
    # it ships by ocean on Mondays only; surges by air or express on any day
    for dep in run.result.departures:
        if dep.day >= days.start and world.lanes[dep.lane].mode == "ocean":
            launch = (world.series["listed_from"].to_numpy()[dep.series] > dep.day).all()
            assert launch or world.date_of(dep.day).weekday() == 0
    book = sr.ledger(world, run)
    assert 0.5 < book.units.sum() / book.demanded.sum() <= 1.0


@pytest.mark.slow
def test_the_bench_reports_every_policy(tmp_path):
    from ml.cli import main

    out = tmp_path / "allocation.json"
    result = CliRunner().invoke(
        main, ["bench", "allocation", "--scenario", "small", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    names = [p["policy"] for p in report["policies"]]
    assert names == list(sr.POLICY_NAMES)
    for p in report["policies"]:
        assert 0 < p["fill_rate"] <= 1
        assert p["units_sold"] + p["units_lost"] == p["units_demanded"]
        assert "own_stock_fill_rate" in p and "own_stock_days_of_supply" in p
    assert report["own_stock_from"] > report["holdout_start"]
    assert report["forecast_fit_seconds"] > 0 and report["forecast_scoring_seconds"] > 0
    assert report["verdict"]["fill_rate"] is None  # targets are for the default scenario
    assert "cost per unit sold" in result.output
    assert report["plan_10k_seconds"] > 0
