"""The `make run` runner's own logic: the order history's days and the instance folder."""

import datetime as dt

import pandas as pd
import pytest
import yaml

from ml.settings import DataPaths
from orchestration.run import PipelineError, has_files, order_date_range, prepare_instance


def write_orders(folder, name, dates):
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"order_id": [str(i) for i in range(len(dates))], "order_date": dates})
    if name.endswith(".csv"):
        frame.to_csv(folder / name, index=False)
    else:
        frame.to_parquet(folder / name)


def test_order_date_range_spans_every_file_and_ignores_unreadable_dates(tmp_path):
    paths = DataPaths(tmp_path)
    folder = paths.raw_entity("orders")
    write_orders(folder, "a.csv", ["2025-03-04 10:15", "not a date", "2025-01-02"])
    write_orders(folder, "b.parquet", ["2025-06-30", "2025-02-01"])
    (folder / "notes.txt").write_text("ignored")
    assert has_files(folder)
    assert order_date_range(paths, dt.date(2026, 1, 1)) == (dt.date(2025, 1, 2),
                                                            dt.date(2025, 6, 30))


def test_order_date_range_is_clipped_to_today_and_first_partition(tmp_path):
    paths = DataPaths(tmp_path)
    write_orders(paths.raw_entity("orders"), "a.csv", ["2008-05-01", "2031-01-01"])
    first, last = order_date_range(paths, dt.date(2026, 11, 23))
    assert (first, last) == (dt.date(2009, 1, 1), dt.date(2026, 11, 23))


def test_order_date_range_without_any_readable_date_is_a_clear_error(tmp_path):
    paths = DataPaths(tmp_path)
    write_orders(paths.raw_entity("orders"), "a.csv", ["soon", "later"])
    with pytest.raises(PipelineError, match="no order .* has a readable date|No order"):
        order_date_range(paths, dt.date(2026, 11, 23))


def test_prepare_instance_turns_off_the_first_visit_dialog_and_keeps_user_settings(tmp_path):
    paths = DataPaths(tmp_path)
    home = prepare_instance(paths)
    settings = yaml.safe_load((home / "dagster.yaml").read_text())
    assert settings["nux"] == {"enabled": False}
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    prepare_instance(paths)
    assert "enabled: true" in (home / "dagster.yaml").read_text()
    assert not has_files(tmp_path / "missing")
