"""`kuajing whatif`: hypothetical tariff, FX and freight changes applied to hand-computed landed
costs, and the whole command on a real data folder, which it must leave untouched."""

from __future__ import annotations

import datetime as dt
import hashlib

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ml.cli import main
from ml.pricing.whatif import (
    FreightChange,
    FxChange,
    KnownValues,
    Scenario,
    TariffChange,
    WhatIfError,
    apply_scenario,
    changes_from_flags,
    check_scenario,
    frame_after,
    parse_scenario,
    report_folder,
    with_changes,
)
from ml.settings import DataPaths

DAY = pd.Timestamp("2026-11-03")


def listing_day(**values) -> dict:
    """One listing-day's landed-cost parts (cost_components' columns), USD per unit: a 10 USD
    item by ocean to the US, 1 kg, freight 1 USD, no insurance, fees or fulfilment fee, no duty
    yet. Overrides keep the totals consistent: pass the parts, the totals are summed."""
    row = {
        "sku": "A", "marketplace": "US", "date": DAY, "mode": "ocean", "lane_id": "L-US-OCEAN",
        "destination_country": "US", "customs_union": None, "currency": "USD",
        "vat_rate": 0.0, "prices_include_vat": False, "hs_code": "851762",
        "origin_country": "CN", "unit_cost": 10.0, "cost_currency": "USD", "weight_kg": 1.0,
        "lane_currency": "USD", "cost_per_kg": 1.0, "fixed_cost_per_shipment": 0.0,
        "units_per_consignment": 2000, "customs_basis": "FOB", "is_de_minimis": False,
        "unit_cost_usd": 10.0, "freight_usd": 1.0, "insurance_usd": 0.0,
        "duty_total_usd": 0.0, "ad_valorem_rate": 0.0, "customs_fees_usd": 0.0,
        "fulfilment_fee_usd": 0.0, "usd_per_local": 1.0, "import_vat_recoverable": True,
    }  # fmt: skip
    row.update(values)
    goods, freight, insurance = row["unit_cost_usd"], row["freight_usd"], row["insurance_usd"]
    row.setdefault(
        "customs_value_usd", goods + freight + insurance if row["customs_basis"] == "CIF" else goods
    )
    vat = row["vat_rate"] if row["prices_include_vat"] else 0.0
    row["import_vat_usd"] = vat * (
        row["customs_value_usd"] + row["duty_total_usd"] + row["customs_fees_usd"]
    )
    row["landed_cost_excl_vat_usd"] = (
        goods + freight + insurance + row["duty_total_usd"] + row["customs_fees_usd"]
    ) + row["fulfilment_fee_usd"]
    recoverable = row.pop("import_vat_recoverable")
    row["landed_cost_usd"] = row["landed_cost_excl_vat_usd"] + (
        0.0 if recoverable else row["import_vat_usd"]
    )
    row["landed_cost_local"] = row["landed_cost_usd"] / row["usd_per_local"]
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


# A German listing: EUR at 1.25 USD, CIF (goods 8 + freight 2), 19 % VAT on the import.
DE = {
    "marketplace": "DE", "destination_country": "DE", "customs_union": "EU", "currency": "EUR",
    "vat_rate": 0.19, "prices_include_vat": True, "customs_basis": "CIF", "lane_id": "L-DE-OCEAN",
    "unit_cost_usd": 8.0, "unit_cost": 8.0, "freight_usd": 2.0, "usd_per_local": 1.25,
}  # fmt: skip


def tariff(**values) -> Scenario:
    spec = {"destination": "US", "hs_prefix": "8517", "rate": 0.25, "origin": "CN", **values}
    return Scenario(tariffs=(TariffChange(**spec),))


# --- tariffs ----------------------------------------------------------------------------------


