"""The simulator's knobs for pricing benchmarks: the shape of the true price response, the share
of listings with price tests, and an announced tariff shock inside the benchmark's holdout.

At their defaults the knobs leave the data exactly as before (``test_simulator_engine.py`` pins
the files; here the explicit defaults give the same files as no knobs at all).
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.settings import DataPaths
from ml.simulator import GroundTruth, available_scenarios, generate, load_scenario
from ml.simulator.demand import PriceResponse, price_effect, price_elasticity
from ml.simulator.engine import holdout_days, simulate
from ml.simulator.observation import Observation, SellerFacts
from ml.simulator.policies import DefaultPricing, Policies
from ml.simulator.reference import MARKETPLACES
from ml.simulator.tariffs import (
    SCHEDULE_PATH,
    ad_valorem_duty,
    build_tariff_measures,
    load_schedule,
    published_measures,
)
from ml.simulator.world import World, build_world, price_ending, target_price

TINY = {"n_skus": 6, "history_start": "2026-06-01"}  # as in test_simulator.py
# The shipped scenarios cut down: a few SKUs, eight months (the holdout and the shock inside).
SHORT = {"n_skus": 12, "history_start": "2026-03-02", "data_issues": {}}
DEFAULT_KNOBS = {
    "price_response": "constant",
    "reference_effect": 0.0,
    "price_test_share": 1.0,
    "price_test_rate": 0.12,
    "extra_tariff_schedule": None,
}
SHOCK_ANNOUNCED, SHOCK_START = date(2026, 8, 19), date(2026, 9, 16)  # as tariff_shock.yaml says
SHOCK_CODES = ("851660", "851830", "854442")


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module", params=["default", "linear", "logit"])
def shaped(request, tmp_path_factory):
    """A short run of each shipped response shape, generated, with its world and truth."""
    name = request.param
    paths = DataPaths(tmp_path_factory.mktemp(name))
    scenario = load_scenario(name, SHORT)
    generate(scenario, paths)
    return scenario, build_world(scenario), GroundTruth.load(paths.truth), paths


@pytest.fixture(scope="module")
def shock(tmp_path_factory):
    """The full tariff_shock scenario, generated (timed) and built."""
    paths = DataPaths(tmp_path_factory.mktemp("tariff_shock"))
    scenario = load_scenario("tariff_shock")
    t0 = time.perf_counter()
    generate(scenario, paths)
    seconds = time.perf_counter() - t0
    return scenario, build_world(scenario), paths, seconds


def _live(truth: GroundTruth, day: date) -> list:
    """Listings that sell on ``day`` at their reference price."""
    return [
        r
        for r in truth.listings().itertuples()
        if truth.price_response(r.sku, r.marketplace, day, [r.ref_price])[0] > 0
    ]


# --- defaults ---------------------------------------------------------------------------------


def test_explicit_default_knobs_give_the_same_files_and_are_not_written(tmp_path):
    implicit = load_scenario("small", TINY)
    explicit = load_scenario("small", {**TINY, **DEFAULT_KNOBS})
    assert implicit == explicit
    assert not set(DEFAULT_KNOBS) & set(explicit.to_dict())
    generate(implicit, DataPaths(tmp_path / "a"))
    generate(explicit, DataPaths(tmp_path / "b"))
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    truth = GroundTruth.load(DataPaths(tmp_path / "a").truth)
    assert truth.response == PriceResponse("constant", 0.0)
    assert "price_response" not in truth.meta
    assert truth.listings()["price_tests"].all()  # the built-in seller: every listing may test
    stored = pd.read_parquet(DataPaths(tmp_path / "a").truth / "series.parquet")
    assert not {"price_tests", "ref_share"} & set(stored.columns)


def test_the_knobs_are_validated_and_written_when_set():
    for bad, message in (
        ({"price_response": "cubic"}, "price_response"),
        ({"price_test_share": 1.5}, "price_test_share"),
        ({"reference_effect": -1}, "reference_effect"),
        ({"reference_effect": 0.5}, "reference_effect.*logit"),  # constant has no reference
        ({"extra_tariff_schedule": "no_such_file.csv"}, "extra_tariff_schedule"),
        ({"extra_tariff_schedule": 3}, "extra_tariff_schedule"),
    ):
        with pytest.raises(ValueError, match=message):
            load_scenario("small", bad)
    assert {"tariff_shock", "linear", "logit"} <= set(available_scenarios())
    written = load_scenario("logit").to_dict()
    assert (written["price_response"], written["reference_effect"]) == ("logit", 1.0)
    assert written["price_test_share"] == 0.5 and "extra_tariff_schedule" not in written
    shock = load_scenario("tariff_shock")
    assert shock.to_dict()["extra_tariff_schedule"] == "tariff_shock_schedule.csv"
    default = load_scenario("default")
    for name in ("tariff_shock", "linear", "logit"):  # the built-in seller otherwise
        sc = load_scenario(name)
        assert (sc.seed, sc.n_skus, sc.history_start, sc.history_end) == (
            default.seed,
            default.n_skus,
            default.history_start,
            default.history_end,
        )
        assert sc.data_issues == default.data_issues and sc.price_test_share == 0.5


# --- the shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        PriceResponse("constant"),
        PriceResponse("linear"),
        PriceResponse("logit"),
        PriceResponse("logit", reference_effect=1.5),
    ],
    ids=lambda r: f"{r.shape}-{r.reference_effect:g}",
)
def test_each_shape_is_one_at_the_reference_falls_with_price_and_has_its_elasticity(response):
    elasticity = np.array([-3.5, -2.0, -1.0, -0.5])[:, None]
    ref_share = np.array([0.1, 0.3, 0.5, 0.45])[:, None]
    ref = 20.0
    x = np.linspace(0.2, 3.0, 281)[None, :]
    effect = price_effect(x * ref, ref, elasticity, ref_share, response)
    assert (np.diff(effect, axis=1) <= 0).all() and (effect >= 0).all()
    at_ref = price_effect(np.full((4, 1), ref), ref, elasticity, ref_share, response)
    np.testing.assert_allclose(at_ref, 1.0, rtol=1e-12)
    el_ref = price_elasticity(np.full((4, 1), ref), ref, elasticity, ref_share, response)
    np.testing.assert_allclose(el_ref, elasticity, atol=1e-6)
    # Analytic against a central difference of log(effect) in log(price), off the kinks (and
    # off the linear's last cents before zero demand, where the difference itself is off).
    h = 1e-6
    up = price_effect(x * ref * np.exp(h), ref, elasticity, ref_share, response)
    down = price_effect(x * ref * np.exp(-h), ref, elasticity, ref_share, response)
    smooth = (np.abs(x - 1) > 1e-3) & (down > 1e-3) & (up > 1e-3)
    smooth = np.broadcast_to(smooth, effect.shape)
    numeric = (np.log(np.where(smooth, up, 1)) - np.log(np.where(smooth, down, 1))) / (2 * h)
    analytic = price_elasticity(x * ref, ref, elasticity, ref_share, response)
    np.testing.assert_allclose(numeric[smooth], analytic[smooth], rtol=1e-5, atol=1e-6)
    assert smooth.mean() > 0.6


def test_the_shapes_differ_where_they_should():
    e, ref, share = -2.0, 10.0, 0.3
    x = np.array([0.7, 1.2, 1.4, 1.6])
    constant = price_effect(x * ref, ref, e)
    linear = price_effect(x * ref, ref, e, response=PriceResponse("linear"))
    np.testing.assert_allclose(linear, np.maximum(1 + e * (x - 1), 0))
    assert linear[-1] == 0 and constant[-1] > 0  # no demand from 1 - 1 / e = 1.5 x ref on
    assert price_elasticity(1.6 * ref, ref, e, response=PriceResponse("linear")) == -np.inf
    logit = price_effect(x * ref, ref, e, share, PriceResponse("logit"))
    beta = -e / (1 - share)
    s = 1 / (1 + np.exp(-(beta + np.log(share / (1 - share)) - beta * x)))  # the choice share
    np.testing.assert_allclose(logit, s / share)
    assert not np.allclose(logit, constant)
    # The reference effect: a loss factor above the reference price only.
    loss = price_effect(x * ref, ref, e, share, PriceResponse("logit", 1.0))
    np.testing.assert_allclose(loss, logit * np.where(x > 1, x**-1.0, 1.0))
    below, above = price_elasticity(
        ref * np.array([1 - 1e-9, 1 + 1e-9]), ref, e, share, PriceResponse("logit", 1.0)
    )
    assert below == pytest.approx(e, abs=1e-6) and above == pytest.approx(e - 1.0, abs=1e-6)


def test_the_truth_answers_for_any_price_with_its_shape(shaped):
    scenario, world, truth, _ = shaped
    assert truth.response == PriceResponse(scenario.price_response, scenario.reference_effect)
    day = date(2026, 7, 14)
    listings = _live(truth, day)
    assert len(listings) > 20
    for r in listings:
        prices = r.ref_price * np.linspace(0.5, 2.0, 31)
        units = truth.price_response(r.sku, r.marketplace, day, prices)
        assert (np.diff(units) <= 0).all(), (r.sku, r.marketplace)
        assert truth.elasticity(r.sku, r.marketplace) == pytest.approx(r.elasticity, abs=1e-6)
        # Analytic elasticity against a central difference of the truth's price response.
        h = 1e-5
        grid = r.ref_price * np.array([0.6, 0.85, 0.97, 1.03, 1.1, 1.25])
        up = truth.price_response(r.sku, r.marketplace, day, grid * np.exp(h))
        down = truth.price_response(r.sku, r.marketplace, day, grid * np.exp(-h))
        ok = (up > 0) & (down > 0)
        numeric = (np.log(up[ok]) - np.log(down[ok])) / (2 * h)
        analytic = truth.elasticity(r.sku, r.marketplace, price=grid[ok])
        np.testing.assert_allclose(numeric, analytic, rtol=1e-5, atol=1e-6)
        # With a date and no price: at that day's simulated displayed price.
        shown = truth.displayed_price(r.sku, r.marketplace, [day])[0]
        assert truth.elasticity(r.sku, r.marketplace, date=day) == pytest.approx(
            float(truth.elasticity(r.sku, r.marketplace, price=shown))
        )
    if scenario.price_response == "constant":
        r = listings[0]
        ratio = truth.price_response(r.sku, r.marketplace, day, [r.ref_price * 1.3, r.ref_price])
        assert ratio[0] / ratio[1] == pytest.approx(1.3**r.elasticity)
    if scenario.price_response == "logit":
        assert truth.listings()["ref_share"].between(0.1, 0.5).all()
        r = listings[0]
        above = truth.elasticity(r.sku, r.marketplace, price=r.ref_price * (1 + 1e-9))
        assert above == pytest.approx(r.elasticity - scenario.reference_effect, abs=1e-6)


def test_the_generated_daily_mean_is_the_truths(shaped):
    _, _, truth, paths = shaped
    sample = pd.read_parquet(paths.truth / "daily_mean_sample.parquet")
    assert (sample["expected_units"] > 0).any()
    start = pd.Timestamp(truth.day_zero)
    for (sku, mkt), g in sample.groupby(["sku", "marketplace"]):
        dates = start + pd.to_timedelta(g["day"], unit="D")
        np.testing.assert_allclose(
            truth.expected_demand(sku, mkt, dates), g["expected_units"], rtol=1e-9, atol=1e-12
        )


class Markup:
    """Every listing at its launch price times ``factor`` (above the reference: a loss)."""

    def __init__(self, factor: float):
        self.factor = factor

    def start(self, facts: SellerFacts) -> None:
        self.prices = facts.launch_prices() * self.factor

    def list_prices(self, obs: Observation) -> np.ndarray:
        return self.prices


def test_the_stepped_engine_sells_at_the_truths_mean_for_any_policy(shaped):
    scenario, world, truth, _ = shaped
    run = simulate(world, Policies(pricing=Markup(1.2)))
    shown = run.history.shown_price()
    dates = pd.date_range(world.start, periods=world.n_hist, freq="D")
    lifted = 0
    for i, row in enumerate(run.truth_rows):
        sku, mkt = world.series.loc[row, ["sku", "marketplace"]]
        mu = truth.expected_demand(sku, mkt, dates, price=shown[:, row])
        np.testing.assert_allclose(run.truth_mu[i], mu, rtol=1e-9, atol=1e-12)
        lifted += int((mu != truth.expected_demand(sku, mkt, dates)).any())
    assert lifted > len(run.truth_rows) // 2  # the policy's prices did change demand


# --- price tests ------------------------------------------------------------------------------


def _rule_prices(world: World) -> np.ndarray:
    """The cost-plus rule's price (with the marketplace's ending) on each price-plan row's day."""
    target = target_price(world)
    style = np.array([MARKETPLACES[m].price_ending for m in world.series["marketplace"]])
    plan = world.price_changes
    out = np.empty(len(plan))
    day = np.maximum(plan["day"].to_numpy(), 0)  # a price from before the history: day 0's rule
    for t in np.unique(day):
        at = np.nonzero(day == t)[0]
        rows = plan["series"].to_numpy()[at]
        out[at] = price_ending(target(int(t), rows), style[rows])
    return out


