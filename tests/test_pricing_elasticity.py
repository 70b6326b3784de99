"""Elasticity estimation: each step against a reference computation, the whole on known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from ml.pricing.elasticity import (
    MIN_TAU,
    confounder_names,
    cross_fitted_baseline,
    poisson_slopes,
    pool,
    random_effects,
    shrink_to,
    within_spread,
)


def test_poisson_slopes_match_a_glm_fitted_one_group_at_a_time():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(4), 400)
    x = rng.normal(0, 0.1, len(groups))
    offset = np.log(rng.uniform(0.5, 3.0, len(groups)))
    slope = np.array([-0.5, -1.5, -2.5, -3.5])[groups]
    y = rng.poisson(np.exp(offset + 0.2 + slope * x)).astype(float)
    b, se = poisson_slopes(y, offset, x, groups, 4)
    for g in range(4):
        rows = groups == g
        glm = sm.GLM(
            y[rows], sm.add_constant(x[rows]), family=sm.families.Poisson(), offset=offset[rows]
        ).fit(cov_type="HC0")
        assert b[g] == pytest.approx(glm.params[1], abs=1e-5)
        assert se[g] == pytest.approx(glm.bse[1], rel=1e-4)


def test_block_intercepts_match_a_glm_with_one_dummy_per_block():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(3), 600)
    block = groups * 10 + np.tile(np.repeat(np.arange(3), 200), 3)  # three blocks per group
    level = rng.normal(0, 0.7, 30)[block]  # each block its own level (a trend, a season)
    x = rng.normal(0, 0.1, len(groups)) + 0.3 * level  # prices that follow the level
    y = rng.poisson(np.exp(level - 2.0 * x)).astype(float)
    b, se = poisson_slopes(y, np.zeros(len(y)), x, groups, 3, block)
    plain, _ = poisson_slopes(y, np.zeros(len(y)), x, groups, 3)
    for g in range(3):
        rows = groups == g
        dummies = pd.get_dummies(block[rows]).to_numpy(float)
        design = np.column_stack([x[rows], dummies])
        glm = sm.GLM(y[rows], design, family=sm.families.Poisson()).fit(cov_type="HC0")
        assert b[g] == pytest.approx(glm.params[0], abs=1e-5)
        assert se[g] == pytest.approx(glm.bse[0], rel=0.05)
    # one intercept per group takes the levels' pull for price: biased towards zero
    assert np.all(plain > b + 0.5)


def test_a_group_without_price_variation_has_no_slope():
    y = np.array([1.0, 0.0, 2.0, 1.0])
    b, se = poisson_slopes(y, np.zeros(4), np.zeros(4), np.zeros(4, int), 1)
    assert np.isnan(b[0]) and np.isnan(se[0])


def _dersimonian_laird(x: np.ndarray, se: np.ndarray) -> tuple[float, float]:
    w = 1 / se**2
    fixed = (w * x).sum() / w.sum()
    q = (w * (x - fixed) ** 2).sum()
    tau2 = max((q - (len(x) - 1)) / (w.sum() - (w**2).sum() / w.sum()), MIN_TAU**2)
    wr = 1 / (se**2 + tau2)
    return float((wr * x).sum() / wr.sum()), float(np.sqrt(tau2))


def test_random_effects_is_dersimonian_laird_per_group():
    rng = np.random.default_rng(2)
    own = rng.normal(-2, 0.8, 30)
    se = rng.uniform(0.2, 1.0, 30)
    groups = np.repeat(["a", "b", "c"], 10)
    own[3] = np.nan  # ignored
    table = random_effects(own, se, groups)
    for g in "abc":
        rows = (groups == g) & np.isfinite(own)
        mean, tau = _dersimonian_laird(own[rows], se[rows])
        assert table.loc[g, "mean"] == pytest.approx(mean)
        assert table.loc[g, "tau"] == pytest.approx(tau)
        assert table.loc[g, "n"] == rows.sum()


def test_within_spread_finds_the_spread_between_markets_of_one_product():
    rng = np.random.default_rng(3)
    sku = np.repeat(np.arange(300), 5)
    product = rng.uniform(-3.5, -0.5, 300)[sku]
    se = np.full(len(sku), 0.2)
    own = product + rng.normal(0, 0.3, len(sku)) + rng.normal(0, se)
    # the products differ a lot (sd ~0.9); what is measured is the markets' 0.3
    assert within_spread(own, se, sku) == pytest.approx(0.3, abs=0.03)


def test_shrink_to_is_the_normal_posterior():
    post, sd = shrink_to(
        np.array([-3.0, np.nan]), np.array([0.5, np.nan]), np.full(2, -1.0), np.full(2, 1.0)
    )
    # precisions 4 and 1: (4 * -3 + 1 * -1) / 5
    assert post[0] == pytest.approx(-13 / 5) and sd[0] == pytest.approx(np.sqrt(1 / 5))
    assert post[1] == -1.0 and sd[1] == pytest.approx(1.0)


def test_pooling_borrows_from_the_same_product_in_other_markets_first():
    rng = np.random.default_rng(4)
    n_sku, markets = 200, 5
    sku = np.repeat(np.arange(n_sku), markets).astype(str)
    category = np.repeat(rng.choice(["toys", "kitchen"], n_sku), markets)
    truth = np.repeat(rng.uniform(-3.5, -0.5, n_sku), markets) + rng.normal(0, 0.2, len(sku))
    se = rng.choice([0.15, 2.0], len(sku), p=[0.3, 0.7])  # most listings: little own variation
    own = truth + rng.normal(0, se)
    post, post_sd, table = pool(own, se, sku, category)
    thin = se > 1
    # the category alone cannot tell the products apart (uniform -3.5..-0.5: error ~0.75)
    category_only = pd.Series(own).groupby(category).transform("median").to_numpy()
    assert np.median(np.abs(post - truth)[thin]) < 0.6 * np.median(
        np.abs(category_only - truth)[thin]
    )
    # and a listing with its own evidence stays close to it
    assert np.median(np.abs(post - truth)[~thin]) < 0.2
    assert (post_sd[thin] > post_sd[~thin].max()).mean() > 0.9
    assert set(table["level"]) >= {"category", "all listings", "sku across marketplaces"}


def test_the_confounders_hold_no_own_price_and_no_recent_demand():
    names = confounder_names("daily")
    assert "promoted" in names and "event" in names
    assert not {"rel_price", "discount", "price_vs_recent", "lag_1", "mean_7", "h"} & set(names)
    # windows ending at the origin answer to the price in force; last year's level does not
    assert not {"mean_all", "seasonal_level", "same_weekday_mean"} & set(names)
    assert "last_year" in names


def test_the_baseline_takes_the_price_effect_out_of_a_confounded_demand():
    """Prices drift with a confounder (a season that also lifts demand): the baseline at the
    reference price carries the season only, so the slope on the log price finds the true
    elasticity, where a slope on the price alone would credit it with the season's lift."""
    rng = np.random.default_rng(3)
    n, true_elasticity = 40_000, -2.0
    season = rng.uniform(-1, 1, n)
    log_price = 0.1 * season + rng.normal(0, 0.08, n)  # dearer in the high season
    units = rng.poisson(np.exp(0.5 + 0.8 * season + true_elasticity * log_price))
    rows = pd.DataFrame({"season": season, "log_price": log_price, "target": units})
    listing = np.zeros(n, dtype=int)
    blocks = np.arange(n) // 1_000  # 40 blocks, split at random into the two halves
    log_g = cross_fitted_baseline(rows, ["season"], blocks)
    slope, se = poisson_slopes(units.astype(float), log_g, log_price, listing, 1)
    assert abs(slope[0] - true_elasticity) < 3 * se[0] + 0.05
    naive, _ = poisson_slopes(units.astype(float), np.zeros(n), log_price, listing, 1)
    assert naive[0] > true_elasticity + 1.0  # the season's lift read as a price effect


