"""Everything MLflow for the demand forecast: tracking store, pyfunc model, training run, gate.

The data folder's MLflow dir (``DataPaths.mlflow``) holds ``mlflow.db`` (SQLite tracking store
and model registry) and ``artifacts/`` (artifact root of the ``demand_forecast`` experiment), so
a data folder is self-contained and ``mlflow ui --backend-store-uri <tracking_uri>`` browses it.
MLflow stores artifact locations as absolute URIs; ``tracking_uri`` re-bases them when the
folder was copied or moved (``rebase_artifact_root``).

``train_and_register`` runs one MLflow run: backtest (Kuajing and the requested baselines on the
same folds), metrics and artifacts, the registry gate, the final fit on the whole panel, and a
new version of the registered model ``demand_forecast`` with alias ``champion`` or
``challenger``. No Dagster here: the orchestration layer calls these functions.
"""

from __future__ import annotations

import ast
import datetime as dt
import hashlib
import json
import os
import pickle
import shutil
import socket
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.models.signature import ModelSignature
from mlflow.types import ColSpec, Schema

from ml.settings import PROJECT_ROOT

from . import plots
from .backtest import (
    MODEL_KEYS,
    BacktestResult,
    backtest,
    compare,
    is_better,
    plan_backtest,
    wrmsse_missing,
)
from .data import DEMAND_TABLE
from .metrics import HEADLINE, summarize
from .model import DemandForecaster, ForecastConfig, fit, predict
from .panel import DEMAND_COLUMNS, PERIOD_DAYS, PLAN_COLUMNS, Panel, build_panel

MODEL_NAME = "demand_forecast"
EXPERIMENT_NAME = "demand_forecast"
CHAMPION, CHALLENGER = "champion", "challenger"
ATTRIBUTE_COLUMNS = ("category", "launch_date", "country")  # optional pyfunc input columns
# Distributions the served model imports (ml.forecast itself travels as code_paths).
SERVING_REQUIREMENTS = (
    "mlflow",
    "lightgbm",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "holidays",
    "cloudpickle",
    "pyarrow",
    "pyyaml",
)
FIRST_MODEL_REASON = "first model"
NEWER_DATA_REASON = "same configuration retrained on newer data, same backtest score"

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- tracking store


def tracking_uri(mlflow_dir: Path) -> str:
    """``sqlite:///<mlflow_dir>/mlflow.db``; creates the dir and the ``demand_forecast``
    experiment (artifact root ``<mlflow_dir>/artifacts``) if missing, and re-bases the store's
    artifact URIs if the folder was copied or moved since they were recorded."""
    mlflow_dir = Path(mlflow_dir).expanduser().resolve()
    artifacts = mlflow_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        try:
            client.create_experiment(EXPERIMENT_NAME, artifact_location=artifacts.as_uri())
        except MlflowException:
            # Another process created it between the lookup and the create.
            if client.get_experiment_by_name(EXPERIMENT_NAME) is None:
                raise
    elif experiment.artifact_location != artifacts.as_uri():
        rebase_artifact_root(mlflow_dir)
    return uri


# Every column of MLflow 3.17's SQLite store that holds an artifact URI (checked on a store
# this version made: every text column holding the folder's path). MLflow has no public API to
# change them (an experiment's artifact_location, a run's artifact_uri are immutable), so
# ``rebase_artifact_root`` rewrites their prefix in one SQLite transaction.
ARTIFACT_URI_COLUMNS = (
    ("experiments", "artifact_location"),  # the experiment's artifact root
    ("runs", "artifact_uri"),  # <root>/<run_id>/artifacts
    ("logged_models", "artifact_location"),  # <root>/models/<model_id>/artifacts (MLflow 3)
    ("model_versions", "storage_location"),  # where models:/name/version is downloaded from
    ("model_versions", "source"),  # models:/<model_id> in MLflow 3, a path in MLflow 2
)
# Traces keep their artifact location in a tag (the forecast logs none; re-based all the same).
TRACE_LOCATION_TAG = "mlflow.artifactLocation"
REBASED_TAG = "kuajing.artifact_root_rebased"


def _local_path(uri: str) -> Path | None:
    from mlflow.utils.uri import is_local_uri

    if not is_local_uri(uri, is_tracking_or_registry_uri=False):
        return None
    from mlflow.utils.file_utils import local_file_uri_to_path

    return Path(local_file_uri_to_path(uri))


def _prefix_pairs(old: Path, new: Path) -> list[tuple[str, str]]:
    """The spellings of a path prefix in stored URIs: file URI and plain path."""
    return [(old.as_uri(), new.as_uri()), (str(old), str(new))]


def _rewrite_prefix(con: sqlite3.Connection, table: str, column: str, old: str, new: str) -> int:
    """``old`` -> ``new`` at the start of ``table.column`` where ``old`` is a whole path prefix
    (the value itself, or followed by "/")."""
    cur = con.execute(
        f'UPDATE "{table}" SET "{column}" = :new || substr("{column}", length(:old) + 1) '
        f'WHERE substr("{column}", 1, length(:old)) = :old '
        f'AND (length("{column}") = length(:old) OR substr("{column}", length(:old) + 1, 1) = "/")',
        {"old": old, "new": new},
    )
    return cur.rowcount


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info('{table}')")}


