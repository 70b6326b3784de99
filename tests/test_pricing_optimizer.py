"""Price optimizer: each rule against a plain reference (hand arithmetic, the analytic optimum,
a brute force over every price ending) and every guardrail on random listings.

Timing (not a test): ``optimize_prices`` on 10,000 random listings x 1 day in 7 marketplaces,
with stock inputs, took 0.4-0.9 s on the shared 2-core machine (the first call in a process is
the slowest); 10,000 listings x 28 days (280,000 rows, days chained) took 10.6 s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.pricing.optimizer import (
    DEFAULT_RULES,
    GUARDRAILS,
    REASON_CODES,
    RESULT_COLUMNS,
    PricingRules,
    describe_rules,
    ending_ceil,
    ending_floor,
    ending_nearest,
    landed_cost_change,
    listing_profit,
    optimize_prices,
    pass_through,
)
from ml.reference.marketplaces import marketplace_values

DAY = pd.Timestamp("2026-03-02")
VAT = {m: float(v) for m, v in marketplace_values("vat_rate").items()}
INCL = {m: v == "true" for m, v in marketplace_values("prices_include_vat").items()}
REFERRAL = {m: float(v) for m, v in marketplace_values("referral_fee_rate").items()}
OFFSET = {"US": 0.99, "UK": 0.99, "CA": 0.99, "AU": 0.99, "JP": 0.0}


def listing(**values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "sku": "A",
        "marketplace": "US",
        "date": DAY,
        "current_price": 19.99,
        "landed_cost_local": 8.0,
        "units_ref": 10.0,
        "elasticity": -3.0,
    }
    row.update(values)
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def one(out: pd.DataFrame) -> pd.Series:
    assert len(out) == 1
    return out.iloc[0]


def kept_share(marketplace: str) -> float:
    """Share of the displayed price the seller keeps: net of VAT, less the referral fee."""
    net = 1 / (1 + VAT[marketplace]) if INCL[marketplace] else 1.0
    return net - REFERRAL[marketplace]


def reference_profit(price: float, marketplace: str, units: float, unit_cost: float) -> float:
    return units * (kept_share(marketplace) * price - unit_cost)


def endings_between(lo: float, hi: float, offset: float) -> list[float]:
    """Every price ending in [lo, hi], by plain counting."""
    first = math.ceil(lo - offset - 1e-9)
    return [round(n + offset, 2) for n in range(first, int(math.floor(hi - offset + 1e-9)) + 1)]


# --- profit and optimum against hand computations -----------------------------------------


def test_profit_of_a_vat_inclusive_eu_listing_matches_the_hand_computation():
    # Amazon.de figures of the reference: 19 % VAT inside the price, 15 % referral on the
    # displayed price, fulfilment EUR 3.20 a unit.
    assert (VAT["DE"], INCL["DE"], REFERRAL["DE"]) == (0.19, True, 0.15)
    assert marketplace_values("fulfilment_fee_per_unit")["DE"] == "3.20"
    # 29.99 / 1.19 = 25.201681 net; referral 0.15 x 29.99 = 4.4985; fulfilment 3.20;
    # landed 12.00: 25.201681 - 4.4985 - 3.20 - 12.00 = 5.503181 a unit, x 10 units.
    expected = 10 * (29.99 / 1.19 - 0.15 * 29.99 - 3.20 - 12.00)
    assert expected == pytest.approx(55.03181, abs=1e-5)
    row = listing(marketplace="DE", current_price=29.99, landed_cost_local=12.0)
    separate = one(optimize_prices(frame(row), landed_cost_includes_fulfilment=False))
    assert separate["units_current"] == pytest.approx(10.0)
    assert separate["profit_current"] == pytest.approx(expected, abs=1e-9)
    # The mart's landed cost holds the fulfilment fee: the same profit.
    included = one(optimize_prices(frame({**row, "landed_cost_local": 15.20})))
    assert included["profit_current"] == pytest.approx(expected, abs=1e-9)
    assert listing_profit(
        np.array([29.99]), np.array([10.0]), 0.19, np.array([True]), 0.15, 3.20, 12.0
    )[0] == pytest.approx(expected, abs=1e-9)


WIDE = PricingRules(max_price=100_000.0, max_change=50.0, min_margin=0.0)


@pytest.mark.parametrize(
    ("marketplace", "unit_cost", "elasticity", "current"),
    [("US", 10.0, -3.0, 19.99), ("DE", 12.0, -2.5, 24.99), ("JP", 700.0, -2.0, 1980.0)],
)
def test_the_optimum_is_the_analytic_one_under_constant_elasticity(
    marketplace, unit_cost, elasticity, current
):
    # profit(p) = A p^e (k p - c); d/dp = A p^(e-1) (e (k p - c) + k p) = 0
    # => k p (1 + e) = e c => p* = (c / k) * e / (1 + e): the marginal cost on the net-of-VAT,
    # net-of-referral basis (c / k) times the elasticity markup.
    k = kept_share(marketplace)
    analytic = unit_cost / k * elasticity / (1 + elasticity)
    row = listing(
        marketplace=marketplace,
        current_price=current,
        landed_cost_local=unit_cost,
        elasticity=elasticity,
    )
    got = one(optimize_prices(frame(row), default_rules=WIDE))
    offset = OFFSET.get(marketplace, 0.99)
    # The best ending is one of the two around the analytic optimum (profit is unimodal).
    around = [float(ending_floor(analytic, offset)), float(ending_ceil(analytic, offset))]

    def profit(p: float) -> float:
        return reference_profit(p, marketplace, 10 * (p / current) ** elasticity, unit_cost)

    best = max(around, key=profit)
    assert got["recommended_price"] == pytest.approx(best)
    assert abs(got["recommended_price"] - analytic) < 1.0
    assert got["profit_recommended"] == pytest.approx(profit(best))
    assert got["binding_guardrail"] == "none"
    assert got["reason_codes"] == "demand"


def test_the_optimum_equals_a_brute_force_over_every_ending_for_any_response():
    """Constant elasticity and two callables (linear, logit-shaped: not constant elasticity)
    on random listings; the reference enumerates every ending in the rule window."""
    rng = np.random.default_rng(7)
    rows, responses, expected_units = [], {}, {}
    shapes = ["constant", "linear", "logit"]
    for i in range(60):
        market = ["US", "DE", "UK", "JP"][i % 4]
        scale = 100.0 if market == "JP" else 1.0
        offset = OFFSET.get(market, 0.99)
        current = float(ending_nearest(np.array(rng.uniform(10, 60) * scale), offset))
        cost = current * rng.uniform(0.15, 0.5)
        elasticity = rng.uniform(-5, -0.3)
        sku = f"S{i}"
        shape = shapes[i % 3]
        if shape == "linear":
            a, b = rng.uniform(20, 60), rng.uniform(0.5, 2.0) / current * 10

            def units(p, a=a, b=b):
                return np.maximum(a - b * p, 0.0)

        elif shape == "logit":
            mid, width = current * rng.uniform(0.8, 1.5), current * rng.uniform(0.05, 0.3)

            def units(p, mid=mid, width=width):
                return 30.0 / (1.0 + np.exp((p - mid) / width))

        else:

            def units(p, current=current, elasticity=elasticity):
                return 10.0 * (p / current) ** elasticity

        if shape != "constant":
            responses[(sku, market)] = units
        expected_units[sku] = units
        rows.append(
            listing(
                sku=sku,
                marketplace=market,
                current_price=current,
                landed_cost_local=cost,
                elasticity=elasticity,
            )
        )
    rules = PricingRules(max_change=0.3, min_margin=0.05)
    out = optimize_prices(frame(*rows), responses=responses, default_rules=rules)
    assert (out["status"] != "paused").all()
    for r in out.itertuples():
        market, current = r.marketplace, r.current_price
        cost = r.landed_cost_local
        floor = cost * 1.05 / kept_share(market)
        lo = max(floor, current * 0.7)
        hi = min(2 * current, current * 1.3)
        offset = OFFSET.get(market, 0.99)
        prices = endings_between(lo, hi, offset)
        units = expected_units[r.sku]
        profits = [reference_profit(p, market, float(units(np.array(p))), cost) for p in prices]
        best = max(profits)
        assert r.min_allowed_price == pytest.approx(prices[0])
        assert r.max_allowed_price == pytest.approx(prices[-1])
        if r.status == "changed":
            got = reference_profit(r.recommended_price, market, r.units_recommended, cost)
            assert got == pytest.approx(best, rel=1e-9, abs=1e-9), r.sku
        else:  # held: the best ending is within 1 % of the current price
            winner = prices[int(np.argmax(profits))]
            assert abs(winner / current - 1) < 0.01 and r.binding_guardrail in (
                "none",
                "min_change",
            )


def curved_units(price: float, current: float, e: float, g: float, ref: float) -> float:
    """The log-quadratic response by hand: 10 units at the current price, and log units moving
    by e * dL + g * d(L^2) with L = log(price / ref), the log price held at the vertex of the
    quadratic where units would otherwise rise with price."""

    def held(log_price: float) -> float:
        if g == 0:
            return log_price
        vertex = -e / (2 * g)
        return min(log_price, vertex) if g > 0 else max(log_price, vertex)

    lp, l0 = held(math.log(price / ref)), held(math.log(current / ref))
    return 10.0 * math.exp(e * (lp - l0) + g * (lp * lp - l0 * l0))


def test_the_optimum_equals_a_brute_force_under_a_curved_response():
    rng = np.random.default_rng(11)
    rows, shape = [], {}
    for i in range(40):
        market = ["US", "DE", "UK", "JP"][i % 4]
        scale = 100.0 if market == "JP" else 1.0
        current = float(
            ending_nearest(np.array(rng.uniform(10, 60) * scale), OFFSET.get(market, 0.99))
        )
        e, g = rng.uniform(-4, -0.3), rng.uniform(-4, 1.5)
        ref = current * rng.uniform(0.8, 1.2)
        shape[f"S{i}"] = (e, g, ref)
        rows.append(
            listing(
                sku=f"S{i}",
                marketplace=market,
                current_price=current,
                landed_cost_local=current * rng.uniform(0.15, 0.5),
                elasticity=e,
                curvature=g,
                response_reference=ref,
            )
        )
    rules = PricingRules(max_change=0.3, min_margin=0.05)
    out = optimize_prices(frame(*rows), default_rules=rules)
    for r in out.itertuples():
        e, g, ref = shape[r.sku]
        cost, current = r.landed_cost_local, r.current_price
        lo = max(cost * 1.05 / kept_share(r.marketplace), current * 0.7)
        prices = endings_between(
            lo, min(2 * current, current * 1.3), OFFSET.get(r.marketplace, 0.99)
        )
        profits = [
            reference_profit(p, r.marketplace, curved_units(p, current, e, g, ref), cost)
            for p in prices
        ]
        if r.status == "changed":
            units = curved_units(r.recommended_price, current, e, g, ref)
            assert r.units_recommended == pytest.approx(units, rel=1e-9)
            got = reference_profit(r.recommended_price, r.marketplace, units, cost)
            assert got == pytest.approx(max(profits), rel=1e-9, abs=1e-9), r.sku
        else:
            assert abs(prices[int(np.argmax(profits))] / current - 1) < 0.01
    assert (out["status"] == "changed").sum() > 20


def expected_units(price: float, current: float, e: float, sd: float, g: float, ref: float):
    """``curved_units`` averaged over a normal elasticity (mean e, sd), none above 0, by the
    trapezoid rule on 4,001 points from -8 to +8 standard deviations."""
    z = np.linspace(-8, 8, 4001)
    density = np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    units = np.array([curved_units(price, current, min(e + sd * k, 0.0), g, ref) for k in z])
    return float(np.trapezoid(density * units, z))


def best_price(prices, marketplace, units, cost) -> tuple[float, float]:
    """The price of most profit among ``prices`` with ``units`` at each, and that profit."""
    profits = [
        reference_profit(p, marketplace, u, cost) for p, u in zip(prices, units, strict=True)
    ]
    return prices[int(np.argmax(profits))], max(profits)


def test_an_uncertain_elasticity_prices_for_the_units_expected_over_its_spread():
    rng = np.random.default_rng(17)
    rows, shape = [], {}
    for i in range(30):
        market = ["US", "DE", "UK"][i % 3]
        current = float(ending_nearest(np.array(rng.uniform(10, 60)), OFFSET.get(market, 0.99)))
        e, sd = rng.uniform(-4, -0.6), rng.uniform(0.1, 1.2)
        shape[f"S{i}"] = (e, sd)
        rows.append(
            listing(
                sku=f"S{i}",
                marketplace=market,
                current_price=current,
                landed_cost_local=current * rng.uniform(0.15, 0.5),
                elasticity=e,
                elasticity_se=sd,
            )
        )
    rules = PricingRules(max_change=0.3, min_margin=0.05)
    out = optimize_prices(frame(*rows), default_rules=rules)
    other = 0
    for r in out.itertuples():
        e, sd = shape[r.sku]
        cost, current = r.landed_cost_local, r.current_price
        lo = max(cost * 1.05 / kept_share(r.marketplace), current * 0.7)
        prices = endings_between(lo, current * 1.3, OFFSET.get(r.marketplace, 0.99))

        spread = [expected_units(p, current, e, sd, 0.0, current) for p in prices]
        price, profit = best_price(prices, r.marketplace, spread, cost)
        if r.status == "changed":
            got = expected_units(r.recommended_price, current, e, sd, 0.0, current)
            assert r.units_recommended == pytest.approx(got, rel=1e-5)
            assert reference_profit(r.recommended_price, r.marketplace, got, cost) == (
                pytest.approx(profit, rel=1e-5)
            ), r.sku
        else:
            assert abs(price / current - 1) < 0.01
        # the price that takes the mean elasticity as certain is another one
        sure = [curved_units(p, current, e, 0.0, current) for p in prices]
        certain, _ = best_price(prices, r.marketplace, sure, cost)
        other += r.recommended_price != certain
    assert (out["status"] == "changed").sum() > 15 and other > 0


def test_expected_units_over_an_elasticity_spread_never_rise_with_price():
    from ml.pricing.optimizer import Demand

    n = 40
    rng = np.random.default_rng(3)
    e, sd = rng.uniform(-3, -0.2, n), rng.uniform(0.3, 2.0, n)
    g, ref = np.where(np.arange(n) % 2, 0.0, rng.uniform(-4, 0, n)), rng.uniform(15, 25, n)
    demand = Demand(
        units_ref=np.full(n, 10.0),
        price_ref=np.full(n, 20.0),
        elasticity=e,
        functions=(None,) * n,
        curvature=g,
        reference=ref,
        elasticity_sd=sd,
    )
    prices = np.linspace(8.0, 45.0, 40)[None, :].repeat(n, axis=0)
    units = demand.units(prices)
    assert (np.diff(units, axis=1) <= 1e-12).all()
    for i in range(n):
        for j in range(0, 40, 7):
            want = expected_units(prices[i, j], 20.0, e[i], sd[i], g[i], ref[i])
            if g[i] == 0:  # a bent response takes its mean elasticity
                assert units[i, j] == pytest.approx(want, rel=1e-5)
            else:
                assert units[i, j] == pytest.approx(
                    curved_units(prices[i, j], 20.0, e[i], g[i], ref[i]), rel=1e-9
                )


# --- guardrails on random listings ------------------------------------------------------------

RANDOM_MARKETS = ["UK", "DE", "FR", "IT", "JP", "CA", "AU"]
USD_PER_LOCAL = {"US": 1.0, "UK": 1.27, "DE": 1.08, "FR": 1.08, "IT": 1.08, "JP": 0.0067}
USD_PER_LOCAL |= {"CA": 0.74, "AU": 0.66}


def random_case(rng: np.random.Generator, n_skus: int, n_days: int):
    """Random listings (each SKU in US, the band's reference, and one or two more markets)
    with random rules, stock and demand; every row's inputs for the checks."""
    rows, rules = [], {}
    for s in range(n_skus):
        sku = f"S{s}"
        usd_price = rng.uniform(8, 80)
        markets = ["US", *rng.choice(RANDOM_MARKETS, int(rng.integers(1, 3)), replace=False)]
        for market in markets:
            fx = USD_PER_LOCAL[market]
            offset = OFFSET.get(market, 0.95)
            local = usd_price / fx * rng.uniform(0.8, 1.25)
            current = float(ending_nearest(np.array(local), offset))
            cost = current * rng.uniform(0.1, 0.75)
            kind = rng.random()
            rule = PricingRules(
                min_price=float(current * rng.uniform(0.6, 1.05)) if kind < 0.3 else None,
                max_price=float(current * rng.uniform(0.9, 1.6)) if 0.2 < kind < 0.5 else None,
                min_margin=float(rng.uniform(0.0, 0.3)),
                max_change=float(rng.uniform(0.03, 0.3)),
                band=float(rng.uniform(0.05, 0.3)) if market != "US" and kind > 0.6 else None,
                reference_marketplace="US",
                min_change=0.01 if kind < 0.9 else 0.05,
            )
            rules[(sku, market)] = rule
            short = rng.random() < 0.3
            for day in range(n_days):
                row = listing(
                    sku=sku,
                    marketplace=market,
                    date=DAY + pd.Timedelta(days=day),
                    current_price=current,
                    landed_cost_local=cost * (1 + 0.3 * (day >= 1) * (kind > 0.8)),
                    units_ref=float(rng.uniform(0, 30)),
                    elasticity=float(rng.uniform(-5, -0.2)),
                    usd_per_local=fx,
                )
                if rng.random() < 0.6:
                    row["stock_units"] = float(
                        rng.uniform(0, 100) if short else rng.uniform(100, 20_000)
                    )
                    row["days_to_replenish"] = float(rng.uniform(3, 45))
                rows.append(row)
    return frame(*rows), rules


def test_no_guardrail_is_ever_violated_and_each_binds_somewhere():
    rng = np.random.default_rng(2026)
    listings, rules = random_case(rng, n_skus=150, n_days=3)
    out = optimize_prices(listings, rules, eu_ending="95")
    us_price = out[out["marketplace"] == "US"].set_index(["sku", "date"])["current_price"]
    tol = 1e-6
    for r in out.itertuples():
        rule = rules[(r.sku, r.marketplace)]
        prev, rec = r.previous_price, r.recommended_price
        if r.status in ("paused", "kept"):
            assert rec == prev
            assert r.status_reason
            continue
        assert r.status == "changed"
        k = kept_share(r.marketplace)
        assert k * rec >= r.landed_cost_local * (1 + rule.min_margin) - tol  # margin floor
        max_price = rule.max_price if rule.max_price is not None else 2 * r.current_price
        assert rec <= max_price + tol
        if rule.min_price is not None:
            assert rec >= rule.min_price - tol
        low, high = -np.inf, np.inf
        if rule.band is not None:
            reference = us_price[(r.sku, r.date)] * 1.0 / USD_PER_LOCAL[r.marketplace]
            low, high = reference * (1 - rule.band), reference * (1 + rule.band)
            assert low - tol <= rec <= high + tol
        # The rate limit and the minimum change hold, unless the previous price broke a hard
        # bound (the bounds win) or excess stock allowed a markdown.
        floor = max(r.landed_cost_local * (1 + rule.min_margin) / k, rule.min_price or -np.inf, low)
        outside = prev < floor - tol or prev > min(max_price, high) + tol
        markdown = "stock" in r.reason_codes and rec < prev
        if not outside:
            assert abs(rec / prev - 1) >= rule.min_change - tol
        if not (outside or markdown):
            assert abs(rec / prev - 1) <= rule.max_change + tol
        offset = {"US": 0.99, "JP": 0.0}.get(r.marketplace, OFFSET.get(r.marketplace, 0.95))
        assert (rec - offset) % 1 == pytest.approx(0, abs=1e-6) or (rec - offset) % 1 == (
            pytest.approx(1, abs=1e-6)
        )
    bindings = set(out["binding_guardrail"])
    assert bindings <= {*GUARDRAILS, "none"}
    assert set(";".join(out["reason_codes"]).split(";")) <= {*REASON_CODES, ""}
    assert {"min_price", "max_price", "min_margin", "max_change", "band"} <= bindings
    assert {"stock", "min_change", "none"} <= bindings
    assert {"changed", "kept"} <= set(out["status"])
    codes = ";".join(out["reason_codes"]).split(";")
    assert {"stock", "rule", "demand"} <= set(codes)


def test_a_reported_binding_guardrail_really_binds():
    """Where a guardrail is named, the price sits on its bound and the next ending past the
    bound earns more; where none is named, the price is a local optimum within its range."""
    rng = np.random.default_rng(11)
    listings, rules = random_case(rng, n_skus=80, n_days=1)
    listings = listings.drop(columns=["stock_units", "days_to_replenish"], errors="ignore")
    out = optimize_prices(listings, rules)
    optimized = out[out["status"] == "changed"]
    assert len(optimized) > 50

    def profit(r, p: float) -> float:
        units = r.units_ref * (p / r.current_price) ** r.elasticity
        return reference_profit(p, r.marketplace, units, r.landed_cost_local)

    for r in optimized.itertuples():
        rec = r.recommended_price
        here = profit(r, rec)
        if r.binding_guardrail == "none":
            if rec + 1 <= r.max_allowed_price + 1e-9:
                assert here >= profit(r, rec + 1) - 1e-9
            if rec - 1 >= r.min_allowed_price - 1e-9:
                assert here >= profit(r, rec - 1) - 1e-9
        else:
            past = []  # the next endings past the range's ends the price sits on
            past += [rec + 1] if rec == pytest.approx(r.max_allowed_price) else []
            past += [rec - 1] if rec == pytest.approx(r.min_allowed_price) else []
            assert past and max(profit(r, p) for p in past) > here


def test_the_output_has_the_result_columns_then_every_input_column():
    row = listing(
        elasticity_status="pooled",
        duty_mfn_local=1.5,
        duty_additional_local=2.5,
        applied_measure_ids="US-301,US-MFN",
        freight_local=2.0,
    )
    out = optimize_prices(frame(row))
    assert tuple(out.columns[: len(RESULT_COLUMNS)]) == RESULT_COLUMNS
    passed = ["elasticity", "elasticity_status", "duty_mfn_local", "applied_measure_ids"]
    assert set(passed) <= set(out.columns)
    got = one(out)
    assert (got["elasticity_status"], got["duty_additional_local"]) == ("pooled", 2.5)
    assert (got["currency"], got["elasticity_used"]) == ("USD", -3.0)


# --- pauses, holds and strategies -------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "rule", "reason"),
    [
        ({}, PricingRules(min_price=30.0, max_price=20.0), "min price 30.00 above max price 20.00"),
        (
            {"landed_cost_local": 20.0},
            PricingRules(max_price=25.0),
            "max price 25.00 below the landed-cost floor 25.88",
        ),
        ({"landed_cost_local": np.nan}, DEFAULT_RULES, "no landed cost"),
        ({"elasticity": np.nan}, DEFAULT_RULES, "no demand input"),
        ({}, PricingRules(strategy="follow_reference", reference_marketplace="DE"), "reference"),
        ({"reference_price_fx": 50.0}, PricingRules(band=0.1, max_price=30.0), "band"),
        ({}, PricingRules(min_price=20.10, max_price=20.90), "no price ending between"),
    ],
)
def test_missing_or_contradictory_bounds_pause_the_listing_with_the_reason(row, rule, reason):
    # landed 20 at 10 % margin over k = 0.85 (US): floor 20 x 1.1 / 0.85 = 25.88
    got = one(optimize_prices(frame(listing(**row)), {("A", "US"): rule}))
    assert got["status"] == "paused"
    assert reason in got["status_reason"]
    assert got["recommended_price"] == 19.99  # held, not guessed
    assert got["reason_codes"] == "" and got["binding_guardrail"] == "none"


