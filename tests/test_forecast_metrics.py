"""Forecast metrics against plain loops, the NB quantiles against their definition, the gate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml.forecast.backtest import is_better
from ml.forecast.distribution import continuous_quantile, fit_size, pit_bounds
from ml.forecast.metrics import (
    bias,
    coverage,
    pinball,
    pit_coverage,
    revenue_weights,
    rmsse,
    rmsse_scale,
    summarize,
    wape,
)

RNG = np.random.default_rng(3)
Y = RNG.poisson(2.0, 40).astype(float)
F = RNG.gamma(2.0, 1.0, 40)


def test_wape_bias_pinball_coverage_match_loops():
    abs_err = sum(abs(y - f) for y, f in zip(Y, F, strict=True))
    assert wape(Y, F) == pytest.approx(abs_err / sum(Y))
    assert bias(Y, F) == pytest.approx(sum(f - y for y, f in zip(Y, F, strict=True)) / sum(Y))
    for q in (0.1, 0.5, 0.9):
        loss = 0.0
        for y, f in zip(Y, F, strict=True):
            loss += q * (y - f) if y >= f else (1 - q) * (f - y)
        assert pinball(Y, F, q) == pytest.approx(loss / len(Y))
    lo, hi = F * 0.5, F * 1.5
    inside = sum(1 for y, a, b in zip(Y, lo, hi, strict=True) if a <= y <= b)
    assert coverage(Y, lo, hi) == pytest.approx(inside / len(Y))


def test_wape_of_no_sales_is_nan_not_zero():
    assert math.isnan(wape(np.zeros(3), np.ones(3)))


def _scale_loop(history):
    """M5: squared one-step changes from the first sale on, over observed consecutive pairs."""
    started, terms = False, []
    for prev, cur in zip(history[:-1], history[1:], strict=True):
        started = started or (not np.isnan(prev) and prev > 0)
        if started and not np.isnan(prev) and not np.isnan(cur):
            terms.append((cur - prev) ** 2)
    return sum(terms) / len(terms) if terms else np.nan


def test_rmsse_scale_and_rmsse_match_loops():
    history = RNG.poisson(1.5, (4, 30)).astype(float)
    history[0, :5] = 0  # leading zeros do not count (M5: from the first sale)
    history[1, 10:13] = np.nan  # censored days break the pairs around them
    history[2, :] = 0  # never sold: no scale
    got = rmsse_scale(history)
    for i in range(4):
        expected = _scale_loop(history[i])
        if np.isnan(expected):
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(expected)

    scale = pd.Series(got, index=[0, 1, 2, 3])
    series = np.repeat([0, 1, 2, 3], 5)
    actual, forecast = RNG.poisson(1.5, 20).astype(float), RNG.gamma(2, 1, 20)
    per_series = []
    for s in (0, 1, 3):  # series 2 has no scale
        rows = series == s
        mse = np.mean((actual[rows] - forecast[rows]) ** 2)
        per_series.append(math.sqrt(mse / scale[s]))
    assert rmsse(actual, forecast, series, scale) == pytest.approx(np.mean(per_series))
    weights = pd.Series({0: 1.0, 1: 0.0, 2: 5.0, 3: 3.0})  # series 2 still has no scale
    expected = (per_series[0] * 1.0 + per_series[2] * 3.0) / 4.0
    assert rmsse(actual, forecast, series, scale, weights) == pytest.approx(expected)
    assert np.isnan(rmsse(actual, forecast, series, scale, weights * 0))


def test_revenue_weights_sum_the_last_periods_and_skip_unknown_ones():
    revenue = np.array([[9.0, 18.0, 6.0, 4.0], [5.0, np.nan, 0.0, 20.0]])
    assert revenue_weights(revenue, 3).tolist() == [18 + 6 + 4, 0 + 0 + 20]


@pytest.mark.parametrize("mean,size", [(0.3, 2.0), (4.0, 1.5), (20.0, 5.0), (0.0, 2.0)])
@pytest.mark.parametrize("q", [0.1, 0.5, 0.9])
def test_continuous_quantile_has_exact_level(mean, size, q):
    """P(Y - U <= x) = q, and rounding x up gives the integer quantile of Y."""
    x = float(continuous_quantile(np.array([mean]), size, q)[0])
    if mean == 0:
        assert x == 0.0
        return
    p = size / (size + mean)
    m = math.ceil(x)
    if x > 0:
        level = stats.nbinom.cdf(m - 1, size, p) + stats.nbinom.pmf(m, size, p) * (x - (m - 1))
        assert level == pytest.approx(q, abs=1e-9)
        assert m == stats.nbinom.ppf(q, size, p)
    else:  # floored at zero: the level is reached inside the mass of 0
        assert stats.nbinom.pmf(0, size, p) >= q


def test_fit_size_recovers_the_dispersion():
    rng = np.random.default_rng(0)
    mean = rng.uniform(0.5, 5, 20000)
    size = 2.0
    y = rng.negative_binomial(size, size / (size + mean))
    assert fit_size(y, mean) == pytest.approx(size, rel=0.15)


def test_pit_coverage_matches_a_loop_and_the_randomised_pit():
    below = np.array([0.0, 0.05, 0.5, 0.85, 0.3, 0.95])
    at = np.array([0.6, 0.2, 0.5, 1.0, 0.3, 0.99])
    expected = []
    for b, a in zip(below, at, strict=True):
        if a - b < 1e-12:  # a point: in or out
            expected.append(1.0 if 0.1 <= a <= 0.9 else 0.0)
        else:
            expected.append(max(0.0, min(a, 0.9) - max(b, 0.1)) / (a - b))
    assert pit_coverage(below, at) == pytest.approx(np.mean(expected))
    # The randomised PIT F(y-1) + V (F(y) - F(y-1)) lands in [0.1, 0.9] that often.
    rng = np.random.default_rng(1)
    v = rng.uniform(size=(20000, len(below)))
    randomised = below + v * (at - below)
    assert pit_coverage(below, at) == pytest.approx(
        ((randomised >= 0.1) & (randomised <= 0.9)).mean(), abs=0.01
    )


def test_calibrated_counts_score_80_percent_pit_coverage_but_more_plain_coverage():
    """Draws from the forecast distribution itself: PIT coverage is 80 %, while the share of
    actuals inside [P10, P90] is well above it (the zeros all sit on P10 = 0)."""
    rng = np.random.default_rng(2)
    mean, size = rng.uniform(0.05, 3.0, 50000), 1.5
    y = rng.negative_binomial(size, size / (size + mean)).astype(float)
    frame = pd.DataFrame({"actual": y, "mean": mean, "nb_size": size, "series": 0})
    for q in (0.1, 0.5, 0.9):
        frame[f"p{round(q * 100)}"] = continuous_quantile(mean, size, q)
    got = summarize(frame, pd.Series({0: 1.0}))
    assert got["coverage_p10_p90_pit"] == pytest.approx(0.80, abs=0.01)
    assert got["coverage_p10_p90"] > 0.84
    below, at = pit_bounds(y, mean, size)
    assert np.all(below <= at) and np.all(below[y == 0] == 0)
    # WAPE is of the median (P50), wape_mean of the mean; bias is of the mean.
    assert got["wape"] == pytest.approx(wape(y, frame["p50"]))
    assert got["wape_mean"] == pytest.approx(wape(y, mean))
    assert got["bias"] == pytest.approx(bias(y, mean))
    assert got["wape"] < got["wape_mean"]  # the median wins on absolute error


def test_gate_needs_lower_wape_and_no_worse_coverage():
    champion = {"wape": 1.00, "coverage_p10_p90": 0.80, "wrmsse": 0.8}

    def candidate(**metrics):
        return {"wrmsse": 0.8, **metrics}

    assert is_better(candidate(wape=0.95, coverage_p10_p90=0.805), champion)[0]
    assert not is_better(candidate(wape=1.00, coverage_p10_p90=0.80), champion)[0]  # tie loses
    ok, reason = is_better(candidate(wape=0.90, coverage_p10_p90=0.70), champion)
    assert not ok and "coverage" in reason
    # Inside the one-point tolerance the better WAPE wins.
    assert is_better(candidate(wape=0.99, coverage_p10_p90=0.809), champion)[0]
    assert not is_better(candidate(wape=float("nan"), coverage_p10_p90=0.8), champion)[0]
    assert not is_better(candidate(wape=0.5), champion)[0]
    # PIT coverage, where both have it, is what the gate reads.
    pit_champion = {**champion, "coverage_p10_p90": 0.87, "coverage_p10_p90_pit": 0.80}
    ok, reason = is_better(
        candidate(wape=0.9, coverage_p10_p90=0.80, coverage_p10_p90_pit=0.70), pit_champion
    )
    assert not ok and "coverage" in reason


def test_gate_refuses_a_lower_wape_bought_with_a_worse_wrmsse():
    # On zero-heavy data a median of 0 lowers WAPE; the revenue-weighted RMSSE of the mean
    # shows the loss of skill.
    champion = {"wape": 1.00, "coverage_p10_p90": 0.80, "wrmsse": 0.80}
    ok, reason = is_better({"wape": 0.95, "coverage_p10_p90": 0.80, "wrmsse": 0.90}, champion)
    assert not ok and "WRMSSE" in reason
    ok, reason = is_better({"wape": 0.95, "coverage_p10_p90": 0.80, "wrmsse": 0.81}, champion)
    assert ok and "WRMSSE" in reason  # within 2 %


@pytest.mark.parametrize("wrmsse", [None, float("nan"), float("inf")])
def test_gate_refuses_a_candidate_whose_wrmsse_is_missing_or_nan(wrmsse):
    """The guard must be read, not skipped: a better WAPE alone never wins."""
    champion = {"wape": 1.00, "coverage_p10_p90": 0.80, "wrmsse": 0.80}
    candidate = {"wape": 0.50, "coverage_p10_p90": 0.80}
    if wrmsse is not None:
        candidate["wrmsse"] = wrmsse
    ok, reason = is_better(candidate, champion)
    assert not ok
    assert reason.startswith("candidate has no wrmsse")
    # The champion's, scored on the same backtest, is read the same way.
    ok, reason = is_better({**candidate, "wrmsse": 0.5}, {**champion, "wrmsse": wrmsse})
    assert not ok and reason.startswith("champion has no wrmsse")


def test_dense_rows_get_the_size_whose_p10_p90_covers_80_percent():
    from ml.forecast.distribution import fit_group_size, fit_size_by_coverage

    rng = np.random.default_rng(3)
    mean = rng.uniform(2_000, 8_000, 6_000)  # a store's daily turnover
    y = rng.negative_binomial(150.0, 150.0 / (150.0 + mean)).astype(float)
    size = fit_size_by_coverage(y, mean)
    assert pit_coverage(*pit_bounds(y, mean, size)) == pytest.approx(0.80, abs=0.01)
    assert size == pytest.approx(150.0, rel=0.15)
    assert fit_group_size(y, mean) == size  # dense rows: coverage matching

    # Heavy tails (a few big misses) make maximum likelihood widen every interval; matching
    # the coverage keeps P10-P90 at 80 %.
    heavy = y.copy()
    heavy[::50] *= 1.8
    ml_size = fit_size(heavy, mean)
    assert pit_coverage(*pit_bounds(heavy, mean, ml_size)) > 0.85
    matched = fit_size_by_coverage(heavy, mean)
    assert pit_coverage(*pit_bounds(heavy, mean, matched)) == pytest.approx(0.80, abs=0.01)


def test_intermittent_rows_keep_the_maximum_likelihood_size():
    from ml.forecast.distribution import fit_group_size

    rng = np.random.default_rng(4)
    mean = np.full(5_000, 0.4)  # most days sell nothing
    y = rng.negative_binomial(0.8, 0.8 / 1.2, 5_000).astype(float)
    assert fit_group_size(y, mean) == fit_size(y, mean)