def rebase_artifact_root(mlflow_dir: Path) -> dict[str, Any] | None:
    """Point a copied or moved store at its own ``artifacts/``.

    The ``demand_forecast`` experiment's recorded artifact root (a local path that is not
    ``<mlflow_dir>/artifacts``) is replaced, as a path prefix, by this folder's in every
    ``ARTIFACT_URI_COLUMNS`` column and trace location tag, and so is the data folder itself
    (the recorded root's grandparent) in the sources of logged datasets (``datasets``'
    ``dataset_source`` JSON ``uri``, e.g. the warehouse file). One ``BEGIN IMMEDIATE``
    transaction: readers see the old URIs or the new ones, a second process that opens the
    folder at the same time finds the work done. The experiment gets tag
    ``kuajing.artifact_root_rebased`` (from, to, when). Returns {"from", "to", "rows"}, or None
    when there is nothing to do (already this folder's, or not a local path, e.g. s3://).

    Files inside artifacts are not rewritten: a model's MLmodel keeps the ``artifact_path`` it
    was logged at, which MLflow only displays (loading reads the registry's URIs)."""
    mlflow_dir = Path(mlflow_dir).expanduser().resolve()
    new_root = mlflow_dir / "artifacts"
    con = sqlite3.connect(mlflow_dir / "mlflow.db", timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        row = con.execute(
            "SELECT experiment_id, artifact_location FROM experiments WHERE name = ?",
            (EXPERIMENT_NAME,),
        ).fetchone()
        old_root = _local_path(row[1]) if row else None
        if old_root is None or old_root == new_root:
            con.execute("ROLLBACK")
            return None
        rows = 0
        for table, column in ARTIFACT_URI_COLUMNS:
            if column in _columns(con, table):
                for old, new in _prefix_pairs(old_root, new_root):
                    rows += _rewrite_prefix(con, table, column, old, new)
        if "value" in _columns(con, "trace_tags"):
            for old, new in _prefix_pairs(old_root, new_root):
                cur = con.execute(
                    "UPDATE trace_tags SET value = :new || substr(value, length(:old) + 1) "
                    "WHERE key = :key AND substr(value, 1, length(:old) + 1) = :old || '/'",
                    {"old": old, "new": new, "key": TRACE_LOCATION_TAG},
                )
                rows += cur.rowcount
        if old_root.name == "artifacts" and old_root.parent.name == mlflow_dir.name:
            rows += _rebase_dataset_sources(con, old_root.parent.parent, mlflow_dir.parent)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    uri = f"sqlite:///{mlflow_dir / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).set_experiment_tag(
        str(row[0]), REBASED_TAG, f"{old_root.as_uri()} -> {new_root.as_uri()} at {now}"
    )
    return {"from": str(old_root), "to": str(new_root), "rows": rows}


def _rebase_dataset_sources(con: sqlite3.Connection, old: Path, new: Path) -> int:
    if "dataset_source" not in _columns(con, "datasets"):
        return 0
    rows = 0
    found = con.execute("SELECT dataset_uuid, dataset_source FROM datasets").fetchall()
    for dataset_uuid, source in found:
        try:
            parsed = json.loads(source)
        except (TypeError, ValueError):
            continue
        uri = parsed.get("uri") if isinstance(parsed, dict) else None
        if not isinstance(uri, str):
            continue
        for before, after in _prefix_pairs(old, new):
            if uri.startswith(before + "/"):
                parsed["uri"] = after + uri[len(before) :]
                con.execute(
                    "UPDATE datasets SET dataset_source = ? WHERE dataset_uuid = ?",
                    (json.dumps(parsed), dataset_uuid),
                )
                rows += 1
                break
    return rows


def _client(mlflow_dir: Path) -> MlflowClient:
    uri = tracking_uri(mlflow_dir)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def _tracking(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (runs, log_model, load_model) at ``uri``, then restore the
    process's previous setting exactly: set_tracking_uri also exports MLFLOW_TRACKING_URI, which
    would otherwise leak into later subprocesses."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    before_tracking = getattr(tracking_utils, "_tracking_uri", None)
    before_registry = getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri = before_tracking
        registry_utils._registry_uri = before_registry
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- runs of dead processes

# Each training run records the process that runs it; a run left RUNNING by a process that is
# gone (kill -9, a crash, a reboot) is marked FAILED by ``mark_dead_runs_failed``.
HOST_TAG, PID_TAG, PID_STARTED_TAG, BOOT_TAG = (
    "kuajing.host",
    "kuajing.pid",
    "kuajing.pid_started",  # the process's start, clock ticks after boot (/proc/<pid>/stat)
    "kuajing.boot_id",
)
PROCESS_TAGS = (HOST_TAG, PID_TAG, PID_STARTED_TAG, BOOT_TAG, "kuajing.started_at")
DEAD_RUN_TAG = "kuajing.failed_reason"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks after boot) of a Linux process, None if there is no
    such process or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields_after_name = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return fields_after_name[0], fields_after_name[19]


def process_tags() -> dict[str, str]:
    """Tags naming this process: host, pid, its start (so a reused pid is not taken for it),
    the boot (so a reboot ends every run) and the wall-clock start, for people."""
    stat = _proc_stat(os.getpid())
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(os.getpid()),
        PID_STARTED_TAG: stat[1] if stat else "",
        BOOT_TAG: _boot_id(),
        "kuajing.started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _process_gone(tags: Mapping[str, str]) -> str | None:
    """Why the process that ran a run with these tags is gone, or None if it may be alive
    (or the run was started elsewhere, or before runs had these tags: cannot tell)."""
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG, "")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    who = f"process {pid} on {host}"
    boot = tags.get(BOOT_TAG)
    if boot and _boot_id() and boot != _boot_id():
        return f"{who} is gone: the machine has restarted since"
    if Path("/proc").is_dir() and Path("/proc/self/stat").exists():
        stat = _proc_stat(int(pid))
        if stat is None:
            return f"{who} is gone"
        state, started = stat
        if state in ("Z", "X"):
            return f"{who} is gone (exited, not yet reaped)"
        if tags.get(PID_STARTED_TAG) and started != tags[PID_STARTED_TAG]:
            return f"{who} is gone (the pid now belongs to another process)"
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return f"{who} is gone"
    except PermissionError:
        return None  # exists, owned by someone else
    return None