def test_no_demand_at_any_price_is_not_a_contradiction():
    got = one(optimize_prices(frame(listing(units_ref=0.0))))
    assert got["status"] == "kept"
    assert got["recommended_price"] == 19.99
    assert got["profit_recommended"] == 0.0


def test_changes_under_one_percent_are_not_pushed():
    # Whole yen: the best price 1,730 (c / k x e / (1 + e) = 700 / 0.80909 x 2 = 1,730.34)
    # is 0.3 % under the current 1,735.
    row = listing(marketplace="JP", current_price=1735.0, landed_cost_local=700.0, elasticity=-2)
    held = one(optimize_prices(frame(row)))
    assert held["status"] == "kept"
    assert held["recommended_price"] == 1735.0
    assert held["binding_guardrail"] == "min_change"
    assert held["reason_codes"] == "rule"
    pushed = one(optimize_prices(frame(row), default_rules=PricingRules(min_change=0.0)))
    assert pushed["status"] == "changed"
    assert pushed["recommended_price"] == 1730.0


def test_a_small_change_is_pushed_when_the_held_price_breaks_the_margin_floor():
    # landed 14.65: floor 14.65 x 1.1 / 0.85 = 18.96 -> 18.99; the current 18.90 is under it
    # and the optimum 14.65 / 0.85 x 20 / 19 = 18.14 under both: +0.5 % is pushed all the same.
    row = listing(current_price=18.90, landed_cost_local=14.65, elasticity=-20.0)
    got = one(optimize_prices(frame(row)))
    assert got["status"] == "changed"
    assert got["recommended_price"] == 18.99
    assert got["binding_guardrail"] == "min_margin"


