"""The registry gate: does a new version become ``champion`` or stay ``challenger``?

The mechanics are the same for every model; how two versions compare is the model's own, a
``ComparisonRule``:

1. a candidate the rule cannot judge (``rule.refusal``, e.g. its guard metric is missing)
   stays challenger, even a first model;
2. no champion yet: champion ("first model");
3. a champion whose artifacts are missing or corrupt cannot serve: replaced;
4. otherwise ``rule.compare(champion, candidate)`` decides, and says why.

``record`` moves the alias and logs the decision: model version tags and run tags
``gate_decision`` / ``gate_reason`` / ``champion_before``, the champion's metrics on the
candidate's evaluation (``champion_<metric>``) and ``gate_decision.txt``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mlflow.entities import Metric, RunTag

from .store import TrackingStore
from .versions import (
    CHALLENGER,
    CHAMPION,
    ModelSpec,
    artifact_problem,
    current_champion,
    latest_version,
    set_alias,
)

FIRST_MODEL_REASON = "first model"
DECISION_TAG, REASON_TAG, BEFORE_TAG = "gate_decision", "gate_reason", "champion_before"
DECISION_FILE = "gate_decision.txt"


@dataclass(frozen=True)
class Champion:
    """The current champion, as a rule sees it: its version and its training run's params."""

    version: int
    run_id: str
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """A rule's answer: ``promote`` the candidate or not, why, and the champion's metrics on
    the candidate's evaluation (logged as ``champion_<metric>``) if it was scored."""

    promote: bool
    reason: str
    champion_metrics: dict[str, float] | None = None


class ComparisonRule(Protocol):
    """How one model's candidate is judged against its champion."""

    def refusal(self, candidate: Mapping[str, float]) -> str | None:
        """Why ``candidate``'s metrics cannot be judged at all (it stays challenger), or None."""
        ...

    def compare(self, champion: Champion, candidate: Mapping[str, float]) -> Verdict:
        """Whether ``candidate`` should replace ``champion``, and why."""
        ...


@dataclass(frozen=True)
class GateDecision:
    alias: str  # champion | challenger
    reason: str
    champion_version: int | None  # the champion before this run
    champion_metrics: dict[str, float] | None  # its score on this run's evaluation

    def tags(self) -> dict[str, str]:
        return {
            DECISION_TAG: self.alias,
            REASON_TAG: self.reason,
            BEFORE_TAG: str(self.champion_version or ""),
        }


def decide(
    store: TrackingStore, model: ModelSpec, rule: ComparisonRule, candidate: Mapping[str, float]
) -> GateDecision:
    """Champion or challenger for a candidate with metrics ``candidate`` (see the module)."""
    champ = current_champion(store, model)
    refused = rule.refusal(candidate)
    if refused:
        return GateDecision(CHALLENGER, refused, champ.version if champ else None, None)
    if champ is None:
        return GateDecision(CHAMPION, FIRST_MODEL_REASON, None, None)
    broken = artifact_problem(store, model, champ.version)
    if broken:
        why = f"champion v{champ.version} cannot be loaded ({broken}): replaced"
        return GateDecision(CHAMPION, why, champ.version, None)
    run = store.client().get_run(champ.run_id).data if champ.run_id else None
    champion = Champion(
        champ.version, champ.run_id, run.params if run else {}, run.tags if run else {}
    )
    verdict = rule.compare(champion, candidate)
    alias = CHAMPION if verdict.promote else CHALLENGER
    return GateDecision(alias, verdict.reason, champ.version, verdict.champion_metrics)


def record(
    store: TrackingStore,
    model: ModelSpec,
    decision: GateDecision,
    *,
    version: int,
    run_id: str,
    version_tags: Mapping[str, str] | None = None,
) -> None:
    """Give ``version`` (logged by run ``run_id``) the decided alias and log the decision on
    the version (with ``version_tags``) and on the run."""
    tags = decision.tags()
    set_alias(store, model, decision.alias, version, {**tags, **(version_tags or {})})
    now = int(time.time() * 1000)
    client = store.client()
    client.log_batch(
        run_id,
        metrics=[
            Metric(f"champion_{key}", value, now, 0)
            for key, value in (decision.champion_metrics or {}).items()
        ],
        tags=[RunTag(key, value) for key, value in {**tags, "model_version": str(version)}.items()],
    )
    client.log_text(
        run_id,
        f"decision: {decision.alias}\nreason: {decision.reason}\nversion: {version}\n"
        f"champion before: {decision.champion_version}\n",
        DECISION_FILE,
    )


def latest_decision(store: TrackingStore, model: ModelSpec) -> tuple[int, str, str] | None:
    """(version, gate decision, gate reason) of the newest version of ``model``, or None."""
    newest = latest_version(store, model)
    if newest is None:
        return None
    tags = newest.tags or {}
    return int(newest.version), tags.get(DECISION_TAG, ""), tags.get(REASON_TAG, "")