def mark_dead_runs_failed(mlflow_dir: Path) -> list[str]:
    """Mark FAILED every RUNNING run of the ``demand_forecast`` experiment whose process is
    gone (killed, crashed, machine restarted), with tag ``kuajing.failed_reason`` saying so;
    returns their run ids. Runs of live processes, of other hosts and without process tags are
    left alone. Training calls it first; `make run` may call it before a run, too."""
    client = _client(mlflow_dir)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    marked = []
    running = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'RUNNING'",
        max_results=1000,
    )
    for run in running:
        why = _process_gone(run.data.tags)
        if why is None:
            continue
        now = dt.datetime.now().astimezone()
        client.set_tag(
            run.info.run_id,
            DEAD_RUN_TAG,
            f"{why} and left the run RUNNING; marked FAILED by mark_dead_runs_failed at "
            f"{now.isoformat(timespec='seconds')}",
        )
        client.set_terminated(run.info.run_id, status="FAILED", end_time=int(time.time() * 1000))
        marked.append(run.info.run_id)
    return marked


# --------------------------------------------------------------------------- data and config


def _canonical(col: pd.Series) -> pd.Series:
    """One representation per kind of value, so the hash does not depend on how the frame was
    loaded (int vs float units, object vs string dtype, datetime units)."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("datetime64[ns]")
    return col.astype(object).where(col.notna(), None).map(lambda v: None if v is None else str(v))


def data_fingerprint(demand_df: pd.DataFrame) -> dict[str, Any]:
    """rows, date_from, date_to, n_series and a sha256 of the frame sorted by key and column
    name: row order, column order and dtype details (int vs float, object vs string) do not
    change it; any value does."""
    frame = demand_df[sorted(demand_df.columns)]
    keys = [c for c in ("sku", "marketplace", "demand_date") if c in frame.columns]
    if keys:
        frame = frame.sort_values(keys, kind="stable")
    frame = frame.reset_index(drop=True).apply(_canonical)
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    dates = pd.to_datetime(frame["demand_date"]) if "demand_date" in frame else None
    has_dates = dates is not None and len(dates) > 0
    return {
        "rows": int(len(frame)),
        "date_from": str(dates.min().date()) if has_dates else "",
        "date_to": str(dates.max().date()) if has_dates else "",
        "n_series": int(len(frame[["sku", "marketplace"]].drop_duplicates()))
        if {"sku", "marketplace"} <= set(frame.columns)
        else 0,
        "sha256": digest.hexdigest(),
    }


def run_name(panel: Panel, data_info: Mapping[str, Any], started: dt.datetime) -> str:
    """What the MLflow UI lists the run as: model, grain, data range, start (local time), e.g.
    ``demand_forecast daily 2024-01-01..2026-11-30 2026-12-01T08:00``."""
    first = data_info.get("date_from") or str(panel.history_dates[0].date())
    last = data_info.get("date_to") or str(panel.history_dates[-1].date())
    return f"{MODEL_NAME} {panel.grain} {first}..{last} {started:%Y-%m-%dT%H:%M}"


# Rows the dataset's schema is inferred from: the column types are the frame's dtypes (whether
# a column has nulls is read from every row); MLflow's inference reads every value (~25 s for
# a 2.8-million-row mart).
SCHEMA_SAMPLE_ROWS = 10_000


class TrainingDataset(PandasDataset):
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


def training_dataset(
    panel: Panel,
    data_info: Mapping[str, Any],
    demand: pd.DataFrame | None = None,
    source: str | None = None,
) -> PandasDataset:
    """The training data as an MLflow dataset (``mlflow.log_input``): ``demand`` (the mart's
    rows) named ``marts.fct_daily_demand``, or without it the panel's units as long rows. The
    digest is the data fingerprint's sha256 (its first 32 hex digits: MLflow keeps 36), the
    source the warehouse file where given. Only the name, digest, source, schema and profile
    (rows, cells) are stored, never the rows."""
    if demand is None:
        name = "demand_panel"
        demand = pd.DataFrame(
            {
                "sku": np.repeat(panel.series["sku"].to_numpy(), panel.n_history),
                "marketplace": np.repeat(panel.series["marketplace"].to_numpy(), panel.n_history),
                "period": np.tile(panel.history_dates.to_numpy(), panel.n_series),
                "units": panel.units.reshape(-1),
            }
        )
    else:
        name = DEMAND_TABLE
    # Given, so MLflow does not hash the frame itself (it reads every value's type).
    digest = str(data_info.get("sha256") or data_fingerprint(demand)["sha256"])[:32]
    with warnings.catch_warnings():
        # A local path matches two registered source classes, both LocalArtifactDatasetSource.
        warnings.filterwarnings("ignore", message=".*can be interpreted in multiple ways.*")
        base = mlflow.data.from_pandas(
            demand, source=source, targets="units", name=name, digest=digest
        )
    return TrainingDataset(
        df=demand, source=base.source, targets="units", name=name, digest=base.digest
    )


def config_params(config: ForecastConfig) -> dict[str, str]:
    """The config as MLflow params (``config_from_params`` reads them back)."""
    return {k: str(v) for k, v in asdict(config).items()}


# A run logged before a config field existed trained with this value of it.
VALUES_BEFORE_FIELD: dict[str, Any] = {"relative_target": False}


def config_from_params(params: Mapping[str, str]) -> ForecastConfig:
    """A ``ForecastConfig`` from a run's params; a field the run lacks takes its value from
    before the field existed, else its default."""
    values: dict[str, Any] = {}
    for f in fields(ForecastConfig):
        if f.name not in params:
            if f.name in VALUES_BEFORE_FIELD:
                values[f.name] = VALUES_BEFORE_FIELD[f.name]
            continue
        raw = params[f.name]
        try:
            values[f.name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            values[f.name] = raw  # plain strings: "auto", "tweedie"
    return ForecastConfig(**values)


def _has_config(params: Mapping[str, str]) -> bool:
    return any(f.name in params for f in fields(ForecastConfig))


# --------------------------------------------------------------------------- pyfunc model


def model_input(
    demand: pd.DataFrame,
    *,
    skus: pd.DataFrame | None = None,
    marketplaces: pd.DataFrame | None = None,
    plan: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pyfunc input frame from mart-shaped frames (see ``DemandForecastModel``): history
    rows, plan rows appended with null units, sku and marketplace attributes merged on."""
    rows = demand[list(DEMAND_COLUMNS)].copy()
    rows["units"] = rows["units"].astype(float)
    if plan is not None and len(plan):
        future = plan[list(PLAN_COLUMNS)].copy()
        future["units"] = np.nan
        future["is_promoted"] = future["discount_pct"].fillna(0.0) > 0
        future["ad_spend_usd"] = 0.0
        future["is_censored"] = False
        rows = pd.concat([rows, future[list(DEMAND_COLUMNS)]], ignore_index=True)
    if skus is not None:
        cols = [c for c in ("sku", "category", "launch_date") if c in skus.columns]
        rows = rows.merge(skus[cols].drop_duplicates("sku"), on="sku", how="left")
    if marketplaces is not None and "country" in marketplaces.columns:
        by_code = marketplaces.drop_duplicates("marketplace")[["marketplace", "country"]]
        rows = rows.merge(by_code, on="marketplace", how="left")
    for col in ("demand_date", "launch_date"):
        if col in rows.columns:
            rows[col] = pd.to_datetime(rows[col]).dt.normalize()
    return rows.sort_values(["sku", "marketplace", "demand_date"], ignore_index=True)


