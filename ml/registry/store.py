"""Where MLflow keeps runs and models: a ``TrackingStore``, its experiments, and the re-basing of a
local store whose folder was copied or moved.

A store is a tracking URI (the model registry uses the same one) and, for the local SQLite store
of a data folder, the folder its artifacts live in. ``TrackingStore.from_paths`` builds the one a
data folder uses (``ml.settings.mlflow_tracking_uri``): by default ``<data>/mlflow/mlflow.db``
with artifacts in ``<data>/mlflow/artifacts``, or a tracking server (``http://host:5000``) when
``KUAJING_MLFLOW_TRACKING_URI`` names one; the server then decides where artifacts go.

MLflow records artifact locations as absolute URIs; ``open_experiment`` re-bases them when a
local store's folder was copied or moved (``rebase_artifact_root``). A remote store is never
rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml.settings import DataPaths, mlflow_tracking_uri

SQLITE_PREFIX = "sqlite:///"
REACH_TIMEOUT_SECONDS = 5.0
DATABASE_FILE = "mlflow.db"
ARTIFACTS_DIR = "artifacts"


@dataclass(frozen=True)
class TrackingStore:
    """An MLflow tracking store and model registry (one URI for both).

    ``artifact_root``: the folder a local store keeps its experiments' artifacts in (re-based
    when the store is opened from a new place); None for any other store (a tracking server
    decides where artifacts go, e.g. ``mlflow-artifacts:`` proxied through it)."""

    tracking_uri: str
    artifact_root: Path | None = None

    @classmethod
    def local(cls, mlflow_dir: Path) -> TrackingStore:
        """The SQLite store in ``mlflow_dir``: ``mlflow.db`` and ``artifacts/``."""
        folder = Path(mlflow_dir).expanduser().resolve()
        return cls(f"{SQLITE_PREFIX}{folder / DATABASE_FILE}", folder / ARTIFACTS_DIR)

    @classmethod
    def from_paths(cls, paths: DataPaths) -> TrackingStore:
        """The store a data folder uses: its own SQLite store unless
        ``KUAJING_MLFLOW_TRACKING_URI`` names another (read now, not at import)."""
        uri = mlflow_tracking_uri(paths)
        local = cls.local(paths.mlflow)
        return local if uri == local.tracking_uri else cls(uri)

    @property
    def registry_uri(self) -> str:
        return self.tracking_uri

    @property
    def database(self) -> Path | None:
        """The SQLite file of a local store (one with an ``artifact_root``), else None."""
        if self.artifact_root is None or not self.tracking_uri.startswith(SQLITE_PREFIX):
            return None
        return Path(self.tracking_uri.removeprefix(SQLITE_PREFIX))

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def describe(self) -> str:
        """For messages: the local store's folder, or the URI."""
        return str(self.artifact_root.parent) if self.artifact_root else self.tracking_uri

    def check_reachable(self, timeout: float = REACH_TIMEOUT_SECONDS) -> None:
        """Fail in one line when a tracking server does not answer its health check (MLflow's
        own client would retry for minutes, then print a connection traceback)."""
        if not self.tracking_uri.startswith(("http://", "https://")):
            return
        url = self.tracking_uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                if answer.status == 200:
                    return
                problem = f"HTTP {answer.status}"
        except (OSError, ValueError) as error:  # URLError, timeouts and refusals are OSErrors
            problem = str(getattr(error, "reason", error))
        raise TrackingStoreUnavailable(
            f"The MLflow tracking server {self.tracking_uri} does not answer ({problem}): start "
            "it, or unset KUAJING_MLFLOW_TRACKING_URI to use the data folder's own store."
        )


class TrackingStoreUnavailable(RuntimeError):
    """The configured tracking server cannot be reached; the message says what to do."""


def open_experiment(store: TrackingStore, name: str) -> str:
    """The id of experiment ``name``, created if missing (in a local store with artifact root
    ``store.artifact_root``); re-bases a local store first opened from a new place."""
    if store.artifact_root is not None:
        store.artifact_root.mkdir(parents=True, exist_ok=True)
    client = store.client()
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = store.artifact_root.as_uri() if store.artifact_root else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            # Another process created it between the lookup and the create.
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return str(experiment.experiment_id)
    if store.artifact_root and experiment.artifact_location != store.artifact_root.as_uri():
        rebase_artifact_root(store, name)
    return str(experiment.experiment_id)