def _testing(world: World) -> np.ndarray:
    """Per listing: some price on its plan is off the cost-plus rule (a price test)."""
    plan = world.price_changes
    off = ~np.isclose(plan["list_price"].to_numpy(), _rule_prices(world), rtol=0, atol=1e-9)
    return np.bincount(plan["series"].to_numpy()[off], minlength=len(world.series)) > 0


def test_price_test_share_picks_the_listings_that_test_and_moves_no_draw():
    worlds = {
        share: build_world(load_scenario("small", {"price_test_share": share}))
        for share in (0.0, 0.5, 1.0)
    }
    none, half, every = worlds[0.0], worlds[0.5], worlds[1.0]
    # Share 0: every price is the cost-plus rule's (it moves only with cost, FX and duty).
    assert not none.series["price_tests"].any()
    assert not _testing(none).any()
    assert len(none.price_changes) > len(none.series)  # prices do move, with the target
    # Share 1 (the built-in seller): most listings with half a year of reviews test.
    s = every.series
    life = np.minimum(s["discontinued"], every.n_hist) - np.maximum(s["listed_from"], 0)
    long = (life > 180).to_numpy()
    assert s["price_tests"].all() and _testing(every)[long].mean() > 0.6
    # Share 0.5: about half test; the others never do.
    testers = half.series["price_tests"].to_numpy()
    assert 0.35 < testers.mean() < 0.65
    assert not _testing(half)[~testers].any()
    assert _testing(half)[testers & long].mean() > 0.6
    # Which listings test moves no draw: testers price as at share 1, the others as at share 0.
    for world, who in ((every, testers), (none, ~testers)):
        a = half.price_changes[np.isin(half.price_changes["series"], np.nonzero(who)[0])]
        b = world.price_changes[np.isin(world.price_changes["series"], np.nonzero(who)[0])]
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    # The rest of the world is the built-in seller's.
    pd.testing.assert_frame_equal(half.promotions, every.promotions)
    np.testing.assert_array_equal(half.series["elasticity"], every.series["elasticity"])