def test_keep_holds_the_current_price():
    rule = PricingRules(strategy="keep")
    got = one(optimize_prices(frame(listing(landed_cost_local=2.0)), {("A", "US"): rule}))
    assert got["status"] == "kept" and got["recommended_price"] == 19.99
    assert got["reason_codes"] == "rule"
    free = one(optimize_prices(frame(listing(landed_cost_local=2.0))))
    assert free["recommended_price"] < 19.99  # so keep really held something
    # The seller's explicit hold wins over the bounds: below the margin floor it is not paused.
    below = one(optimize_prices(frame(listing(landed_cost_local=30.0)), {("A", "US"): rule}))
    assert (below["status"], below["recommended_price"]) == ("kept", 19.99)


def _follow_case(de_price: float, rule: PricingRules) -> pd.Series:
    rows = frame(
        listing(marketplace="US", current_price=20.00, usd_per_local=1.0),
        listing(marketplace="DE", current_price=de_price, landed_cost_local=5.0, usd_per_local=1.1),
    )
    out = optimize_prices(rows, {("A", "DE"): rule})
    return out[out["marketplace"] == "DE"].iloc[0]


def test_follow_reference_converts_the_reference_price_at_the_days_fx():
    # USD 20.00 at 1.10 USD per EUR = EUR 18.18, nearest .99 ending 17.99.
    follow = PricingRules(strategy="follow_reference", reference_marketplace="US")
    got = _follow_case(18.99, follow)
    assert got["recommended_price"] == 17.99 and got["status"] == "changed"
    assert got["reason_codes"] == "rule"
    # 10 % above: EUR 20.00 -> 19.99.
    above = PricingRules(
        strategy="follow_reference", reference_marketplace="US", reference_markup=0.1
    )
    assert _follow_case(18.99, above)["recommended_price"] == 19.99
    # From 24.99 the 10 % daily limit stops at 22.49 -> inward ending 22.99.
    limited = _follow_case(24.99, follow)
    assert limited["recommended_price"] == 22.99
    assert limited["binding_guardrail"] == "max_change"


