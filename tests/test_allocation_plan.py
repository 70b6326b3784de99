"""Allocation decisions against brute force: target levels, the short hub, the surge by air."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ml.allocation.plan import WindowDemand, allocate, surge_units, target_level, unit_values

MAX_UNITS = 400


def pmf(mean: float, variance: float) -> np.ndarray:
    """The negative binomial's probabilities of 0..MAX_UNITS-1 units by its recursion, written
    out by hand: P(0) = p^r, P(k) = P(k-1) (k - 1 + r) / k (1 - p), p = mean / variance."""
    p = mean / variance
    r = mean * p / (1 - p)
    out = np.empty(MAX_UNITS)
    out[0] = p**r
    for k in range(1, MAX_UNITS):
        out[k] = out[k - 1] * (k - 1 + r) / k * (1 - p)
    return out


def expected_profit(stock: int, probs: np.ndarray, underage: float, overage: float) -> float:
    """underage x expected units sold - overage x expected units left over, summed by hand."""
    k = np.arange(MAX_UNITS)
    sold = np.minimum(k, stock)
    left = np.maximum(stock - k, 0)
    return float((probs * (underage * sold - overage * left)).sum())


def test_the_window_distribution_is_the_negative_binomial():
    demand = WindowDemand.of([12.0], [30.0])
    probs = pmf(12.0, 30.0)
    for x in (0, 5, 12, 25):
        assert demand.cdf([x])[0] == pytest.approx(probs[: x + 1].sum(), rel=1e-9)
    assert demand.quantile([0.9])[0] == np.searchsorted(np.cumsum(probs), 0.9)


@pytest.mark.parametrize(
    "mean,variance,underage,overage",
    [(12.0, 30.0, 8.0, 1.0), (3.0, 9.0, 2.0, 2.0), (40.0, 41.0, 10.0, 0.5), (0.8, 4.0, 5.0, 1.0)],
)
def test_the_target_level_is_the_stock_of_most_expected_profit(mean, variance, underage, overage):
    probs = pmf(mean, variance)
    best = max(range(150), key=lambda s: expected_profit(s, probs, underage, overage))
    got = int(target_level(WindowDemand.of([mean], [variance]), [underage], [overage])[0])
    assert expected_profit(got, probs, underage, overage) == pytest.approx(
        expected_profit(best, probs, underage, overage), rel=1e-12
    )


def test_a_units_value_is_its_marginal_expected_profit():
    demand = WindowDemand.of([10.0, 4.0], [25.0, 6.0])
    values = unit_values(demand, [3, 0], 6, [5.0, 3.0], [1.0, 1.0])
    for i, (m, v, u, pos) in enumerate([(10.0, 25.0, 5.0, 3), (4.0, 6.0, 3.0, 0)]):
        probs = pmf(m, v)
        for k in range(6):
            gain = expected_profit(pos + k + 1, probs, u, 1.0) - expected_profit(
                pos + k, probs, u, 1.0
            )
            assert values[i, k] == pytest.approx(gain, abs=1e-12)


def test_a_short_hub_goes_where_it_adds_most_profit_as_a_brute_force_says():
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = 3
        mean = rng.uniform(1, 25, n)
        variance = mean * rng.uniform(1.2, 4.0, n)
        position = rng.integers(0, 10, n)
        underage = rng.uniform(1, 12, n)
        overage = rng.uniform(0.2, 3, n)
        pack = int(rng.integers(1, 5))
        hub = int(rng.integers(0, 40))
        demand = WindowDemand.of(mean, variance)
        target = target_level(demand, underage, overage)
        got = allocate(hub, demand, position, underage, overage, pack)
        assert got.sum() <= hub and (got % pack == 0).all()
        assert (position + got <= np.maximum(target, position) + pack - 1).all()
        wanted = np.maximum(np.ceil((target - position) / pack), 0).astype(int)
        probs = [pmf(m, v) for m, v in zip(mean, variance, strict=True)]

        def total(
            cases, probs=probs, position=position, pack=pack, underage=underage, overage=overage
        ):
            return sum(
                expected_profit(int(position[i] + c * pack), probs[i], underage[i], overage[i])
                for i, c in enumerate(cases)
            )

        best = max(
            (
                cases
                for cases in itertools.product(*(range(w + 1) for w in wanted))
                if sum(cases) * pack <= hub
            ),
            key=total,
        )
        assert total(got // pack) == pytest.approx(total(best), rel=1e-9, abs=1e-9)


def test_the_surge_covers_what_sells_before_the_ocean_shipment_at_the_premium():
    rng = np.random.default_rng(9)
    for _ in range(30):
        mean, variance = rng.uniform(2, 30), 0.0
        variance = mean * rng.uniform(1.2, 3.0)
        position, underage = int(rng.integers(0, 20)), rng.uniform(2, 15)
        premium = rng.uniform(0.1, 1.2) * underage
        probs = pmf(mean, variance)
        k = np.arange(MAX_UNITS)

        def value(q, probs=probs, position=position, underage=underage, premium=premium, k=k):
            short = np.maximum(k - position, 0)  # units demanded beyond the stock before then
            return float((probs * underage * np.minimum(q, short)).sum()) - premium * q

        best = max(range(120), key=value)
        got = surge_units(WindowDemand.of([mean], [variance]), [position], [underage], [premium])
        assert value(int(got[0])) == pytest.approx(value(best), rel=1e-9, abs=1e-9)
        if premium >= underage:
            assert got[0] == 0


def _listings(**overrides):
    import pandas as pd

    base = {
        "sku": "A",
        "marketplace": ["US", "DE"],
        "warehouse_id": ["US-ONT", "DE-LEJ"],
        "on_hand": [2, 30],
        "in_transit": [0, 10],
        "hub_id": "HUB",
        "hub_units": 100,
        "daily_mean": [2.0, 1.0],
        "daily_var": [3.0, 1.5],
        "base_days": [30.0, 35.0],
        "base_landed_usd": [10.0, 10.0],
        "margin_usd": [8.0, 6.0],
        "fast_mode": ["air", "air"],
        "fast_days": [6.0, 7.0],
        "fast_landed_usd": [12.0, 12.5],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_a_listing_about_to_run_out_gets_an_air_surge_and_its_ocean_base():
    from datetime import date

    from ml.allocation.nightly import AllocationSettings, plan_sku

    rows = plan_sku(_listings(), AllocationSettings(), date(2026, 11, 1))
    by = {(r["marketplace"], r["mode"]): r for r in rows}
    # US: 2 units against ~60 until ocean lands -> an air surge; DE has 40 for ~35 days
    assert by[("US", "air")]["quantity"] > 20 and ("DE", "air") not in by
    assert by[("US", "air")]["expected_arrival"] == date(2026, 11, 7)
    assert "surge" in by[("US", "air")]["reason"]
    assert sum(r["quantity"] for r in rows) <= 100
    us_ocean = by[("US", "ocean")]
    assert (
        us_ocean["position"] + by[("US", "air")]["quantity"] + us_ocean["quantity"]
        <= (us_ocean["target_level"])
    )


def test_a_short_hub_ships_no_more_than_it_holds_and_no_surge_past_the_margin():
    from datetime import date

    from ml.allocation.nightly import AllocationSettings, plan_sku

    short = plan_sku(_listings(hub_units=15), AllocationSettings(case_pack=5), date(2026, 11, 1))
    assert sum(r["quantity"] for r in short) <= 15
    assert all(r["quantity"] % 5 == 0 for r in short)
    # air costing more per unit than the margin lost: no surge at all
    dear = plan_sku(
        _listings(fast_landed_usd=[30.0, 30.0]), AllocationSettings(), date(2026, 11, 1)
    )
    assert all(r["mode"] == "ocean" for r in dear)


def test_ocean_lines_ship_by_the_next_sailing_and_land_after_it():
    from datetime import date, timedelta

    from ml.allocation.nightly import AllocationSettings, plan_sku

    today = date(2026, 11, 4)  # a Wednesday; the lanes sail on Monday the 9th
    rows = plan_sku(
        _listings(base_wait_days=[5.0, 5.0], on_hand=[40, 30]), AllocationSettings(), today
    )
    ocean = [r for r in rows if r["mode"] == "ocean"]
    assert ocean and all(r["ship_by"] == date(2026, 11, 9) for r in ocean)
    transit = {"US": 30, "DE": 35}
    for r in ocean:
        assert r["expected_arrival"] == r["ship_by"] + timedelta(days=transit[r["marketplace"]])
    # the chance of a stock-out before arrival counts the wait for the sailing too
    later = plan_sku(
        _listings(base_wait_days=[12.0, 12.0], on_hand=[40, 30]), AllocationSettings(), today
    )
    sooner = {r["marketplace"]: r for r in ocean}
    for r in (r for r in later if r["mode"] == "ocean"):
        was = sooner[r["marketplace"]]["stockout_probability_before_arrival"]
        assert r["stockout_probability_before_arrival"] > was


def test_a_market_sails_at_the_interval_of_least_departure_and_holding_cost():
    from datetime import date, timedelta

    import pandas as pd

    from ml.allocation.nightly import AllocationSettings, sailing_schedule

    rng = np.random.default_rng(5)
    settings = AllocationSettings()
    today = date(2026, 11, 4)
    for _ in range(20):
        n = 12
        rows = pd.DataFrame(
            {
                "base_lane_id": rng.choice(["L1", "L2", "L3"], n),
                "daily_mean": rng.uniform(0.05, 3.0, n),
                "base_landed_usd": rng.uniform(3.0, 40.0, n),
            }
        )
        fixed = {lane: float(rng.choice([0.0, 50.0, 650.0, 3000.0])) for lane in ("L1", "L2", "L3")}
        last = {
            lane: None if rng.random() < 0.3 else today - timedelta(days=int(rng.integers(0, 40)))
            for lane in ("L1", "L2", "L3")
        }
        rows["base_fixed_usd"] = rows["base_lane_id"].map(fixed)
        rows["base_last_departed"] = pd.to_datetime(rows["base_lane_id"].map(last))
        got = sailing_schedule(rows, settings, today)
        for lane in set(rows["base_lane_id"]):
            on = got[got["base_lane_id"] == lane]
            # a week of the lane's demand at its landed cost, held a week at 25 % a year
            holding = 0.0
            for mean, landed in zip(on["daily_mean"], on["base_landed_usd"], strict=True):
                holding += 7 * mean * landed * 0.25 * 7 / 365
            cost = {t: fixed[lane] / t + holding * t / 2 for t in range(1, 5)}
            weeks = min(cost, key=lambda t: (cost[t], t))
            assert (on["review_days"] == 7 * weeks).all()
            # the first Monday on or after the last departure + the interval, today at the earliest
            day = today if last[lane] is None else max(today, last[lane] + timedelta(weeks * 7))
            while day.weekday() != 0:
                day += timedelta(days=1)
            assert (on["base_wait_days"] == (day - today).days).all()


def test_a_surge_is_held_where_its_lane_departure_costs_more_than_the_surges_earn():
    import pandas as pd

    from ml.allocation.nightly import unpaid_surges

    lines = pd.DataFrame(
        {
            "lane_id": ["US-AIR", "US-AIR", "DE-AIR", "US-OCEAN", "JP-EXP"],
            "mode": ["air", "air", "air", "ocean", "express"],
            "expected_profit_usd": [60.0, 30.0, 500.0, 5.0, 1.0],
        }
    )
    fixed = {"US-AIR": 100.0, "DE-AIR": 100.0, "US-OCEAN": 650.0, "JP-EXP": 0.0}
    # US air: 90 together, under its 100; DE air pays; the ocean base sails on its schedule
    assert unpaid_surges(lines, fixed).tolist() == [True, True, False, False, False]


def test_the_factory_order_tops_up_to_the_target_and_meets_the_minimum_only_when_it_pays():
    from ml.allocation.plan import restock_order

    rng = np.random.default_rng(21)
    for _ in range(30):
        mean = rng.uniform(10, 120)
        variance = mean * rng.uniform(1.2, 3.0)
        position = int(rng.integers(0, 80))
        underage, overage = rng.uniform(2, 10), rng.uniform(0.5, 4)
        pack, moq = int(rng.integers(1, 12)), int(rng.integers(0, 200))
        probs = pmf(mean, variance)
        allowed = [0] + [q for q in range(pack, 400, pack) if q >= moq]
        # the brute force: the order of most expected profit among whole cases >= the minimum,
        # never past the first case that reaches the target (the target caps the order)
        target = int(target_level(WindowDemand.of([mean], [variance]), [underage], [overage])[0])
        cap = int(max(np.ceil(max(target - position, 0) / pack), np.ceil(moq / pack)) * pack)
        best = max(
            (q for q in allowed if q <= max(cap, 0)),
            key=lambda q: expected_profit(position + q, probs, underage, overage),
        )
        got = int(
            restock_order(
                WindowDemand.of([mean], [variance]),
                [position],
                [underage],
                [overage],
                [pack],
                [moq],
            )[0]
        )
        assert got % pack == 0 and (got == 0 or got >= moq)
        gain = expected_profit(position + got, probs, underage, overage)
        assert gain == pytest.approx(
            expected_profit(position + best, probs, underage, overage), rel=1e-9, abs=1e-9
        )


def test_the_supplier_order_covers_every_markets_demand_over_the_lead_time():
    from datetime import date

    from ml.allocation.nightly import RestockSettings, days_of_supply, restock

    low = _listings(hub_units=10)  # 2 + 40 in the markets, ~3 a day over 30 + 35 + 7 days
    high = _listings(sku="B", hub_units=5_000)
    rows = __import__("pandas").concat([low, high], ignore_index=True)
    orders = restock(rows, RestockSettings(case_pack=6, min_order_quantity=60), date(2026, 11, 1))
    a, b = orders.set_index("sku").loc["A"], orders.set_index("sku").loc["B"]
    assert a["order_quantity"] >= 60 and a["order_quantity"] % 6 == 0
    assert a["position"] + a["order_quantity"] >= a["target_level"]
    assert a["expected_delivery"] == date(2026, 12, 1)
    assert b["order_quantity"] == 0 and not b["at_risk"]
    supply = days_of_supply(low)
    assert supply["days_of_supply"].round(6).tolist() == [1.0, 40.0]  # 2 / 2, 40 / 1
    assert supply["at_risk"].tolist() == [True, False]


def test_a_free_leftover_still_gives_a_finite_target():
    """Air landing before a duty rise can cost less than ocean: a premium of 0 and a
    critical ratio of 1 must not ask for infinite units."""
    demand = WindowDemand.of([5.0, 2.0], [9.0, 2.0])
    target = target_level(demand, [10.0, 10.0], [0.0, 0.0])
    assert np.isfinite(target).all() and (target > 5).all()
    surge = surge_units(demand, [0.0, 0.0], [10.0, 10.0], [-1.0, 0.0])
    assert np.isfinite(surge).all() and (surge > 0).all()


def test_a_sailing_weekday_outside_the_week_is_a_clear_error():
    from ml.allocation.nightly import AllocationSettings

    with pytest.raises(ValueError, match="sailing_weekday must be 0 \\(Monday\\) to 6"):
        AllocationSettings(sailing_weekday=7)
    with pytest.raises(ValueError, match="max_sailing_weeks must be at least 1"):
        AllocationSettings(max_sailing_weeks=0)


def test_a_listing_that_ends_gets_no_shipment_landing_after_its_last_day():
    from datetime import date

    from ml.allocation.nightly import AllocationSettings, plan_sku

    today = date(2026, 11, 2)
    forever = {
        (r["marketplace"], r["mode"]): r
        for r in plan_sku(_listings(hub_units=1000), AllocationSettings(), today)
    }
    # the US listing ends in 20 days: before any ocean shipment lands (30 days), after air (6)
    ending = plan_sku(
        _listings(hub_units=1000, days_left=[20.0, np.nan]), AllocationSettings(), today
    )
    by = {(r["marketplace"], r["mode"]): r for r in ending}
    assert ("US", "ocean") not in by and ("US", "ocean") in forever
    # the surge covers the demand until its end (~2 a day for 20 days, not until ocean lands)
    assert 20 <= by[("US", "air")]["quantity"] + 2 < forever[("US", "air")]["quantity"]
    assert by[("US", "air")]["quantity"] + 2 <= 2.0 * 20 + 3 * np.sqrt(3.0 * 20)
    assert by[("DE", "ocean")] == forever[("DE", "ocean")]  # no end stated, a full hub: same
    # ending before even air lands: nothing at all
    gone = plan_sku(_listings(days_left=[5.0, 5.0]), AllocationSettings(), today)
    assert gone == []


def test_the_restock_counts_demand_to_each_listings_end_and_orders_none_that_cannot_sell():
    import pandas as pd

    from ml.allocation.nightly import RestockSettings, restock

    rows = pd.DataFrame(
        {
            "sku": ["A", "A"],
            "on_hand": [0, 0],
            "in_transit": [0, 0],
            "hub_units": [0, 0],
            "daily_mean": [2.0, 1.0],
            "daily_var": [2.0, 1.0],
            "margin_usd": [10.0, 10.0],
            "base_landed_usd": [5.0, 5.0],
            "base_days": [30.0, 30.0],
            "fast_days": [6.0, 6.0],
        }
    )
    from datetime import date

    settings, today = RestockSettings(supplier_lead_days=20), date(2026, 1, 5)
    plain = restock(rows, settings, today).iloc[0]
    assert plain["target_level"] >= 3.0 * (20 + 30 + 7)  # both markets over the whole window
    # the first market ends in 40 days: only its first 40 days count
    ending = restock(rows.assign(days_left=[40.0, np.inf]), settings, today).iloc[0]
    mean = 2.0 * 40 + 1.0 * 57
    assert mean <= ending["target_level"] <= mean + 3 * np.sqrt(mean)
    # an order landing in 20 days and flying out in 6 leaves too little time to sell
    late = restock(rows.assign(days_left=[30.0, 30.0]), settings, today).iloc[0]
    assert late["order_quantity"] == 0
    soon = restock(rows.assign(days_left=[40.0, 40.0]), settings, today).iloc[0]
    assert soon["order_quantity"] > 0


def test_the_window_variance_adds_the_error_of_a_level_estimated_from_few_days():
    """Against a simulation: a level taken as the mean of n days of Poisson sales, then the
    demand of the next d days; the spread of demand - d x level is var x d x (1 + d / n)."""
    from ml.allocation.plan import window_variance

    rng = np.random.default_rng(7)
    rate, n, d, trials = 0.8, 14, 42, 200_000
    level = rng.poisson(rate * n, trials) / n  # the sum of n Poisson days, over n
    ahead = rng.poisson(rate * d, trials)
    assert window_variance(rate, d, n) == pytest.approx(np.var(ahead - d * level), rel=0.02)
    assert window_variance(rate, d, np.inf) == pytest.approx(rate * d)


def test_a_level_seen_on_fewer_days_gets_a_higher_target():
    from datetime import date

    from ml.allocation.nightly import AllocationSettings, plan_sku

    def us_target(**overrides) -> int:
        rows = plan_sku(_listings(**overrides), AllocationSettings(), date(2026, 11, 1))
        return next(r["target_level"] for r in rows if r["marketplace"] == "US")

    known, seen_56, seen_7 = us_target(), us_target(days_seen=[56, 56]), us_target(days_seen=[7, 7])
    assert known < seen_56 < seen_7
    # the reason says why a listing seen for a week has the wider target
    lines = plan_sku(_listings(days_seen=[7, 56]), AllocationSettings(), date(2026, 11, 1))
    reasons = {r["marketplace"]: r["reason"] for r in lines}
    assert "only 7 in-stock days of the last 56" in reasons["US"]
    assert "in-stock days" not in reasons["DE"]
