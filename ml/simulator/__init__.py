"""The chain simulator: a realistic synthetic cross-border seller for demos, tests and benchmarks.

from ml.simulator import load_scenario, generate, GroundTruth
summary = generate(load_scenario("small"), DataPaths(tmp_dir))
truth = GroundTruth.load(DataPaths(tmp_dir).truth)

A benchmark runs its own policy through the same engine, in memory:

from ml.simulator import Policies, build_world, simulate
result = simulate(build_world(load_scenario("small")), Policies(pricing=MyPricing()))
"""

from .engine import SimulationResult, simulate
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
    "load_scenario",
    "simulate",
]