def test_the_cross_market_band_binds_the_optimum():
    # Unconstrained DE optimum (c = 5, e = -3): 5 / 0.690336 x 1.5 = 10.86; the band keeps it
    # within 10 % of EUR 18.18: >= 16.36 -> 16.99.
    band = PricingRules(band=0.1, reference_marketplace="US", max_change=1.0)
    got = _follow_case(18.99, band)
    assert got["recommended_price"] == 16.99
    assert got["binding_guardrail"] == "band"
    assert "rule" in got["reason_codes"].split(";")


def test_the_default_max_price_is_twice_the_typical_price_and_the_defaults_are_described():
    # Inelastic demand: profit rises with price until the max: 2 x 15.00 = 30.00 -> 29.99.
    row = listing(elasticity=-0.5, typical_price=15.0)
    got = one(optimize_prices(frame(row), default_rules=PricingRules(max_change=1.0)))
    assert got["recommended_price"] == 29.99
    assert got["binding_guardrail"] == "max_price"
    line = describe_rules()
    for part in ("optimize", "10% margin", "2 x typical price", "10%/day", "under 1%"):
        assert part in line
    assert "\n" not in line


def test_price_endings_round_inwards():
    assert ending_ceil(np.array(17.991), 0.99) == 18.99
    assert ending_ceil(np.array(18.99), 0.99) == 18.99
    assert ending_floor(np.array(21.989), 0.99) == 20.99
    assert ending_floor(np.array(1782.7), 0.0) == 1782.0
    assert ending_nearest(np.array(18.18), 0.95) == 17.95
    # EU: .95 on request, JP: whole yen, in the optimizer too.
    de = one(optimize_prices(frame(listing(marketplace="DE", current_price=24.95)), eu_ending="95"))
    assert round(de["recommended_price"] % 1, 2) == 0.95
    jp = one(
        optimize_prices(
            frame(listing(marketplace="JP", current_price=1980.0, landed_cost_local=400))
        )
    )
    assert jp["recommended_price"] == float(int(jp["recommended_price"]))


