"""Registered models and their versions: register a pyfunc version, look up the ``champion`` and
``challenger`` aliases and the newest version, check a version's artifacts, load the champion.

A model is named by a ``ModelSpec`` (registered model, experiment of its training runs, the files
loading a version reads); the store by a ``TrackingStore``. Nothing here knows what the model
predicts.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PyFuncModel, PythonModel

from .code_paths import copy_code
from .store import TrackingStore, fluent, local_path

CHAMPION, CHALLENGER = "champion", "challenger"
# What loading any pyfunc version reads from its artifact folder.
PYFUNC_FILES = ("MLmodel", "python_model.pkl")
LOAD_ATTEMPTS = 3  # lookups of the champion while training runs move its alias


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its ``name`` in the registry, the ``experiment`` its training runs
    log to, and ``files``: what loading a version reads from its artifact folder besides
    ``PYFUNC_FILES`` (e.g. ``artifacts/forecaster.pkl``; ``.pkl`` files must unpickle)."""

    name: str
    experiment: str
    files: tuple[str, ...] = ()

    def uri(self, version_or_alias: int | str) -> str:
        """``models:/<name>/<version>`` or ``models:/<name>@<alias>``."""
        if isinstance(version_or_alias, int) or str(version_or_alias).isdigit():
            return f"models:/{self.name}/{version_or_alias}"
        return f"models:/{self.name}@{version_or_alias}"


class VersionRef(NamedTuple):
    version: int
    run_id: str  # the training run that logged it


class ChampionUnavailableError(RuntimeError):
    """The champion is registered but its model cannot be loaded: its artifacts are missing
    (folder deleted) or corrupt (e.g. a truncated pickle). The message is one line: the
    version, what is wrong, how to register a new champion."""


def log_pyfunc(
    model: ModelSpec,
    python_model: PythonModel,
    *,
    artifacts: Mapping[str, str],
    code_modules: Sequence[str],
    workdir: Path,
    signature: ModelSignature | None = None,
    input_example: pd.DataFrame | None = None,
    pip_requirements: Sequence[str] = (),
) -> tuple[ModelInfo, int]:
    """Log ``python_model`` as artifact ``model`` of the active run and register it as a new
    version of ``model.name``; returns the logged model and the version. ``code_modules``:
    the project modules the model imports when it is loaded, copied with every project module
    they import (``code_paths.copy_code``) and nothing else."""
    code = copy_code(code_modules, workdir / "code")
    with warnings.catch_warnings():
        # Noise: an integer output column that never holds missing values.
        warnings.filterwarnings("ignore", message=".*Inferred schema contains integer.*")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=python_model,
            artifacts=dict(artifacts),
            code_paths=[str(path) for path in code],
            signature=signature,
            input_example=input_example,
            pip_requirements=list(pip_requirements),
            registered_model_name=model.name,
        )
    return info, int(info.registered_model_version)


def alias_version(store: TrackingStore, model: ModelSpec, alias: str) -> VersionRef | None:
    """(version, run_id) of the version with ``alias``, or None (no model or no such alias)."""
    try:
        mv = store.client().get_model_version_by_alias(model.name, alias)
    except MlflowException:
        return None
    return VersionRef(int(mv.version), mv.run_id or "")


def current_champion(store: TrackingStore, model: ModelSpec) -> VersionRef | None:
    return alias_version(store, model, CHAMPION)


def champion_run(store: TrackingStore, model: ModelSpec) -> Run | None:
    """The training run of the champion, or None without a champion (or a run)."""
    champ = current_champion(store, model)
    if champ is None or not champ.run_id:
        return None
    return store.client().get_run(champ.run_id)


def latest_version(store: TrackingStore, model: ModelSpec) -> ModelVersion | None:
    """The newest version of ``model``, or None."""
    try:
        versions = store.client().search_model_versions(f"name = '{model.name}'")
    except MlflowException:
        return None
    return max(versions, key=lambda mv: int(mv.version)) if versions else None


def set_alias(
    store: TrackingStore, model: ModelSpec, alias: str, version: int, tags: Mapping[str, str]
) -> None:
    """Give ``version`` the ``alias`` (moving it from any other version) and these tags."""
    client = store.client()
    client.set_registered_model_alias(model.name, alias, str(version))
    for key, value in tags.items():
        client.set_model_version_tag(model.name, str(version), key, value)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def artifact_problem(store: TrackingStore, model: ModelSpec, version: int | str) -> str | None:
    """What is wrong with a version's artifacts, or None if they look loadable: the folder, or
    one of ``PYFUNC_FILES`` and ``model.files`` missing, or a pickle that does not unpickle.
    Only local artifact stores are checked (anything else, e.g. a tracking server: None)."""
    uri = store.client().get_model_version_download_uri(model.name, str(version))
    folder = local_path(uri)
    if folder is None:
        return None
    if not folder.is_dir():
        return f"its artifact folder {folder} is missing"
    for name in (*PYFUNC_FILES, *model.files):
        if not (folder / name).is_file():
            return f"{name} is missing from its artifact folder {folder}"
    import cloudpickle

    pickles = [name for name in (*model.files, *PYFUNC_FILES) if name.endswith(".pkl")]
    for name in pickles:
        try:
            with open(folder / name, "rb") as fh:
                cloudpickle.load(fh)
        except Exception as error:  # noqa: BLE001 - any failure to unpickle is corruption
            return f"{name} in {folder} is corrupt ({first_line(error)})"
    return None


def _unavailable(
    store: TrackingStore, model: ModelSpec, version: int, error: Exception, hint: str
) -> ChampionUnavailableError:
    problem = artifact_problem(store, model, version) or f"loading it failed ({first_line(error)})"
    return ChampionUnavailableError(
        f"{model.name} v{version} ({CHAMPION}) cannot be loaded: {problem}"
        + (f"; {hint}." if hint else ".")
    )


def load_champion(
    store: TrackingStore, model: ModelSpec, *, retrain_hint: str = ""
) -> tuple[PyFuncModel, int]:
    """The champion, loaded from ``models:/<name>@champion``, and its version.

    The version is the one whose run the loaded model came from: if a training run moved the
    alias between the lookup and the load, the lookup is repeated. No champion raises
    LookupError; missing or corrupt artifacts raise ``ChampionUnavailableError`` (one line
    ending in ``retrain_hint``, no MLflow traceback)."""
    with fluent(store):
        for _ in range(LOAD_ATTEMPTS):
            champ = current_champion(store, model)
            if champ is None:
                raise LookupError(f"no {model.name}@{CHAMPION} in {store.describe()}: train first")
            try:
                loaded = mlflow.pyfunc.load_model(model.uri(CHAMPION))
            except Exception as error:  # noqa: BLE001 - reported as one line, see _unavailable
                if current_champion(store, model) != champ:
                    continue  # the alias moved while loading: load the new champion
                raise _unavailable(store, model, champ.version, error, retrain_hint) from None
            if loaded.metadata.run_id == champ.run_id:
                return loaded, champ.version
    raise RuntimeError(f"{model.name}@{CHAMPION} kept moving while it was loaded")