@pytest.mark.slow
def test_the_bench_recovers_the_simulators_elasticities(tmp_path):
    """A seller who sells enough, with little day-to-day noise, and tests prices: some of its
    listings are identified, and the elasticities come out near the truth on average
    (promotions and events controlled for)."""
    from ml.bench.pricing import format_table, run_pricing_bench
    from ml.settings import DataPaths
    from ml.simulator import generate, load_scenario

    scenario = load_scenario(
        "small",
        {
            "n_skus": 30,
            "mean_daily_units": 20.0,
            "nb_size_range": [20.0, 50.0],
            "price_test_rate": 0.5,
            "data_issues": {},
        },
    )
    generate(scenario, DataPaths(tmp_path).ensure())
    report = run_pricing_bench(tmp_path, echo=lambda _: None)
    errors = report["error_vs_truth"]
    # measured: 51 % identified, their median error 0.22 (the target: at most 0.25)
    assert report["identified_share"] > 0.3
    assert errors["identified"]["median_abs_error"] <= 0.3
    assert abs(errors["all"]["mean_estimate"] - errors["all"]["mean_truth"]) < 0.3
    assert report["verdict"]["median_abs_error_identified"] is (
        errors["identified"]["median_abs_error"] <= 0.25
    )
    record = report["listing_estimates"][0]
    assert {"sku", "marketplace", "elasticity", "se", "status"} <= set(record)
    assert "Against the simulator's true elasticity" in format_table(report)
    # the gate's held-out test: the price response explains the last quarter's price moves
    held = report["heldout"]
    assert held["rows"] > 100
    assert held["wape_with_price_response"] < held["wape_without_price_response"]
    assert "Held out:" in format_table(report)
