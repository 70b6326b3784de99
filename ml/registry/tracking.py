"""What a training run logs besides its model: tables, plots, finite metrics, the fingerprint of
its data and the data as an MLflow dataset. Each ``log_*`` writes to the active run (inside
``store.fluent`` and ``mlflow.start_run``)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.pandas_dataset import PandasDataset, from_pandas
from mlflow.models import infer_signature
from mlflow.types import ColSpec, Schema

# Rows a dataset's schema is inferred from: the column types are the frame's dtypes (whether a
# column has nulls is read from every row); MLflow's inference reads every value (~25 s for a
# 2.8-million-row mart).
SCHEMA_SAMPLE_ROWS = 10_000
DIGEST_CHARS = 32  # MLflow keeps 36 characters of a dataset's digest


def finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The entries that are finite numbers, as floats: a missing or NaN value is left out
    rather than logged as NaN."""
    out = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if np.isfinite(number):
            out[key] = number
    return out


def log_table(table: pd.DataFrame, stem: str, folder: str = "comparison") -> None:
    """``<folder>/<stem>.csv`` and a Markdown rendering, ``<folder>/<stem>.md``."""
    mlflow.log_text(table.to_csv(), f"{folder}/{stem}.csv")
    mlflow.log_text(table.to_markdown(floatfmt=".4f") + "\n", f"{folder}/{stem}.md")


def log_file(path: Path, folder: str) -> None:
    """A file written by the run (a plot's PNG) as artifact ``<folder>/<name>``."""
    mlflow.log_artifact(str(path), folder)


def _canonical(col: pd.Series) -> pd.Series:
    """One representation per kind of value, so the hash does not depend on how the frame was
    loaded (int vs float units, object vs string dtype, datetime units)."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("datetime64[ns]")
    return col.astype(object).where(col.notna(), None).map(lambda v: None if v is None else str(v))


def _canonical_frame(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    frame = frame[sorted(frame.columns)]
    present = [c for c in keys if c in frame.columns]
    if present:
        frame = frame.sort_values(present, kind="stable")
    return frame.reset_index(drop=True).apply(_canonical)


def _sha256(canonical: pd.DataFrame) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, canonical.columns)).encode())
    digest.update(pd.util.hash_pandas_object(canonical, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def frame_sha256(frame: pd.DataFrame, keys: Sequence[str] = ()) -> str:
    """A sha256 of ``frame`` sorted by ``keys`` (those it has) and by column name: row order,
    column order and dtype details (int vs float, object vs string) do not change it; any
    value does."""
    return _sha256(_canonical_frame(frame, keys))


def fingerprint(
    frame: pd.DataFrame, *, keys: Sequence[str], date_column: str, series: Sequence[str]
) -> dict[str, Any]:
    """rows, date_from, date_to (of ``date_column``), n_series (distinct ``series`` values)
    and ``frame_sha256`` (sorted by ``keys``): what a run logs about its data."""
    canonical = _canonical_frame(frame, keys)
    dates = pd.to_datetime(canonical[date_column]) if date_column in canonical else None
    has_dates = dates is not None and len(dates) > 0
    has_series = bool(series) and set(series) <= set(canonical.columns)
    return {
        "rows": int(len(canonical)),
        "date_from": str(dates.min().date()) if dates is not None and has_dates else "",
        "date_to": str(dates.max().date()) if dates is not None and has_dates else "",
        "n_series": int(len(canonical[list(series)].drop_duplicates())) if has_series else 0,
        "sha256": _sha256(canonical),
    }


class SampledSchemaDataset(PandasDataset):
    """``mlflow.data.from_pandas``'s dataset with its schema inferred from a sample."""

    @property
    def schema(self) -> Schema | None:
        if getattr(self, "_sampled_schema", None) is None:
            frame = self.df
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*Inferred schema contains integer.*")
                inferred = infer_signature(frame.head(SCHEMA_SAMPLE_ROWS)).inputs
            has_nulls = frame.isna().any()
            self._sampled_schema = Schema(
                [
                    ColSpec(c.type, c.name, required=not bool(has_nulls.get(c.name, False)))
                    for c in inferred.inputs
                ]
            )
        return self._sampled_schema


def dataset(
    frame: pd.DataFrame, *, name: str, sha256: str, targets: str, source: str | None = None
) -> PandasDataset:
    """``frame`` as an MLflow dataset (``log_dataset``), named ``name``: the digest is the
    data's ``sha256`` (its first 32 hex digits), the source where it was read (e.g. the
    warehouse file). Only the name, digest, source, schema and profile (rows, cells) are
    stored, never the rows."""
    where = {} if source is None else {"source": source}  # None: MLflow's default source
    with warnings.catch_warnings():
        # A local path matches two registered source classes, both LocalArtifactDatasetSource.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        # The digest given, so MLflow does not hash the frame itself (it reads every value).
        base = from_pandas(frame, targets=targets, name=name, digest=sha256[:DIGEST_CHARS], **where)
    return SampledSchemaDataset(
        df=frame, source=base.source, targets=targets, name=name, digest=base.digest
    )


def log_dataset(data: PandasDataset, context: str = "training") -> None:
    mlflow.log_input(data, context=context)
