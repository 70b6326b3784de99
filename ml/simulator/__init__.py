"""The chain simulator: a realistic synthetic cross-border seller for demos, tests and benchmarks.

from ml.simulator import load_scenario, generate, GroundTruth
summary = generate(load_scenario("small"), DataPaths(tmp_dir))
truth = GroundTruth.load(DataPaths(tmp_dir).truth)
"""

from .generate import GenerationSummary, generate
from .scenario import Scenario, available_scenarios, load_scenario
from .truth import GroundTruth

__all__ = [
    "GenerationSummary",
    "GroundTruth",
    "Scenario",
    "available_scenarios",
    "generate",
    "load_scenario",
]