def forecast_frame(model: DemandForecaster, rows: pd.DataFrame) -> pd.DataFrame:
    """``model``'s forecast for a pyfunc input frame (the logic of ``DemandForecastModel``)."""
    missing = [c for c in ("sku", "marketplace", "demand_date", "units") if c not in rows]
    if missing:
        raise ValueError(f"input lacks column(s) {missing}; it has {list(rows.columns)}")
    rows = rows.copy()
    rows["demand_date"] = pd.to_datetime(rows["demand_date"]).dt.normalize()
    rows["units"] = pd.to_numeric(rows["units"], errors="coerce")
    for col, neutral in (
        ("list_price_local", np.nan),
        ("discount_pct", 0.0),
        ("ad_spend_usd", 0.0),
        ("is_promoted", False),
        ("is_censored", False),
    ):
        if col not in rows:
            rows[col] = neutral
        rows[col] = rows[col].astype(object).where(rows[col].notna(), neutral)
    for col in ("list_price_local", "discount_pct", "ad_spend_usd"):
        rows[col] = rows[col].astype(float)
    for col in ("is_promoted", "is_censored"):
        rows[col] = rows[col].astype(bool)

    observed = rows["units"].notna()
    if not observed.any():
        raise ValueError("input has no history rows (rows with units)")
    last = rows.loc[observed, "demand_date"].max()
    # A stock-out day is history whether or not its (meaningless) units were sent.
    in_history = (rows["demand_date"] <= last) & (observed | rows["is_censored"])
    history = rows.loc[in_history, list(DEMAND_COLUMNS)].fillna({"units": 0.0})
    plan = rows.loc[~observed & (rows["demand_date"] > last), list(PLAN_COLUMNS)]

    skus = markets = None
    sku_cols = [c for c in ("category", "launch_date") if c in rows.columns]
    if sku_cols:
        # groupby.first: the first non-null value per sku.
        skus = rows.groupby("sku", sort=False)[sku_cols].first().reset_index()
        if "launch_date" in skus:
            skus["launch_date"] = pd.to_datetime(skus["launch_date"])
    if "country" in rows.columns:
        markets = rows.groupby("marketplace", sort=False)[["country"]].first().reset_index()
        markets = markets.dropna()

    panel = build_panel(
        history,
        skus=skus,
        marketplaces=markets,
        grain=model.grain,
        plan=plan if len(plan) else None,
        plan_days=model.horizon * PERIOD_DAYS[model.grain],
    )
    out = predict(model, panel)
    qcols = [c for c in out.columns if c.startswith("p") and c[1:].isdigit()]
    out = out.sort_values(["sku", "marketplace", "horizon"], ignore_index=True)
    return out[["sku", "marketplace", "date", "horizon", "mean", *qcols]]


