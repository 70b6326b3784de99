"""The dbt project end to end on a small hand-made warehouse.

Raw tables are created from the contract (``ml.contract.raw_table``), filled with the rows of
``tests/dbt_fixtures.py`` and built with ``dbt build`` (data tests and the dbt unit tests of the
landed-cost and tariff logic included). Mart values are checked against a plain-Python landed
cost and hand-counted demand grids. dbt runs in-process (``dbtRunner``): four invocations in all.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dbt_fixtures import (
    AS_OF,
    CATALOG,
    FX,
    FX_LATE_EUR,
    HISTORY_START,
    KETTLE_ISSUE,
    LANES,
    MARKETPLACES,
    US_HMF_RATE,
    US_MPF_FY2026,
    US_MPF_RATE,
    WEEKLY_AS_OF,
    WEEKLY_HISTORY_START,
    Duty,
    build_quarantined_catalog_warehouse,
    build_warehouse,
    insert_rows,
    orders_only_world,
    planned_world,
    reference_landed_cost,
    small_world,
    weekly_world,
)

from ml.contract import ENTITY_NAMES
from ml.settings import PROJECT_ROOT

DBT_DIR = PROJECT_ROOT / "dbt_project"
D = dt.date

pytestmark = pytest.mark.slow


def run_dbt(args: list[str], warehouse: Path, work: Path, *, check: bool = True) -> list:
    """One in-process dbt invocation against ``warehouse``; fails the test on any error.

    With ``check=False`` the results are returned whatever they are (to assert on a failure).
    """
    from dbt.cli.main import dbtRunner

    saved = os.environ.get("KUAJING_WAREHOUSE_PATH")
    os.environ["KUAJING_WAREHOUSE_PATH"] = str(warehouse)
    try:
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                # keep the project's own target/ (the Dagster manifest) and logs untouched
                "--target-path",
                str(work / "target"),
                "--log-path",
                str(work / "logs"),
                "--quiet",
            ]
        )
    finally:
        if saved is None:
            os.environ.pop("KUAJING_WAREHOUSE_PATH", None)
        else:
            os.environ["KUAJING_WAREHOUSE_PATH"] = saved
    if result.exception is not None:
        raise result.exception
    if not check:
        return list(result.result or [])
    failed = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success and not failed, "\n".join(failed)
    return list(result.result)


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def query_dicts(warehouse: Path, sql: str, params: list | None = None) -> list[dict]:
    con = duckdb.connect(str(warehouse))
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The small world, built once with ``dbt build`` (every model, data test and unit test)."""
    work = tmp_path_factory.mktemp("dbt_small")
    warehouse = build_warehouse(work / "warehouse.duckdb", small_world())
    results = run_dbt(["build"], warehouse, work)
    kinds = {r.node.resource_type for r in results}
    assert {"model", "test", "seed", "unit_test"} <= {str(k) for k in kinds}
    yield warehouse, work


# ---------------------------------------------------------------------------------------------
# Landed cost against the plain-Python reference
# ---------------------------------------------------------------------------------------------

LANE = {lane["lane_id"]: lane for lane in LANES}
SKU = {row["sku"]: row for row in CATALOG}
MARKET = {row["marketplace"]: row for row in MARKETPLACES}


def mart_row(warehouse: Path, sku: str, marketplace: str, mode: str, day: dt.date) -> dict:
    rows = query_dicts(
        warehouse,
        "select * from marts.mart_landed_cost "
        "where sku = ? and marketplace = ? and mode = ? and effective_date = ?",
        [sku, marketplace, mode, day],
    )
    assert len(rows) == 1, (sku, marketplace, mode, day, rows)
    return rows[0]


def assert_matches(row: dict, ref, usd_per_local: float) -> None:
    approx = pytest.approx
    assert row["unit_cost_usd"] == approx(ref.unit_cost)
    assert row["freight_usd"] == approx(ref.freight)
    assert row["insurance_usd"] == approx(ref.insurance)
    assert row["customs_value_usd"] == approx(ref.customs_value)
    assert row["duty_total_usd"] == approx(ref.duty_total)
    assert row["customs_fees_usd"] == approx(ref.fees)
    assert row["import_vat_usd"] == approx(ref.import_vat)
    assert row["fulfilment_fee_usd"] == approx(ref.fulfilment_fee)
    # import VAT is recoverable by default: out of landed cost, in the "incl" total
    assert row["landed_cost_usd"] == approx(ref.total_excl_vat)
    assert row["landed_cost_incl_vat_usd"] == approx(ref.total_excl_vat + ref.import_vat)
    assert row["landed_cost_local"] == approx(ref.total_excl_vat / usd_per_local)
    assert sorted(row["applied_measure_ids"].split(",")) == sorted(ref.duties)


def test_us_ocean_landed_cost_stacks_mfn_301_and_section_122(built):
    warehouse, _ = built
    row = mart_row(warehouse, "KETTLE", "US", "ocean", AS_OF)
    ref = reference_landed_cost(
        unit_cost_usd=10.0,
        weight_kg=2.0,
        lane=LANE["SZX-ONT-OCEAN"],
        customs_basis="FOB",
        # longest prefix (851671 over 8516); 301 China beats the longer ALL-origin line; IEEPA
        # ended 2026-02-19 and Section 122 took over
        duties=[
            Duty("US-MFN-851671", 0.027),
            Duty("US-301-8516-CN", 0.25),
            Duty("US-122-85", 0.10),
        ],
        vat_rate=0.0,
        prices_include_vat=False,
        fulfilment_per_unit_usd=3.0,
        fulfilment_per_kg_usd=0.5,
        fee_rates=[(US_MPF_RATE, *US_MPF_FY2026), (US_HMF_RATE, None, None)],
    )
    assert_matches(row, ref, 1.0)
    assert row["duty_mfn_usd"] == pytest.approx(0.27)
    assert row["duty_additional_usd"] == pytest.approx(2.5)
    assert row["duty_surcharge_usd"] == pytest.approx(1.0)
    # FOB: the customs value is the goods alone
    assert row["customs_value_usd"] == pytest.approx(10.0)