def _tested_prices(world: World) -> int:
    plan = world.price_changes
    return int((~np.isclose(plan["list_price"].to_numpy(), _rule_prices(world), atol=1e-9)).sum())


def test_price_test_rate_sets_how_often_a_tester_tests():
    rare, often = (
        build_world(load_scenario("small", {"price_test_rate": rate})) for rate in (0.12, 0.5)
    )
    # the same listings, the same draws: only the threshold on them moves
    np.testing.assert_array_equal(rare.series["elasticity"], often.series["elasticity"])
    assert _tested_prices(often) > 2.5 * _tested_prices(rare) > 0
    none = build_world(load_scenario("small", {"price_test_rate": 0.0}))
    assert _tested_prices(none) == 0


def test_the_truth_records_which_listings_tested(shaped):
    scenario, world, truth, _ = shaped
    tests = truth.listings().set_index(["sku", "marketplace"])["price_tests"]
    expected = world.series.set_index(["sku", "marketplace"])["price_tests"]
    pd.testing.assert_series_equal(tests.loc[expected.index], expected, check_names=False)
    if scenario.price_test_share == 1:
        assert tests.all()
    else:
        assert tests.dtype == bool and 0 < tests.mean() < 1  # price_test_share 0.5


# --- the tariff shock -------------------------------------------------------------------------


