"""Great Expectations suites built from the same contract declarations as the ingest rules.

The suites independently re-check the accepted rows of ``raw.<entity>``: if the SQL rules let a
bad row through, the suite fails. Cross-table rules (orphan_reference, currency_mismatch),
overlapping_validity and which combinations of scope columns a row may fill (invalid_scope, but
not its local-currency half) have no built-in expectation and stay with the SQL rules.

``great_expectations`` takes ~10 s to import, so it is imported inside functions only.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from ml import contract, settings
from ml.ingest import codes, rules

# pandas dtypes (names GX understands) a column of each contract type may have once read from
# the warehouse ("str": values of an object column are checked one by one to be Python strings).
PANDAS_TYPES: dict[str, list[str]] = {
    "string": ["StringDtype", "str"],
    "integer": ["int64", "Int64", "int32", "Int32", "int"],
    "decimal": ["float64", "Float64", "float32"],
    "date": ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"],
    "timestamp": ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"],
    "boolean": ["bool", "BooleanDtype"],
}
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation, said without importing GX: its class name, arguments and purpose."""

    expectation: str  # GX class name in great_expectations.expectations
    kwargs: dict[str, Any]
    kind: str  # schema, not_null, type, range, value_set, hs_code, date_range, min_max,
    # scope, incomplete_rate, unique_key, not_in_future, history_start, row_count
    column: str | None = None


@dataclass
class ExpectationOutcome:
    name: str  # GX expectation type, e.g. expect_column_values_to_not_be_null
    kind: str
    column: str | None
    success: bool
    unexpected_count: int | None
    sample: list[Any]
    error: str | None = None


