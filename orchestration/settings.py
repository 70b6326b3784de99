"""Settings read when the definitions load (inside ``@dg.definitions`` functions, not at import)."""

from __future__ import annotations

import os
import zoneinfo

import dagster as dg

from ml.settings import ORDERS_FIRST_PARTITION

TIMEZONE_ENV = "KUAJING_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"


def schedule_timezone() -> str:
    """The time zone of the nightly schedule and of the daily order partitions."""
    name = os.environ.get(TIMEZONE_ENV) or DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{TIMEZONE_ENV}={name!r} is not an IANA time zone (e.g. UTC, Asia/Shanghai, "
            "Europe/Berlin)"
        ) from None
    return name


def orders_partitions() -> dg.DailyPartitionsDefinition:
    """Orders are partitioned by order day, so a day can be re-run or backfilled."""
    return dg.DailyPartitionsDefinition(
        start_date=ORDERS_FIRST_PARTITION, timezone=schedule_timezone()
    )
