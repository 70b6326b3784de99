"""The chain simulator: a realistic synthetic cross-border seller for demos, tests and benchmarks.

from ml.simulator import load_scenario, generate, GroundTruth
summary = generate(load_scenario("small"), DataPaths(tmp_dir))
truth = GroundTruth.load(DataPaths(tmp_dir).truth)

A benchmark runs its own policy through the same engine, in memory:

from ml.simulator import Policies, build_world, simulate
result = simulate(build_world(load_scenario("small")), Policies(pricing=MyPricing()))

For pricing benchmarks a scenario sets the shape of the true price response (``price_response``:
constant elasticity by default, ``linear``, or ``logit`` with a loss-aversion
``reference_effect`` above the listing's reference price; each has the listing's elasticity at
its reference price, and ``GroundTruth.elasticity`` gives it at any price), the share of
listings whose history holds price tests (``price_test_share``; ``price_tests`` in the truth's
series table) and extra, possibly pre-announced tariff measures (``extra_tariff_schedule``, as in
``tariff_shock.yaml``). A policy learns of an announced tariff from its announcement day through
``Observation.announced_duty``; a benchmark replays ``holdout_days(world)``, the last 90
days of the history. At their defaults these knobs leave the generated data exactly as before.
"""

from .engine import SimulationResult, holdout_days, simulate
from .generate import GenerationSummary, generate
from .observation import Observation, SellerFacts
from .policies import (
    DefaultPricing,
    OrderUpToReplenishment,
    Policies,
    PricingPolicy,
    ReplenishmentPolicy,
)
from .scenario import Scenario, available_scenarios, load_scenario
from .truth import GroundTruth
from .world import build_world

__all__ = [
    "DefaultPricing",
    "GenerationSummary",
    "GroundTruth",
    "Observation",
    "OrderUpToReplenishment",
    "Policies",
    "PricingPolicy",
    "ReplenishmentPolicy",
    "Scenario",
    "SellerFacts",
    "SimulationResult",
    "available_scenarios",
    "build_world",
    "generate",
    "holdout_days",
    "load_scenario",
    "simulate",
]
