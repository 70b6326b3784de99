"""Great Expectations suites over the accepted warehouse rows, built from ``ml.contract``.

Importing this package does not import great_expectations (~10 s); ``run_suite`` does.
"""

from ml.quality.suites import (
    ExpectationOutcome,
    ExpectationSpec,
    SuiteResult,
    build_suite,
    expectation_specs,
    run_suite,
)

__all__ = [
    "ExpectationOutcome",
    "ExpectationSpec",
    "SuiteResult",
    "build_suite",
    "expectation_specs",
    "run_suite",
]
