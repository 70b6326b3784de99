"""Disruptions for the closed-loop benchmarks: a late lane and a demand surge."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from ml.settings import DataPaths
from ml.simulator import GroundTruth, generate, load_scenario
from ml.simulator.demand import DemandModel
from ml.simulator.engine import simulate
from ml.simulator.world import build_world

WINDOW = (date(2026, 8, 17), date(2026, 9, 13))


def _us_ocean(world) -> int:
    return next(
        i for i, ln in enumerate(world.lanes) if (ln.destination, ln.mode) == ("US", "ocean")
    )


def test_departures_in_the_window_arrive_two_weeks_later_and_nothing_else_moves():
    """Every departure before the first delayed shipment would have landed is the same in
    both runs (same decisions, same draws); those on the late lane in the window land 14 days
    later, all others on the same day."""
    plain = build_world(load_scenario("default"))
    late = build_world(load_scenario("lane_delay"))
    a, b = simulate(plain), simulate(late)
    first, last = (plain.day(d) for d in WINDOW)
    lane = _us_ocean(plain)
    before = {(d.lane, d.day): d for d in a.departures if d.day <= last}
    after = {(d.lane, d.day): d for d in b.departures if d.day <= last}
    assert before.keys() == after.keys()
    delayed = 0
    for key, d in before.items():
        e = after[key]
        assert np.array_equal(d.qty, e.qty) and e.expected_arrival == d.expected_arrival
        if key[0] == lane and first <= key[1] <= last:
            assert e.arrival == d.arrival + 14
            delayed += 1
        else:
            assert e.arrival == d.arrival
    assert delayed >= 3  # weekly departures over four weeks


def test_a_surge_multiplies_the_true_demand_of_its_market_on_its_days_only():
    plain = build_world(load_scenario("default"))
    surged = build_world(load_scenario("demand_surge"))
    mp, ms = DemandModel.of(plain), DemandModel.of(surged)
    de = plain.series["marketplace"].to_numpy() == "DE"
    zeros = np.zeros(len(de))
    for day, factor in (
        (date(2026, 9, 10), 1.6),
        (date(2026, 8, 20), 1.0),
        (date(2026, 10, 5), 1.0),
    ):
        t = plain.day(day)
        with np.errstate(invalid="ignore"):  # listings not live that day: 0 / 0
            ratio = ms.mean(t, mp.ref_price, zeros, zeros) / mp.mean(t, mp.ref_price, zeros, zeros)
        live = np.isfinite(ratio)
        assert np.allclose(ratio[de & live], factor)
        assert np.allclose(ratio[~de & live], 1.0)


def test_the_truth_answers_with_the_surge(tmp_path):
    """The ground truth of a surged run (read back from its files) includes the surge."""
    base = load_scenario("small", {"data_issues": {}})
    overrides = {
        "data_issues": {},
        "demand_surges": [
            {
                "marketplace": "DE",
                "first_day": "2026-09-01",
                "last_day": "2026-09-30",
                "factor": 2.5,
            }
        ],
    }
    generate(base, DataPaths(tmp_path / "plain").ensure())
    generate(load_scenario("small", overrides), DataPaths(tmp_path / "surge").ensure())
    plain = GroundTruth.load(tmp_path / "plain" / "truth")
    surge = GroundTruth.load(tmp_path / "surge" / "truth")
    listing = plain.listings().query("marketplace == 'DE'").iloc[0]
    days = ["2026-08-31", "2026-09-01", "2026-09-30", "2026-10-01"]
    ratio = surge.expected_demand(listing["sku"], "DE", days, price=20.0) / plain.expected_demand(
        listing["sku"], "DE", days, price=20.0
    )
    assert ratio == pytest.approx([1.0, 2.5, 2.5, 1.0])


def test_disruptions_are_validated_and_written_only_when_set():
    assert "lane_delays" not in load_scenario("default").to_dict()
    written = load_scenario("lane_delay").to_dict()["lane_delays"]
    assert written == [
        {
            "destination": "US",
            "mode": "ocean",
            "first_departure": "2026-08-17",
            "last_departure": "2026-09-13",
            "extra_days": 14,
        }
    ]
    bad = {"destination": "US", "mode": "boat", "first_departure": "2026-01-01",
           "last_departure": "2026-01-02", "extra_days": 3}  # fmt: skip
    with pytest.raises(ValueError, match=r"lane_delays\[0\].mode"):
        load_scenario("default", {"lane_delays": [bad]})
    backwards = {"marketplace": "DE", "first_day": "2026-09-02", "last_day": "2026-09-01",
                 "factor": 2.0}  # fmt: skip
    with pytest.raises(ValueError, match=r"demand_surges\[0\].last_day"):
        load_scenario("default", {"demand_surges": [backwards]})