def test_a_25_percent_tariff_on_a_customs_value_of_10_usd_adds_2_50():
    after = apply_scenario(frame(listing_day()), tariff()).iloc[0]
    assert after["landed_cost_usd"] == pytest.approx(11.0 + 2.5)
    assert after["landed_cost_local"] == pytest.approx(13.5)
    assert after["duty_total_usd"] == pytest.approx(2.5)
    assert after["affected"] and "tariff +25 %" in after["changes"]


def test_the_extra_duty_is_in_local_currency_at_the_fx_rate():
    # customs value 10 USD (CIF: 8 + 2); 2.50 USD at 1.25 USD per EUR is 2.00 EUR
    before = listing_day(**DE)
    after = apply_scenario(frame(before), tariff(destination="DE")).iloc[0]
    assert after["landed_cost_usd"] - before["landed_cost_usd"] == pytest.approx(2.5)
    assert after["landed_cost_local"] - before["landed_cost_local"] == pytest.approx(2.0)
    # the customs union names the same listing
    union = apply_scenario(frame(before), tariff(destination="EU")).iloc[0]
    assert union["landed_cost_local"] == pytest.approx(after["landed_cost_local"])


def test_import_vat_on_the_extra_duty_counts_only_where_it_is_not_recoverable():
    recoverable = listing_day(**DE)
    not_recoverable = listing_day(**DE, import_vat_recoverable=False)
    change = tariff(destination="DE")
    a = apply_scenario(frame(recoverable), change).iloc[0]
    b = apply_scenario(frame(not_recoverable), change).iloc[0]
    assert a["landed_cost_usd"] - recoverable["landed_cost_usd"] == pytest.approx(2.5)
    assert b["landed_cost_usd"] - not_recoverable["landed_cost_usd"] == pytest.approx(2.5 * 1.19)
    # the import VAT itself grows in both: 19 % of the extra duty
    assert a["import_vat_usd"] - recoverable["import_vat_usd"] == pytest.approx(0.19 * 2.5)


def test_only_rows_of_the_prefix_origin_destination_and_dates_change():
    rows = frame(
        listing_day(sku="hit"),
        listing_day(sku="other-hs", hs_code="950300"),
        listing_day(sku="other-origin", origin_country="VN"),
        listing_day(sku="other-destination", **DE),
        listing_day(sku="before-start", date=DAY - pd.Timedelta(days=1)),
        listing_day(sku="on-start", date=DAY),
    )
    after = apply_scenario(rows, tariff(start=DAY.date()))
    changed = dict(zip(rows["sku"], after["affected"], strict=True))
    assert changed == {
        "hit": True,
        "other-hs": False,
        "other-origin": False,
        "other-destination": False,
        "before-start": False,
        "on-start": True,
    }
    untouched = after[~after["affected"]]
    for column in ("landed_cost_local", "landed_cost_usd", "duty_total_usd", "usd_per_local"):
        assert (untouched[column].to_numpy() == rows.loc[untouched.index, column]).all()
    assert (untouched["changes"] == "").all()


def test_every_origin_when_the_tariff_names_all():
    rows = frame(listing_day(origin_country="CN"), listing_day(origin_country="VN"))
    after = apply_scenario(rows, tariff(origin="ALL"))
    assert after["affected"].all()


def test_express_parcels_under_de_minimis_stay_duty_free():
    row = listing_day(mode="express", is_de_minimis=True)
    after = apply_scenario(frame(row), tariff()).iloc[0]
    assert not after["affected"] and after["de_minimis_exempt"]
    assert after["landed_cost_usd"] == row["landed_cost_usd"]


def test_two_tariffs_on_the_same_goods_stack():
    both = Scenario(tariffs=(*tariff().tariffs, TariffChange("US", "85", 0.10, "ALL")))
    after = apply_scenario(frame(listing_day()), both).iloc[0]
    assert after["duty_total_usd"] == pytest.approx(3.5)


# --- FX ---------------------------------------------------------------------------------------


