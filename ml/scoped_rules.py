"""Seller rules that apply to many rows: an entity with a contract ``Scope`` (pricing_rules,
allocation_rules) resolved into one set of settings per target row.

A rule row fills one scope level (its scope columns filled, the others empty). A target takes
each setting from the most specific row that sets it: an empty setting inherits from the
broader scope, and a setting no row sets stays missing (the caller's default). A row outside
every scope or a repeated scope raises ``ValueError`` rather than guess which one wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ml import contract

MATCHED = "_matched"


def text_or_none(values: pd.Series) -> pd.Series:
    """Values as Python strings, None when empty, so keys merge alike whatever the dtype (an
    all-empty column reads as float NaN)."""
    text = values.astype(object).where(values.notna(), None)
    return text.map(lambda v: None if v is None or str(v).strip() == "" else str(v).strip())


@dataclass(frozen=True)
class ScopedRules:
    """The scope resolution of one rules entity of the contract."""

    entity_name: str

    @property
    def entity(self) -> contract.Entity:
        return contract.entity(self.entity_name)

    @property
    def scope(self) -> contract.Scope:
        scope = self.entity.scope
        if scope is None:
            raise ValueError(f"{self.entity_name} has no scope in the contract")
        return scope

    @property
    def levels(self) -> tuple[tuple[str, ...], ...]:
        return self.scope.levels  # most specific first

    @property
    def scope_columns(self) -> tuple[str, ...]:
        return self.scope.columns

    @property
    def settings(self) -> tuple[str, ...]:
        return tuple(c for c in self.entity.column_names if c not in self.scope_columns)

    def normalised(self, rules: pd.DataFrame) -> pd.DataFrame:
        """The scope and setting columns only (a missing one is empty), empty text as missing,
        numbers as floats."""
        out = rules.reindex(columns=[*self.scope_columns, *self.settings]).reset_index(drop=True)
        for name in self.scope_columns:
            out[name] = text_or_none(out[name])
        for name in self.settings:
            if self.entity.column(name).dtype == "string":
                out[name] = text_or_none(out[name])
            else:
                out[name] = pd.to_numeric(out[name]).astype(float)
        return out

    def scope_levels(self, rules: pd.DataFrame) -> pd.Series:
        """Each row's position in ``levels``; ``ValueError`` for a row that fills no scope."""
        filled = rules[list(self.scope_columns)].notna()
        level = pd.Series(-1, index=rules.index)
        for position, columns in enumerate(self.levels):
            fits = pd.Series(True, index=rules.index)
            for name in self.scope_columns:
                fits &= filled[name] == (name in columns)
            level = level.where(~fits, position)
        if (level < 0).any():
            bad = rules.loc[level < 0, list(self.scope_columns)].to_dict("records")
            expected = ", ".join(contract.scope_level_name(c) for c in self.levels)
            raise ValueError(
                f"{self.entity_name.replace('_', ' ')} outside every scope ({expected}): {bad}"
            )
        return level

    def check_unique_scopes(self, rules: pd.DataFrame) -> None:
        repeated = rules.duplicated(list(self.scope_columns), keep=False)
        if repeated.any():
            rows = rules.loc[repeated, list(self.scope_columns)].drop_duplicates()
            name = self.entity_name.replace("_", " ")
            raise ValueError(f"{name} repeat a scope: {rows.to_dict('records')}")

    def resolved(self, rules: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
        """Per row of ``targets`` (one per target, with every scope column; their values as
        ``text_or_none`` gives them): every setting from the most specific rule that sets it
        (missing where none does) and ``MATCHED``, whether any rule applies to it."""
        rules = self.normalised(rules)
        level = self.scope_levels(rules)
        self.check_unique_scopes(rules)
        out = targets.reset_index(drop=True).copy()
        for name in self.settings:
            out[name] = pd.Series([None] * len(out), dtype=object)
        out[MATCHED] = False
        for position, columns in enumerate(self.levels):
            rows = rules.loc[level == position, [*columns, *self.settings]]
            if rows.empty:
                continue
            # A left merge keeps the targets' order; one row per scope keeps their number.
            hit = out[list(columns)].merge(rows.assign(**{MATCHED: True}), how="left", on=columns)
            for name in self.settings:
                unset = out[name].isna().to_numpy()
                out.loc[unset, name] = hit.loc[unset, name].to_numpy()
            out[MATCHED] = out[MATCHED] | hit[MATCHED].eq(True).to_numpy()
        return out

    def unmatched_count(self, rules: pd.DataFrame, targets: pd.DataFrame) -> int:
        """Rule rows that apply to no target (a SKU not sold there, a warehouse without stock)."""
        rules = self.normalised(rules)
        level = self.scope_levels(rules)
        count = 0
        for position, columns in enumerate(self.levels):
            rows = rules.loc[level == position, list(columns)]
            known = targets[list(columns)].drop_duplicates()
            used = rows.merge(known, how="left", indicator=True)
            count += int((used["_merge"] == "left_only").sum())
        return count