def test_eu_ocean_landed_cost_is_cif_with_vat_on_duty(built):
    warehouse, _ = built
    row = mart_row(warehouse, "KETTLE", "DE", "ocean", AS_OF)
    fx = FX_LATE_EUR
    ref = reference_landed_cost(
        unit_cost_usd=10.0,
        weight_kg=2.0,
        lane=LANE["SZX-FRA-OCEAN"],
        customs_basis="CIF",
        duties=[Duty("EU-MFN-8516", 0.022), Duty("EU-AD-851671-CN", 0.15)],
        vat_rate=0.19,
        prices_include_vat=True,
        fulfilment_per_unit_usd=3.0 * fx,
        fulfilment_per_kg_usd=0.4 * fx,
    )
    assert_matches(row, ref, fx)
    assert row["customs_value_usd"] > row["unit_cost_usd"]  # CIF includes freight
    # referral fee on the list price net of VAT
    assert row["referral_fee_local"] == pytest.approx(0.15 * 47.60 / 1.19)
    lines = query_dicts(
        warehouse,
        "select measure_id, measure_type, legal_basis, ad_valorem_rate, amount_usd "
        "from marts.mart_landed_cost_duty_lines where sku = 'KETTLE' and marketplace = 'DE' "
        "and mode = 'ocean' and effective_date = ? order by measure_id",
        [AS_OF],
    )
    assert [(x["measure_id"], x["measure_type"]) for x in lines] == [
        ("EU-AD-851671-CN", "anti_dumping"),
        ("EU-MFN-8516", "mfn"),
    ]
    assert {x["measure_id"]: x["amount_usd"] for x in lines} == pytest.approx(ref.duties)


def test_eu_express_three_euro_per_item_after_de_minimis_ends(built):
    warehouse, _ = built
    cost = 28.0 * FX["CNY"]
    before = mart_row(warehouse, "TSHIRT", "DE", "express", AS_OF)
    after = mart_row(warehouse, "TSHIRT", "DE", "express", D(2026, 7, 1))
    ref = reference_landed_cost(
        unit_cost_usd=cost,
        weight_kg=0.25,
        lane=LANE["SZX-FRA-EXP"],
        customs_basis="CIF",
        # the FX rate of 2026-07-01 is the last quote carried forward
        duties=[Duty("EU-MFN-6109", 0.12), Duty("EU-LV3-61", 0.0, 3.0 * FX_LATE_EUR)],
        vat_rate=0.19,
        prices_include_vat=True,
        fulfilment_per_unit_usd=3.0 * FX_LATE_EUR,
        fulfilment_per_kg_usd=0.4 * FX_LATE_EUR,
    )
    assert_matches(after, ref, FX_LATE_EUR)
    assert after["duty_surcharge_usd"] == pytest.approx(3.0 * FX_LATE_EUR)
    # before: the EUR 150 de minimis waives the duty of the parcel (VAT is still due)
    assert before["is_de_minimis"] and before["duty_total_usd"] == 0.0
    assert before["applied_measure_ids"] == "EU-DM-61"
    assert before["import_vat_usd"] == pytest.approx(0.19 * before["customs_value_usd"])
    # an ocean consignment is far above EUR 150: no EUR 3, no de minimis
    ocean = mart_row(warehouse, "TSHIRT", "DE", "ocean", D(2026, 7, 1))
    assert ocean["applied_measure_ids"] == "EU-MFN-6109" and not ocean["is_de_minimis"]


def test_us_de_minimis_ends_for_china_on_2025_05_02(built):
    warehouse, _ = built
    before = mart_row(warehouse, "KETTLE", "US", "express", HISTORY_START)
    after = mart_row(warehouse, "KETTLE", "US", "express", D(2025, 5, 2))
    ocean_before = mart_row(warehouse, "KETTLE", "US", "ocean", HISTORY_START)
    assert before["duty_total_usd"] == 0.0 and before["de_minimis_measure_id"] == "US-DM-85"
    # bulk shipments to the warehouse never get de minimis
    assert ocean_before["duty_total_usd"] == pytest.approx(10.0 * (0.027 + 0.25 + 0.20))
    assert after["duty_total_usd"] == pytest.approx(10.0 * (0.027 + 0.25 + 0.20))
    assert not after["is_de_minimis"]