# --- stock ------------------------------------------------------------------------------------


def test_stock_short_of_demand_until_replenishment_raises_the_price_to_sell_through():
    # Free optimum (c = 5, e = -2): 5 / 0.85 x 2 = 11.76. 120 units must last 20 days of
    # 10 x (p / 19.99)^-2 a day: p >= 19.99 x sqrt(200 / 120) = 25.81 -> 25.99.
    wide = PricingRules(max_change=0.5)
    base = listing(landed_cost_local=5.0, elasticity=-2.0)
    free = one(optimize_prices(frame(base), default_rules=wide))
    short = one(
        optimize_prices(
            frame({**base, "stock_units": 120.0, "days_to_replenish": 20.0}), default_rules=wide
        )
    )
    assert free["recommended_price"] < 19.99
    assert short["recommended_price"] == 25.99 > free["recommended_price"]
    assert short["units_recommended"] * 20 <= 120.0
    assert 10 * (24.99 / 19.99) ** -2 * 20 > 120.0  # one ending lower would run out
    assert short["binding_guardrail"] == "stock"
    assert "stock" in short["reason_codes"].split(";")
    # Expected demand given instead of days: the same window.
    by_demand = frame({**base, "stock_units": 120.0, "demand_to_replenish": 200.0})
    assert one(optimize_prices(by_demand, default_rules=wide))["recommended_price"] == 25.99


