"""The row rules, compiled from the contract's declarations into vectorised DuckDB SQL.

Every check is a pair of SQL expressions over the typed view of the staged rows
(``"v__<col>"``: the value as read, trimmed, NULL when empty; ``"t__<col>"``: the typed value,
NULL when empty or unreadable): ``fails`` (boolean, never NULL) and ``reason`` (text naming the
column, the value and what was expected, only evaluated on failing rows).

Two rules cannot be said with the contract's column declarations and are declared here as data:
``RATE_COMPLETENESS`` (``incomplete_rate``) and ``REFERENCE_MATCHES`` (``currency_mismatch``).
The set rules (``duplicate_key``, ``overlapping_validity``) work across rows and are built in
``ingest`` from ``Entity.key`` and ``Entity.validity``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ml import contract, reference, settings
from ml.contract import Column, Entity, Reference, Scope
from ml.ingest import codes
from ml.ingest.sql import in_list, lit, quoted

# What a value of each type must look like before DuckDB casts it: the casts alone are lenient
# (TRY_CAST('1.5' AS BIGINT) rounds to 2, a date cast accepts '2024-01-05 10:00').
TYPE_PATTERNS: dict[str, str] = {
    # '3.0' is a whole number too: tools that write integer columns with gaps as floats
    # (pandas with NaN) produce it.
    "integer": r"[+-]?[0-9]+(\.0*)?",
    "decimal": r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "timestamp": r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?",
}
# A date-time with a UTC offset ('2026-10-30T14:03:11+01:00', '... +0100', '...Z') is an instant:
# it is converted to the local time of the row's marketplace (ml.reference), else UTC.
UTC_OFFSET = r" ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)"
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
TYPE_WORDS: dict[str, str] = {
    "integer": "an integer",
    "decimal": "a number",
    "date": "an ISO date (YYYY-MM-DD)",
    "timestamp": "an ISO date or date-time (YYYY-MM-DD[ HH:MM[:SS]])",
    "boolean": "a boolean (true/false/1/0/yes/no)",
}
# An open-ended validity (empty valid_to) lasts forever.
FOREVER = "9999-12-31"


@dataclass(frozen=True)
class Requires:
    """When ``column`` holds one of ``values`` (any value if None), ``needs`` must not be empty."""

    column: str
    values: tuple[str, ...] | None
    needs: tuple[str, ...]


_SPECIFIC = ("specific_rate", "specific_unit", "rate_currency")
RATE_COMPLETENESS: dict[str, tuple[Requires, ...]] = {
    "tariff_measures": (
        Requires("rate_type", ("ad_valorem",), ("ad_valorem_rate",)),
        Requires("rate_type", ("specific", "per_item"), _SPECIFIC),
        Requires("rate_type", ("compound",), ("ad_valorem_rate", *_SPECIFIC)),
        Requires("value_threshold", None, ("threshold_currency",)),
    ),
}


@dataclass(frozen=True)
class MatchesReference:
    """``column`` must equal ``target_column`` of the row ``reference`` points to (if found)."""

    column: str
    reference: Reference
    target_column: str
    rule: str


REFERENCE_MATCHES: dict[str, tuple[MatchesReference, ...]] = {
    "orders": (
        MatchesReference(
            "currency",
            Reference(("marketplace",), "marketplaces", ("marketplace",)),
            "currency",
            "currency_mismatch",
        ),
    ),
}


# Reference figures used when the seller's entity is absent: target column -> {key: value}.
BUILT_IN_REFERENCES: dict[str, Callable[[str], dict[str, str]]] = {
    "marketplaces": reference.marketplace_values,
}


@dataclass(frozen=True)
class Check:
    rule: str
    column: str | None
    fails: str
    reason: str


@dataclass(frozen=True)
class Join:
    """A LEFT JOIN of the typed rows to (distinct) keys of a warehouse table."""

    alias: str
    sql: str


@dataclass
class CompiledRules:
    checks: list[Check] = field(default_factory=list)
    joins: list[Join] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def v(col: str) -> str:
    return f't."v__{col}"'


def t(col: str) -> str:
    return f't."t__{col}"'


def trimmed_sql(raw: str) -> str:
    """The value without surrounding spaces, NULL when empty.

    TRIM is slow in DuckDB (~0.6 s per 5M values); most values have no spaces to remove.
    """
    return (
        f"CASE WHEN starts_with({raw}, ' ') OR ends_with({raw}, ' ') "
        f"THEN NULLIF(TRIM({raw}), '') ELSE NULLIF({raw}, '') END"
    )


def typed_sql(column: Column, value: str, local_zone: str = "'UTC'") -> str:
    """SQL turning the trimmed text ``value`` into the column's typed value (NULL if it can't).

    ``local_zone``: SQL for the time zone a timestamp with a UTC offset is converted to.
    """
    if column.code in codes.HS_PATTERNS:
        return f"regexp_replace({value}, '[. ]', '', 'g')"
    if column.dtype == "string":
        return value
    if column.dtype == "boolean":
        return (
            f"CASE WHEN lower({value}) IN {in_list(TRUE_WORDS)} THEN true "
            f"WHEN lower({value}) IN {in_list(FALSE_WORDS)} THEN false END"
        )
    pattern = TYPE_PATTERNS[column.dtype]
    typed = (
        f"CASE WHEN regexp_full_match({value}, {lit(pattern)}) "
        f"THEN TRY_CAST({value} AS {column.duckdb_type})"
    )
    if column.dtype == "timestamp":
        instant = f"TRY_CAST(regexp_replace({value}, ' ([+-])', '\\1') AS TIMESTAMPTZ)"
        typed += (
            f" WHEN regexp_full_match({value}, {lit(pattern + UTC_OFFSET)}) "
            f"THEN timezone({local_zone}, {instant})"
        )
    return typed + " END"


def local_zone_sql(ent: Entity) -> str:
    """SQL for the time zone a row's instants are read in: its marketplace's (built-in
    reference), UTC for unknown marketplaces and for entities without one."""
    if "marketplace" not in ent.column_names:
        return "'UTC'"
    zones = " ".join(
        f"WHEN {lit(code)} THEN {lit(zone)}"
        for code, zone in sorted(reference.marketplace_values("timezone").items())
    )
    return f"CASE \"v__marketplace\" {zones} ELSE 'UTC' END"


def _fmt(x: float) -> str:
    return f"{x:g}"


def range_words(column: Column) -> str:
    """'> 0', '>= 0', 'between 0 and 1', ..."""
    lo, hi = column.min_value, column.max_value
    low = None if lo is None else (">" if column.min_exclusive else ">=") + " " + _fmt(lo)
    if hi is None:
        return low or ""
    if lo is None:
        return f"<= {_fmt(hi)}"
    if column.min_exclusive:
        return f"{low} and <= {_fmt(hi)}"
    return f"between {_fmt(lo)} and {_fmt(hi)}"


def _column_checks(column: Column) -> list[Check]:
    name, val, typ = column.name, v(column.name), t(column.name)
    shown = f"{lit(name + ' ')} || {quoted(val)}"
    out: list[Check] = []
    if not column.nullable:
        out.append(
            Check(
                "missing_value",
                name,
                f"({val} IS NULL)",
                lit(f"{name} is empty (a value is required)"),
            )
        )
    if column.dtype != "string":
        out.append(
            Check(
                "bad_type",
                name,
                f"({val} IS NOT NULL AND {typ} IS NULL)",
                f"{shown} || {lit(' is not ' + TYPE_WORDS[column.dtype])}",
            )
        )
    if column.min_value is not None or column.max_value is not None or column.dtype == "decimal":
        conds = []
        reason = f"{shown} || {lit(' is out of range: expected ' + range_words(column))}"
        if column.dtype == "decimal":
            # '1e309' reads as infinity, which would spread through every sum downstream.
            conds.append(f"NOT isfinite({typ})")
            infinite = f"{shown} || {lit(' is out of range: not a finite number')}"
            reason = f"CASE WHEN NOT isfinite({typ}) THEN {infinite} ELSE {reason} END"
        if column.min_value is not None:
            op = "<=" if column.min_exclusive else "<"
            conds.append(f"{typ} {op} {column.min_value!r}")
        if column.max_value is not None:
            conds.append(f"{typ} > {column.max_value!r}")
        out.append(Check("out_of_range", name, f"coalesce({' OR '.join(conds)}, false)", reason))
    if column.allowed is not None:
        out.append(
            Check(
                "not_allowed_value",
                name,
                f"({val} IS NOT NULL AND {val} NOT IN {in_list(column.allowed)})",
                f"{shown} || {lit(' is not one of: ' + ', '.join(column.allowed))}",
            )
        )
    if column.code is not None:
        words = lit(" is not " + codes.code_words(column.code))
        if column.code in codes.HS_PATTERNS:
            fails = (
                f"({val} IS NOT NULL AND NOT regexp_full_match({typ}, "
                f"{lit(codes.HS_PATTERNS[column.code])}))"
            )
        else:
            fails = f"({val} IS NOT NULL AND {val} NOT IN {in_list(codes.code_set(column.code))})"
        out.append(Check(codes.code_rule(column.code), name, fails, f"{shown} || {words}"))
    return out


def _as_date(ent: Entity, col: str) -> str:
    expr = t(col)
    return f"CAST({expr} AS DATE)" if ent.column(col).dtype == "timestamp" else expr


def partition_date_sql(ent: Entity) -> str:
    """The day a row belongs to (NULL if its partition column is empty or unreadable)."""
    if ent.partition_column is None:
        return "CAST(NULL AS DATE)"
    return _as_date(ent, ent.partition_column)


def _known_keys_sql(ref: Reference, qualify_table: Callable[[str], str]) -> str:
    """The keys ``ref.target`` has: its accepted rows, and its quarantined rows that still name
    their key. One bad attribute (a catalog row's HS code) must not turn every order of that
    SKU into an orphan: the orders are kept and the marts withhold what needs the attribute."""
    keys = ", ".join(f"{tc} AS k{j}" for j, tc in enumerate(ref.target_columns))
    quarantined = ", ".join(
        f"json_extract_string(row_key, {lit('$.' + tc)}) AS k{j}"
        for j, tc in enumerate(ref.target_columns)
    )
    named = " AND ".join(f"k{j} IS NOT NULL" for j in range(len(ref.target_columns)))
    key_of_target = set(ref.target_columns) <= set(contract.entity(ref.target).key)
    sql = f"SELECT {keys} FROM {qualify_table(ref.target)}"
    if key_of_target:
        sql += (
            f" UNION SELECT * FROM (SELECT {quarantined} FROM {contract.QUARANTINE.qualified} "
            f"WHERE entity = {lit(ref.target)}) WHERE {named}"
        )
    return f"SELECT DISTINCT *, true AS found FROM ({sql})"


def _scope_checks(scope: Scope) -> list[Check]:
    """``invalid_scope``: the filled scope columns must be one of the levels (a SKU rule without
    a marketplace is not one), and an amount in local currency needs its marketplace."""
    columns = scope.columns
    is_level = " OR ".join(
        "(" + " AND ".join(f"{v(c)} IS {'NOT ' if c in level else ''}NULL" for c in columns) + ")"
        for level in scope.levels
    )
    filled = ", ".join(f"CASE WHEN {v(c)} IS NOT NULL THEN {lit(c)} END" for c in columns)
    levels = ", ".join(contract.scope_level_name(level) for level in scope.levels)
    out = [
        Check(
            "invalid_scope",
            columns[0],
            f"NOT ({is_level})",
            f"'filled scope columns (' || coalesce(NULLIF(concat_ws(' + ', {filled}), ''), "
            f"'none') || {lit(') are not a scope; expected one of: ' + levels)}",
        )
    ]
    market = v(scope.marketplace)
    for col in scope.local_money:
        out.append(
            Check(
                "invalid_scope",
                scope.marketplace,
                f"({v(col)} IS NOT NULL AND {market} IS NULL)",
                f"{lit(col + ' ')} || {quoted(v(col))} || "
                f"{lit(' needs a ' + scope.marketplace + ' (it is in its currency)')}",
            )
        )
    return out


def compile_rules(
    ent: Entity, *, run_date: date, present: set[str], qualify_table: Callable[[str], str]
) -> CompiledRules:
    """All row checks of ``ent``, in ``contract.RULES`` order then column order.

    ``present``: entities that have files (an orphan check against an absent entity is skipped,
    and said so); ``qualify_table(name)``: the warehouse table holding that entity's rows.
    """
    out = CompiledRules()
    # Staged by read.load_file: why a CSV row does not fit its file's header.
    out.checks.append(Check("malformed_row", None, "(t._malformed IS NOT NULL)", "t._malformed"))
    for column in ent.columns:
        out.checks.extend(_column_checks(column))

    for start, end in ent.date_ranges:
        out.checks.append(
            Check(
                "invalid_date_range",
                end,
                f"coalesce({t(end)} < {t(start)}, false)",
                f"{lit(end + ' ')} || {quoted(v(end))} || {lit(' is before ' + start + ' ')} "
                f"|| {quoted(v(start))}",
            )
        )

    for low, high in ent.min_max:
        out.checks.append(
            Check(
                "min_above_max",
                low,
                f"coalesce({t(low)} > {t(high)}, false)",
                f"{lit(low + ' ')} || {quoted(v(low))} || {lit(' is above ' + high + ' ')} "
                f"|| {quoted(v(high))}",
            )
        )

    if ent.scope is not None:
        out.checks.extend(_scope_checks(ent.scope))

    for req in RATE_COMPLETENESS.get(ent.name, ()):
        when = (
            f"{v(req.column)} IN {in_list(req.values)}"
            if req.values is not None
            else f"{v(req.column)} IS NOT NULL"
        )
        empty = " OR ".join(f"{v(n)} IS NULL" for n in req.needs)
        listed = ", ".join(f"CASE WHEN {v(n)} IS NULL THEN {lit(n)} END" for n in req.needs)
        out.checks.append(
            Check(
                "incomplete_rate",
                req.column,
                f"coalesce({when} AND ({empty}), false)",
                f"{lit(req.column + ' ')} || {quoted(v(req.column))} || "
                f"{lit(' needs ' + ', '.join(req.needs) + '; empty: ')} "
                f"|| concat_ws(', ', {listed})",
            )
        )

    for col in ent.future_date_columns:
        out.checks.append(
            Check(
                "future_date",
                col,
                f"coalesce({_as_date(ent, col)} > DATE {lit(run_date.isoformat())}, false)",
                f"{lit(col + ' ')} || {quoted(v(col))} || "
                f"{lit(' is after the run date ' + run_date.isoformat())}",
            )
        )

    if ent.partition_column is not None:
        col, first = ent.partition_column, settings.ORDERS_FIRST_PARTITION
        out.checks.append(
            Check(
                "before_history_start",
                col,
                f"coalesce({_as_date(ent, col)} < DATE {lit(first)}, false)",
                f"{lit(col + ' ')} || {quoted(v(col))} || "
                f"{lit(' is before the first partition ' + first)}",
            )
        )

    for i, ref in enumerate(ent.references):
        label = f"orphan_reference on {', '.join(ref.columns)}"
        if ref.target not in present:
            out.skipped.append(f"{label}: {ref.target} is absent")
            continue
        alias = f"ref{i}"
        cond = " AND ".join(f"{t(c)} = {alias}.k{j}" for j, c in enumerate(ref.columns))
        out.joins.append(
            Join(alias, f"LEFT JOIN ({_known_keys_sql(ref, qualify_table)}) {alias} ON {cond}")
        )
        has_value = " AND ".join(f"{t(c)} IS NOT NULL" for c in ref.columns)
        shown = " || ', ' || ".join(quoted(v(c)) for c in ref.columns)
        out.checks.append(
            Check(
                "orphan_reference",
                ref.columns[0],
                f"({has_value} AND {alias}.found IS NULL)",
                f"{lit(', '.join(ref.columns) + ' ')} || {shown} || "
                f"{lit(' is not in ' + ref.target + ' (' + ', '.join(ref.target_columns) + ')')}",
            )
        )

    for i, match in enumerate(REFERENCE_MATCHES.get(ent.name, ())):
        ref = match.reference
        alias = f"match{i}"
        cond = " AND ".join(f"{t(c)} = {alias}.k{j}" for j, c in enumerate(ref.columns))
        if ref.target in present:
            keys = ", ".join(f"{tc} AS k{j}" for j, tc in enumerate(ref.target_columns))
            group = ", ".join(f"k{j}" for j in range(len(ref.target_columns)))
            expected = (
                f"SELECT {keys}, any_value({match.target_column}) AS expected "
                f"FROM {qualify_table(ref.target)} GROUP BY {group}"
            )
        elif ref.target in BUILT_IN_REFERENCES:
            # Without the seller's marketplaces, the built-in reference still knows that a DE
            # order is priced in EUR (codes it does not know are not checked).
            values = BUILT_IN_REFERENCES[ref.target](match.target_column)
            rows = ", ".join(f"({lit(k)}, {lit(val)})" for k, val in sorted(values.items()))
            expected = f"SELECT * FROM (VALUES {rows}) AS r(k0, expected)"
        else:
            out.skipped.append(f"{match.rule} on {match.column}: {ref.target} is absent")
            continue
        out.joins.append(Join(alias, f"LEFT JOIN ({expected}) {alias} ON {cond}"))
        out.checks.append(
            Check(
                match.rule,
                match.column,
                f"coalesce({t(match.column)} <> {alias}.expected, false)",
                f"{lit(match.column + ' ')} || {quoted(v(match.column))} || "
                f"{lit(' is not the ' + match.target_column + ' of ' + ref.target + ' ')} || "
                + " || ', ' || ".join(quoted(v(c)) for c in ref.columns)
                + f" || ' (' || {alias}.expected || ')'",
            )
        )

    order = {rule: i for i, rule in enumerate(contract.RULES)}
    position = {c.name: i for i, c in enumerate(ent.columns)}
    out.checks.sort(key=lambda c: (order[c.rule], position.get(c.column or "", -1)))
    return out