def _hit(world: World) -> np.ndarray:
    """US listings of Chinese-made goods of the shock's codes."""
    s, cat = world.series, world.catalog
    sku = s["sku_idx"].to_numpy()
    return (
        (s["marketplace"].to_numpy() == "US")
        & np.isin(cat["hs_code"].str[:6].to_numpy()[sku], SHOCK_CODES)
        & (cat["origin_country"].to_numpy()[sku] == "CN")
    )


def test_the_shock_starts_on_its_day_inside_the_holdout(shock):
    scenario, world, _, seconds = shock
    assert seconds < 30
    # The same seller without the shock.
    plain = build_world(load_scenario("tariff_shock", {"extra_tariff_schedule": None}))
    hit = _hit(world)
    assert hit.sum() > 20 and (~hit & (world.series["marketplace"] == "US")).any()
    start, announced = world.day(SHOCK_START), world.day(SHOCK_ANNOUNCED)
    assert SHOCK_START == scenario.history_end - timedelta(days=45)
    holdout = holdout_days(world)
    assert holdout == range(world.n_hist - 90, world.n_hist)
    assert world.date_of(holdout[0]) == scenario.history_end - timedelta(days=89)
    assert holdout[0] < announced < start < holdout[-1]
    # The duty: +25 % on the hit listings from the start day on, nothing else changed.
    diff = world.duty[world.duty_group] - plain.duty[plain.duty_group]
    np.testing.assert_allclose(diff[hit, start:], 0.25)
    assert not diff[hit, :start].any() and not diff[~hit].any()
    # The built-in measures keep their ids; the shock's rows come after them.
    n = len(plain.tariff_rows)
    assert world.tariff_rows[:n] == plain.tariff_rows
    extra = world.tariff_rows[n:]
    assert {r["hs_code_prefix"] for r in extra} == set(SHOCK_CODES)
    assert {(r["valid_from"], r.get("announced_date")) for r in extra} == {
        (SHOCK_START.isoformat(), SHOCK_ANNOUNCED.isoformat())
    }
    # The simulated seller passes it on once it is in force, not before.
    rule = target_price(world)
    rows = np.nonzero(hit)[0]
    assert (rule(start, rows) > rule(start - 1, rows) * 1.05).mean() > 0.75
    plan = world.price_changes
    before = plain.price_changes
    same = plan[plan["day"] < start].reset_index(drop=True)
    pd.testing.assert_frame_equal(same, before[before["day"] < start].reset_index(drop=True))
    soon = (plan["day"] >= start) & (plan["day"] < start + 14)  # reaction lags are 0-9 days
    assert plan[np.isin(plan["series"], rows) & soon]["series"].nunique() > 0.5 * len(rows)


