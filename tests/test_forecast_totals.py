"""Totals of a forecast: sums of the series' means, with a band checked against a brute-force
simulation (draw every row's negative binomial, sum, take empirical quantiles), and the plots
of the nightly forecast asset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.forecast import plots
from ml.forecast.distribution import SIZE_GRID, continuous_quantile, quantiles
from ml.forecast.totals import forecast_totals, implied_nb_size, level_column, total_band

PNG = b"\x89PNG\r\n\x1a\n"


def _rows(group: str, mean: np.ndarray, size: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"group": group, "mean": mean, "nb_size": size})


def _groups() -> pd.DataFrame:
    """Totals the plot meets: a marketplace-day of sparse SKUs, one with an over-dispersed best
    seller over many slow SKUs, a dense one, a single series, a Poisson-like baseline's rows."""
    rng = np.random.default_rng(3)
    return pd.concat(
        [
            _rows("sparse", rng.uniform(0.02, 0.5, 20), rng.uniform(0.5, 2.0, 20)),
            _rows(
                "best_seller",
                np.r_[30.0, rng.uniform(0.02, 0.5, 50)],
                np.r_[0.8, rng.uniform(0.5, 6.0, 50)],
            ),
            _rows("dense", rng.uniform(100, 2000, 40), rng.uniform(5.0, 80.0, 40)),
            _rows("one", np.array([0.3]), np.array([0.8])),
            _rows("poisson", np.full(10, 0.3), np.full(10, 1e6)),
            _rows("mixed", rng.gamma(0.5, 2.0, 100), rng.choice([0.3, 1.0, 5.0], 100)),
        ],
        ignore_index=True,
    )


