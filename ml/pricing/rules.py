"""The seller's pricing rules (``raw/pricing_rules/``) resolved into one ``PricingRules`` per
listing, for ``optimize_prices``.

A rule row fills one scope of the contract's ``pricing_rules`` entity, most specific first:
SKU x marketplace, category x marketplace, marketplace, category (every marketplace). A listing
takes each setting from the most specific row that sets it: an empty setting inherits from the
broader scope, and a setting no row sets is the default's. The column names of the settings are
the ``PricingRules`` field names.

Rows are expected as ingest accepted them (``raw.pricing_rules`` or ``stg_raw__pricing_rules``);
a row outside every scope or a repeated scope raises ``ValueError`` rather than guess which one
wins. Contradictions that only arise between scopes (a marketplace-wide min price above one
SKU's max) are left to the optimizer, which pauses that listing with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ml.scoped_rules import MATCHED, ScopedRules, text_or_none

from .optimizer import DEFAULT_RULES, PricingRules, describe_rules

RULES = ScopedRules("pricing_rules")
ENTITY = RULES.entity
SCOPE_LEVELS: tuple[tuple[str, ...], ...] = RULES.levels  # most specific first
SCOPE_COLUMNS: tuple[str, ...] = RULES.scope_columns
SETTINGS: tuple[str, ...] = RULES.settings
LISTING_KEY = ("sku", "marketplace")
_MATCHED = MATCHED


def unique_listings(listings: pd.DataFrame) -> pd.DataFrame:
    """One row per (sku, marketplace) with its category (None without one, e.g. no catalog);
    listing-day frames are fine: the first row of a listing gives its category."""
    columns = [*LISTING_KEY, "category"]
    out = (
        listings.reindex(columns=columns).drop_duplicates(list(LISTING_KEY)).reset_index(drop=True)
    )
    for name in columns:
        out[name] = text_or_none(out[name])
    return out


def resolved_settings(rules: pd.DataFrame, listings: pd.DataFrame) -> pd.DataFrame:
    """Per listing (``unique_listings``): every setting from the most specific rule that sets it
    (missing where none does) and ``_matched``, whether any rule applies to the listing."""
    return RULES.resolved(rules, unique_listings(listings))


def _setting_value(name: str, value: Any) -> str | float:
    return str(value) if ENTITY.column(name).dtype == "string" else float(value)


def rules_for_listings(
    rules: pd.DataFrame, listings: pd.DataFrame, default: PricingRules = DEFAULT_RULES
) -> dict[tuple[str, str], PricingRules]:
    """``PricingRules`` for every listing (``sku``, ``marketplace``, ``category``) of
    ``listings``: precedence SKU x marketplace > category x marketplace > marketplace > category
    > ``default``, field by field (a row's empty setting inherits from the broader scope)."""
    settings = resolved_settings(rules, listings)
    out: dict[tuple[str, str], PricingRules] = {}
    for row in settings.to_dict("records"):
        given: dict[str, Any] = {n: _setting_value(n, row[n]) for n in SETTINGS if pd.notna(row[n])}
        out[(str(row["sku"]), str(row["marketplace"]))] = replace(default, **given)
    return out


def unmatched_rule_count(rules: pd.DataFrame, listings: pd.DataFrame) -> int:
    """Rule rows that apply to no listing (a SKU not listed there, a category without listings)."""
    return RULES.unmatched_count(rules, unique_listings(listings))


def describe_rules_source(
    rules: pd.DataFrame, listings: pd.DataFrame, default: PricingRules = DEFAULT_RULES
) -> str:
    """One line for the run output: how many listings seller rules cover, and the defaults."""
    settings = resolved_settings(rules, listings)
    total, covered = len(settings), int(settings[_MATCHED].sum())
    defaults = describe_rules(default)
    if len(rules) == 0:
        return f"pricing rules: none given, all {total} listings use the defaults ({defaults})"
    unmatched = unmatched_rule_count(rules, listings)
    unused = f", {unmatched} of them apply to no listing" if unmatched else ""
    return (
        f"pricing rules: {covered} of {total} listings use seller rules ({len(rules)} rows"
        f"{unused}), {total - covered} the defaults; a setting no rule gives is the default's "
        f"({defaults})"
    )