def test_a_shortage_beyond_the_max_price_stops_at_the_max():
    base = listing(landed_cost_local=5.0, elasticity=-2.0, stock_units=1.0, days_to_replenish=30.0)
    got = one(optimize_prices(frame(base), default_rules=PricingRules(max_change=5.0)))
    assert got["recommended_price"] == 38.99  # max 2 x 19.99 = 39.98: the ending under it
    assert got["binding_guardrail"] == "max_price"
    assert got["reason_codes"].split(";") == ["stock", "rule"]


def test_excess_stock_allows_a_markdown_past_the_daily_change_limit():
    # Optimum (c = 10, e = -3): 10 / 0.85 x 1.5 = 17.65; from 29.99 the 10 % limit stops at
    # 26.99 -> inward ending 27.99. 10,000 units are 1,000 days of cover: past the 90-day limit.
    base = listing(current_price=29.99, landed_cost_local=10.0, days_to_replenish=30.0)
    normal = one(optimize_prices(frame({**base, "stock_units": 500.0})))
    assert normal["recommended_price"] == 27.99
    assert normal["binding_guardrail"] == "max_change"
    excess = one(optimize_prices(frame({**base, "stock_units": 10_000.0})))
    assert excess["recommended_price"] == 17.99
    assert excess["recommended_price"] < 29.99 * 0.9
    assert "stock" in excess["reason_codes"].split(";")
    # Still not below the margin floor: at 30 % margin, floor 10 x 1.3 / 0.85 = 15.29 -> 15.99,
    # above the optimum at e = -8 (10 / 0.85 x 8 / 7 = 13.45).
    floored = one(
        optimize_prices(
            frame({**base, "elasticity": -8.0, "stock_units": 1e6}),
            default_rules=PricingRules(min_margin=0.3),
        )
    )
    assert floored["recommended_price"] == 15.99
    assert floored["binding_guardrail"] == "min_margin"