def test_a_marketplace_currency_move_changes_local_cost_not_usd():
    row = listing_day(**DE)  # 12.00 USD = 9.60 EUR at 1.25
    for change in (FxChange("EUR", rate=1.0), FxChange("EUR", change=-0.2)):
        after = apply_scenario(frame(row), Scenario(fx=(change,))).iloc[0]
        assert after["landed_cost_usd"] == pytest.approx(row["landed_cost_usd"])
        assert after["landed_cost_local"] == pytest.approx(row["landed_cost_usd"] / 1.0)
        assert after["usd_per_local"] == pytest.approx(1.0)
        assert after["affected"]


def test_the_fulfilment_fee_is_fixed_in_local_currency_when_fx_moves():
    # 4 EUR of fulfilment = 5 USD at 1.25; at 1.00 it is 4 USD and still 4 EUR
    row = listing_day(**DE, fulfilment_fee_usd=5.0)
    after = apply_scenario(frame(row), Scenario(fx=(FxChange("EUR", rate=1.0),))).iloc[0]
    assert after["landed_cost_usd"] == pytest.approx(row["landed_cost_usd"] - 1.0)
    goods_freight_local = (row["landed_cost_usd"] - 5.0) / 1.0
    assert after["landed_cost_local"] == pytest.approx(goods_freight_local + 4.0)


def test_a_cost_currency_move_changes_the_unit_cost_and_the_duty_on_it():
    # 70 CNY at 0.14 USD = 9.80 USD; CNY +10 %: 10.78 USD, an existing 10 % duty follows
    row = listing_day(
        unit_cost=70.0, cost_currency="CNY", unit_cost_usd=9.8, ad_valorem_rate=0.1,
        duty_total_usd=0.98,
    )  # fmt: skip
    after = apply_scenario(frame(row), Scenario(fx=(FxChange("CNY", change=0.1),))).iloc[0]
    assert after["duty_total_usd"] == pytest.approx(1.078)
    assert after["landed_cost_usd"] - row["landed_cost_usd"] == pytest.approx(0.98 + 0.098)
    assert after["usd_per_local"] == 1.0


def test_fx_then_tariff_the_tariff_is_on_the_new_customs_value():
    row = listing_day(unit_cost=70.0, cost_currency="CNY", unit_cost_usd=10.0)
    both = Scenario(tariffs=tariff().tariffs, fx=(FxChange("CNY", change=0.2),))
    after = apply_scenario(frame(row), both).iloc[0]
    assert after["duty_total_usd"] == pytest.approx(0.25 * 12.0)
    assert {"tariff", "fx"} <= {c.split(" ")[0] for c in after["changes"].split("; ")}


# --- freight ----------------------------------------------------------------------------------


def test_a_relative_freight_change_on_an_fob_market_moves_freight_only():
    row = listing_day(duty_total_usd=1.0, ad_valorem_rate=0.1)
    change = FreightChange(destination="US", mode="ocean", change=0.5)
    after = apply_scenario(frame(row), Scenario(freight=(change,))).iloc[0]
    assert after["freight_usd"] == pytest.approx(1.5)
    assert after["duty_total_usd"] == pytest.approx(1.0)  # FOB: the customs value is the goods
    assert after["landed_cost_usd"] == pytest.approx(row["landed_cost_usd"] + 0.5)


def test_freight_on_a_cif_market_moves_insurance_duty_and_vat():
    # freight 2 -> 4 USD; insurance 1 % of goods + freight; customs value +2.02; 5 % duty on it
    row = listing_day(
        **{**DE, "insurance_usd": 0.1}, ad_valorem_rate=0.05, duty_total_usd=0.505,
        import_vat_recoverable=False,
    )  # fmt: skip
    change = FreightChange(lane="L-DE-OCEAN", change=1.0)
    after = apply_scenario(frame(row), Scenario(freight=(change,))).iloc[0]
    d_value = 2.0 + 0.01 * 2.0
    d_duty = 0.05 * d_value
    assert after["duty_total_usd"] == pytest.approx(0.505 + d_duty)
    expected = 2.0 + 0.02 + d_duty + 0.19 * (d_value + d_duty)
    assert after["landed_cost_usd"] - row["landed_cost_usd"] == pytest.approx(expected)
    assert after["landed_cost_local"] - row["landed_cost_local"] == pytest.approx(expected / 1.25)


