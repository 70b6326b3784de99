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


def test_smooth_and_intermittent_series_of_a_marketplace_get_their_own_sizes():
    from ml.forecast.distribution import fit_sizes, size_key, sizes_for

    rng = np.random.default_rng(5)
    # smooth items (~12 a day, size 40) beside intermittent ones (0.5 a day, size 0.5)
    smooth_mean, rare_mean = np.full(4_000, 12.0), np.full(4_000, 0.5)
    y = np.concatenate(
        [
            rng.negative_binomial(40.0, 40.0 / 52.0, 4_000),
            rng.negative_binomial(0.5, 0.5 / 1.0, 4_000),
        ]
    ).astype(float)
    mean = np.concatenate([smooth_mean, rare_mean])
    markets = np.full(8_000, "IT")
    classes = np.repeat([False, True], 4_000)
    sizes = fit_sizes(y, mean, markets, classes)
    smooth, rare = sizes[size_key("IT", False)], sizes[size_key("IT", True)]
    # each class calibrated on its own: the smooth one by coverage, the other by likelihood
    assert pit_coverage(*pit_bounds(y[:4_000], smooth_mean, smooth)) == pytest.approx(0.8, abs=0.01)
    assert rare == fit_size(y[4_000:], rare_mean)
    # the marketplace's one size follows the smooth rows (more information per row) and is
    # too narrow for the intermittent ones
    assert sizes["IT"] > 20 * rare
    own = pit_coverage(*pit_bounds(y[4_000:], rare_mean, rare))
    pooled = pit_coverage(*pit_bounds(y[4_000:], rare_mean, sizes["IT"]))
    assert own == pytest.approx(0.8, abs=0.015) and pooled < 0.78
    # lookup: class, else marketplace, else pooled; a model saved without classes still works
    assert sizes_for(
        sizes, np.array(["IT", "IT", "FR"]), np.array([False, True, False])
    ).tolist() == [
        smooth,
        rare,
        sizes["*"],
    ]
    assert sizes_for(
        {"*": 3.0, "IT": 2.0}, np.array(["IT", "JP"]), np.array([True, False])
    ).tolist() == [
        2.0,
        3.0,
    ]
    # a class with too few rows uses its marketplace's size
    few = fit_sizes(y[:4_100], mean[:4_100], markets[:4_100], classes[:4_100])
    assert size_key("IT", True) not in few


def test_the_p50_level_is_the_median_when_the_counts_are_negative_binomial():
    from ml.forecast.distribution import fit_p50_level

    rng = np.random.default_rng(6)
    mean = rng.uniform(3, 30, 20_000)
    y = rng.negative_binomial(4.0, 4.0 / (4.0 + mean)).astype(float)
    series = np.repeat(np.arange(2_000), 10)
    # (0.52 is allowed: the continuous quantiles sit half a unit below integer counts)
    assert fit_p50_level(y, mean, 4.0, series) == pytest.approx(0.5, abs=0.021)
    # a held-out window's bias is not taken for a shape: a mean 20 % low still gets the median
    assert fit_p50_level(y, 0.8 * mean, 4.0, series) == pytest.approx(0.5, abs=0.021)


def test_the_p50_level_moves_up_where_the_errors_are_less_skewed_than_the_distribution():
    from ml.forecast.distribution import (
        P50_LEVEL_GRID,
        continuous_quantile,
        fit_p50_level,
        fit_p50_levels,
        p50_levels_for,
        quantiles,
        size_key,
    )

    rng = np.random.default_rng(7)
    mean = rng.uniform(5, 20, 6_000)
    # symmetric errors around the mean, but a skewed NB of size 3 around it: its median sits
    # below the mean, where half of these actuals are not
    y = np.maximum(np.round(mean + rng.normal(0, 0.4 * mean)), 0)
    series = np.repeat(np.arange(600), 10)
    level = fit_p50_level(y, mean, 3.0, series)
    assert level > 0.5

    # the chosen level has the largest lower bound of its gain over the median: the sum over
    # series of the gain, less two standard errors (brute force, one series at a time)
    def bound(q: float) -> float:
        error = np.abs(y - continuous_quantile(mean, 3.0, q))
        median = np.abs(y - continuous_quantile(mean, 3.0, 0.5))
        gains = [float((median - error)[series == s].sum()) for s in range(600)]
        return sum(gains) - 2.0 * float(np.std(gains, ddof=1)) * np.sqrt(600)

    assert bound(level) == pytest.approx(max(bound(q) for q in P50_LEVEL_GRID))
    assert bound(level) > 0

    # per marketplace x class, dense groups only; everything else keeps 0.5
    rare = rng.negative_binomial(0.5, 0.5 / 0.8, 6_000).astype(float)  # mostly zeros
    ys, means = np.concatenate([y, rare]), np.concatenate([mean, np.full(6_000, 0.3)])
    markets, classes = np.full(12_000, "DE"), np.repeat([False, True], 6_000)
    ids = np.concatenate([series, 600 + np.arange(6_000)])
    levels = fit_p50_levels(ys, means, np.full(12_000, 3.0), markets, classes, ids)
    assert levels == {size_key("DE", False): level}
    rows = p50_levels_for(levels, np.array(["DE", "DE", "US"]), np.array([False, True, False]))
    assert rows.tolist() == [level, 0.5, 0.5]
    assert p50_levels_for(None, np.array(["DE"]), None).tolist() == [0.5]

    # the same gain from one large series among counts that are NB (where the median is
    # right) is one window's luck, not a shape: the median stays
    nb = rng.negative_binomial(3.0, 3.0 / (3.0 + mean)).astype(float)
    big = np.arange(6_000) < 600
    mixed_y, mixed_mean = np.where(big, 100 * y, nb), np.where(big, 100 * mean, mean)
    assert fit_p50_level(mixed_y, mixed_mean, 3.0, np.where(big, 0, series)) == 0.5
    # the same rows spread over 60 series are a shape, and the level moves
    assert fit_p50_level(mixed_y, mixed_mean, 3.0, series) > 0.5
    assert fit_p50_level(y, mean, 3.0, np.zeros(6_000)) == 0.5

    # only the P50 moves: P10 and P90 stay the distribution's, P10 <= P50 <= P90 holds
    q = quantiles(mean, 3.0, (0.1, 0.5, 0.9), level)
    assert np.array_equal(q[0.1], continuous_quantile(mean, 3.0, 0.1))
    assert np.array_equal(q[0.5], continuous_quantile(mean, 3.0, level))
    assert (q[0.1] <= q[0.5]).all() and (q[0.5] <= q[0.9]).all()
