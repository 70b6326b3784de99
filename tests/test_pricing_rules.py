"""Seller pricing rules: the contract entity through ingest, and their resolution per listing
(precedence and field-by-field inheritance) against hand-written expectations."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import duckdb
import ingest_fixtures as fx
import pandas as pd
import pytest

from ml import contract
from ml.ingest import ingest_entity, reconcile
from ml.pricing import optimizer
from ml.pricing.optimizer import DEFAULT_RULES, PricingRules, describe_rules
from ml.pricing.rules import SETTINGS, describe_rules_source, rules_for_listings

RUN = "run-rules"


def rule(**values: object) -> dict[str, object]:
    """A rule row: every column of the entity, empty unless given."""
    row: dict[str, object] = dict.fromkeys(contract.entity("pricing_rules").column_names)
    row.update(values)
    return row


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(contract.entity("pricing_rules").column_names))


LISTINGS = pd.DataFrame(
    [
        {"sku": "CASE", "marketplace": "US", "category": "accessories"},
        {"sku": "CASE", "marketplace": "DE", "category": "accessories"},
        {"sku": "CABLE", "marketplace": "US", "category": "accessories"},
        {"sku": "LAMP", "marketplace": "US", "category": "home"},
        {"sku": "LAMP", "marketplace": "JP", "category": "home"},
        {"sku": "GHOST", "marketplace": "US", "category": None},  # not in the catalog
    ]
)

# One row per scope, each with a different min_margin: the most specific one must win.
SKU_MARKET = rule(sku="CASE", marketplace="US", min_margin=0.40)
CATEGORY_MARKET = rule(category="accessories", marketplace="US", min_margin=0.30)
MARKET = rule(marketplace="US", min_margin=0.20)
CATEGORY = rule(category="accessories", min_margin=0.15)


# --- the contract ---------------------------------------------------------------------------


def test_the_entity_settings_are_optimizer_fields_and_strategies_match():
    names = {f.name for f in fields(PricingRules)}
    assert set(SETTINGS) <= names
    assert SETTINGS == (
        "min_price",
        "max_price",
        "min_margin",
        "max_change",
        "strategy",
        "reference_marketplace",
        "band",
        "reference_markup",
    )
    assert contract.PRICING_STRATEGIES == optimizer.STRATEGIES
    assert contract.entity("pricing_rules").column("strategy").allowed == optimizer.STRATEGIES


def test_pricing_rules_is_optional_and_says_what_happens_without_it():
    ent = contract.entity("pricing_rules")
    assert not ent.required and "default" in ent.when_absent
    assert {r.target for r in ent.references} == {"catalog", "marketplaces"}
    order = contract.ingest_order()
    assert order.index("pricing_rules") > max(order.index("catalog"), order.index("marketplaces"))


# --- precedence -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ((SKU_MARKET, CATEGORY_MARKET, MARKET, CATEGORY), 0.40),
        ((CATEGORY_MARKET, MARKET, CATEGORY), 0.30),
        ((MARKET, CATEGORY), 0.20),
        ((CATEGORY,), 0.15),
        ((), DEFAULT_RULES.min_margin),
    ],
    ids=["sku-x-marketplace", "category-x-marketplace", "marketplace", "category", "default"],
)
def test_the_most_specific_scope_wins(rows, expected):
    got = rules_for_listings(frame(*rows), LISTINGS)
    assert got[("CASE", "US")].min_margin == expected


def test_each_listing_gets_the_rules_of_its_own_scopes():
    got = rules_for_listings(frame(SKU_MARKET, CATEGORY_MARKET, MARKET, CATEGORY), LISTINGS)
    margins = {key: r.min_margin for key, r in got.items()}
    assert margins == {
        ("CASE", "US"): 0.40,  # its own SKU rule
        ("CASE", "DE"): 0.15,  # accessories everywhere: the US rules are not DE's
        ("CABLE", "US"): 0.30,  # accessories in US, no SKU rule
        ("LAMP", "US"): 0.20,  # US-wide, not an accessory
        ("LAMP", "JP"): DEFAULT_RULES.min_margin,  # no rule for home or JP
        ("GHOST", "US"): 0.20,  # without a category only the marketplace rule can apply
    }


def test_a_more_specific_row_overrides_only_the_settings_it_gives():
    rows = frame(
        rule(sku="CASE", marketplace="US", min_price=9.99),
        rule(category="accessories", marketplace="US", max_price=19.99, min_margin=0.25),
        rule(marketplace="US", max_change=0.05, min_margin=0.20, reference_marketplace="DE"),
        rule(category="accessories", strategy="follow_reference", reference_markup=0.1, band=0.3),
    )
    got = rules_for_listings(rows, LISTINGS)
    assert got[("CASE", "US")] == PricingRules(
        min_price=9.99,  # SKU x marketplace
        max_price=19.99,  # category x marketplace
        min_margin=0.25,  # category x marketplace, over the marketplace's 0.20
        max_change=0.05,  # marketplace
        reference_marketplace="DE",  # marketplace
        strategy="follow_reference",  # category in every marketplace
        reference_markup=0.1,
        band=0.3,
    )
    assert got[("CASE", "DE")] == PricingRules(
        strategy="follow_reference", reference_markup=0.1, band=0.3
    )
    assert got[("LAMP", "US")] == PricingRules(
        max_change=0.05, min_margin=0.20, reference_marketplace="DE"
    )
    # The optimizer's defaults stay for what no row sets (min_change and the rest).
    assert got[("CASE", "US")].min_change == DEFAULT_RULES.min_change


def test_unmatched_settings_come_from_the_given_default():
    default = PricingRules(min_margin=0.05, max_change=0.2, strategy="keep")
    got = rules_for_listings(frame(rule(marketplace="US", max_change=0.03)), LISTINGS, default)
    assert got[("LAMP", "US")] == PricingRules(min_margin=0.05, max_change=0.03, strategy="keep")
    assert got[("LAMP", "JP")] == default


def test_every_listing_once_from_listing_days_and_text_rows():
    days = pd.concat([LISTINGS.assign(date=d) for d in ("2026-01-01", "2026-01-02")])
    rows = pd.DataFrame(fx.valid_rows("pricing_rules"), dtype=str)  # as read: "" is empty
    got = rules_for_listings(rows, days)
    assert set(got) == set(zip(LISTINGS["sku"], LISTINGS["marketplace"], strict=True))


def test_a_listing_frame_without_categories_matches_no_category_rule():
    got = rules_for_listings(frame(CATEGORY, MARKET), LISTINGS.drop(columns="category"))
    assert got[("CASE", "US")].min_margin == 0.20
    assert got[("CASE", "DE")] == DEFAULT_RULES


def test_rows_ingest_would_have_quarantined_are_refused():
    with pytest.raises(ValueError, match="outside every scope"):
        rules_for_listings(frame(rule(sku="CASE", min_price=5.0)), LISTINGS)
    with pytest.raises(ValueError, match="repeat a scope"):
        rules_for_listings(frame(MARKET, rule(marketplace="US", max_change=0.02)), LISTINGS)


def test_a_contradiction_between_scopes_is_passed_on_for_the_optimizer_to_pause():
    rows = frame(
        rule(marketplace="US", min_price=30.0), rule(sku="CASE", marketplace="US", max_price=20.0)
    )
    got = rules_for_listings(rows, LISTINGS)[("CASE", "US")]
    assert (got.min_price, got.max_price) == (30.0, 20.0)


def test_describe_rules_source_counts_listings_and_states_the_defaults():
    rows = frame(SKU_MARKET, CATEGORY, rule(sku="NOPE", marketplace="UK", min_price=3.0))
    assert describe_rules_source(rows, LISTINGS) == (
        "pricing rules: 3 of 6 listings use seller rules (3 rows, 1 of them apply to no "
        "listing), 3 the defaults; a setting no rule gives is the default's "
        f"({describe_rules(DEFAULT_RULES)})"
    )
    assert describe_rules_source(frame(), LISTINGS) == (
        f"pricing rules: none given, all 6 listings use the defaults ({describe_rules()})"
    )


# --- ingest ---------------------------------------------------------------------------------


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


# (row, failed_rule or None if accepted, text the reason must contain)
INGEST_CASES: list[tuple[dict[str, str], str | None, str]] = [
    (fx.valid_rows("pricing_rules")[0], None, ""),
    (fx.valid_rows("pricing_rules")[1], None, ""),
    (fx.valid_rows("pricing_rules")[2], None, ""),
    (fx.valid_rows("pricing_rules")[3], None, ""),
    (
        rule(marketplace="ZZ", max_change="0.02"),
        "orphan_reference",
        "marketplace 'ZZ' is not in marketplaces (marketplace)",
    ),
    (
        rule(sku="SKU2", marketplace="US", min_price="30", max_price="20"),
        "min_above_max",
        "min_price '30' is above max_price '20'",
    ),
    (
        rule(sku="SKU2", marketplace="DE", strategy="undercut"),
        "not_allowed_value",
        "strategy 'undercut' is not one of: optimize, keep, follow_reference",
    ),
    # The US-wide rule again (a different setting does not make it another scope).
    (
        rule(marketplace="US", band="0.1"),
        "duplicate_key",
        "key (sku, marketplace, category) = (empty, 'US', empty) repeats the row kept at "
        "pricing_rules/part.csv row 3",
    ),
    (
        rule(sku="SKU2", min_margin="0.3"),
        "invalid_scope",
        "filled scope columns (sku) are not a scope; expected one of: sku + marketplace, "
        "category + marketplace, marketplace, category",
    ),
    (
        rule(category="accessories", min_price="5"),
        "invalid_scope",
        "min_price '5' needs a marketplace (it is in its currency)",
    ),
    (
        rule(category="garden", marketplace="US", min_margin="0.2"),
        "orphan_reference",
        "category 'garden' is not in catalog (category)",
    ),
    (
        rule(marketplace="DE", reference_marketplace="FR", band="0.2"),
        "orphan_reference",
        "reference_marketplace 'FR' is not in marketplaces (marketplace)",
    ),
    (
        rule(marketplace="DE", category="electronics", max_change="10"),
        "out_of_range",
        "max_change '10' is out of range: expected between 0 and 1",
    ),
]


def _write_rules(raw: Path) -> None:
    rows = [{k: "" if v is None else str(v) for k, v in r.items()} for r, _, _ in INGEST_CASES]
    fx.write_csv(raw, "pricing_rules", rows)


def test_ingest_accepts_good_rules_and_quarantines_each_bad_one_with_its_reason(con, tmp_path):
    raw = tmp_path / "raw"
    fx.write_valid(raw, ("catalog", "marketplaces"))
    for name in ("catalog", "marketplaces"):
        assert ingest_entity(con, raw, name, run_id=RUN, run_date=fx.RUN_DATE).rows_quarantined == 0
    _write_rules(raw)

    res = ingest_entity(con, raw, "pricing_rules", run_id=RUN, run_date=fx.RUN_DATE)

    bad = {row_number: case for row_number, case in enumerate(INGEST_CASES, start=1) if case[1]}
    assert res.rows_read == len(INGEST_CASES) == res.rows_accepted + res.rows_quarantined
    assert res.rows_accepted == 4 and res.rows_quarantined == len(bad)
    assert res.reconciles and reconcile(con, "pricing_rules", RUN).ok
    got = con.execute(
        "SELECT row_number, failed_rule, reason, original_values FROM quality.quarantine "
        "WHERE entity = 'pricing_rules' ORDER BY row_number"
    ).fetchall()
    assert [g[0] for g in got] == list(bad)
    for row_number, failed_rule, reason, original in got:
        row, expected_rule, expected_text = bad[row_number]
        assert failed_rule == expected_rule, (row_number, reason)
        assert expected_text in reason, (row_number, reason)
        assert json.loads(original)["marketplace"] == (
            "" if row["marketplace"] is None else row["marketplace"]
        )

    accepted = con.execute("SELECT * FROM raw.pricing_rules ORDER BY _source_row").df()
    assert list(accepted["_source_row"]) == [1, 2, 3, 4]
    # The accepted rows, as the warehouse types them, resolve per listing.
    listings = pd.DataFrame(
        [
            {"sku": "SKU1", "marketplace": "US", "category": "accessories"},
            {"sku": "SKU1", "marketplace": "DE", "category": "accessories"},
            {"sku": "SKU2", "marketplace": "DE", "category": "electronics"},
        ]
    )
    got_rules = rules_for_listings(accepted, listings)
    assert got_rules[("SKU1", "US")] == PricingRules(
        min_price=8.99, max_price=14.99, min_margin=0.15, max_change=0.05, strategy="optimize"
    )
    assert got_rules[("SKU1", "DE")] == PricingRules(
        strategy="follow_reference", reference_marketplace="US", reference_markup=0.05
    )
    assert got_rules[("SKU2", "DE")] == PricingRules(
        min_margin=0.2, reference_marketplace="US", band=0.25
    )


def test_without_files_the_run_says_the_defaults_apply(con, tmp_path):
    res = ingest_entity(con, tmp_path / "raw", "pricing_rules", run_id=RUN, run_date=fx.RUN_DATE)
    assert not res.present
    assert (
        res.summary() == f"pricing_rules: no files; {contract.entity('pricing_rules').when_absent}"
    )
    assert con.execute("SELECT count(*) FROM raw.pricing_rules").fetchall() == [(0,)]


def test_the_quality_suite_rechecks_min_max_and_prices_without_a_marketplace(con, tmp_path):
    from ml.quality import run_suite

    raw = tmp_path / "raw"
    fx.write_valid(raw, ("catalog", "marketplaces", "pricing_rules"))
    for name in ("catalog", "marketplaces", "pricing_rules"):
        assert ingest_entity(con, raw, name, run_id=RUN, run_date=fx.RUN_DATE).rows_quarantined == 0
    accepted = con.execute("SELECT * FROM raw.pricing_rules ORDER BY _source_row").df()
    assert run_suite("pricing_rules", accepted, run_date=fx.RUN_DATE).success

    # What the SQL rules would have quarantined, slipped through: row 0 is the SKU1 x US rule.
    broken = accepted.copy()
    broken.loc[0, "min_price"] = 20.0  # above its max_price 14.99
    broken.loc[0, "marketplace"] = None  # and a price without its marketplace
    result = run_suite("pricing_rules", broken, run_date=fx.RUN_DATE)
    assert {(r.kind, r.column) for r in result.failed} == {
        ("min_max", "max_price"),
        ("scope", "marketplace"),
    }