@dataclass
class SuiteResult:
    entity: str
    success: bool
    rows: int
    seconds: float
    results: list[ExpectationOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    def as_markdown(self) -> str:
        head = (
            f"**{self.entity}**: {'passed' if self.success else 'FAILED'} "
            f"({len(self.results) - len(self.failed)}/{len(self.results)} expectations, "
            f"{self.rows} rows)\n\n"
        )
        lines = [
            "| expectation | column | success | unexpected | sample |",
            "|---|---|---|---|---|",
        ]
        for r in self.results:
            sample = r.error or ", ".join(repr(s) for s in r.sample)
            lines.append(
                f"| {r.name} | {r.column or ''} | {'yes' if r.success else 'NO'} | "
                f"{'' if r.unexpected_count is None else r.unexpected_count} | "
                f"{sample.replace('|', '/')} |"
            )
        return head + "\n".join(lines) + "\n"


def _spec(expectation: str, kind: str, column: str | None = None, **kwargs: Any) -> ExpectationSpec:
    if column is not None:
        kwargs = {"column": column, **kwargs}
    return ExpectationSpec(expectation, kwargs, kind, column)


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def expectation_specs(entity: str, run_date: date, *, min_rows: int = 1) -> list[ExpectationSpec]:
    """The expectations of ``entity``'s accepted rows, derived from its contract declaration."""
    ent = contract.entity(entity)
    out = [
        _spec("ExpectTableRowCountToBeBetween", "row_count", min_value=min_rows),
        _spec(
            "ExpectTableColumnsToMatchSet",
            "schema",
            column_set=list(ent.column_names),
            exact_match=True,
        ),
    ]
    for col in ent.columns:
        if not col.nullable:
            out.append(_spec("ExpectColumnValuesToNotBeNull", "not_null", col.name))
        out.append(
            _spec(
                "ExpectColumnValuesToBeInTypeList",
                "type",
                col.name,
                type_list=PANDAS_TYPES[col.dtype],
            )
        )
        if col.min_value is not None or col.max_value is not None:
            out.append(
                _spec(
                    "ExpectColumnValuesToBeBetween",
                    "range",
                    col.name,
                    min_value=col.min_value,
                    max_value=col.max_value,
                    strict_min=col.min_exclusive,
                )
            )
        if col.allowed is not None:
            out.append(
                _spec(
                    "ExpectColumnValuesToBeInSet",
                    "value_set",
                    col.name,
                    value_set=list(col.allowed),
                )
            )
        if col.code in codes.HS_PATTERNS:
            out.append(
                _spec(
                    "ExpectColumnValuesToMatchRegex",
                    "hs_code",
                    col.name,
                    regex=f"^{codes.HS_PATTERNS[col.code]}$",
                )
            )
        elif col.code is not None:
            out.append(
                _spec(
                    "ExpectColumnValuesToBeInSet",
                    "value_set",
                    col.name,
                    value_set=sorted(codes.code_set(col.code)),
                )
            )
    for start, end in ent.date_ranges:
        out.append(
            ExpectationSpec(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {
                    "column_A": end,
                    "column_B": start,
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
                "date_range",
                end,
            )
        )
    for low, high in ent.min_max:
        out.append(
            ExpectationSpec(
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {
                    "column_A": high,
                    "column_B": low,
                    "or_equal": True,
                    "ignore_row_if": "either_value_is_missing",
                },
                "min_max",
                high,
            )
        )
    if ent.scope is not None:
        for money in ent.scope.local_money:
            out.append(
                _spec(
                    "ExpectColumnValuesToNotBeNull",
                    "scope",
                    ent.scope.marketplace,
                    row_condition=f"{money}.notna()",
                    condition_parser="pandas",
                )
            )
    for req in rules.RATE_COMPLETENESS.get(entity, ()):
        when = (
            f"{req.column} in {list(req.values)!r}"
            if req.values is not None
            else f"{req.column}.notna()"
        )
        for need in req.needs:
            out.append(
                _spec(
                    "ExpectColumnValuesToNotBeNull",
                    "incomplete_rate",
                    need,
                    row_condition=when,
                    condition_parser="pandas",
                )
            )
    if len(ent.key) == 1:
        out.append(_spec("ExpectColumnValuesToBeUnique", "unique_key", ent.key[0]))
    else:
        out.append(
            _spec("ExpectCompoundColumnsToBeUnique", "unique_key", None, column_list=list(ent.key))
        )
    # Dates of required columns are checked on the column's max / min: GX's value-by-value
    # between check on datetimes takes ~7 s per million rows (pandas engine), max / min ~0.5 s.
    # A nullable column may be all empty (its max is NaT): it is checked value by value.
    after_run = _day_start(run_date + timedelta(days=1))
    for name in ent.future_date_columns:
        if ent.column(name).nullable:
            out.append(
                _spec(
                    "ExpectColumnValuesToBeBetween",
                    "not_in_future",
                    name,
                    max_value=after_run,
                    strict_max=True,
                )
            )
        else:
            out.append(
                _spec(
                    "ExpectColumnMaxToBeBetween",
                    "not_in_future",
                    name,
                    max_value=after_run,
                    strict_max=True,
                )
            )
    if ent.partition_column is not None:
        first = date.fromisoformat(settings.ORDERS_FIRST_PARTITION)
        out.append(
            _spec(
                "ExpectColumnMinToBeBetween",
                "history_start",
                ent.partition_column,
                min_value=_day_start(first),
            )
        )
    return out


_RUNS = itertools.count()
_CONTEXT: list[Any] = []  # one ephemeral context per process: each new one makes a temp folder


def _context(gx: Any, progress_bars_config: Any) -> Any:
    if not _CONTEXT:
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = progress_bars_config(globally=False)
        _CONTEXT.append(context)
    return _CONTEXT[0]


def _import_gx() -> Any:
    # Before the import: no usage statistics are sent (the variable is read at import).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def build_suite(entity: str, run_date: date, *, min_rows: int = 1) -> Any:
    """A ``great_expectations.ExpectationSuite`` for ``entity`` (not yet added to a context)."""
    gx = _import_gx()
    import great_expectations.expectations as gxe

    return _suite(
        gxe,
        gx.ExpectationSuite(name=f"kuajing_{entity}"),
        expectation_specs(entity, run_date, min_rows=min_rows),
    )


def _suite(gxe: Any, suite: Any, specs: list[ExpectationSpec]) -> Any:
    for spec in specs:
        suite.add_expectation(getattr(gxe, spec.expectation)(**spec.kwargs))
    return suite


def _prepare(entity: str, df: pd.DataFrame) -> pd.DataFrame:
    """The contract columns as GX should see them: lineage dropped, text columns as objects."""
    out = df.drop(columns=[c for c in contract.LINEAGE_COLUMNS if c in df.columns])
    for name in out.columns:
        # pandas 3's default ``str`` dtype (missing = NaN) is not one GX's pandas engine can
        # name; the same strings as ``StringDtype()`` (missing = NA) are, at no copy cost.
        # Object columns stay as they are: GX then checks each value's Python type (slower).
        dtype = out[name].dtype
        if isinstance(dtype, pd.StringDtype) and dtype != pd.StringDtype():
            out[name] = out[name].astype(pd.StringDtype())
        elif _nullable_integer(out[name], contract.entity(entity), name):
            # GX names pandas' nullable Int64 "int64" and then fails it against a type list
            # that holds "int64": whole numbers with missing values go as Python ints in an
            # object column (missing = None), whose values GX checks one by one ("int")
            out[name] = pd.Series(
                [None if pd.isna(v) else int(v) for v in out[name]], index=out.index, dtype=object
            )
    return out


def _nullable_integer(values: pd.Series, ent: contract.Entity, name: str) -> bool:
    if name not in ent.column_names or ent.column(name).dtype != "integer":
        return False
    # what the warehouse gives for a BIGINT column with NULLs; a float column stays a float
    # and fails the type check, as it should
    return isinstance(values.dtype, pd.Int64Dtype)


def _outcome(res: Any, spec: ExpectationSpec) -> ExpectationOutcome:
    result = res.result or {}
    sample = result.get("partial_unexpected_list")
    if sample is None:
        sample = [] if "observed_value" not in result else [result["observed_value"]]
    error = None
    info = res.exception_info or {}
    if info.get("raised_exception"):
        error = str(info.get("exception_message") or "raised an exception")
    return ExpectationOutcome(
        name=res.expectation_config.type,
        kind=spec.kind,
        column=spec.column,
        success=bool(res.success),
        unexpected_count=result.get("unexpected_count"),
        sample=list(sample)[:SAMPLE_SIZE],
        error=error,
    )


def run_suite(
    entity: str, df: pd.DataFrame, *, run_date: date | None = None, min_rows: int = 1
) -> SuiteResult:
    """Validate ``df`` (rows of ``raw.<entity>``; lineage columns allowed) with the entity's suite.

    ``run_date`` bounds the not-in-future expectations: pass the run date given to
    ``ingest_entity`` (default: today). ``min_rows``: 0 where an empty slice is normal (one
    day's partition of orders).
    """
    started = time.perf_counter()
    gx = _import_gx()
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    run_date = run_date or date.today()
    frame = _prepare(entity, df)
    context = _context(gx, ProgressBarsConfig)
    name = f"kuajing_{entity}_{next(_RUNS)}"
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(entity)
        .add_batch_definition_whole_dataframe("accepted_rows")
    )
    specs = expectation_specs(entity, run_date, min_rows=min_rows)
    if frame.empty:
        # Column statistics of no rows (max, min) are undefined and would fail: an empty table
        # is judged on its row count and schema alone.
        specs = [s for s in specs if s.kind in ("row_count", "schema")]
    suite = context.suites.add(_suite(gxe, gx.ExpectationSuite(name=name), specs))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    try:
        outcome = validation.run(
            batch_parameters={"dataframe": frame},
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE},
        )
    finally:
        context.validation_definitions.delete(name)
        context.suites.delete(name)
        context.data_sources.delete(name)
    # GX returns results in its own order; report them in the suite's (the contract's) order.
    by_id = {r.expectation_config.id: r for r in outcome.results}
    results = [
        _outcome(by_id[exp.id], spec)
        for exp, spec in zip(suite.expectations, specs, strict=True)
        if exp.id in by_id
    ]
    return SuiteResult(
        entity=entity,
        success=bool(outcome.success),
        rows=len(frame),
        seconds=time.perf_counter() - started,
        results=results,
    )
