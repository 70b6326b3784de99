"""The simulator's exact output for one seed, pinned, and the stepped engine with its policies.

The digest table pins every raw and truth file of a tiny scenario, and one digest pins two years
of the default seller, so a refactor that changes one random draw or one row fails here. Parquet
files are pinned by content (schema and rows), not by bytes, because the bytes carry the writer's
library version. After an intended change of the simulated data, print the new digests with
``.venv/bin/python tests/test_simulator_engine.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ml.settings import DataPaths
from ml.simulator import GroundTruth, generate, load_scenario
from ml.simulator.engine import SimulationResult, finish, observe, simulate, start, step
from ml.simulator.observation import Observation, SellerFacts
from ml.simulator.policies import (
    DefaultPricing,
    HubDelivery,
    Logistics,
    OrderUpToReplenishment,
    Policies,
)
from ml.simulator.reference import MARKETPLACES
from ml.simulator.tariffs import ad_valorem_duty, tariff_destination
from ml.simulator.world import World, build_world

TINY = {"n_skus": 6, "history_start": "2026-06-01"}  # as in test_simulator.py

# sha256 (first 16 hex digits) of each file of load_scenario("small", TINY); Parquet by content.
TINY_DIGESTS: dict[str, str] = {
    "raw/.kuajing_simulator.json": "a67af60fe49f1ade",
    "raw/ad_spend/ad_spend_2026-06.parquet": "a7e8f214bb6fca3f",
    "raw/ad_spend/ad_spend_2026-07.parquet": "d5487c72426dbac9",
    "raw/ad_spend/ad_spend_2026-08.parquet": "79203724f9d9cb1c",
    "raw/ad_spend/ad_spend_2026-09.parquet": "2bd101a7c3c74c23",
    "raw/ad_spend/ad_spend_2026-10.parquet": "e6ad3f79c5223037",
    "raw/catalog/catalog.csv": "1b1d862f080525ee",
    "raw/fx_rates/fx_rates.csv": "f9c242eec88b8a9f",
    "raw/inventory/inventory_2026-06.parquet": "f5e1f935f3fea772",
    "raw/inventory/inventory_2026-07.parquet": "def6c942af2c492b",
    "raw/inventory/inventory_2026-08.parquet": "75678bd5beeaf521",
    "raw/inventory/inventory_2026-09.parquet": "7c773a8dbb6331d5",
    "raw/inventory/inventory_2026-10.parquet": "defa8c750ca4a0ef",
    "raw/lanes/lanes.csv": "58a800677f1c3a5e",
    "raw/marketplaces/marketplaces.csv": "158c53bb2fdbfb78",
    "raw/orders/orders_2026-06.parquet": "2119b80287b64e86",
    "raw/orders/orders_2026-07.parquet": "e7692257f694be80",
    "raw/orders/orders_2026-08.parquet": "578b0b0c248285cc",
    "raw/orders/orders_2026-09.parquet": "761dbef3262ef0ae",
    "raw/orders/orders_2026-10.parquet": "f886a157cbbb1d9c",
    "raw/orders/orders_manual_upload.csv": "38e4a74752567176",
    "raw/prices/prices.csv": "1e62e0c4b37856bd",
    "raw/promotions/promotions.csv": "5eaa200990126258",
    "raw/shipments/shipments.csv": "cfc4f3aca38e6769",
    "raw/tariff_measures/tariff_measures.csv": "8e95ffe4f61cb0ce",
    "raw/warehouses/warehouses.csv": "48235f7c9b441288",
    "truth/ad_campaigns.parquet": "0593f4234f8e4aed",
    "truth/daily_mean_sample.parquet": "db7b5119d615b21c",
    "truth/injected_issues.json": "b5e351f742e6efe1",
    "truth/injected_rows.csv": "940eaacffac1fa4b",
    "truth/meta.json": "858d2c3fb0a9a58e",
    "truth/prices.parquet": "f9887e6debadefd2",
    "truth/promotions.parquet": "903dd6bf02ce7a43",
    "truth/scenario.yaml": "63e66e25f2a402d4",
    "truth/series.parquet": "a5d8614ebb8a9ff3",
}

# Two years, ten markets, rail and express top-ups: paths the tiny run does not reach.
WIDE = {"n_skus": 120}  # on the default scenario
WIDE_DIGEST = "51c662560f7a8a52"


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes; for Parquet, of its schema and rows (writer metadata aside)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        rows = table.to_pandas().to_csv(index=False, lineterminator="\n")
        data = (str(table.schema.remove_metadata()) + "\n" + rows).encode()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def tree_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): content_digest(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def tiny_digests(root: Path) -> dict[str, str]:
    generate(load_scenario("small", TINY), DataPaths(root))
    return tree_digests(root)


def wide_digest(root: Path) -> str:
    """One digest of every file of the WIDE run (names and contents)."""
    generate(load_scenario("default", WIDE), DataPaths(root))
    table = "".join(f"{k} {v}\n" for k, v in tree_digests(root).items())
    return hashlib.sha256(table.encode()).hexdigest()[:16]


def test_tiny_scenario_output_is_pinned(tmp_path):
    got = tiny_digests(tmp_path)
    changed = sorted(
        k for k in got.keys() | TINY_DIGESTS.keys() if got.get(k) != TINY_DIGESTS.get(k)
    )
    assert not changed, f"simulated files changed: {changed}"


def test_two_years_of_the_default_seller_are_pinned(tmp_path):
    assert wide_digest(tmp_path) == WIDE_DIGEST


# --- the stepped engine and its policies ------------------------------------------------------


class ConstantPricing:
    """Every listing keeps its launch price for the whole run."""

    def start(self, facts: SellerFacts) -> None:
        self.prices = facts.launch_prices()

    def list_prices(self, obs: Observation) -> np.ndarray:
        return self.prices


class NoReplenishment:
    """Ships nothing and buys nothing: the opening stock is all there is."""

    def start(self, facts: SellerFacts) -> list[HubDelivery]:
        return []

    def replenish(self, obs: Observation, desk: Logistics) -> None:
        pass


class EmptyTheHubByAir:
    """On day 0 asks for far more than the hub holds of every listing, by air."""

    def start(self, facts: SellerFacts) -> list[HubDelivery]:
        self.hub0, self.shipped = None, None
        return []

    def replenish(self, obs: Observation, desk: Logistics) -> None:
        if obs.day == 0:
            self.hub0 = obs.hub.copy()
            rows = np.arange(obs.facts.n_series)
            air = obs.facts.lane_by_mode["air"]
            self.shipped = desk.ship(air, rows, np.full(len(rows), 10**6))
            self.hub_after = obs.hub.copy()  # the observation is live: shipping shows at once


CLEAN_TINY = {**TINY, "data_issues": {}}


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(load_scenario("small", CLEAN_TINY))


@pytest.fixture(scope="module")
def default_run(world) -> SimulationResult:
    return simulate(world)


def _orders(run: SimulationResult) -> pd.DataFrame:
    return run.table("orders").to_pandas()


def test_in_memory_run_equals_the_generated_files(tmp_path, default_run):
    paths = DataPaths(tmp_path)
    generate(load_scenario("small", CLEAN_TINY), paths)
    for name in ("orders", "inventory", "ad_spend"):
        in_memory = default_run.table(name)
        files = sorted(paths.raw_entity(name).glob("*.parquet"))
        on_disk = pa.concat_tables([pq.read_table(p) for p in files])
        assert on_disk.cast(in_memory.schema).equals(in_memory), name  # Parquet keeps ms


def test_stepping_day_by_day_equals_simulate(world, default_run):
    policies = Policies()
    state = start(world, policies)
    with pytest.raises(ValueError, match="next day to simulate is 0"):
        step(state, 1, policies)
    for t in range(world.n_hist):
        step(state, t, policies)
    run = finish(state)
    pd.testing.assert_frame_equal(_orders(run), _orders(default_run))
    assert len(run.departures) == len(default_run.departures)


def test_default_pricing_applies_the_sellers_price_plan(world, default_run):
    plan = world.price_changes
    repriced = plan["series"].duplicated()  # a listing's first price is in force from day 0
    in_run = plan[repriced & (plan["day"] > 0) & (plan["day"] < world.n_hist)]
    changes = default_run.list_prices.query("day > 0").reset_index(drop=True)
    expected = in_run[["series", "day", "list_price"]].sort_values(["day", "series"])
    pd.testing.assert_frame_equal(changes, expected.reset_index(drop=True), check_dtype=False)
    day0 = default_run.list_prices.query("day == 0")
    assert len(day0) == len(world.series) and (day0["list_price"] > 0).all()


def test_constant_price_policy_changes_prices_and_demand_follows_the_truth(
    tmp_path, world, default_run
):
    policies = Policies(pricing=ConstantPricing())
    assert isinstance(policies.replenishment, OrderUpToReplenishment)
    run = simulate(world, policies)
    launch = run.list_prices.query("day == 0").set_index("series")["list_price"]
    assert (run.list_prices["day"] == 0).all()  # never a change
    assert not default_run.list_prices.query("day > 0").empty  # the default does reprice
    # Shoppers saw the launch price less the world's (unchanged) promotion discount.
    discount = np.zeros((world.n_hist, len(world.series)))
    for p in world.promotions.itertuples():
        discount[p.start : p.end + 1, p.series] = p.discount
    shown = run.history.shown_price()
    np.testing.assert_allclose(shown, launch.sort_index().to_numpy() * (1 - discount))
    assert not np.allclose(shown, default_run.history.shown_price())
    # Order lines carry those prices.
    o = _orders(run)
    day = (o["order_date"].dt.normalize() - pd.Timestamp(world.start)).dt.days.to_numpy()
    key = pd.MultiIndex.from_frame(world.series[["sku", "marketplace"]])
    series = key.get_indexer(pd.MultiIndex.from_frame(o[["sku", "marketplace"]]))
    np.testing.assert_allclose(o["unit_price"], shown[day, series].round(2), atol=0.006)
    # The engine's true mean at those prices is the ground truth's.
    generate(load_scenario("small", CLEAN_TINY), DataPaths(tmp_path))
    truth = GroundTruth.load(DataPaths(tmp_path).truth)
    dates = pd.date_range(world.start, periods=world.n_hist, freq="D")
    for i, row in enumerate(run.truth_rows[:10]):
        sku, mkt = world.series.loc[row, ["sku", "marketplace"]]
        mu = truth.expected_demand(sku, mkt, dates, price=shown[:, row])
        np.testing.assert_allclose(run.truth_mu[i], mu, rtol=1e-9, atol=1e-12)
    # Promotions and ad campaigns are the world's: the same days are advertised.
    ads = run.table("ad_spend").to_pandas()[["spend_date", "sku", "marketplace"]]
    default_ads = default_run.table("ad_spend").to_pandas()[["spend_date", "sku", "marketplace"]]
    pd.testing.assert_frame_equal(ads, default_ads)


def test_no_replenishment_policy_ships_nothing_and_stock_only_falls(world, default_run):
    policies = Policies(replenishment=NoReplenishment())
    run = simulate(world, policies)
    assert run.departures == [] and default_run.departures
    pd.testing.assert_frame_equal(run.list_prices, default_run.list_prices)  # pricing untouched
    # The opening stock is the world's, whoever replenishes.
    opening, default_opening = start(world, policies).stock, start(world, Policies()).stock
    np.testing.assert_array_equal(opening.on_hand, default_opening.on_hand)
    np.testing.assert_array_equal(opening.hub, default_opening.hub)
    inv = run.table("inventory").to_pandas()
    falls = inv.groupby(["warehouse_id", "sku"])["on_hand"].apply(
        lambda s: bool((s.diff().dropna() <= 0).all())
    )
    assert falls.all()
    hub = inv[inv["warehouse_id"] == "CN-SZX-HUB"].groupby("sku")["on_hand"].nunique()
    assert (hub == 1).all()  # nothing in, nothing out
    assert 0 < _orders(run)["quantity"].sum() <= opening.on_hand.sum()
    assert _orders(run)["quantity"].sum() < _orders(default_run)["quantity"].sum()


def test_the_hub_ships_only_what_it_holds(world):
    policy = EmptyTheHubByAir()
    run = simulate(world, Policies(replenishment=policy))
    facts_sku = world.series["sku_idx"].to_numpy()
    per_sku = np.bincount(facts_sku, weights=policy.shipped, minlength=len(world.catalog))
    lines = np.bincount(facts_sku, minlength=len(world.catalog))
    assert (per_sku <= policy.hub0).all() and (per_sku > policy.hub0 - lines).all()
    np.testing.assert_array_equal(policy.hub_after, policy.hub0 - per_sku)
    assert {world.lanes[d.lane].mode for d in run.departures} == {"air"}


def test_shipping_on_a_lane_the_listing_lacks_fails_loudly(world):
    class RailEverywhere(NoReplenishment):
        def replenish(self, obs: Observation, desk: Logistics) -> None:
            rows = np.arange(obs.facts.n_series)
            desk.ship(obs.facts.lane_by_mode["rail"], rows, np.ones(len(rows), dtype=int))

    with pytest.raises(ValueError, match="no such lane"):
        simulate(world, Policies(replenishment=RailEverywhere()))


def test_policies_see_read_only_observations_and_no_truth(world):
    seen: list[tuple[str, int, int]] = []

    class Spy(DefaultPricing):
        def list_prices(self, obs: Observation) -> np.ndarray:
            seen.append(("open", obs.day, obs.sales_day))
            with pytest.raises(ValueError, match="read-only"):
                obs.on_hand[0] = 10**6
            with pytest.raises(ValueError, match="read-only"):
                obs.facts.listed_from[0] = 0
            return super().list_prices(obs)

    class SpyReplenishment(OrderUpToReplenishment):
        def replenish(self, obs: Observation, desk: Logistics) -> None:
            seen.append(("close", obs.day, obs.sales_day))
            assert obs.history is not None and obs.history.sales().shape[0] == obs.day + 1
            super().replenish(obs, desk)

    policies = Policies(Spy(), SpyReplenishment())
    state = start(world, policies)
    for t in range(3):
        step(state, t, policies)
    assert seen == [
        ("open", 0, -1),
        ("close", 0, 0),
        ("open", 1, 0),
        ("close", 1, 1),
        ("open", 2, 1),
        ("close", 2, 2),
    ]
    # Costs in force: the day's FX and the duty a bulk import pays that day.
    obs = observe(state, 2)
    row = world.series.iloc[0]
    sku = world.catalog.iloc[int(row["sku_idx"])]
    market = MARKETPLACES[row["marketplace"]]
    dest = tariff_destination(market.country, market.customs_union)
    duty = ad_valorem_duty(world.tariff_rows, dest, sku["hs_code"], sku["origin_country"], obs.date)
    assert obs.duty_rate[0] == pytest.approx(duty)
    usd = (
        1.0 if row["currency"] == "USD" else world.fx[world.fx_currencies.index(row["currency"]), 2]
    )
    assert obs.fx_usd[0] == usd
    hidden = {"base", "elasticity", "ref_price", "nb_size", "promo_uplift", "ad_beta", "demand"}
    for cls in (Observation, SellerFacts):
        assert not hidden & {f.name for f in dataclasses.fields(cls)}


if __name__ == "__main__":  # print the digests to paste above
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        table = tiny_digests(Path(tmp) / "tiny")
        wide = wide_digest(Path(tmp) / "wide")
    sys.stdout.write("TINY_DIGESTS: dict[str, str] = {\n")
    for key, value in table.items():
        sys.stdout.write(f'    "{key}": "{value}",\n')
    sys.stdout.write(f'}}\nWIDE_DIGEST = "{wide}"\n')
