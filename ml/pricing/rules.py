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

from ml import contract

from .optimizer import DEFAULT_RULES, PricingRules, describe_rules

ENTITY = contract.entity("pricing_rules")
assert ENTITY.scope is not None
SCOPE_LEVELS: tuple[tuple[str, ...], ...] = ENTITY.scope.levels  # most specific first
SCOPE_COLUMNS: tuple[str, ...] = ENTITY.scope.columns
SETTINGS: tuple[str, ...] = tuple(c for c in ENTITY.column_names if c not in SCOPE_COLUMNS)
LISTING_KEY = ("sku", "marketplace")
_MATCHED = "_matched"


def _text_or_none(values: pd.Series) -> pd.Series:
    """Scope values as Python strings, None when empty, so keys merge alike whatever the dtype
    (an all-empty category column reads as float NaN)."""
    text = values.astype(object).where(values.notna(), None)
    return text.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())


def normalised_rules(rules: pd.DataFrame) -> pd.DataFrame:
    """The scope and setting columns only (a missing one is empty), empty text as missing."""
    out = rules.reindex(columns=[*SCOPE_COLUMNS, *SETTINGS]).reset_index(drop=True)
    for name in SCOPE_COLUMNS:
        out[name] = _text_or_none(out[name])
    for name in SETTINGS:
        if ENTITY.column(name).dtype == "string":
            out[name] = _text_or_none(out[name])
        else:
            out[name] = pd.to_numeric(out[name]).astype(float)
    return out


def scope_levels(rules: pd.DataFrame) -> pd.Series:
    """Each row's position in ``SCOPE_LEVELS``; ``ValueError`` for a row that fills no scope."""
    filled = rules[list(SCOPE_COLUMNS)].notna()
    level = pd.Series(-1, index=rules.index)
    for position, columns in enumerate(SCOPE_LEVELS):
        fits = pd.Series(True, index=rules.index)
        for name in SCOPE_COLUMNS:
            fits &= filled[name] == (name in columns)
        level = level.where(~fits, position)
    if (level < 0).any():
        bad = rules.loc[level < 0, list(SCOPE_COLUMNS)].to_dict("records")
        expected = ", ".join(contract.scope_level_name(c) for c in SCOPE_LEVELS)
        raise ValueError(f"pricing rules outside every scope ({expected}): {bad}")
    return level


def _check_unique_scopes(rules: pd.DataFrame) -> None:
    repeated = rules.duplicated(list(SCOPE_COLUMNS), keep=False)
    if repeated.any():
        rows = rules.loc[repeated, list(SCOPE_COLUMNS)].drop_duplicates().to_dict("records")
        raise ValueError(f"pricing rules repeat a scope: {rows}")


def unique_listings(listings: pd.DataFrame) -> pd.DataFrame:
    """One row per (sku, marketplace) with its category (None without one, e.g. no catalog);
    listing-day frames are fine: the first row of a listing gives its category."""
    columns = [*LISTING_KEY, "category"]
    out = (
        listings.reindex(columns=columns).drop_duplicates(list(LISTING_KEY)).reset_index(drop=True)
    )
    for name in columns:
        out[name] = _text_or_none(out[name])
    return out


def resolved_settings(rules: pd.DataFrame, listings: pd.DataFrame) -> pd.DataFrame:
    """Per listing (``unique_listings``): every setting from the most specific rule that sets it
    (missing where none does) and ``_matched``, whether any rule applies to the listing."""
    rules = normalised_rules(rules)
    level = scope_levels(rules)
    _check_unique_scopes(rules)
    out = unique_listings(listings)
    for name in SETTINGS:
        out[name] = pd.Series([None] * len(out), dtype=object)
    out[_MATCHED] = False
    for position, columns in enumerate(SCOPE_LEVELS):
        rows = rules.loc[level == position, [*columns, *SETTINGS]].assign(**{_MATCHED: True})
        if rows.empty:
            continue
        # A left merge keeps the listings' order; one row per scope keeps their number.
        hit = out[list(columns)].merge(rows, how="left", on=list(columns))
        for name in SETTINGS:
            unset = out[name].isna().to_numpy()
            out.loc[unset, name] = hit.loc[unset, name].to_numpy()
        out[_MATCHED] = out[_MATCHED] | hit[_MATCHED].eq(True).to_numpy()
    return out


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
    rules = normalised_rules(rules)
    level = scope_levels(rules)
    known = unique_listings(listings)
    count = 0
    for position, columns in enumerate(SCOPE_LEVELS):
        rows = rules.loc[level == position, list(columns)]
        used = rows.merge(known[list(columns)].drop_duplicates(), how="left", indicator=True)
        count += int((used["_merge"] == "left_only").sum())
    return count


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