def test_landed_cost_dates_and_rows_are_restricted(built):
    warehouse, _ = built
    dates = {
        r[0]
        for r in query(
            warehouse,
            "select distinct effective_date from marts.mart_landed_cost "
            "where sku = 'KETTLE' and marketplace = 'US'",
        )
    }
    months = {D(2025 + (3 + m) // 12, (3 + m) % 12 + 1, 1) for m in range(12)}
    assert months <= dates and AS_OF in dates
    # tariff changes for this SKU in the horizon: IEEPA end, Section 122 start and end, de minimis
    assert {D(2025, 5, 2), D(2025, 8, 29), D(2026, 2, 20), D(2026, 7, 20)} <= dates
    # 9503 (another HS code) and JP (another destination) never create a date
    assert D(2026, 10, 1) not in dates
    assert max(dates) <= AS_OF + dt.timedelta(days=365)
    pairs = query(warehouse, "select distinct sku, marketplace, mode from marts.mart_landed_cost")
    assert len(pairs) == 2 * 2 * 2  # SKUs x marketplaces x the two lanes of each marketplace


def test_tariff_exposure_next_change(built):
    warehouse, _ = built
    rows = {
        (r["sku"], r["marketplace"]): r
        for r in query_dicts(warehouse, "select * from marts.mart_tariff_exposure")
    }
    us = rows[("KETTLE", "US")]
    assert us["mode"] == "ocean"
    assert us["duty_total_usd"] == pytest.approx(3.77)
    assert us["duty_share_of_landed_cost"] == pytest.approx(3.77 / us["landed_cost_usd"])
    # Section 122 runs out after 150 days
    assert us["next_change_date"] == D(2026, 7, 20)
    assert us["duty_after_change_usd"] == pytest.approx(2.77)
    assert us["landed_cost_change_usd"] == pytest.approx(-1.0)
    assert us["measures_ending"] == "US-122-85" and us["measures_starting"] == ""
    # nothing changes for EU ocean imports of the kettle in the horizon
    assert rows[("KETTLE", "DE")]["next_change_date"] is None


# ---------------------------------------------------------------------------------------------
# Demand facts: dense grid, censoring, FX carry-forward
# ---------------------------------------------------------------------------------------------


def demand(warehouse: Path, sku: str, marketplace: str) -> dict[dt.date, dict]:
    rows = query_dicts(
        warehouse,
        "select * from marts.fct_daily_demand where sku = ? and marketplace = ?",
        [sku, marketplace],
    )
    return {r["demand_date"]: r for r in rows}


def days(first: dt.date, last: dt.date) -> set[dt.date]:
    return {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}


def test_demand_grid_is_dense_and_bounded(built):
    warehouse, _ = built
    # the kettle: listed (price) from the first day of the history to the as-of date
    assert set(demand(warehouse, "KETTLE", "US")) == days(HISTORY_START, AS_OF)
    # the T-shirt: from its first order to its discontinued date (no launch date, no price)
    assert set(demand(warehouse, "TSHIRT", "US")) == days(D(2026, 2, 20), D(2026, 3, 5))
    # sold in DE on its last day only
    assert set(demand(warehouse, "TSHIRT", "DE")) == {D(2026, 3, 5)}
    total = query(warehouse, "select count(*) from marts.fct_daily_demand")[0][0]
    assert total == 2 * len(days(HISTORY_START, AS_OF)) + 14 + 1


def test_demand_censoring_and_stock(built):
    warehouse, _ = built
    us = demand(warehouse, "KETTLE", "US")
    # (units, on_hand_start, in_stock, is_censored), snapshots: 02-28: 7, 03-01: 5, 03-02: 0,
    # 03-04: 10; stock at the start of a day is the snapshot strictly before it
    expected = {
        D(2026, 2, 27): (0, None, None, False),  # no snapshot yet: unknown
        D(2026, 3, 1): (2, 7, True, False),
        D(2026, 3, 2): (0, 5, True, False),  # zero demand while in stock
        D(2026, 3, 3): (1, 0, True, False),  # sold although the snapshot said 0
        D(2026, 3, 4): (0, 0, False, True),  # stock-out: censored
        D(2026, 3, 5): (0, 10, True, False),
    }
    for day, (units, on_hand, in_stock, censored) in expected.items():
        row = us[day]
        assert (row["units"], row["on_hand_start"], row["in_stock"], row["is_censored"]) == (
            units,
            on_hand,
            in_stock,
            censored,
        ), day
    assert sum(r["is_censored"] for r in us.values()) == 1
    # overlapping promotions keep the deepest discount; list price changes on 03-01
    assert (us[D(2026, 3, 3)]["is_promoted"], us[D(2026, 3, 3)]["discount_pct"]) == (True, 0.2)
    assert not us[D(2026, 3, 4)]["is_promoted"]
    assert us[D(2026, 2, 28)]["list_price_local"] == 39.99
    assert us[D(2026, 3, 1)]["list_price_local"] == 44.99
    assert us[D(2026, 3, 1)]["avg_selling_price_local"] == pytest.approx(44.99)


def test_demand_revenue_vat_and_fx(built):
    warehouse, _ = built
    de = demand(warehouse, "KETTLE", "DE")[D(2026, 3, 1)]  # a Sunday: Friday's EUR rate
    assert de["revenue_local"] == pytest.approx(47.60)
    assert de["revenue_net_local"] == pytest.approx(47.60 / 1.19)
    assert de["revenue_usd"] == pytest.approx(47.60 * FX["EUR"])
    assert (de["ad_spend_local"], de["ad_spend_usd"]) == pytest.approx((5.0, 5.0 * FX["EUR"]))
    monday = demand(warehouse, "KETTLE", "DE")[D(2026, 3, 2)]
    assert monday["usd_per_local"] == pytest.approx(FX_LATE_EUR)
    assert monday["revenue_usd"] == 0.0 and monday["ad_spend_local"] == 0.0


# ---------------------------------------------------------------------------------------------
# Lanes, inventory, dimensions
# ---------------------------------------------------------------------------------------------


def test_lane_performance(built):
    warehouse, _ = built
    lanes = {
        r["lane_id"]: r for r in query_dicts(warehouse, "select * from marts.mart_lane_performance")
    }
    ocean = lanes["SZX-ONT-OCEAN"]
    transit = sorted([32, 28])  # S-1 two days late, S-2 two days early
    assert (ocean["shipments"], ocean["shipments_arrived"], ocean["shipments_in_transit"]) == (
        3,
        2,
        1,
    )
    assert ocean["on_time_rate"] == pytest.approx(0.5)
    assert ocean["transit_days_p50"] == pytest.approx(sum(transit) / 2)
    assert ocean["transit_days_p90"] == pytest.approx(transit[0] + 0.9 * (transit[1] - transit[0]))
    assert ocean["transit_days_sd"] == pytest.approx(statistics.stdev(transit))
    assert ocean["delay_days_mean"] == pytest.approx(0.0)
    assert ocean["quoted_transit_days_typical"] == 30
    assert lanes["SZX-FRA-EXP"]["shipments"] == 0
    # what the planner's sailing interval reads: the latest departure and a departure's cost
    assert ocean["last_departed_date"] == D(2026, 2, 25)
    assert ocean["fixed_cost_per_shipment_usd"] == pytest.approx(2000.0)
    assert lanes["SZX-FRA-EXP"]["last_departed_date"] is None


def test_inventory_position(built):
    warehouse, _ = built
    rows = {
        (r["warehouse_id"], r["sku"]): r
        for r in query_dicts(warehouse, "select * from marts.mart_inventory_position")
    }
    us = rows[("US-ONT", "KETTLE")]
    # last 28 not-censored days up to 2026-03-10 skip the 03-04 stock-out: 02-10 .. 03-10
    rate = (2 + 1 + 1) / 28
    assert (us["on_hand"], us["in_transit"]) == (9, 40)
    assert us["avg_daily_demand"] == pytest.approx(rate)
    assert us["days_of_cover"] == pytest.approx(9 / rate)
    assert us["days_of_cover_with_transit"] == pytest.approx(49 / rate)
    assert us["is_at_risk"] is False
    hub = rows[("CN-SZX-HUB", "KETTLE")]
    assert hub["on_hand"] == 500 and hub["avg_daily_demand"] is None


def test_schemas_and_dimensions(built):
    warehouse, _ = built
    schemas = {
        r[0]
        for r in query(warehouse, "select distinct table_schema from information_schema.tables")
    }
    assert {"raw", "staging", "intermediate", "marts"} <= schemas
    de = query_dicts(warehouse, "select * from marts.dim_marketplace where marketplace = 'DE'")[0]
    # DE came without a customs union: it is taken from the customs-union seed
    assert de["customs_union"] == "EU" and de["is_reference_default"] is False
    assert de["market_warehouse_id"] == "DE-FRA"
    skus = query(warehouse, "select sku, is_in_catalog from marts.dim_sku order by sku")
    assert skus == [("KETTLE", True), ("TSHIRT", True)]


def test_customs_union_seed_matches_contract():
    import csv

    from ml.contract import CUSTOMS_UNIONS

    with open(DBT_DIR / "seeds" / "customs_unions.csv", newline="") as f:
        seeded = {(r["customs_union"], r["country"]) for r in csv.DictReader(f)}
    assert seeded == {(u, c) for u, cs in CUSTOMS_UNIONS.items() for c in cs}


def test_every_contract_entity_is_a_source():
    import yaml

    doc = yaml.safe_load((DBT_DIR / "models" / "staging" / "_sources.yml").read_text())
    (raw,) = [s for s in doc["sources"] if s["name"] == "raw"]
    assert [t["name"] for t in raw["tables"]] == list(ENTITY_NAMES)
    for name in ENTITY_NAMES:
        assert (DBT_DIR / "models" / "staging" / f"stg_raw__{name}.sql").exists()


# ---------------------------------------------------------------------------------------------
# The price-and-promotion plan: the mart the forecast reads instead of raw.prices/promotions
# ---------------------------------------------------------------------------------------------

# The query the forecast ran on the raw tables before marts.fct_price_plan existed (the mart
# must return the same rows, so the forecast's numbers do not change).
LEGACY_PLAN_SQL = """
WITH days AS (
    SELECT CAST(d AS DATE) AS demand_date
    FROM range(CAST($first AS TIMESTAMP), CAST($last AS TIMESTAMP) + INTERVAL 1 DAY,
               INTERVAL 1 DAY) AS t(d)
),
priced AS (
    SELECT p.sku, p.marketplace, days.demand_date, arg_max(p.list_price, p.valid_from) AS price
    FROM raw.prices AS p
    JOIN days ON days.demand_date >= p.valid_from
        AND days.demand_date <= coalesce(p.valid_to, DATE '9999-12-31')
    GROUP BY ALL
),
promoted AS (
    SELECT pr.sku, pr.marketplace, days.demand_date, max(pr.discount_pct) AS discount_pct
    FROM raw.promotions AS pr
    JOIN days ON days.demand_date BETWEEN pr.start_date AND pr.end_date
    GROUP BY ALL
)
SELECT sku, marketplace, demand_date, priced.price AS list_price_local, promoted.discount_pct
FROM priced FULL OUTER JOIN promoted USING (sku, marketplace, demand_date)
"""
PLAN_HORIZONS = (1, 7, 28, 56, 365)  # days ahead; 56 = 8 weeks (the weekly default)


def legacy_plan_rows(warehouse: Path, first: dt.date, last: dt.date) -> list[tuple]:
    return sorted(
        query(warehouse, LEGACY_PLAN_SQL.replace("$first", "?").replace("$last", "?"),
              [str(first), str(last)])
    )  # fmt: skip


def legacy_future_plan(warehouse: Path, demand, horizon_days: int):
    """``ml.forecast.nightly.future_plan`` as it was, on LEGACY_PLAN_SQL."""
    import pandas as pd

    last = pd.to_datetime(demand["demand_date"]).max()
    con = duckdb.connect(str(warehouse))
    try:
        plan = con.execute(
            LEGACY_PLAN_SQL,
            {"first": str((last + pd.Timedelta(days=1)).date()),
             "last": str((last + pd.Timedelta(days=horizon_days)).date())},
        ).df()  # fmt: skip
    finally:
        con.close()
    series = demand[["sku", "marketplace"]].drop_duplicates()
    plan = plan.merge(series, on=["sku", "marketplace"])
    last_price = (
        demand.dropna(subset=["list_price_local"])
        .sort_values("demand_date")
        .groupby(["sku", "marketplace"])["list_price_local"]
        .last()
        .rename("last_price")
    )
    plan = plan.join(last_price, on=["sku", "marketplace"])
    plan["list_price_local"] = plan["list_price_local"].fillna(plan["last_price"])
    plan["discount_pct"] = plan["discount_pct"].fillna(0.0)
    plan["demand_date"] = pd.to_datetime(plan["demand_date"])
    plan = plan.drop(columns="last_price").dropna(subset=["list_price_local"])
    return plan.sort_values(["sku", "marketplace", "demand_date"], ignore_index=True)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world with prices and promotions planned after its history, built."""
    work = tmp_path_factory.mktemp("dbt_planned")
    warehouse = build_warehouse(work / "warehouse.duckdb", planned_world())
    run_dbt(["build"], warehouse, work)
    return warehouse


def test_price_plan_covers_the_days_after_the_history(planned):
    from ml.forecast.data import plan_horizon_days

    # KETTLE DE's open-ended price: every day of the plan, and none of the history
    first, last, days = query(
        planned,
        "select min(demand_date), max(demand_date), count(*) from marts.fct_price_plan "
        "where sku = 'KETTLE' and marketplace = 'DE'",
    )[0]
    assert first == AS_OF + dt.timedelta(days=1)
    assert last == AS_OF + dt.timedelta(days=plan_horizon_days())
    assert days == plan_horizon_days()
    us = {
        r[0]: r[1:]
        for r in query(
            planned,
            "select demand_date, list_price_local, discount_pct from marts.fct_price_plan "
            "where sku = 'KETTLE' and marketplace = 'US' and demand_date <= '2026-03-26'",
        )
    }
    assert us[D(2026, 3, 11)] == (44.99, None)
    assert us[D(2026, 3, 16)] == (44.99, 0.25)  # the deepest of two promotions
    assert us[D(2026, 3, 20)] == us[D(2026, 3, 25)] == (41.99, None)  # the sale price wins
    assert us[D(2026, 3, 26)] == (44.99, None)
    # a promotion without a price list: planned, with no price
    tshirt_de = query(
        planned,
        "select demand_date, list_price_local, discount_pct from marts.fct_price_plan "
        "where sku = 'TSHIRT' and marketplace = 'DE' order by 1",
    )
    assert tshirt_de == [(D(2026, 3, 20), None, 0.3), (D(2026, 3, 21), None, 0.3)]


def test_price_plan_mart_holds_the_rows_the_raw_plan_query_returned(planned):
    for horizon in PLAN_HORIZONS:
        first, last = AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=horizon)
        mart = query(
            planned,
            "select sku, marketplace, demand_date, list_price_local, discount_pct "
            "from marts.fct_price_plan where demand_date between ? and ? order by all",
            [first, last],
        )
        legacy = [
            (sku, mkt, day, None if price is None else float(price),
             None if disc is None else float(disc))
            for sku, mkt, day, price, disc in legacy_plan_rows(planned, first, last)
        ]  # fmt: skip
        assert mart == legacy, horizon
        assert mart


def test_forecast_plan_read_from_the_mart_equals_the_raw_plan(planned, tmp_path):
    import pandas as pd

    from ml.forecast.nightly import future_plan, read_marts
    from ml.settings import DataPaths

    # The forecast opens the warehouse read-only, which DuckDB refuses while dbt's in-process
    # connection holds it: it reads a copy.
    paths = DataPaths(tmp_path)
    con = duckdb.connect(str(planned))
    try:
        con.execute(f"ATTACH '{paths.warehouse}' AS scoring_copy")
        con.execute(f"COPY FROM DATABASE {planned.stem} TO scoring_copy")
        con.execute("DETACH scoring_copy")
    finally:
        con.close()
    demand, _, _ = read_marts(paths)
    for horizon in PLAN_HORIZONS:
        plan = future_plan(paths, demand, horizon)
        pd.testing.assert_frame_equal(plan, legacy_future_plan(planned, demand, horizon))
    # UK has no demand series and TSHIRT DE no price to fall back on: neither is planned
    planned_series = set(zip(plan["sku"], plan["marketplace"], strict=True))
    assert planned_series == {("KETTLE", "US"), ("KETTLE", "DE"), ("TSHIRT", "US")}
    kettle_de = plan[(plan["sku"] == "KETTLE") & (plan["marketplace"] == "DE")]
    assert list(kettle_de["discount_pct"][:3]) == [0.15, 0.15, 0.0]


def test_published_prices_replace_the_price_list_on_their_days(tmp_path):
    """What the last pricing run published (pricing.planned_prices) is the plan on its days;
    the price list holds on the others, and promotions stay."""
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb", planned_world())
    run_dbt(
        ["build", "--select", "+fct_price_plan", "--exclude", "test_type:data"], warehouse, tmp_path
    )
    assert query(warehouse, "select count(*) from pricing.planned_prices") == [(0,)]  # the hook
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(
            "insert into pricing.planned_prices values "
            "('KETTLE', 'US', DATE '2026-03-16', 39.99), ('KETTLE', 'US', DATE '2026-03-17', 39.99)"
        )
    finally:
        con.close()
    run_dbt(["build", "--select", "fct_price_plan"], warehouse, tmp_path)
    us = {
        r[0]: r[1:]
        for r in query(
            warehouse,
            "select demand_date, list_price_local, price_source, discount_pct "
            "from marts.fct_price_plan where sku = 'KETTLE' and marketplace = 'US' "
            "and demand_date between '2026-03-15' and '2026-03-18'",
        )
    }
    assert us[D(2026, 3, 15)] == (44.99, "price_list", 0.1)
    assert us[D(2026, 3, 16)] == (39.99, "published", 0.25)  # the promotion stays
    assert us[D(2026, 3, 17)] == (39.99, "published", 0.1)
    assert us[D(2026, 3, 18)][:2] == (44.99, "price_list")


# ---------------------------------------------------------------------------------------------
# Incremental re-run: backfilled partitions, no duplicates
# ---------------------------------------------------------------------------------------------


def test_incremental_rerun_picks_up_backfill_without_duplicates(built):
    warehouse, work = built
    before = query(warehouse, "select count(*) from marts.fct_daily_demand")[0][0]
    later = dt.datetime(2026, 3, 12, 6, 0)
    con = duckdb.connect(str(warehouse))
    try:
        # a backfilled partition, far outside the lookback window
        insert_rows(
            con,
            "orders",
            [
                {
                    "order_id": "B-1",
                    "order_date": dt.datetime(2025, 6, 16, 8, 0),
                    "marketplace": "DE",
                    "sku": "KETTLE",
                    "quantity": 4,
                    "unit_price": 47.60,
                    "currency": "EUR",
                },
                # a new day: the as-of date moves to 2026-03-11
                {
                    "order_id": "N-1",
                    "order_date": dt.datetime(2026, 3, 11, 9, 0),
                    "marketplace": "US",
                    "sku": "KETTLE",
                    "quantity": 2,
                    "unit_price": 44.99,
                    "currency": "USD",
                },
            ],
            ingested_at=later,
            source_file="orders/backfill.csv",
        )
        # an old day whose row claims an ingestion before the last build: an incremental run
        # must not touch that day (a full rebuild would)
        insert_rows(
            con,
            "orders",
            [
                {
                    "order_id": "X-1",
                    "order_date": dt.datetime(2025, 7, 1, 8, 0),
                    "marketplace": "US",
                    "sku": "KETTLE",
                    "quantity": 9,
                    "unit_price": 44.99,
                    "currency": "USD",
                },
            ],
            ingested_at=dt.datetime(2026, 3, 1),
            source_file="orders/stale.csv",
        )
    finally:
        con.close()

    run_dbt(["run", "--select", "fct_daily_demand"], warehouse, work)

    dupes = query(
        warehouse,
        "select count(*) from (select sku, marketplace, demand_date "
        "from marts.fct_daily_demand group by all having count(*) > 1)",
    )[0][0]
    assert dupes == 0
    after = query(warehouse, "select count(*) from marts.fct_daily_demand")[0][0]
    assert after == before + 2  # both kettle series grew by 2026-03-11
    de = demand(warehouse, "KETTLE", "DE")
    assert de[D(2025, 6, 16)]["units"] == 4
    assert de[D(2025, 6, 15)]["units"] == 1  # untouched neighbour
    us = demand(warehouse, "KETTLE", "US")
    assert us[D(2026, 3, 11)]["units"] == 2
    assert us[D(2025, 7, 1)]["units"] == 0  # outside the window and not newly ingested
    assert {
        r["orders_ingested_through"] for r in de.values() if r["demand_date"] >= D(2026, 3, 4)
    } == {later}


# ---------------------------------------------------------------------------------------------
# Optional entities empty: orders only
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dbt_orders_only")
    warehouse = build_warehouse(work / "warehouse.duckdb", orders_only_world())
    # every raw table exists, all but orders empty
    counts = dict(
        query(
            warehouse,
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'raw'",
        )
    )
    assert set(counts) == set(ENTITY_NAMES)
    run_dbt(["build", "--exclude-resource-type", "unit_test"], warehouse, work)
    return warehouse


def test_orders_only_marketplaces_come_from_reference_defaults(orders_only):
    rows = {
        r["marketplace"]: r for r in query_dicts(orders_only, "select * from marts.dim_marketplace")
    }
    assert set(rows) == {"US", "DE", "ZZ"}
    de = rows["DE"]
    assert de["is_reference_default"] and not de["is_unknown_code"]
    assert (de["country"], de["currency"], de["vat_rate"], de["customs_basis"]) == (
        "DE",
        "EUR",
        0.19,
        "CIF",
    )
    assert de["prices_include_vat"] is True and de["customs_union"] == "EU"
    zz = rows["ZZ"]
    assert zz["is_unknown_code"] and zz["vat_rate"] is None and zz["currency"] == "USD"


def test_orders_only_demand_and_empty_marts(orders_only):
    de = demand(orders_only, "KETTLE", "DE")
    # from the first order of the history (no launch date, no prices) to the as-of date
    assert set(de) == days(D(2025, 6, 15), AS_OF)
    sold = de[D(2026, 3, 1)]
    # no FX: USD amounts are empty for EUR; VAT still removed with the default 19 %
    assert sold["revenue_usd"] is None and sold["revenue_net_local"] == pytest.approx(40.0)
    assert demand(orders_only, "KETTLE", "US")[D(2026, 3, 1)]["revenue_usd"] == pytest.approx(89.98)
    # no inventory: in stock only where it sold, otherwise unknown; nothing is censored
    assert sold["in_stock"] is True and de[D(2026, 3, 2)]["in_stock"] is None
    assert (
        query(
            orders_only,
            "select count(*) from marts.fct_daily_demand "
            "where is_censored or on_hand_start is not null",
        )[0][0]
        == 0
    )
    # no promotions, no ad spend, no prices
    assert (sold["is_promoted"], sold["ad_spend_local"], sold["list_price_local"]) == (
        False,
        0.0,
        None,
    )
    skus = query(orders_only, "select sku, is_in_catalog from marts.dim_sku order by sku")
    assert skus == [("KETTLE", False), ("TSHIRT", False)]
    for mart in (
        "mart_landed_cost",
        "mart_landed_cost_duty_lines",
        "mart_tariff_exposure",
        "mart_lane_performance",
        "mart_inventory_position",
    ):
        assert query(orders_only, f"select count(*) from marts.{mart}")[0][0] == 0, mart


def test_orders_only_every_listing_is_withheld_for_want_of_a_catalog(orders_only):
    rows = query_dicts(orders_only, "select * from marts.mart_withheld_skus order by all")
    assert {(r["sku"], r["marketplace"]) for r in rows} == {
        ("KETTLE", "US"),
        ("KETTLE", "DE"),
        ("KETTLE", "ZZ"),
        ("TSHIRT", "US"),
        ("TSHIRT", "DE"),
    }
    assert {r["withheld_reason"] for r in rows} == {
        "no catalog given (raw/catalog/ is empty): no cost, weight or HS code"
    }
    assert {r["catalog_status"] for r in rows} == {"not_in_catalog"}
    by_key = {(r["sku"], r["marketplace"]): r for r in rows}
    # no FX: the EUR sales have no USD value, so neither has the total
    kettle_de = by_key[("KETTLE", "DE")]
    assert kettle_de["units"] == 2 and kettle_de["revenue_usd"] is None
    assert by_key[("KETTLE", "US")]["revenue_usd"] == pytest.approx(39.99 + 4 * 44.99)


# ---------------------------------------------------------------------------------------------
# Weekly order files: one row per SKU, marketplace and week, dated the week's Monday
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small world with weekly orders and an FX file starting on the first day of sales.

    The first weekly row is dated Monday 2025-03-31, a day before the first quote: dbt build
    used to fail there (FOB customs value test: the CNY unit cost had no rate that day).
    """
    work = tmp_path_factory.mktemp("dbt_weekly")
    warehouse = build_warehouse(work / "warehouse.duckdb", weekly_world())
    run_dbt(["build", "--exclude-resource-type", "unit_test"], warehouse, work)
    return warehouse


def test_weekly_orders_build_and_first_week_takes_the_first_fx_quote(weekly):
    fx = {
        r["currency"]: r
        for r in query_dicts(
            weekly,
            "select * from intermediate.int_fx_rates_filled where rate_date = ?",
            [WEEKLY_HISTORY_START],
        )
    }
    # the day before the first quote takes it, and says so
    assert fx["CNY"]["usd_per_unit"] == FX["CNY"] and fx["EUR"]["usd_per_unit"] == FX["EUR"]
    assert fx["CNY"]["quoted_on"] == HISTORY_START
    dates = {
        r[0]
        for r in query(
            weekly, "select distinct effective_date from marts.mart_landed_cost where is_as_of"
        )
    }
    assert dates == {WEEKLY_AS_OF}
    # every landed cost of the history start is complete
    assert query(
        weekly,
        "select count(*), count(unit_cost_usd), count(usd_per_local), count(landed_cost_usd) "
        "from marts.mart_landed_cost where effective_date = ?",
        [WEEKLY_HISTORY_START],
    ) == [(8, 8, 8, 8)]


def test_weekly_orders_landed_cost_matches_reference(weekly):
    # the T-shirt (CNY cost) to the US (FOB) on the first weekly date: MFN + IEEPA, FY2025 MPF
    row = mart_row(weekly, "TSHIRT", "US", "ocean", WEEKLY_HISTORY_START)
    ref = reference_landed_cost(
        unit_cost_usd=28.0 * FX["CNY"],
        weight_kg=0.25,
        lane=LANE["SZX-ONT-OCEAN"],
        customs_basis="FOB",
        duties=[Duty("US-MFN-6109", 0.165), Duty("US-IEEPA-CN-61", 0.20)],
        vat_rate=0.0,
        prices_include_vat=False,
        fulfilment_per_unit_usd=3.0,
        fulfilment_per_kg_usd=0.5,
        fee_rates=[(US_MPF_RATE, 32.71, 634.62), (US_HMF_RATE, None, None)],
    )
    assert_matches(row, ref, 1.0)
    assert row["customs_value_usd"] == pytest.approx(28.0 * FX["CNY"])
    # the kettle to DE (CIF, EUR): the local currency also takes the first quote
    de = mart_row(weekly, "KETTLE", "DE", "ocean", WEEKLY_HISTORY_START)
    ref = reference_landed_cost(
        unit_cost_usd=10.0,
        weight_kg=2.0,
        lane=LANE["SZX-FRA-OCEAN"],
        customs_basis="CIF",
        duties=[Duty("EU-MFN-8516", 0.022), Duty("EU-AD-851671-CN", 0.15)],
        vat_rate=0.19,
        prices_include_vat=True,
        fulfilment_per_unit_usd=3.0 * FX["EUR"],
        fulfilment_per_kg_usd=0.4 * FX["EUR"],
    )
    assert_matches(de, ref, FX["EUR"])


def test_weekly_orders_demand_keeps_weekly_units(weekly):
    us = demand(weekly, "KETTLE", "US")
    assert min(us) == WEEKLY_HISTORY_START and max(us) == WEEKLY_AS_OF
    assert us[WEEKLY_HISTORY_START]["units"] == 1
    assert us[D(2026, 2, 23)]["units"] == 2 and us[D(2026, 2, 24)]["units"] == 0
    assert sum(r["units"] for r in us.values()) == 5


# ---------------------------------------------------------------------------------------------
# Non-finite numbers: every money and quantity column of the marts is tested finite
# ---------------------------------------------------------------------------------------------

NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
# the landed-cost inputs whose arithmetic the marts repeat: a non-finite value stops there
FINITE_TESTED_INTERMEDIATE = ("int_landed_cost_bases_computed", "int_reference_prices_resolved")


def numeric_columns(warehouse: Path) -> set[tuple[str, str]]:
    rows = query(
        warehouse,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' or (table_schema = 'intermediate' and table_name in "
        f"({', '.join('?' for _ in FINITE_TESTED_INTERMEDIATE)}))",
        list(FINITE_TESTED_INTERMEDIATE),
    )
    return {(t, c) for t, c, ty in rows if ty in NUMERIC_TYPES or ty.startswith("DECIMAL")}


def test_every_numeric_mart_column_has_an_is_finite_test(built):
    import json

    warehouse, work = built
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    tested = {
        (node["attached_node"].split(".")[-1], node["column_name"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") == "is_finite"
    }
    columns = numeric_columns(warehouse)
    assert ("fct_daily_demand", "revenue_usd") in columns
    assert sorted(columns - tested) == []


def test_infinite_unit_price_fails_the_finite_test_of_revenue_usd(tmp_path):
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb", small_world())
    con = duckdb.connect(str(warehouse))
    try:
        # an overflowing number as ingest might once have let through
        con.execute(
            "insert into raw.orders (order_id, order_date, marketplace, sku, quantity, "
            "unit_price, currency, _source_file, _source_row, _ingested_at) values "
            "('INF-1', timestamp '2026-03-02 10:00', 'US', 'KETTLE', 1, 'inf'::DOUBLE, 'USD', "
            "'orders/fixture.csv', 99, timestamp '2026-03-11 06:00')"
        )
    finally:
        con.close()
    results = run_dbt(
        ["build", "--exclude-resource-type", "unit_test"], warehouse, tmp_path, check=False
    )
    status = {r.node.name: str(r.status) for r in results}
    assert status["is_finite_fct_daily_demand_revenue_usd"] == "fail"
    assert status["is_finite_fct_daily_demand_units"] == "pass"
    # the guard stops it there: what reads the demand facts is not built on it
    assert status["mart_inventory_position"] == "skipped"


# ---------------------------------------------------------------------------------------------
# A quarantined catalog row: the SKU's demand is kept, what needs its attributes is withheld
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quarantined(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("dbt_quarantined")
    warehouse = build_quarantined_catalog_warehouse(work / "warehouse.duckdb")
    run_dbt(["build"], warehouse, work)
    return warehouse


def test_quarantined_catalog_row_flags_the_sku_with_file_row_and_rule(quarantined):
    skus = {r["sku"]: r for r in query_dicts(quarantined, "select * from marts.dim_sku")}
    assert set(skus) == {"KETTLE", "TSHIRT", "LAMP"}
    kettle = skus["KETTLE"]
    assert kettle["catalog_status"] == "quarantined"
    assert kettle["catalog_issue"] == KETTLE_ISSUE
    # no attribute of the rejected row is used
    assert not kettle["is_in_catalog"] and not kettle["is_order_only"]
    assert (kettle["hs_code"], kettle["unit_cost"], kettle["category"]) == (None, None, None)
    assert kettle["first_order_date"] == HISTORY_START
    # a quarantined SKU that never sold is listed too; header "sku" matched trimmed, any case
    lamp = skus["LAMP"]
    assert lamp["catalog_status"] == "quarantined"
    assert lamp["catalog_issue"] == (
        "raw/catalog/catalog.csv row 3: bad_type, invalid_hs_code: unit_cost 'abc' is not a "
        "decimal; hs_code '9405' is not an HS code of 6-10 digits"
    )
    # an order row in quarantine says nothing about the catalog
    assert (skus["TSHIRT"]["catalog_status"], skus["TSHIRT"]["catalog_issue"]) == (
        "in_catalog",
        None,
    )


def test_quarantined_catalog_row_keeps_the_skus_demand(quarantined):
    for marketplace in ("US", "DE"):
        kept = demand(quarantined, "KETTLE", marketplace)
        # the same grid as with its catalog row (launch date unknown: the price list starts it)
        assert set(kept) == days(HISTORY_START, AS_OF), marketplace
        sold: dict[dt.date, list[float]] = {}
        for o in small_world()["orders"]:
            if (o["sku"], o["marketplace"]) == ("KETTLE", marketplace):
                day = sold.setdefault(o["order_date"].date(), [0, 0.0])
                day[0] += o["quantity"]
                day[1] += o["quantity"] * o["unit_price"]
        for day, row in kept.items():
            units, revenue = sold.get(day, [0, 0.0])
            assert row["units"] == units and row["revenue_local"] == pytest.approx(revenue), day
    assert sum(r["units"] for r in demand(quarantined, "KETTLE", "US").values()) == 5


def test_quarantined_catalog_row_withholds_landed_cost_and_tariff_exposure(quarantined):
    for mart in ("mart_landed_cost", "mart_tariff_exposure", "mart_landed_cost_duty_lines"):
        skus = {r[0] for r in query(quarantined, f"select distinct sku from marts.{mart}")}
        assert skus == {"TSHIRT"}, mart
    withheld = {
        (r["sku"], r["marketplace"]): r
        for r in query_dicts(quarantined, "select * from marts.mart_withheld_skus")
    }
    # the kettle's two listings; the lamp has none; the T-shirt is costed
    assert set(withheld) == {("KETTLE", "US"), ("KETTLE", "DE")}
    us = withheld[("KETTLE", "US")]
    assert us["catalog_status"] == "quarantined"
    assert us["withheld"] == "mart_landed_cost, mart_tariff_exposure"
    assert us["withheld_reason"] == f"catalog row quarantined: {KETTLE_ISSUE}"
    assert (us["catalog_file"], us["catalog_row"], us["failed_rules"]) == (
        "raw/catalog/catalog.csv",
        1,
        "invalid_hs_code",
    )
    # what the seller loses sight of: the demand is still in the facts
    assert us["units"] == 5 and us["revenue_usd"] == pytest.approx(39.99 + 2 * 44.99 + 2 * 44.99)
    assert withheld[("KETTLE", "DE")]["units"] == 2


def test_no_withheld_listing_when_the_catalog_is_complete(built):
    warehouse, _ = built
    assert query(warehouse, "select count(*) from marts.mart_withheld_skus") == [(0,)]
    statuses = query(warehouse, "select distinct catalog_status from marts.dim_sku")
    assert statuses == [("in_catalog",)]


def test_without_fx_rates_usd_amounts_are_empty_and_the_build_passes(tmp_path):
    """The contract: without fx_rates, USD amounts are empty for every currency but USD. The
    FOB check compares two unknowns then, which is not a failure (it failed on 34 rows)."""
    world = {k: v for k, v in small_world().items() if k != "fx_rates"}
    warehouse = build_warehouse(tmp_path / "warehouse.duckdb", world)
    run_dbt(["build", "--exclude-resource-type", "unit_test"], warehouse, tmp_path)
    cny = query(
        warehouse,
        "select count(*), count(l.customs_value_usd) from marts.mart_landed_cost l "
        "join raw.catalog c using (sku) where c.cost_currency = 'CNY'",
    )[0]
    assert cny[0] > 0 and cny[1] == 0
