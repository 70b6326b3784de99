"""Shared fixtures. The end-to-end run is session-scoped: the e2e and UI tests share one."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.settings import PROJECT_ROOT

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
# The end-to-end run's "today": its demo data ends the day before, as the scenario file says.
E2E_RUN_DATE = "2026-11-01"


@dataclass(frozen=True)
class PipelineRun:
    data_dir: Path
    output: str

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUAJING_DATA_DIR": str(self.data_dir),
            "DAGSTER_HOME": str(self.data_dir / "dagster"),
            "KUAJING_RUN_DATE": E2E_RUN_DATE,
        }


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    """`make run`'s runner on the small scenario, in a temporary data folder."""
    data_dir = tmp_path_factory.mktemp("kuajing-e2e")
    env = {**os.environ, "KUAJING_DATA_DIR": str(data_dir), "KUAJING_RUN_DATE": E2E_RUN_DATE}
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.run", "--scenario", "small"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    return PipelineRun(data_dir=data_dir, output=output)