class DemandForecastModel(mlflow.pyfunc.PythonModel):
    """The demand forecast as an MLflow pyfunc (REST: one JSON ``dataframe_split`` frame).

    Input, one DataFrame, one row per sku x marketplace x day:

    - history rows in the ``marts.fct_daily_demand`` shape: sku, marketplace, demand_date
      (datetime; ISO date strings over REST), units, list_price_local, discount_pct,
      is_promoted, ad_spend_usd, is_censored. A stock-out day is ``is_censored = true`` (its
      units are ignored and may be null). The last history date is the last date with units;
      every series to forecast needs a row on it.
    - optional plan rows: a demand_date after the last history date and ``units`` null, with
      the planned list_price_local and discount_pct (other columns may be null). Days without a
      plan row keep the last list price and no discount.
    - optional attribute columns, repeated on each row (the first non-null value per key is
      used): ``category`` and ``launch_date`` per sku (``marts.dim_sku``), ``country`` per
      marketplace (``marts.dim_marketplace``, the holiday calendar; default: the code itself,
      "UK" -> GB). Without them a SKU is category "unknown" with no launch date.

    Output: sku, marketplace, date (period start), horizon (1..H), mean, p10, p50, p90 for the H
    periods (28 days or 8 weeks, the model's grain) after the last history date.
    ``model_input`` builds this frame from mart frames.
    """

    def load_context(self, context) -> None:
        with open(context.artifacts["forecaster"], "rb") as fh:
            self._forecaster: DemandForecaster = pickle.load(fh)

    @property
    def forecaster(self) -> DemandForecaster:
        return self._forecaster

    # A DataFrame hint: MLflow infers no schema from it (the logged signature is explicit).
    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return forecast_frame(self._forecaster, pd.DataFrame(model_input))


def _pinned_requirements() -> list[str]:
    return [f"{name}=={dist_version(name)}" for name in SERVING_REQUIREMENTS]


def _copy_code(dest: Path) -> Path:
    """A clean copy of the ``ml`` package for code_paths (no caches, no stray outputs)."""
    target = dest / "ml"
    shutil.copytree(
        PROJECT_ROOT / "ml",
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"),
    )
    return target


def example_rows(
    panel: Panel, horizon: int, n_series: int = 2, periods: int | None = None
) -> pd.DataFrame:
    """A small real pyfunc input: ``n_series`` series listed at the end (different
    marketplaces first), their last ``periods`` history periods and ``horizon`` plan periods,
    as daily rows (a weekly panel's units land on each week's first day)."""
    last = panel.n_history - 1
    listed = np.flatnonzero(panel.listed[:, last])
    if len(listed) == 0:
        raise ValueError("no series is listed at the last history period")
    by_market = panel.series.iloc[listed].groupby("marketplace", sort=True).head(1).index
    chosen = list(dict.fromkeys([*by_market, *listed]))[:n_series]
    periods = periods or (56 if panel.grain == "daily" else 12)
    days = PERIOD_DAYS[panel.grain]
    start = max(0, panel.n_history - periods)
    rows = []
    for i in chosen:
        s = panel.series.iloc[i]
        last_price = pd.Series(panel.list_price[i, : panel.n_history]).ffill().iloc[-1]
        for t in range(start, panel.n_history + horizon):
            future = t >= panel.n_history
            if not future and not panel.listed[i, t]:
                continue
            planned = t < panel.list_price.shape[1]  # the panel's own plan, if it has one
            price = panel.list_price[i, t] if planned else np.nan
            disc = panel.discount[i, t] if planned else 0.0
            price = last_price if np.isnan(price) else price
            disc = 0.0 if np.isnan(disc) else disc
            y = np.nan if future else panel.units[i, t]
            first_day = panel.dates[0] + pd.Timedelta(days=int(t * days))
            for d in range(days):
                rows.append(
                    {
                        "sku": s["sku"],
                        "marketplace": s["marketplace"],
                        "demand_date": first_day + pd.Timedelta(days=d),
                        "units": np.nan if future else (0.0 if np.isnan(y) or d else float(y)),
                        "list_price_local": float(price),
                        "discount_pct": float(disc),
                        "is_promoted": bool(disc > 0),
                        "ad_spend_usd": 0.0
                        if future
                        else float(np.nan_to_num(panel.ad_spend_usd[i, t]) if d == 0 else 0.0),
                        "is_censored": bool(not future and np.isnan(y)),
                        "category": s["category"],
                        "launch_date": s["launch_date"],
                        "country": s["country"],
                    }
                )
    frame = pd.DataFrame(rows)
    frame["launch_date"] = pd.to_datetime(frame["launch_date"])
    return frame


def _signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """Inferred from a real example and its forecast; the attribute columns are optional and
    always declared (the example may lack a launch date)."""
    inferred = infer_signature(example, output)
    specs = {c.name: c for c in inferred.inputs.inputs}
    cols = [ColSpec(specs[name].type, name, required=True) for name in DEMAND_COLUMNS]
    cols += [
        ColSpec(specs.get(name, ColSpec(kind, name)).type, name, required=False)
        for name, kind in zip(ATTRIBUTE_COLUMNS, ("string", "datetime", "string"), strict=True)
    ]
    return ModelSignature(inputs=Schema(cols), outputs=inferred.outputs)


def _log_model(model: DemandForecaster, panel: Panel, workdir: Path) -> ModelInfo:
    """Log the fitted model as pyfunc and register a new version of ``demand_forecast``."""
    pkl = workdir / "forecaster.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump(model, fh)
    example = example_rows(panel, model.horizon)
    output = forecast_frame(model, example)
    with warnings.catch_warnings():
        # Noise here: the integer output column (horizon) never holds missing values.
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer.*")
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=DemandForecastModel(),
            artifacts={"forecaster": str(pkl)},
            code_paths=[str(_copy_code(workdir / "code"))],
            signature=_signature(example, output),
            input_example=example,
            pip_requirements=_pinned_requirements(),
            registered_model_name=MODEL_NAME,
        )


# --------------------------------------------------------------------------- registry


def current_champion(mlflow_dir: Path) -> tuple[int, str] | None:
    """(version, run_id) of the version with alias ``champion``, or None."""
    return _alias_version(_client(mlflow_dir), CHAMPION)


