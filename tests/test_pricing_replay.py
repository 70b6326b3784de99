"""The closed-loop pricing replay: policies price the simulator's holdout day by day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from ml.bench import replay as rp
from ml.pricing.optimizer import DEFAULT_RULES, ending_nearest
from ml.simulator import load_scenario, simulate
from ml.simulator.demand import DemandModel
from ml.simulator.reference import MARKETPLACES
from ml.simulator.world import build_world

HOLDOUT = 20


@pytest.fixture(scope="module")
def world():
    return build_world(load_scenario("small"))


@pytest.fixture(scope="module")
def days(world):
    return range(world.n_hist - HOLDOUT, world.n_hist)


class Recorder:
    """Wraps a holdout policy and keeps each day's observation figures and prices."""

    def __init__(self, policy):
        self.policy, self.name, self.days = policy, policy.name, []

    def start(self, facts, economics):
        self.facts, self.economics = facts, economics
        self.policy.start(facts, economics)

    def prices(self, obs, planned):
        out = np.array(self.policy.prices(obs, planned), dtype=float)
        self.days.append(
            {
                "listed": obs.listed.copy(),
                "previous": np.array(obs.list_price),
                "fx": np.array(obs.fx_usd),
                "landed": rp.landed_local(self.economics, obs),
                "planned": planned.copy(),
                "price": out,
            }
        )
        return out


class SellersPlan:
    name = "plan"

    def start(self, facts, economics):
        pass

    def prices(self, obs, planned):
        return planned


def test_a_policy_that_keeps_the_sellers_plan_replays_the_sellers_own_run(world, days):
    """Same decisions, same draws: the warm-up and the switch to the policy change nothing, and
    from the holdout on every policy meets the shoppers of the day's own stream (common random
    numbers), not those left over in the run's sequence."""
    seller = simulate(world, common_demand_from=days.start)
    run = rp.replay(world, SellersPlan(), days)
    assert run.days.tolist() == list(days)
    assert np.array_equal(run.sales, seller.history.sales()[days.start :])
    assert np.array_equal(run.shown, seller.history.shown_price()[days.start :])
    assert run.sales.sum() > 0


def test_another_demand_stream_brings_other_shoppers_to_the_same_prices(world, days):
    """A demand stream is a set of shoppers: the same one again gives the same sales, another
    gives other sales, and a policy that does not follow its sales shows the same prices."""
    first = rp.replay(world, rp.KeepPrice(), days)
    again = rp.replay(world, rp.KeepPrice(), days)
    other = rp.replay(world, rp.KeepPrice(), days, demand_stream=1)
    assert np.array_equal(first.sales, again.sales)
    assert not np.array_equal(first.sales, other.sales)
    assert np.array_equal(first.shown, other.shown)
    assert abs(int(other.sales.sum()) - int(first.sales.sum())) < 0.1 * first.sales.sum()
    with pytest.raises(ValueError, match="needs common_demand_from"):
        simulate(world, demand_stream=1)  # the run's sequence has no streams to pick from


class RaiseSome:
    """The seller's own prices, with ``rows`` 30 % dearer from ``first_day`` on."""

    def __init__(self, rows: np.ndarray, first_day: int):
        from ml.simulator.policies import DefaultPricing

        self.seller, self.rows, self.first_day = DefaultPricing(), rows, first_day

    def start(self, facts):
        self.seller.start(facts)

    def list_prices(self, obs):
        out = np.array(self.seller.list_prices(obs), dtype=float)
        if obs.day >= self.first_day:
            out[self.rows] *= 1.3
        return out


def test_other_prices_for_some_listings_leave_every_other_listings_shoppers_alone(world, days):
    """Common random numbers that stay coupled: a dearer listing meets fewer or as many shoppers
    on every day, and every other listing exactly the same ones (numpy's Poisson takes as many
    uniforms as its mean asks for, which would shift every later listing's draws)."""
    from ml.simulator.policies import Policies

    base = simulate(world, common_demand_from=days.start)
    rows = np.array([3, 40, 41])
    dearer = simulate(
        world, Policies(pricing=RaiseSome(rows, days.start)), common_demand_from=days.start
    )
    held = slice(days.start, days.stop)
    before, after = base.demanded[held], dearer.demanded[held]
    others = np.setdiff1d(np.arange(before.shape[1]), rows)
    assert np.array_equal(before[:, others], after[:, others])
    assert (after[:, rows] <= before[:, rows]).all()
    assert after[:, rows].sum() < before[:, rows].sum()
    # and before the holdout the run is the seller's own
    assert np.array_equal(base.demanded[: days.start], dearer.demanded[: days.start])