# --- tariffs, attribution and pass-through ----------------------------------------------------


def _costs(duty: float, freight: float, fx: float, fx_then: float = 1.0) -> dict[str, float]:
    """A US-style listing whose landed cost is 5 + duty + freight USD, with the costs when
    the current price was set (duty 1, freight 2, FX 1)."""
    usd = 5.0 + duty + freight
    return {
        "landed_cost_local": usd / fx,
        "landed_cost_usd": usd,
        "duty_total_usd": duty,
        "freight_usd": freight,
        "usd_per_local": fx,
        "landed_cost_usd_then": 8.0,
        "duty_total_usd_then": 1.0,
        "freight_usd_then": 2.0,
        "usd_per_local_then": fx_then,
    }


@pytest.mark.parametrize(
    ("costs", "code"),
    [
        (_costs(duty=4.0, freight=2.0, fx=1.0), "tariff"),
        (_costs(duty=1.0, freight=5.0, fx=1.0), "freight"),
        (_costs(duty=1.0, freight=2.0, fx=0.75), "fx"),
    ],
)
def test_a_landed_cost_increase_raises_the_price_with_its_reason(costs, code):
    # e = -2: landed 8 -> optimum 8 / 0.85 x 2 = 18.82 -> 18.99, a cut of 5 % on demand alone;
    # landed 11 (10.67 for FX) -> optimum 25.88 (25.10), capped by the 10 % daily limit.
    unchanged = one(
        optimize_prices(frame(listing(elasticity=-2.0, **_costs(duty=1.0, freight=2.0, fx=1.0))))
    )
    assert unchanged["recommended_price"] == 18.99 and unchanged["reason_codes"] == "demand"
    got = one(optimize_prices(frame(listing(elasticity=-2.0, **costs))))
    assert got["recommended_price"] == 20.99  # 19.99 x 1.1 = 21.99 -> inward 20.99
    assert got["reason_codes"].split(";")[-1] == "rule"
    assert got["landed_cost_local"] == pytest.approx(11.0 if code != "fx" else 8 / 0.75)
    assert got["recommended_price"] > unchanged["recommended_price"]
    assert got["reason_codes"].split(";")[0] == code
    assert {"tariff", "freight", "fx"} & set(got["reason_codes"].split(";")) == {code}