def test_a_new_rate_per_kg_replaces_the_lanes_rate_in_its_currency():
    # 2 kg at 1.00 -> 1.50 per kg, lane priced in EUR at 1.25 USD: +1.00 EUR = +1.25 USD
    row = listing_day(weight_kg=2.0, lane_currency="EUR", freight_usd=2.5)
    change = FreightChange(destination="US", mode="ocean", cost_per_kg=1.5)
    after = apply_scenario(frame(row), Scenario(freight=(change,))).iloc[0]
    assert after["freight_usd"] == pytest.approx(2.5 + 1.25)


def test_freight_of_another_mode_or_lane_changes_nothing():
    row = listing_day()
    for change in (
        FreightChange(destination="US", mode="air", change=0.5),
        FreightChange(lane="L-CA-OCEAN", change=0.5),
    ):
        after = apply_scenario(frame(row), Scenario(freight=(change,))).iloc[0]
        assert not after["affected"] and after["landed_cost_usd"] == row["landed_cost_usd"]


def test_unaffected_rows_of_the_optimizer_input_keep_nightlys_figures_exactly():
    rows = frame(listing_day(sku="hit"), listing_day(sku="miss", hs_code="950300"))
    nightly = rows.assign(landed_cost_local=[11.0 + 1e-13, 11.0 + 1e-13], current_price=20.0)
    after = frame_after(nightly, apply_scenario(rows, tariff()))
    assert after.loc[1, "landed_cost_local"] == nightly.loc[1, "landed_cost_local"]
    assert after.loc[0, "landed_cost_local"] == pytest.approx(13.5)


# --- reading a scenario -----------------------------------------------------------------------