# The environment variables MLflow's fluent API reads, and set_*_uri export to subprocesses.
FLUENT_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextmanager
def fluent(store: TrackingStore) -> Iterator[None]:
    """Point MLflow's fluent API (``start_run``, ``log_*``, ``pyfunc.log_model`` / ``load_model``)
    at ``store``, then give the process back the URIs it had, through public API only.

    ``set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` (``set_registry_uri`` likewise):
    afterwards both are unset again (``set_*_uri(None)``) and the environment restored, so the
    URIs resolve as before (from the environment, or MLflow's default); a URI the process had
    set explicitly, and that the environment no longer gives, is set again."""
    env = {key: os.environ.get(key) for key in FLUENT_ENV}
    tracking_before, registry_before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(store.tracking_uri)
    mlflow.set_registry_uri(store.registry_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None: unset (MLflow 3.17)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        _restore_env(env)
        if mlflow.get_tracking_uri() != tracking_before:
            mlflow.set_tracking_uri(tracking_before)
        if mlflow.get_registry_uri() != registry_before:
            mlflow.set_registry_uri(registry_before)
        _restore_env(env)


def _restore_env(env: dict[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# --------------------------------------------------------------------------- re-basing

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
# Traces keep their artifact location in a tag (re-based all the same).
TRACE_LOCATION_TAG = "mlflow.artifactLocation"
REBASED_TAG = "kuajing.artifact_root_rebased"


def local_path(uri: str) -> Path | None:
    """The local path of a ``file:`` URI or plain path, None for any remote URI."""
    from mlflow.utils.file_utils import local_file_uri_to_path
    from mlflow.utils.uri import is_local_uri

    if not is_local_uri(uri, is_tracking_or_registry_uri=False):
        return None
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


def rebase_artifact_root(store: TrackingStore, experiment: str) -> dict[str, Any] | None:
    """Point a copied or moved local store at its own ``artifact_root``.

    Experiment ``experiment``'s recorded artifact root (a local path that is not
    ``store.artifact_root``) is replaced, as a path prefix, by the store's in every
    ``ARTIFACT_URI_COLUMNS`` column and trace location tag (so every experiment that shared
    that root moves with it), and so is the data folder itself (the recorded root's
    grandparent) in the sources of logged datasets (``datasets``' ``dataset_source`` JSON
    ``uri``, e.g. the warehouse file). One ``BEGIN IMMEDIATE`` transaction: readers see the old
    URIs or the new ones, a second process that opens the folder at the same time finds the
    work done. The experiment gets tag ``kuajing.artifact_root_rebased`` (from, to, when).
    Returns {"from", "to", "rows"}, or None when there is nothing to do (already this folder's,
    a recorded root that is not a local path, e.g. s3://, or a store that is not local).

    Files inside artifacts are not rewritten: a model's MLmodel keeps the ``artifact_path`` it
    was logged at, which MLflow only displays (loading reads the registry's URIs)."""
    database, new_root = store.database, store.artifact_root
    if database is None or new_root is None:
        return None
    con = sqlite3.connect(database, timeout=60, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        row = con.execute(
            "SELECT experiment_id, artifact_location FROM experiments WHERE name = ?",
            (experiment,),
        ).fetchone()
        old_root = local_path(row[1]) if row else None
        if old_root is None or old_root == new_root:
            con.execute("ROLLBACK")
            return None
        rows = _rebase_uris(con, old_root, new_root)
        if old_root.name == new_root.name and old_root.parent.name == new_root.parent.name:
            rows += _rebase_dataset_sources(con, old_root.parent.parent, new_root.parent.parent)
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    store.client().set_experiment_tag(
        str(row[0]), REBASED_TAG, f"{old_root.as_uri()} -> {new_root.as_uri()} at {now}"
    )
    return {"from": str(old_root), "to": str(new_root), "rows": rows}


def _rebase_uris(con: sqlite3.Connection, old_root: Path, new_root: Path) -> int:
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
    return rows


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
