"""The demand forecast inside the allocation replay: its arrays and its planning-window rates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.bench.forecast_feed import DailyForecast, forecast_arrays, window_rates


def _slow_window(mean: np.ndarray, size: np.ndarray, skip: int, w: int) -> tuple[float, float]:
    """One series: the window's days one by one, past the horizon at the horizon's average."""
    mu, var = mean[skip:], mean[skip:] + mean[skip:] ** 2 / size[skip:]
    days_mu = [mu[d] if d < len(mu) else mu.mean() for d in range(w)]
    days_var = [var[d] if d < len(var) else var.mean() for d in range(w)]
    return float(np.mean(days_mu)), float(np.mean(days_var))


def test_window_rates_match_a_day_by_day_sum():
    rng = np.random.default_rng(3)
    mean = rng.uniform(0.0, 4.0, (5, 28))
    size = rng.uniform(0.3, 20.0, (5, 28))
    size[4] = np.inf  # Poisson
    forecast = DailyForecast(made_on=100, mean=mean, size=size, known=np.ones(5, bool))
    window = np.array([1.0, 7.0, 26.0, 45.0, 60.0])
    got_mean, got_var = window_rates(forecast, 102, window)  # two days after the forecast
    for i, w in enumerate(window):
        want_mean, want_var = _slow_window(mean[i], size[i], 2, int(w))
        assert got_mean[i] == pytest.approx(want_mean, rel=1e-12)
        assert got_var[i] == pytest.approx(want_var, rel=1e-12)
    assert got_var[4] == pytest.approx(got_mean[4], rel=1e-12)


def test_forecast_arrays_follow_the_listing_order_and_flag_the_missing():
    keys = pd.MultiIndex.from_arrays([["A", "A", "B"], ["US", "DE", "US"]])
    out = pd.DataFrame(
        {
            "sku": ["B", "B", "A", "A", "Z"],
            "marketplace": ["US", "US", "US", "US", "US"],
            "horizon": [1, 2, 2, 1, 1],
            "mean": [3.0, 4.0, 1.5, 1.0, 9.0],
            "nb_size": [2.0, 2.0, 5.0, 5.0, 1.0],
        }
    )
    f = forecast_arrays(out, keys, horizon=2, made_on=7)
    assert f.known.tolist() == [True, False, True]
    assert f.mean.tolist() == [[1.0, 1.5], [0.0, 0.0], [3.0, 4.0]]
    assert f.size[0].tolist() == [5.0, 5.0] and np.isinf(f.size[1]).all()
    assert f.made_on == 7


@pytest.mark.slow
def test_the_replay_plans_from_tonights_forecast(tmp_path):
    from ml.bench import stock_replay as sr
    from ml.bench.forecast import scenario_history
    from ml.bench.forecast_feed import ReplayForecast
    from ml.simulator import load_scenario
    from ml.simulator.world import build_world

    world = build_world(load_scenario("small"))
    days = range(world.n_hist - 14, world.n_hist)
    start = pd.Timestamp(world.date_of(days.start))
    seller = scenario_history(tmp_path / "small", "small", start, lambda _: None)
    assert pd.to_datetime(seller.demand["demand_date"]).max() < start
    assert pd.to_datetime(seller.plan["demand_date"]).min() == start
    forecast = ReplayForecast.trained(seller)
    policy = sr.KuajingAllocation(forecast)
    sr.replay(world, policy, days)
    tonight = forecast.latest
    assert tonight is not None and tonight.made_on == days.stop - 1  # scored every night
    assert tonight.known.mean() > 0.5
    rows = policy.last_rows
    window = np.zeros(len(world.series))
    series = rows["series"].to_numpy()
    window[series] = rows["base_wait_days"] + rows["base_days"] + rows["review_days"]
    mean, _ = window_rates(tonight, tonight.made_on, window)
    ends = world.series["discontinued"].to_numpy()[series] < days.stop + window[series]
    use = tonight.known[series] & ~ends
    assert use.sum() > 10
    assert np.allclose(rows["daily_mean"].to_numpy()[use], mean[series][use], rtol=1e-9)
