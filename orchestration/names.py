"""Names the launcher (``orchestration.run``) and the definitions share, in a module cheap to
import (the definitions themselves take seconds to load)."""

PIPELINE_JOB = "kuajing_pipeline"
FULL_JOB = "kuajing_pipeline_with_training"
TRAINING_JOB = "forecast_training"
TARIFF_JOB = "tariff_refresh"