def test_a_policy_knows_the_announced_tariff_from_its_announcement_day(shock):
    _, world, _, _ = shock
    start, announced = world.day(SHOCK_START), world.day(SHOCK_ANNOUNCED)
    seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    class Watcher(DefaultPricing):
        def list_prices(self, obs: Observation) -> np.ndarray:
            if obs.day >= announced - 3:
                seen[obs.day] = (obs.announced_duty(start, start)[:, 0], obs.duty_rate.copy())
            return super().list_prices(obs)

    run = simulate(world, Policies(pricing=Watcher()), keep_history=False)
    assert len(run.list_prices) > 0 and max(seen) == world.n_hist - 1
    hit = _hit(world)
    actual = world.duty[world.duty_group, start]
    before_shock = world.duty[world.duty_group, start - 1]  # nothing else changes on the day
    for day, (outlook, today) in seen.items():
        np.testing.assert_allclose(today, world.duty[world.duty_group, day])
        expected = actual if day >= announced else before_shock
        np.testing.assert_allclose(outlook, expected, err_msg=str(day))
    assert (seen[announced][0][hit] > seen[announced - 1][0][hit] + 0.2).all()
    assert (seen[start - 1][1][hit] < seen[start][1][hit] - 0.2).all()


def test_published_measures_foresee_announcements_but_no_unannounced_end():
    rows = build_tariff_measures(["851660"], ["US"])
    d = date.fromisoformat

    def outlook(as_of: str, day: str, measures: list[dict] = rows) -> float:
        known = published_measures(measures, d(as_of))
        return ad_valorem_duty(known, "US", "851660", "CN", d(day))

    # Past days and today as they were, whenever asked.
    for as_of, day in (("2025-06-01", "2025-04-20"), ("2026-03-01", "2026-03-01")):
        assert outlook(as_of, day) == ad_valorem_duty(rows, "US", "851660", "CN", d(day))
    # IEEPA was struck down on 2026-02-20 without notice: in 2025 it is taken to last, and the
    # Section 122 surcharge that replaced it (announced on its start) is unknown.
    assert outlook("2025-06-01", "2026-03-01") == pytest.approx(0.04 + 0.25 + 0.20 + 0.10)
    assert ad_valorem_duty(rows, "US", "851660", "CN", d("2026-03-01")) == pytest.approx(0.39)
    # A successor announced ahead (same key, starting the day after) makes the end public.
    fentanyl = [r for r in rows if "fentanyl" in r["legal_basis"] and r["valid_from"] < "2025-04"]
    early = [
        {**r, "announced_date": "2025-02-20"} if r["valid_from"] == "2025-03-04" else r
        for r in fentanyl
    ]
    assert outlook("2025-02-10", "2025-03-10", fentanyl) == pytest.approx(0.10)
    assert outlook("2025-02-19", "2025-03-10", early) == pytest.approx(0.10)
    assert outlook("2025-02-20", "2025-03-10", early) == pytest.approx(0.20)  # not 0.10 + 0.20


def test_a_schedule_may_announce_measures_but_not_after_they_start(tmp_path):
    header, first, *_ = SCHEDULE_PATH.read_text().splitlines()
    path = tmp_path / "extra.csv"
    path.write_text(f"{header},announced_date\n{first},2023-12-01\n")
    (block,) = load_schedule(path)
    assert block.rows[0]["announced_date"] == "2023-12-01"
    path.write_text(f"{header},announced_date\n{first},2024-02-01\n")  # valid_from 2024-01-01
    with pytest.raises(ValueError, match="announced_date"):
        load_schedule(path)
    path.write_text(f"{header},announced\n{first},2023-12-01\n")
    with pytest.raises(ValueError, match="columns"):
        load_schedule(path)
    assert "announced_date" not in load_schedule()[0].rows[0]  # the built-in file has none
    with pytest.raises(ValueError, match="already built in"):
        build_world(load_scenario("small", {"extra_tariff_schedule": str(SCHEDULE_PATH)}))