def test_the_yaml_mapping_and_the_flags_give_the_same_scenario():
    yaml_like = {
        "name": "us-85",
        "tariffs": [{"destination": "us", "hs_prefix": "85.17", "origin": "CN", "rate": "25%",
                     "from": dt.date(2026, 11, 3)}],
        "fx": {"currency": "EUR", "change": -0.05},
        "freight": [{"destination": "US", "mode": "ocean", "change": "30%"}],
    }  # fmt: skip
    flags = {
        "tariff_destination": "US", "tariff_hs": "8517", "tariff_origin": "CN",
        "tariff_rate": "0.25", "tariff_from": "2026-11-03", "fx_currency": "EUR",
        "fx_change": "-0.05", "freight_destination": "US", "freight_mode": "ocean",
        "freight_change": "0.3", "freight_lane": None,
    }  # fmt: skip
    from_yaml = parse_scenario(yaml_like)
    from_flags = parse_scenario(with_changes({}, changes_from_flags(flags)), name="us-85")
    assert from_yaml == from_flags
    assert from_yaml.tariffs[0] == TariffChange("US", "8517", 0.25, "CN", dt.date(2026, 11, 3))
    # the scenario written beside the report reads back the same
    assert parse_scenario(from_yaml.as_dict()) == from_yaml


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tariffs": [{"destination": "US", "hs_prefix": "85", "rate": 25}]}, "bad rate"),
        ({"tariffs": [{"destination": "US", "hs_prefix": "85", "rate": -0.1}]}, "bad rate"),
        ({"tariffs": [{"destination": "US", "hs_prefix": "85", "rate": "x"}]}, "not a number"),
        ({"tariffs": [{"destination": "US", "hs_prefix": 85, "rate": 0.2}]}, "quote hs_prefix"),
        ({"tariffs": [{"destination": "US", "hs_prefix": "8", "rate": 0.2}]}, "2-10 digits"),
        ({"tariffs": [{"destination": "US", "hs_prefix": "85", "rate": 0.2, "origin": "XX"}]},
         "ISO 3166"),
        ({"tariffs": [{"destination": "US", "hs_prefix": "85", "rate": 0.2, "from": "soon"}]},
         "not a date"),
        ({"tariffs": [{"hs_prefix": "85", "rate": 0.2}]}, "destination is required"),
        ({"tarifs": []}, "unknown key"),
        ({"fx": [{"currency": "EUR", "rate": 1.1, "when": 1}]}, "unknown field"),
        ({"fx": [{"currency": "EUR"}]}, "exactly one of rate or change"),
        ({"fx": [{"currency": "EUR", "rate": 1.1, "change": 0.1}]}, "exactly one"),
        ({"fx": [{"currency": "EUR", "rate": 0}]}, "bad rate"),
        ({"fx": [{"currency": "EURO", "rate": 1.1}]}, "ISO 4217"),
        ({"fx": [{"currency": "USD", "rate": 1.1}]}, "USD itself"),
        ({"fx": [{"currency": "EUR", "rate": 1.1}, {"currency": "eur", "change": 0.1}]},
         "changed twice"),
        ({"freight": [{"destination": "US", "change": 0.1}]}, "needs a mode"),
        ({"freight": [{"destination": "US", "mode": "boat", "change": 0.1}]}, "unknown mode"),
        ({"freight": [{"mode": "ocean", "change": 0.1}]}, "a lane, or a destination"),
        ({"freight": [{"lane": "L1", "change": -1}]}, "bad change"),
        ({"freight": [{"lane": "L1", "cost_per_kg": -0.5}]}, "bad cost_per_kg"),
        ({}, "no change given"),
        ({"name": "../prices", "fx": {"currency": "EUR", "rate": 1}}, "names the report folder"),
    ],
)  # fmt: skip
def test_bad_scenarios_say_which_field_is_wrong(data, message):
    with pytest.raises(WhatIfError, match=message):
        parse_scenario(data)


def test_a_free_freight_rate_is_a_rate():
    scenario = parse_scenario({"freight": {"lane": "L1", "cost_per_kg": 0}})
    assert scenario.freight == (FreightChange(lane="L1", cost_per_kg=0.0),)


KNOWN = KnownValues(
    marketplaces=pd.DataFrame(
        {
            "marketplace": ["US", "UK", "DE"],
            "country": ["US", "GB", "DE"],
            "customs_union": [None, None, "EU"],
            "currency": ["USD", "GBP", "EUR"],
        }
    ),
    lanes=pd.DataFrame(
        {
            "lane_id": ["L-US-OCEAN", "L-US-AIR", "L-DE-OCEAN"],
            "marketplace": ["US", "US", "DE"],
            "mode": ["ocean", "air", "ocean"],
            "cost_currency": ["USD", "USD", "USD"],
        }
    ),
    currencies=frozenset({"USD", "GBP", "EUR", "CNY"}),
)


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (tariff(destination="ZZ"), "unknown marketplace or destination 'ZZ'; known: DE, EU"),
        (Scenario(fx=(FxChange("JPY", rate=0.007),)), "no marketplace, SKU cost or lane is in JPY"),
        (Scenario(freight=(FreightChange(lane="L-XX"),)), "unknown lane 'L-XX'; known: L-DE"),
        (Scenario(freight=(FreightChange(destination="EU", mode="air", change=0.1),)),
         "no air lane to EU; its modes: ocean"),
        (Scenario(freight=(FreightChange(lane="L-US-AIR", mode="ocean", change=0.1),)),
         "L-US-AIR is air"),
    ],
)  # fmt: skip
def test_codes_the_data_does_not_know_are_named_with_the_ones_it_does(scenario, message):
    with pytest.raises(WhatIfError, match=message):
        check_scenario(scenario, KNOWN)