def test_coupled_draws_are_the_negative_binomial_of_the_mean():
    from ml.simulator.demand import coupled_demand

    rng = np.random.default_rng(3)
    mu, size = np.repeat([0.3, 2.0, 9.0], 60_000), np.repeat([0.8, 2.5, 6.0], 60_000)
    units = coupled_demand(rng, mu, size).reshape(3, -1)
    for k, (m, r) in enumerate([(0.3, 0.8), (2.0, 2.5), (9.0, 6.0)]):
        var = m + m * m / r  # gamma-Poisson
        assert units[k].mean() == pytest.approx(m, rel=0.02)
        assert units[k].var() == pytest.approx(var, rel=0.05)
        p0 = (r / (r + m)) ** r  # P(0) of the negative binomial
        assert (units[k] == 0).mean() == pytest.approx(p0, abs=0.01)


def test_keep_price_holds_every_listed_price(world, days):
    recorder = Recorder(rp.KeepPrice())
    rp.replay(world, recorder, days)
    held = recorder.days[0]["price"]
    for d in recorder.days[1:]:
        both = d["listed"] & recorder.days[0]["listed"]
        assert np.array_equal(d["price"][both], held[both])


def test_the_profit_is_units_times_price_kept_less_landed_cost(world, days):
    """A slow loop over listing-days with the marketplace table and the catalogue."""
    run = rp.replay(world, rp.KeepPrice(), days)
    profit, revenue = rp.daily_profit(world, run)
    s, cat = world.series, world.catalog
    ocean = {ln.destination: ln.cost_per_kg for ln in world.lanes if ln.mode == "ocean"}
    fx_row = {c: i for i, c in enumerate(world.fx_currencies)}
    checked = 0
    for j, t in enumerate(run.days[:5]):
        for i in np.flatnonzero(run.sales[j])[:40]:
            mk = MARKETPLACES[s["marketplace"].iat[i]]
            sku = cat.iloc[int(s["sku_idx"].iat[i])]
            fx = world.fx[fx_row[mk.currency], t] if mk.currency in fx_row else 1.0
            freight = ocean[mk.code] * sku["weight_kg"] * 1.2
            insurance = sku["cost_usd"] * 0.003
            customs = sku["cost_usd"] + (freight + insurance if mk.customs_basis == "CIF" else 0)
            duty = world.duty[world.duty_group[i], t] * customs
            fee = mk.fulfilment_fee_per_unit + mk.fulfilment_fee_per_kg * sku["weight_kg"]
            landed = sku["cost_usd"] + freight + insurance + duty + fee * fx
            vat = mk.vat_rate if mk.prices_include_vat else 0.0
            price = run.shown[j, i]
            kept = price / (1 + vat) - mk.referral_fee_rate * price
            units = run.sales[j, i]
            assert profit[j, i] == pytest.approx(units * (kept * fx - landed), rel=1e-9)
            assert revenue[j, i] == pytest.approx(units * price * fx, rel=1e-9)
            checked += 1
    assert checked > 20
    totals = rp.outcome(world, run, None)
    assert totals["profit_usd"] == pytest.approx(profit.sum())
    assert totals["units"] == run.sales.sum()


def test_the_oracle_prices_with_the_true_response():
    """Its units at any price are the truth's: the day's level at the reference price times
    the true price effect (here a logit with a reference-price loss)."""
    w = build_world(load_scenario("small", {"price_response": "logit", "reference_effect": 1.0}))
    m = DemandModel.of(w)
    t, i = w.n_hist - 5, 3
    level = m.mean(t, m.ref_price, np.zeros(len(m.base)), np.zeros(len(m.base)))[i]
    units = rp.true_units(m, i, level)
    for x in (0.7, 1.0, 1.3):
        shown = m.ref_price.copy()
        shown[i] *= x
        truth = m.mean(t, shown, np.zeros(len(m.base)), np.zeros(len(m.base)))[i]
        assert units(np.array([m.ref_price[i] * x]))[0] == pytest.approx(truth)