def _brute_force(rows: pd.DataFrame, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Empirical P10, P90 of Y - U for Y the sum of the rows' NB draws (the forecast's quantile
    convention: ``distribution.continuous_quantile``)."""
    mean, size = rows["mean"].to_numpy(), rows["nb_size"].to_numpy()
    lam = rng.gamma(size, mean / size, size=(draws, len(rows)))
    total = rng.poisson(lam).sum(axis=1) - rng.random(draws)
    return np.maximum(np.quantile(total, [0.1, 0.9]), 0.0)


def test_band_matches_a_brute_force_simulation():
    frame = _groups()
    band = total_band(frame, by=["group"]).set_index("group")
    rng = np.random.default_rng(11)
    for group, rows in frame.groupby("group"):
        sd = float(np.sqrt(band.loc[group, "variance"]))
        emp = _brute_force(rows, 40_000 if group == "dense" else 200_000, rng)
        got = band.loc[group, ["p10", "p90"]].to_numpy(float)
        # within 5 % of the total's standard deviation (the simulation's own error is ~1-2 %)
        assert np.abs(got - emp).max() <= 0.05 * sd + 0.05, (group, got, emp, sd)
        assert band.loc[group, "mean"] == pytest.approx(rows["mean"].sum())
        var = (rows["mean"] + rows["mean"] ** 2 / rows["nb_size"]).sum()
        assert band.loc[group, "variance"] == pytest.approx(var)


def test_a_total_of_one_row_is_that_rows_band_and_sums_of_quantiles_are_wider():
    one = pd.DataFrame({"mean": [2.5], "nb_size": [1.3]})
    band = total_band(one, by=[])
    for q in (0.1, 0.9):
        assert band[level_column(q)].iloc[0] == pytest.approx(
            float(continuous_quantile(np.array([2.5]), 1.3, q)[0]), abs=1e-9
        )
    # 50 sparse series: the summed P50 is 0, the total's P10 is not; the summed P90 overstates.
    mean, size = np.full(50, 0.2), np.full(50, 1.0)
    q = quantiles(mean, size, (0.1, 0.5, 0.9))
    total = total_band(pd.DataFrame({"mean": mean, "nb_size": size}), by=[]).iloc[0]
    assert q[0.5].sum() == 0.0
    assert total["mean"] == pytest.approx(10.0)
    assert 0 < total["p10"] < total["mean"] < total["p90"] < q[0.9].sum()


def test_levels_groups_and_bad_sizes():
    frame = _groups().assign(day=lambda f: np.arange(len(f)) % 3)
    band = total_band(frame, by=["group", "day"], levels=(0.05, 0.5, 0.95))
    assert list(band.columns) == ["group", "day", "mean", "variance", "p5", "p50", "p95"]
    assert len(band) == frame.groupby(["group", "day"]).ngroups
    assert (band["p5"] <= band["p50"]).all() and (band["p50"] <= band["p95"]).all()
    assert band["mean"].sum() == pytest.approx(frame["mean"].sum())
    zero = total_band(pd.DataFrame({"mean": [0.0, 0.0], "nb_size": [1.0, 2.0]}), by=[])
    assert zero[["mean", "p10", "p90"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="nb_size"):
        total_band(pd.DataFrame({"mean": [1.0], "nb_size": [0.0]}), by=[])
    with pytest.raises(ValueError, match="quantile level"):
        total_band(frame, by=[], levels=(0.1, 1.0))


def _forecast(weekly: bool = False) -> pd.DataFrame:
    """A small forecast frame as the model writes it: sizes per marketplace, mostly sparse."""
    rng = np.random.default_rng(5)
    dates = pd.date_range("2026-11-02", periods=8 if weekly else 28, freq="7D" if weekly else "D")
    # On the model's maximum-likelihood grid, off it (coverage-fitted dense sizes), Poisson-like.
    sizes = {"US": float(SIZE_GRID[30]), "DE": 3.7, "JP": 860.0}
    parts = []
    for market, size in sizes.items():
        for i in range(12):
            level = rng.gamma(0.6, 1.5) * (7 if weekly else 1)
            mean = level * (1 + 0.2 * np.sin(np.arange(len(dates))))
            parts.append(
                pd.DataFrame(
                    {
                        "sku": f"SKU-{i:02d}",
                        "marketplace": market,
                        "date": dates,
                        "horizon": np.arange(1, len(dates) + 1),
                        "mean": mean,
                        "nb_size": size,
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    qs = quantiles(frame["mean"].to_numpy(), frame["nb_size"].to_numpy(), (0.1, 0.5, 0.9))
    for q, values in qs.items():
        frame[level_column(q)] = values
    return frame


def test_nb_size_is_recovered_from_the_quantiles_when_the_frame_has_none():
    # The nightly forecast's stored columns have p10/p50/p90 and mean, no nb_size.
    frame = _forecast()
    implied = implied_nb_size(frame.drop(columns="nb_size"))
    np.testing.assert_allclose(implied, frame["nb_size"], rtol=1e-3)
    us = (frame["marketplace"] == "US").to_numpy()
    assert (implied[us] == frame["nb_size"][us]).all()  # a grid size comes back exactly
    with_size = total_band(frame)
    without = total_band(frame.drop(columns="nb_size"))
    pd.testing.assert_frame_equal(with_size, without, rtol=1e-5)
    with pytest.raises(ValueError, match="p90"):
        implied_nb_size(frame.drop(columns=["nb_size", "p90"]))


def test_the_assets_totals_are_sums_of_means_with_the_totals_band():
    frame = _forecast()
    got = forecast_totals(frame)
    assert set(got) == {"total_mean_units", "total_p10_units", "total_p90_units"}
    assert got["total_mean_units"] == pytest.approx(frame["mean"].sum())
    assert got["total_mean_units"] > 1.5 * frame["p50"].sum()  # what the old total showed
    band = total_band(frame, by=[]).iloc[0]
    assert (got["total_p10_units"], got["total_p90_units"]) == (band["p10"], band["p90"])
    assert got["total_p10_units"] < got["total_mean_units"] < got["total_p90_units"]
    assert got["total_p90_units"] < frame["p90"].sum()
    # The stored forecast (no nb_size) gives the same totals.
    assert forecast_totals(frame.drop(columns="nb_size")) == pytest.approx(got, rel=1e-5)


@pytest.mark.parametrize("weekly", [False, True])
def test_the_forecast_plots_are_png(weekly, tmp_path):
    frame = _forecast(weekly)
    history = (
        frame.assign(date=frame["date"] - pd.Timedelta(days=56 if weekly else 28))
        .groupby(["marketplace", "date"], as_index=False)["mean"]
        .sum()
        .rename(columns={"mean": "units"})
    )
    overview = plots.forecast_overview(history, frame, path=tmp_path / "overview.png")
    assert overview.startswith(PNG)
    assert (tmp_path / "overview.png").read_bytes() == overview
    stored = frame.drop(columns="nb_size")  # what the asset gets
    assert plots.forecast_overview(history, stored).startswith(PNG)
    assert plots.top_series_plot(stored, n=3).startswith(PNG)


def test_top_series_are_each_marketplaces_largest_by_mean():
    frame = _forecast()
    top = plots.top_series(frame, n=2)
    assert len(top) == 6
    per = frame.groupby(["marketplace", "sku"])["mean"].sum()
    for market, rows in top.groupby("marketplace"):
        expected = per.loc[market].sort_values(ascending=False).head(2)
        assert rows["sku"].tolist() == expected.index.tolist()
        assert rows["rank"].tolist() == [1, 2]