def _alias_version(client: MlflowClient, alias: str) -> tuple[int, str] | None:
    try:
        mv = client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None  # no registered model yet, or no such alias
    return int(mv.version), mv.run_id


class ChampionUnavailableError(RuntimeError):
    """The champion is registered but its model cannot be loaded: its artifacts are missing
    (folder deleted) or corrupt (e.g. a truncated pickle). The message is one line: the
    version, what is wrong, how to retrain (``retrain_hint``)."""


# What loading the pyfunc reads from a version's artifact folder.
MODEL_FILES = ("MLmodel", "python_model.pkl", "artifacts/forecaster.pkl")


def retrain_hint(mlflow_dir: Path) -> str:
    """How to register a new champion for the data folder that holds ``mlflow_dir``."""
    root = Path(mlflow_dir).expanduser().resolve().parent
    return (
        "retrain to register a new champion: run the job forecast_training (Dagster UI, `make "
        f"ui`), or from the project folder `KUAJING_DATA_DIR={root} DAGSTER_HOME={root}/dagster "
        ".venv/bin/dagster job execute -m orchestration.definitions -j forecast_training`"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def artifact_problem(client: MlflowClient, version: int | str) -> str | None:
    """What is wrong with a version's model artifacts, or None if they look loadable: the
    folder or one of ``MODEL_FILES`` missing, or a pickle that does not unpickle. Only local
    artifact stores are checked (anything else: None)."""
    uri = client.get_model_version_download_uri(MODEL_NAME, str(version))
    folder = _local_path(uri)
    if folder is None:
        return None
    if not folder.is_dir():
        return f"its artifact folder {folder} is missing"
    for name in MODEL_FILES:
        if not (folder / name).is_file():
            return f"{name} is missing from its artifact folder {folder}"
    import cloudpickle

    for name in ("artifacts/forecaster.pkl", "python_model.pkl"):
        try:
            with open(folder / name, "rb") as fh:
                cloudpickle.load(fh)
        except Exception as error:  # noqa: BLE001 - any failure to unpickle is corruption
            return f"{name} in {folder} is corrupt ({_first_line(error)})"
    return None


def _unavailable(client: MlflowClient, version: int, mlflow_dir: Path, error: Exception):
    problem = artifact_problem(client, version) or f"loading it failed ({_first_line(error)})"
    return ChampionUnavailableError(
        f"{MODEL_NAME} v{version} ({CHAMPION}) cannot be loaded: {problem}; "
        f"{retrain_hint(mlflow_dir)}."
    )


def load_champion(mlflow_dir: Path) -> tuple[mlflow.pyfunc.PyFuncModel, int]:
    """The champion, loaded from ``models:/demand_forecast@champion``, and its version.

    The version is the one whose run the loaded model came from: if a training run moved the
    alias between the lookup and the load, the lookup is repeated. Missing or corrupt
    artifacts raise ``ChampionUnavailableError`` (one line, no MLflow traceback)."""
    uri = tracking_uri(mlflow_dir)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    with _tracking(uri):
        for _ in range(3):
            champ = current_champion(mlflow_dir)
            if champ is None:
                raise LookupError(f"no {MODEL_NAME}@{CHAMPION} in {mlflow_dir}: train first")
            try:
                model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
            except Exception as error:  # noqa: BLE001 - reported as one line, see _unavailable
                if current_champion(mlflow_dir) != champ:
                    continue  # the alias moved while loading: load the new champion
                raise _unavailable(client, champ[0], mlflow_dir, error) from None
            if model.metadata.run_id == champ[1]:
                return model, champ[0]
    raise RuntimeError(f"{MODEL_NAME}@{CHAMPION} kept moving while it was loaded")


def latest_version(mlflow_dir: Path) -> tuple[int, str, str] | None:
    """(version, alias, gate reason) of the newest version of ``demand_forecast``, or None."""
    client = _client(mlflow_dir)
    try:
        versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = max(versions, key=lambda mv: int(mv.version))
    tags = newest.tags or {}
    return int(newest.version), tags.get("gate_decision", ""), tags.get("gate_reason", "")


def champion_training_note(mlflow_dir: Path) -> str | None:
    """What the champion's training changed because its history was short, e.g. "trained on
    91 daily periods: 1 fold instead of 3 (3 folds of 28 days need 142 periods)" (its run's
    ``training_note`` tag); None without a champion or when it had the full backtest."""
    champ = current_champion(mlflow_dir)
    if champ is None or not champ[1]:
        return None
    return _client(mlflow_dir).get_run(champ[1]).data.tags.get("training_note") or None


def champion_metrics(mlflow_dir: Path) -> dict[str, float]:
    """The champion's headline backtest metrics (``kuajing_<metric>`` of its training run)."""
    champ = current_champion(mlflow_dir)
    if champ is None:
        return {}
    logged = _client(mlflow_dir).get_run(champ[1]).data.metrics
    return {k: logged[f"kuajing_{k}"] for k in HEADLINE if f"kuajing_{k}" in logged}


@dataclass(frozen=True)
class GateDecision:
    alias: str  # champion | challenger
    reason: str
    champion_version: int | None  # the champion before this run
    champion_metrics: dict[str, float] | None  # its score on this run's backtest


@dataclass
class TrainingOutcome:
    run_id: str
    version: int
    alias: str  # champion | challenger
    reason: str
    comparison: pd.DataFrame  # one row per model (compare(result))
    by_marketplace: pd.DataFrame  # compare(result, by="marketplace")
    metrics: dict[str, float]  # Kuajing's overall backtest metrics
    champion_version: int | None = None  # the champion before this run
    champion_metrics: dict[str, float] | None = None
    n_folds: int = 3  # backtest folds used (fewer than asked on a short history)
    backtest_horizon: int | None = None  # periods per fold
    note: str | None = None  # why the backtest differs from the one asked for (BacktestPlan)

    @property
    def model_uri(self) -> str:
        return f"models:/{MODEL_NAME}/{self.version}"


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            value = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(value):
            out[k] = value
    return out


def _kuajing_metrics(result: BacktestResult) -> dict[str, float]:
    return _finite(compare(result).loc["kuajing"].to_dict())


def gate(
    client: MlflowClient,
    *,
    panel: Panel,
    config: ForecastConfig,
    n_folds: int,
    candidate: dict[str, float],
    data_sha256: str | None,
    progress: Progress | None = None,
    backtest_horizon: int | None = None,
) -> GateDecision:
    """Champion or challenger, scoring the champion on the candidate's backtest.

    The champion's configuration is read from its run's params and backtested on the same panel
    and folds (at the candidate's grain and backtest horizon, ``backtest_horizon`` or the
    config's, so the folds match), unless it equals the candidate's, whose metrics are then
    reused. A candidate without a finite ``wrmsse`` -> challenger, even a first model (the
    gate's guard cannot be read). No champion, or one whose artifacts are missing or corrupt
    (``artifact_problem``: it cannot serve) -> champion; ``is_better`` -> champion; the same
    configuration on different data (the same score by construction) -> champion (retrained on
    newer data); else challenger.
    """
    champ = _alias_version(client, CHAMPION)
    missing = wrmsse_missing(candidate)
    if missing:
        return GateDecision(CHALLENGER, missing, champ[0] if champ else None, None)
    if champ is None:
        return GateDecision(CHAMPION, FIRST_MODEL_REASON, None, None)
    version, run_id = champ
    broken = artifact_problem(client, version)
    if broken:
        why = f"champion v{version} cannot be loaded ({broken}): replaced"
        return GateDecision(CHAMPION, why, version, None)
    params = client.get_run(run_id).data.params if run_id else {}
    if not _has_config(params):
        return GateDecision(
            CHALLENGER, f"champion v{version} has no logged configuration to compare", version, None
        )
    champ_config = config_from_params(params)
    same_config = champ_config == config
    if same_config:
        champ_metrics = dict(candidate)
    else:
        if progress:
            progress(f"backtesting champion v{version}'s configuration on the same folds")
        # Same grain and horizon as the candidate: otherwise the folds would differ.
        on_same_folds = replace(
            champ_config, grain=config.grain, horizon=backtest_horizon or config.horizon
        )
        result = backtest(
            panel=panel,
            config=on_same_folds,
            n_folds=n_folds,
            models=("kuajing",),
            progress=(lambda step: progress(f"champion backtest: {step} done"))
            if progress
            else None,
        )
        champ_metrics = _kuajing_metrics(result)
    better, why = is_better(candidate, champ_metrics)
    if better:
        return GateDecision(CHAMPION, f"beats champion v{version}: {why}", version, champ_metrics)
    same_data = data_sha256 is not None and params.get("data_sha256") == data_sha256
    if same_config and data_sha256 is not None and not same_data:
        return GateDecision(CHAMPION, NEWER_DATA_REASON, version, champ_metrics)
    if same_config and same_data:
        why = f"same configuration and same data as champion v{version}: nothing new"
        return GateDecision(CHALLENGER, why, version, champ_metrics)
    return GateDecision(
        CHALLENGER, f"does not beat champion v{version}: {why}", version, champ_metrics
    )


# --------------------------------------------------------------------------- training run


def _log_table(table: pd.DataFrame, stem: str) -> None:
    mlflow.log_text(table.to_csv(), f"comparison/{stem}.csv")
    mlflow.log_text(table.to_markdown(floatfmt=".4f") + "\n", f"comparison/{stem}.md")


def _log_backtest_metrics(
    result: BacktestResult, table: pd.DataFrame, by_market: pd.DataFrame
) -> None:
    metrics: dict[str, float] = {}
    kj = result.forecasts[result.forecasts["model"] == "kuajing"]
    for fold, g in kj.groupby("fold"):
        for k, v in _finite(summarize(g, result.scales[fold], result.weights[fold])).items():
            metrics[f"fold{fold}_{k}"] = v
    for model, row in table.iterrows():
        for k, v in _finite(row.to_dict()).items():
            metrics[f"{model}_{k}"] = v
    for (market, model), row in by_market.iterrows():
        if model == "kuajing":
            for k in ("wape", "coverage_p10_p90", "coverage_p10_p90_pit", "bias"):
                if np.isfinite(row.get(k, np.nan)):
                    metrics[f"kuajing_{k}_{market}"] = float(row[k])
    mlflow.log_metrics(metrics)


def _log_plots(result: BacktestResult, workdir: Path, n: int = 6) -> None:
    f = result.forecasts
    for stem, keys, title in (
        ("sample_series", plots.sample_series(f, n, seed=0), "Backtest: sample series"),
        ("worst_series", plots.worst_series(f, n), "Backtest: largest share of absolute error"),
    ):
        path = workdir / f"{stem}.png"
        plots.forecast_vs_actual(f, keys, title, path=path)
        mlflow.log_artifact(str(path), "plots")


def train_and_register(
    panel: Panel,
    *,
    config: ForecastConfig,
    mlflow_dir: Path,
    data_info: dict[str, Any],
    truth: Any = None,
    models: tuple[str, ...] = MODEL_KEYS,
    n_folds: int = 3,
    progress: Progress | None = None,
    demand: pd.DataFrame | None = None,
    demand_source: str | None = None,
) -> TrainingOutcome:
    """Backtest, gate, fit on the whole panel and register, in one MLflow run.

    ``data_info``: ``data_fingerprint(demand)`` (and anything else to log, as ``data_*``
    params); its ``sha256`` tells "retrained on newer data" from "retrained on the same data".
    ``demand`` (the mart rows the panel was built from) and ``demand_source`` (where they were
    read) describe the run's dataset (``training_dataset``); the run is named by ``run_name``.

    A history too short for ``n_folds`` folds is backtested on fewer (``plan_backtest``): the
    run's params ``n_folds`` / ``n_folds_requested`` / ``backtest_horizon``, its tags
    ``backtest_folds`` and ``training_note``, and the outcome say so. Below the minimum
    history ``InsufficientHistoryError`` is raised before any run starts.
    """
    say = progress or (lambda _msg: None)
    models = tuple(dict.fromkeys(("kuajing", *models)))  # the gate needs Kuajing's metrics
    uri = tracking_uri(mlflow_dir)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    for run_id in mark_dead_runs_failed(mlflow_dir):
        say(f"run {run_id} was left RUNNING by a process that is gone: marked FAILED")
    data_sha = str(data_info["sha256"]) if data_info.get("sha256") is not None else None
    horizon = config.resolved_horizon(panel.grain)
    plan = plan_backtest(panel.n_history, panel.grain, horizon, n_folds)
    # The backtest's config: the model's, at the fold's horizon when the history is short.
    backtest_config = config if plan.horizon == horizon else replace(config, horizon=plan.horizon)
    with (
        _tracking(uri),
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(
            experiment_id=experiment.experiment_id,
            run_name=run_name(panel, data_info, dt.datetime.now()),
            tags=process_tags(),
        ) as run,
    ):
        workdir = Path(tmp)
        mlflow.log_input(
            training_dataset(panel, data_info, demand, demand_source), context="training"
        )
        mlflow.log_params(
            {
                **config_params(config),
                **{f"data_{k}": str(v) for k, v in data_info.items()},
                "resolved_grain": panel.grain,
                "resolved_horizon": str(horizon),
                "n_folds": str(plan.n_folds),
                "n_folds_requested": str(n_folds),
                "backtest_horizon": str(plan.horizon),
                "backtest_models": ",".join(models),
                "panel_series": str(panel.n_series),
                "panel_periods": str(panel.n_history),
            }
        )
        if data_sha:
            mlflow.set_tag("data_sha256", data_sha)
        mlflow.set_tag("backtest_folds", str(plan.n_folds))
        if plan.note:
            mlflow.set_tag("training_note", plan.note)
            say(plan.note)
        mlflow.log_text(json.dumps(asdict(config), indent=2, default=str), "config.json")

        say(f"backtest: {', '.join(models)} on {plan.n_folds} folds of {plan.horizon}")
        result = backtest(
            panel=panel,
            config=backtest_config,
            n_folds=plan.n_folds,
            models=models,
            truth=truth,
            progress=lambda step: say(f"backtest: {step} done"),
        )
        table = compare(result)
        by_market = compare(result, by="marketplace")
        candidate = _kuajing_metrics(result)
        _log_backtest_metrics(result, table, by_market)
        _log_table(table, "overall")
        _log_table(by_market, "by_marketplace")
        _log_table(compare(result, by="dormant"), "by_dormancy")
        _log_plots(result, workdir)

        say("gate: comparing with the champion")
        decision = gate(
            client,
            panel=panel,
            config=config,
            n_folds=plan.n_folds,
            candidate=candidate,
            data_sha256=data_sha,
            progress=say,
            backtest_horizon=plan.horizon,
        )
        if decision.champion_metrics:
            mlflow.log_metrics({f"champion_{k}": v for k, v in decision.champion_metrics.items()})

        say("fitting the final model on the whole panel")
        final = fit(panel=panel, config=config)
        importance = final.feature_importance()
        mlflow.log_text(importance.to_csv(index=False), "feature_importance/feature_importance.csv")
        plots.feature_importance_plot(importance, path=workdir / "feature_importance.png")
        mlflow.log_artifact(str(workdir / "feature_importance.png"), "feature_importance")
        mlflow.log_metrics(
            {
                "final_best_iteration": float(final.best_iteration),
                "final_train_rows": float(final.train_rows),
                **{f"final_calibration_{k}": v for k, v in _finite(final.calibration).items()},
            }
        )

        say("logging and registering the model")
        info = _log_model(final, panel, workdir)
        version = int(info.registered_model_version)
        client.set_registered_model_alias(MODEL_NAME, decision.alias, str(version))
        tags = {
            "gate_decision": decision.alias,
            "gate_reason": decision.reason,
            "champion_before": str(decision.champion_version or ""),
        }
        for key, value in {**tags, "data_sha256": data_sha or ""}.items():
            client.set_model_version_tag(MODEL_NAME, str(version), key, value)
        mlflow.set_tags({**tags, "model_version": str(version)})
        mlflow.log_text(
            f"decision: {decision.alias}\nreason: {decision.reason}\nversion: {version}\n"
            f"champion before: {decision.champion_version}\n",
            "gate_decision.txt",
        )
        say(f"version {version} -> {decision.alias}: {decision.reason}")
        return TrainingOutcome(
            run_id=run.info.run_id,
            version=version,
            alias=decision.alias,
            reason=decision.reason,
            comparison=table,
            by_marketplace=by_market,
            metrics=candidate,
            champion_version=decision.champion_version,
            champion_metrics=decision.champion_metrics,
            n_folds=plan.n_folds,
            backtest_horizon=plan.horizon,
            note=plan.note,
        )
