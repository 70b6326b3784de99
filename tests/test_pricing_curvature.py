"""The seller's curvature of the price response: its fit against a GLM, and what it recovers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from ml.pricing.curvature import (
    Curvature,
    fit_curvature,
    log_units_shift,
    recent_curvature,
    response_elasticity,
)


def test_the_fit_is_a_poisson_glm_with_one_intercept_per_listing_and_period():
    """Under a flat prior the posterior mode is the maximum likelihood of a Poisson GLM with
    the offset, the change and one dummy per listing and per period; its standard error too."""
    rng = np.random.default_rng(3)
    n = 3_000
    listing = rng.integers(0, 40, n)
    period = rng.integers(0, 8, n)
    offset = rng.normal(0, 0.5, n)
    change = rng.uniform(0.0, 0.4, n)
    level = rng.normal(0, 0.5, 40)
    y = rng.poisson(np.exp(level[listing] + 0.2 * period / 8 + offset - 1.5 * change))
    got = fit_curvature(y, offset, change, listing, period, prior_sd=1e6)
    dummies = np.column_stack(
        [pd.get_dummies(listing).to_numpy(float), pd.get_dummies(period).to_numpy(float)[:, 1:]]
    )
    glm = sm.GLM(
        y, np.column_stack([change, dummies]), family=sm.families.Poisson(), offset=offset
    ).fit()
    assert got.value == pytest.approx(glm.params[0], abs=1e-5)
    assert got.se == pytest.approx(glm.bse[0], rel=1e-3)
    assert got.rows == n


def test_the_prior_keeps_the_curvature_at_zero_without_information():
    none = fit_curvature(np.zeros(10), np.zeros(10), np.ones(10), np.zeros(10), np.zeros(10))
    assert none.value == 0.0
    tiny = fit_curvature(
        np.ones(50), np.zeros(50), np.full(50, 1e-4), np.arange(50) % 3, np.arange(50) % 5
    )
    assert abs(tiny.value) < 1e-3 and tiny.se == pytest.approx(2.0, rel=1e-3)


def test_units_follow_the_log_quadratic_and_never_rise_with_price():
    price = np.linspace(5, 60, 400)
    # at curvature 0: constant elasticity
    flat = log_units_shift(price, 20.0, -2.0, 0.0, 18.0)
    assert np.allclose(flat, -2.0 * np.log(price / 20.0))
    # by hand: L = log(p / ref), L0 = log(p0 / ref)
    lp, l0 = np.log(30.0 / 18.0), np.log(20.0 / 18.0)
    assert log_units_shift(30.0, 20.0, -2.0, -1.5, 18.0) == pytest.approx(
        -2.0 * (lp - l0) - 1.5 * (lp**2 - l0**2)
    )
    for g in (-4.0, -0.5, 0.5, 3.0):
        units = np.exp(log_units_shift(price, 20.0, -1.0, g, 18.0))
        assert (np.diff(units) <= 1e-12).all(), g
        slope = response_elasticity(price, -1.0, g, 18.0)
        assert (slope <= 1e-12).all()


def _history(curvature: float, seed: int = 0, n: int = 400, days: int = 130):
    """Listings with elasticity -2 whose last 91 days move prices up to +-40 %, on days of
    their own; some days are promotions (a visibility lift on top of the price cut), some out
    of stock (NaN)."""
    rng = np.random.default_rng(seed)
    reference = rng.uniform(10, 50, n)
    level = rng.uniform(0.5, 4.0, n)
    price = np.repeat(reference[:, None], days, axis=1) * rng.uniform(0.97, 1.03, (n, days))
    start = rng.integers(days - 91, days - 20, n)
    moved = np.arange(days)[None, :] >= start[:, None]
    price *= np.where(moved, np.exp(rng.uniform(-0.35, 0.35, (n, 1))), 1.0)
    promotion = rng.random((n, days)) < 0.05
    discount = np.where(promotion, 0.25, 0.0)
    shown = price * (1 - discount)
    lp = np.log(shown / reference[:, None])
    week = np.sin(np.arange(days) / 7.0)[None, :] * 0.2  # seasonality: the weekly intercepts
    mu = level[:, None] * np.exp(week - 2.0 * lp + curvature * lp**2) * (1 + 0.8 * promotion)
    units = rng.poisson(mu).astype(float)
    units[rng.random(units.shape) < 0.03] = np.nan  # out of stock some days
    return units, shown, np.full(n, -2.0), reference, promotion


@pytest.mark.parametrize("truth", [0.0, -3.0, -0.5])
def test_recent_moves_recover_a_known_curvature(truth):
    units, shown, elasticity, reference, promotion = _history(truth)
    got = recent_curvature(np.where(promotion, np.nan, units), shown, elasticity, reference)
    assert abs(got.value - truth) < 3 * got.se + 0.05
    assert got.se < 0.6
    assert got.rows > 0.85 * 400 * 91


def test_a_positive_curvature_is_held_at_constant_elasticity():
    """Demand that flattens at high prices is outside the bound: the fit stays at 0, the
    constant elasticity, while the same data without the bound would find it."""
    units, shown, elasticity, reference, promotion = _history(1.0, n=100)
    clean = np.where(promotion, np.nan, units)
    assert recent_curvature(clean, shown, elasticity, reference).value == 0.0
    window = slice(units.shape[1] - 91, None)
    lp = np.log(shown[:, window] / reference[:, None])
    y = clean[:, window]
    ok = np.isfinite(y)
    listing, column = np.nonzero(ok)
    glm = sm.GLM(
        y[ok],
        np.column_stack(
            [
                (lp * lp)[ok],
                pd.get_dummies(listing).to_numpy(float),
                pd.get_dummies(column // 7).to_numpy(float)[:, 1:],
            ]
        ),
        family=sm.families.Poisson(),
        offset=(elasticity[:, None] * lp)[ok],
    ).fit()
    assert glm.params[0] > 0.5


def test_promotions_left_in_would_read_as_a_curvature():
    """Why the nightly leaves promotion periods out: their lift looks like demand falling off
    less at prices far below the usual."""
    units, shown, elasticity, reference, promotion = _history(-3.0)
    kept = recent_curvature(units, shown, elasticity, reference)
    left_out = recent_curvature(np.where(promotion, np.nan, units), shown, elasticity, reference)
    assert kept.value > left_out.value + 3 * kept.se


def test_no_history_has_no_curvature():
    units, shown, elasticity, reference, _ = _history(-3.0, days=130)
    got = recent_curvature(units[:, :0], shown[:, :0], elasticity, reference)
    assert got.rows == 0 and got.value == 0.0


def test_the_optimizer_takes_a_curvature_only_when_it_is_clear_of_zero():
    assert Curvature(-2.5, 1.3, 100).applied == 0.0  # under 2 standard deviations: chance
    assert Curvature(-2.6, 1.3, 100).applied == -2.6
    assert Curvature(-0.3, 0.1, 100).applied == -0.3
    assert Curvature(0.0, 2.0, 0).applied == 0.0