def test_known_codes_pass_the_check():
    check_scenario(tariff(destination="UK"), KNOWN)  # a marketplace code, not its country
    check_scenario(tariff(destination="GB"), KNOWN)
    check_scenario(Scenario(fx=(FxChange("CNY", change=0.1),)), KNOWN)
    check_scenario(
        Scenario(freight=(FreightChange(destination="US", mode="air", change=0.1),)), KNOWN
    )


def test_the_report_never_goes_where_the_pipeline_writes(tmp_path):
    paths = DataPaths(tmp_path)
    now = dt.datetime(2026, 11, 1, 8, 30)
    named = report_folder(paths, Scenario(name="us-85"), None, now)
    assert named == (tmp_path / "out" / "whatif" / "us-85").resolve()
    stamped = report_folder(paths, Scenario(), None, now)
    assert stamped.name == "20261101-083000"
    for bad in (tmp_path / "out" / "prices", tmp_path / "out" / "prices" / "x", tmp_path / "raw"):
        with pytest.raises(WhatIfError, match="pipeline"):
            report_folder(paths, Scenario(), bad, now)


# --- the command without a pipeline run -------------------------------------------------------


def test_without_a_pipeline_run_the_command_says_to_run_it(tmp_path):
    runner = CliRunner()
    args = ["whatif", "--data-dir", str(tmp_path), "--fx-currency", "EUR", "--fx-change", "-0.1"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "make run" in result.output
    assert "Traceback" not in result.output
    duckdb.connect(str(tmp_path / "warehouse.duckdb")).close()  # a warehouse, no tables
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert "has no forecast, elasticities, price recommendations" in result.output
    assert not (tmp_path / "out").exists()


def test_a_bad_flag_is_one_line_without_a_traceback(tmp_path):
    result = CliRunner().invoke(
        main,
        ["whatif", "--data-dir", str(tmp_path), "--tariff-destination", "US", "--tariff-hs",
         "85", "--tariff-rate", "25"],
    )  # fmt: skip
    assert result.exit_code == 1 and "bad rate" in result.output
    assert "Traceback" not in result.output


# --- the whole command on a real data folder --------------------------------------------------


def _fingerprint(paths: DataPaths) -> dict:
    """The warehouse's bytes and mtime, every table's row count, the exports' bytes."""
    warehouse = paths.warehouse
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE'"
        ).fetchall()
        counts = {
            f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchall()[0][0]
            for s, t in tables
        }
    finally:
        con.close()
    prices = paths.out / "prices"
    digest = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    return {
        "warehouse": (digest, warehouse.stat().st_mtime_ns),
        "tables": counts,
        "exports": {
            p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(prices.iterdir())
        },
    }  # fmt: skip


def _us_hs_prefix(paths: DataPaths) -> tuple[str, set[tuple[str, str]]]:
    """A 4-digit HS prefix of a SKU listed in the US tonight, and the US listings under it."""
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        listed = con.execute(
            """
            select distinct r.sku, left(s.hs_code, 4) as prefix
            from pricing.price_recommendations r join marts.dim_sku s using (sku)
            where r.marketplace = 'US' and s.hs_code is not null
            """
        ).fetch_df()
    finally:
        con.close()
    prefix = listed["prefix"].value_counts().index[0]
    return prefix, {(sku, "US") for sku in listed.loc[listed["prefix"] == prefix, "sku"]}


