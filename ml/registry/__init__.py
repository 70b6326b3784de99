"""The model registry every Kuajing model uses: MLflow tracking and registry, domain-neutral.

- ``store``: ``TrackingStore`` (tracking URI, local artifact root), experiments, the fluent
  API pointed at a store and given back, re-basing a copied or moved local store;
- ``runs``: the process tags of a training run, runs of dead processes marked FAILED;
- ``tracking``: what a run logs besides its model (tables, plots, data fingerprint, dataset);
- ``versions``: ``ModelSpec``, register a pyfunc version, champion / challenger aliases, load
  the champion (``ChampionUnavailableError``), the newest version;
- ``gate``: champion or challenger, with the model's own ``ComparisonRule``;
- ``code_paths``: the project code a logged model carries.

A model (``ml.forecast`` for ``demand_forecast``) supplies its name and experiment
(``ModelSpec``), its pyfunc, its metrics and its comparison rule.
"""

from .gate import (
    FIRST_MODEL_REASON,
    Champion,
    ComparisonRule,
    GateDecision,
    Verdict,
    decide,
    latest_decision,
    record,
)
from .runs import mark_dead_runs_failed, process_tags
from .store import (
    TrackingStore,
    TrackingStoreUnavailable,
    fluent,
    open_experiment,
    rebase_artifact_root,
)
from .versions import (
    CHALLENGER,
    CHAMPION,
    ChampionUnavailableError,
    ModelSpec,
    VersionRef,
    current_champion,
    load_champion,
    log_pyfunc,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "FIRST_MODEL_REASON",
    "Champion",
    "ChampionUnavailableError",
    "ComparisonRule",
    "GateDecision",
    "ModelSpec",
    "TrackingStore",
    "TrackingStoreUnavailable",
    "Verdict",
    "VersionRef",
    "current_champion",
    "decide",
    "fluent",
    "latest_decision",
    "load_champion",
    "log_pyfunc",
    "mark_dead_runs_failed",
    "open_experiment",
    "process_tags",
    "rebase_artifact_root",
    "record",
]