def test_reason_codes_name_the_largest_contributors_moving_with_the_price():
    def codes(current: float, **costs: float) -> list[str]:
        row = listing(current_price=current, elasticity=-2.0, **_costs(**costs))
        return one(optimize_prices(frame(row)))["reason_codes"].split(";")

    # Duty +2 and freight +2 USD: both; a 1 % FX move (0.08 of landed cost) is too small.
    assert codes(19.99, duty=3.0, freight=4.0, fx=0.99) == ["tariff", "freight", "rule"]
    # Duty +3 but the price falls from 39.99 (optimum 25.88): the tariff did not cut it,
    # demand did, and the daily limit capped the cut.
    assert codes(39.99, duty=4.0, freight=2.0, fx=1.0) == ["demand", "rule"]
    assert codes(39.99, duty=1.0, freight=2.0, fx=1.0) == ["demand", "rule"]
    # A previous price above a new max: the rule alone moved it.
    row = listing(current_price=39.99, elasticity=-0.5)
    got = one(optimize_prices(frame(row), default_rules=PricingRules(max_price=30.0)))
    assert (got["recommended_price"], got["reason_codes"]) == (29.99, "rule")


def test_a_tariff_starting_later_in_the_horizon_prices_only_the_days_from_then():
    days = [DAY + pd.Timedelta(days=d) for d in range(5)]
    costs = [_costs(duty=1.0 if d < 3 else 5.0, freight=2.0, fx=1.0) for d in range(5)]
    rows = [
        listing(date=day, current_price=18.99, elasticity=-2.0, **c)
        for day, c in zip(days, costs, strict=True)
    ]
    out = optimize_prices(frame(*rows))
    before, after = out.iloc[:3], out.iloc[3:]
    # Landed 8 at e = -2: optimum 8 / 0.85 x 2 = 18.82 -> 18.99, the current price: held.
    assert (before["recommended_price"] == 18.99).all()
    assert (before["status"] == "kept").all()
    # Landed 12 from day 3: optimum 28.24; the 10 % daily pace with inward endings:
    # 18.99 x 1.1 = 20.89 -> 19.99, then 21.99 -> 20.99.
    assert after["recommended_price"].tolist() == [19.99, 20.99]
    assert (after["previous_price"].to_numpy() == [18.99, 19.99]).all()
    assert all("tariff" in c.split(";") for c in after["reason_codes"])
    assert (after["binding_guardrail"] == "max_change").all()


def test_landed_cost_change_is_split_into_duty_freight_and_fx():
    # Then: USD 10 at 1.10 USD/EUR = EUR 9.0909; now USD 12.5 (duty +2, freight +0.5) at 1.00.
    rows = pd.DataFrame(
        {
            "landed_cost_local": [12.5],
            "landed_cost_usd": [12.5],
            "landed_cost_usd_then": [10.0],
            "duty_total_usd": [3.0],
            "duty_total_usd_then": [1.0],
            "freight_usd": [2.5],
            "freight_usd_then": [2.0],
            "usd_per_local": [1.0],
            "usd_per_local_then": [1.1],
        }
    )
    got = landed_cost_change(rows).iloc[0]
    assert got["landed_cost_change"] == pytest.approx(12.5 - 10 / 1.1)
    assert got["cost_change_tariff"] == pytest.approx(2.0)
    assert got["cost_change_freight"] == pytest.approx(0.5)
    assert got["cost_change_fx"] == pytest.approx(10 * (1 - 1 / 1.1))  # 0.9091
    parts = got[["cost_change_tariff", "cost_change_freight", "cost_change_fx"]].sum()
    assert parts == pytest.approx(got["landed_cost_change"])


def test_pass_through_per_marketplace_is_price_change_over_landed_cost_change():
    rows = pd.DataFrame(
        {
            "marketplace": ["DE", "DE", "US", "US"],
            "current_price": [20.0, 30.0, 10.0, 12.0],
            "recommended_price": [23.0, 31.5, 11.0, 12.0],
            "landed_cost_change": [2.0, 1.0, 2.0, 0.0],  # the last moved no cost: left out
        }
    )
    got = pass_through(rows).set_index("marketplace")
    # DE: (3 + 1.5) / (2 + 1) = 1.5; US: 1 / 2 = 0.5
    assert got.loc["DE", "pass_through"] == pytest.approx(1.5)
    assert got.loc["US", "pass_through"] == pytest.approx(0.5)
    assert got.loc["US", "rows"] == 1
    # On the optimizer's output: the tariff case above passes 1 USD of 3 USD on in a day.
    out = optimize_prices(frame(listing(elasticity=-2.0, **_costs(duty=4.0, freight=2.0, fx=1.0))))
    assert out["landed_cost_change"].iloc[0] == pytest.approx(3.0)
    assert pass_through(out)["pass_through"].iloc[0] == pytest.approx(
        (out["recommended_price"].iloc[0] - 19.99) / 3.0
    )


def test_a_learned_response_is_used_and_its_elasticity_reported():
    def units(p: np.ndarray) -> np.ndarray:
        return 4000.0 * p**-2.0

    row = listing(units_ref=np.nan, elasticity=np.nan)
    got = one(optimize_prices(frame(row), responses={("A", "US"): units}, default_rules=WIDE))
    # e = -2, c = 8: optimum 8 / 0.85 x 2 = 18.82 -> 18.99 (profit is flat near the top)
    assert got["recommended_price"] == 18.99
    assert got["elasticity_used"] == pytest.approx(-2.0, abs=1e-3)
    assert got["units_recommended"] == pytest.approx(4000 / 18.99**2)