@pytest.mark.slow
def test_a_us_tariff_raises_the_affected_prices_and_touches_nothing(pipeline_run, tmp_path):
    paths = DataPaths(pipeline_run.data_dir)
    prefix, expected = _us_hs_prefix(paths)
    before = _fingerprint(paths)
    runner = CliRunner(env={k: v for k, v in pipeline_run.env.items() if k != "DAGSTER_HOME"})
    args = ["whatif", "--data-dir", str(paths.root), "--tariff-destination", "US",
            "--tariff-hs", prefix, "--tariff-rate", "0.25", "--name", "us-tariff"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # the baseline is tonight's stored recommendation
    print(result.output)

    folder = paths.out / "whatif" / "us-tariff"
    for name in ("whatif_listings.csv", "whatif.md", "whatif.png", "scenario.yaml"):
        assert (folder / name).stat().st_size > 0, name
    assert "![before and after](whatif.png)" in (folder / "whatif.md").read_text()
    listings = pd.read_csv(folder / "whatif_listings.csv", encoding="utf-8-sig")

    hit = listings[listings["affected"]]
    costed = listings[listings["landed_cost_before"].notna()]
    costed_keys = {tuple(k) for k in costed[["sku", "marketplace"]].to_numpy()}
    # exactly the US listings under the prefix (those with a landed cost to add duty to)
    assert {tuple(k) for k in hit[["sku", "marketplace"]].to_numpy()} == expected & costed_keys
    assert len(hit) > 0
    assert (hit["landed_cost_after"] > hit["landed_cost_before"] + 0.01).all()
    # the margin floor rises with the cost: a priced listing's price follows, never falls
    assert (hit["price_after"] >= hit["price_before"] - 1e-9).all()
    priced = hit[hit["status_after"] != "paused"]
    # a price held at its ceiling, or still climbing at the daily limit on the horizon's last
    # day (before and after alike), has no room to follow; every other one rises
    bound = priced["binding_guardrail_after"].isin(["max_price", "max_change"])
    free = priced[~bound]
    assert len(free) > 0
    assert (free["price_after"] > free["price_before"]).mean() > 0.8
    assert priced["reason_codes_after"].fillna("").str.contains("tariff").any()

    rest = listings[~listings["affected"]]
    for column in ("landed_cost", "price", "first_day_price", "units", "profit"):
        b, a = rest[f"{column}_before"].to_numpy(), rest[f"{column}_after"].to_numpy()
        assert np.array_equal(b, a, equal_nan=True), column
    assert "| US " in result.output and "->" in result.output

    # nothing the pipeline owns moved: the warehouse's bytes, its tables, the exports
    assert _fingerprint(paths) == before

    # a YAML file, with a flag's change on top: FX and freight in one run
    scenario = tmp_path / "whatif.yaml"
    scenario.write_text(
        "name: cny-and-eu-freight\n"
        "fx:\n  - currency: CNY\n    change: 10%\n"
        "freight:\n  - destination: EU\n    mode: ocean\n    change: 0.5\n"
    )
    combined = runner.invoke(
        main, [*args[:3], "--file", str(scenario), "--tariff-destination", "US",
               "--tariff-hs", prefix, "--tariff-rate", "25%", "--tariff-from", "2026-11-04"],
    )  # fmt: skip
    assert combined.exit_code == 0, combined.output
    written = paths.out / "whatif" / "cny-and-eu-freight" / "scenario.yaml"
    assert [line for line in written.read_text().splitlines() if ":" in line][0] == (
        "name: cny-and-eu-freight"
    )
    assert "fx CNY +10 % vs USD" in combined.output
    assert "freight ocean to EU +50 %" in combined.output

    # unknown codes are one line; a change that reaches nothing still writes its report
    unknown = runner.invoke(main, [*args[:3], "--fx-currency", "XAU", "--fx-change", "0.1"])
    assert unknown.exit_code == 1 and "no marketplace, SKU cost or lane is in XAU" in unknown.output
    nothing = runner.invoke(
        main, [*args[:3], "--tariff-destination", "US", "--tariff-hs", "0101",
               "--tariff-rate", "0.1", "--out", str(tmp_path / "none")],
    )  # fmt: skip
    assert nothing.exit_code == 0, nothing.output
    assert "no listing is affected" in nothing.output
    assert (tmp_path / "none" / "whatif_listings.csv").exists()
    assert _fingerprint(paths) == before
