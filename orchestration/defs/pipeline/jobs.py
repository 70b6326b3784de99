"""The jobs a seller's data team runs: the whole pipeline nightly, and a tariff refresh."""

import dagster as dg

from orchestration.defs.ingest.sensors import TARIFF_JOB
from orchestration.settings import orders_partitions

PIPELINE_JOB = "kuajing_pipeline"
NIGHTLY_HOUR = 2


def pipeline_job():
    return dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all(),
        partitions_def=orders_partitions(),
        description="Ingest and check every raw entity (orders for the run's days), then "
        "build every dbt model. `make run` runs it over the whole order history; the nightly "
        "schedule runs it for yesterday.",
    )


def tariff_refresh_job():
    return dg.define_asset_job(
        TARIFF_JOB,
        selection=dg.AssetSelection.keys(["raw", "tariff_measures"]).downstream(),
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
    return dg.Definitions(jobs=[job, tariff_refresh_job()], schedules=[nightly])