def test_cost_plus_is_one_markup_on_the_days_landed_cost(world, days):
    recorder = Recorder(rp.CostPlus())
    rp.replay(world, recorder, days)
    policy, econ = recorder.policy, recorder.economics
    assert 0.0 < policy.markup < 3.0
    offsets = rp.ending_offsets(recorder.facts.marketplace)
    for d in recorder.days:
        on = d["listed"]
        target = ending_nearest(d["landed"] * (1 + policy.markup) / econ.kept_share, offsets)
        moved = on & (d["price"] != d["previous"])
        assert np.allclose(d["price"][moved], target[moved])
        held = on & ~moved
        assert (np.abs(target[held] / d["previous"][held] - 1) < 0.01 + 1e-9).all()


def test_fx_parity_follows_the_us_price_at_the_days_fx(world, days):
    recorder = Recorder(rp.FxParity())
    rp.replay(world, recorder, days)
    policy, facts = recorder.policy, recorder.facts
    follows = (policy.ref_row >= 0) & (facts.marketplace != "US")
    assert follows.any() and set(policy.premium) <= set(facts.marketplace)
    for d in recorder.days:
        on = d["listed"] & follows
        us = policy.ref_row[on]
        converted = d["planned"][us] * d["fx"][us] / d["fx"][on]
        premium = pd.Series(facts.marketplace[on]).map(policy.premium).to_numpy()
        moved = d["price"][on] != d["previous"][on]
        gap = np.abs(d["price"][on] / (converted * (1 + premium)) - 1)
        assert (gap[moved] < 0.15).all()  # price endings, not another rule
        # US listings keep the seller's own plan
        us_rows = d["listed"] & (facts.marketplace == "US")
        assert np.array_equal(d["price"][us_rows], d["planned"][us_rows])


def test_the_guardrail_check_finds_each_kind_of_violation():
    base = {
        "previous_price": 20.0,
        "recommended_price": 21.0,
        "landed_cost_local": 10.0,
        "typical_price": 20.0,
        "vat_rate": 0.0,
        "prices_include_vat": False,
        "referral_fee_rate": 0.15,
        "status": "changed",
        "reason_codes": "demand",
    }
    rows = pd.DataFrame(
        [
            base,  # fine
            {**base, "recommended_price": 12.0, "previous_price": 12.5},  # below the floor
            {**base, "recommended_price": 41.0, "previous_price": 39.0},  # above 2 x recent
            {**base, "recommended_price": 23.0},  # +15 % in a day
            {**base, "recommended_price": 16.0, "reason_codes": "stock"},  # markdown: allowed
            {**base, "recommended_price": 5.0, "status": "paused"},  # paused: apart
        ]
    )
    v = rp.guardrail_violations(rows, DEFAULT_RULES)
    assert v == {
        "checked": 5,
        "paused": 1,
        "below_margin_floor": 1,
        "above_max_price": 1,
        "over_daily_limit": 1,
        "markdowns_past_daily_limit": 1,
        "total": 3,
    }


def test_kuajing_re_estimates_on_the_holdout_days_it_has_seen(world, days):
    """Every ``refit_days`` kuajing hands its days so far, as demand-mart rows, to the
    re-estimate and prices with what comes back; the rows are the run's own sales, stock-outs,
    prices and ad spend."""
    keys = world.series[["sku", "marketplace"]].astype(str)
    first = keys.assign(elasticity=-2.0, se=0.5, status="pooled")
    seen: list[pd.DataFrame] = []

    def refit(rows: pd.DataFrame) -> pd.DataFrame:
        seen.append(rows)
        return keys.assign(elasticity=-1.5, se=0.3, status="pooled")

    kuajing = rp.KuajingPricing(first, refit=refit, refit_days=6)
    run = rp.replay(world, kuajing, days)
    assert [len(set(r["demand_date"])) for r in seen] == [6, 12, 18]
    assert [day - days.start for day, _, _ in kuajing.refits] == [6, 12, 18]
    assert (kuajing.elasticity == -1.5).all()
    rows = seen[-1]
    start = world.date_of(days.start)
    offset = np.array([(d - start).days for d in rows["demand_date"]])
    series = (
        keys.reset_index()
        .set_index(["sku", "marketplace"])
        .loc[pd.MultiIndex.from_frame(rows[["sku", "marketplace"]])]["index"]
        .to_numpy()
    )
    assert np.array_equal(rows["units"].to_numpy(), run.sales[offset, series])
    assert np.allclose(
        rows["list_price_local"] * (1 - rows["discount_pct"].fillna(0)), run.shown[offset, series]
    )
    assert (rows["ad_spend_usd"] >= 0).all() and (rows["ad_spend_usd"] > 0).any()
    assert rows["is_promoted"].equals(rows["discount_pct"].notna())
    assert not rows["is_censored"].any() or rows.loc[rows["is_censored"], "units"].eq(0).all()


