"""The jobs a seller's data team runs: the pipeline nightly, forecast training weekly, and a
tariff refresh when new tariff files arrive."""

import dagster as dg

from orchestration.defs.forecast.assets import FORECAST_KEY, MODEL_KEY
from orchestration.names import FULL_JOB, PIPELINE_JOB, TARIFF_JOB, TRAINING_JOB
from orchestration.settings import orders_partitions, schedule_timezone

NIGHTLY_HOUR = 2
# Weekly retraining: Sunday 03:00, after that night's pipeline has built the marts.
TRAINING_CRON = "0 3 * * 0"
# Every asset a run can materialize (quality/quarantine is written by the ingest assets).
EVERY_ASSET = dg.AssetSelection.all().materializable()


def pipeline_job():
    return dg.define_asset_job(
        PIPELINE_JOB,
        selection=EVERY_ASSET - dg.AssetSelection.assets(MODEL_KEY),
        partitions_def=orders_partitions(),
        description="Ingest and check every raw entity (orders for the run's days), build "
        "every dbt model, and score the demand forecast with the registry's champion. The "
        "nightly schedule runs it for yesterday.",
    )


def full_job():
    return dg.define_asset_job(
        FULL_JOB,
        selection=EVERY_ASSET,
        partitions_def=orders_partitions(),
        description="The pipeline with forecast training before scoring: what `make run` runs "
        "when the registry has no champion yet.",
    )


def training_job():
    return dg.define_asset_job(
        TRAINING_JOB,
        selection=dg.AssetSelection.assets(MODEL_KEY, FORECAST_KEY),
        description="Backtest and register a new demand_forecast version (champion only if it "
        "beats the current one), then re-score with whichever version is champion.",
    )


def tariff_refresh_job():
    return dg.define_asset_job(
        TARIFF_JOB,
        selection=dg.AssetSelection.keys(["raw", "tariff_measures"]).downstream().materializable()
        - dg.AssetSelection.assets(MODEL_KEY),
        description="Re-ingest tariff measures and rebuild what depends on them.",
    )


@dg.definitions
def defs() -> dg.Definitions:
    job = pipeline_job()
    nightly = dg.build_schedule_from_partitioned_job(
        job,
        name="nightly_pipeline",
        hour_of_day=NIGHTLY_HOUR,
        minute_of_hour=0,
        description="Every night at 02:00 (KUAJING_TIMEZONE, default UTC): yesterday's orders "
        "and every model downstream.",
    )
    training = training_job()
    weekly = dg.ScheduleDefinition(
        name="weekly_forecast_training",
        job=training,
        cron_schedule=TRAINING_CRON,
        execution_timezone=schedule_timezone(),
        description="Sundays at 03:00 (KUAJING_TIMEZONE, default UTC): retrain, gate, re-score.",
    )
    return dg.Definitions(
        jobs=[job, full_job(), training, tariff_refresh_job()], schedules=[nightly, weekly]
    )