def test_kuajing_falls_back_to_its_marketplaces_median_elasticity():
    est = pd.DataFrame(
        {"sku": ["A", "B", "C"], "marketplace": ["US", "US", "DE"], "elasticity": [-1, -3, -2.5]}
    )
    got = rp.by_series(
        est, "elasticity", np.array(["A", "Z", "Z", "Y"]), np.array(["US", "US", "DE", "JP"])
    )
    assert got.tolist() == [-1.0, -2.0, -2.5, -2.5]


@pytest.mark.slow
def test_the_bench_replays_every_policy_on_a_scenario(tmp_path):
    """The small seller, end to end: estimates before the holdout, five policies, the
    targets' verdicts, and no guardrail broken by kuajing."""
    from ml.bench.pricing import format_table, run_pricing_bench

    scenario = load_scenario("small").to_dict()
    scenario.update(name="small_bench", data_issues={})
    path = tmp_path / "small_bench.yaml"
    path.write_text(yaml.safe_dump(scenario))
    report = run_pricing_bench(None, str(path), echo=lambda _: None)
    loop = report["closed_loop"]
    names = [p["policy"] for p in loop["policies"]]
    assert names == list(rp.POLICY_NAMES)
    profit = {p["policy"]: p["profit_usd"] for p in loop["policies"]}
    assert profit["oracle"] > max(profit["cost_plus"], profit["keep_price"])
    assert loop["guardrail_violations"]["total"] == 0
    assert loop["verdict"]["guardrail_violations"] is True
    assert loop["kuajing_vs_oracle"] == pytest.approx(profit["kuajing"] / profit["oracle"])
    # kuajing re-estimated on the holdout so far every three weeks, and says how it did
    refits = loop["kuajing_refits"]
    assert [r["date"] for r in refits] == [
        str(pd.Timestamp(loop["holdout_start"]).date() + pd.Timedelta(days=d).to_pytimedelta())
        for d in range(rp.REFIT_DAYS, 90, rp.REFIT_DAYS)
    ]
    assert all(0 <= r["median_abs_error"] < 2 for r in refits)
    assert "Closed loop" in format_table(report)


def test_the_typical_price_is_the_median_list_price_of_the_last_year():
    """The default ceiling's anchor in the replay, as the nightly's SQL takes it: promotion
    days count at their list price, days before the window do not, and a listing never
    priced keeps its current list price."""
    from types import SimpleNamespace

    from ml.simulator.observation import History

    history = History(400, 2)
    for day in range(400):
        listed = 10.0 if day < 250 else 30.0
        discount = 0.5 if day % 2 == 0 else 0.0  # a promotion every other day
        history.record(
            np.zeros(2, dtype=np.int32),
            np.zeros(2, dtype=bool),
            np.array([listed * (1 - discount), 0.0]),
            np.array([discount, 0.0]),
        )
    obs = SimpleNamespace(history=history, list_price=np.array([31.0, 12.0]))
    year = rp.typical_prices(obs)  # type: ignore[arg-type]
    assert year[0] == pytest.approx(10.0)  # the last 365 days: 215 at 10, 150 at 30
    assert year[1] == 12.0
    # the last 100 days: all listed at 30, half of them shown at 15 (a median of 22.5)
    assert rp.typical_prices(obs, days=100)[0] == pytest.approx(30.0)  # type: ignore[arg-type]


def test_a_demand_stream_needs_a_simulated_seller(tmp_path):
    from click.testing import CliRunner

    from ml.cli import main

    result = CliRunner().invoke(
        main, ["bench", "pricing", "--data-dir", str(tmp_path), "--demand-stream", "2"]
    )
    assert result.exit_code == 2, result.output
    assert "--demand-stream picks the shoppers of a simulated seller" in result.output
