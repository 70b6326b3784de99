"""The benchmarks' shared parts: the pipeline bench ingests as the assets do; tables and JSON."""

import json

import ingest_fixtures as fx
import pytest

from ml.bench.output import Column, text_table, write_json
from ml.bench.pipeline import format_table, ingest_all
from ml.settings import DataPaths


@pytest.mark.slow  # another process or a whole training round trip
def test_the_pipeline_bench_ingests_and_checks_every_entity_as_the_assets_do(tmp_path):
    paths = DataPaths(tmp_path)
    fx.write_valid(paths.raw)
    summary = ingest_all(paths.root, run_date=fx.RUN_DATE)
    assert set(summary) == set(fx.INGEST_ORDER)
    for name, figures in summary.items():
        rows = len(fx.valid_rows(name))
        assert figures == {
            "rows_read": rows,
            "accepted": rows,
            "quarantined": 0,
            "reconciles": True,
            "suite_passed": True,
        }, name


def test_text_tables_align_and_show_missing_values_as_dashes():
    columns = (Column("model", 8), Column("WAPE", 7, ".3f", "wape"), Column("n", 7, ","))
    lines = text_table(columns, [{"model": "a", "wape": 0.8719, "n": 12345}, {"model": "bb"}])
    assert lines == ["model      WAPE      n", "a         0.872 12,345", "bb            -      -"]


def test_the_pipeline_table_and_the_json_report(tmp_path):
    report = {
        "sizes": [
            {
                "skus": 200,
                "order_rows": 12345,
                "stages": {k: {"seconds": s} for k, s in
                           (("generate", 1.25), ("ingest_checks", 3.4), ("dbt_build", 5.6))},
                "ingest_checks_dbt_seconds": 9.0,
                "peak_rss_mb": 512.3,
            }
        ],
        "growth_exponent": {"dbt_build": 0.8},
    }  # fmt: skip
    text = format_table(report)
    assert text.splitlines()[2].split() == ["200", "12,345", "1.2", "3.4", "5.6", "9.0", "512"]
    assert "dbt_build 0.8" in text
    write_json(tmp_path / "out" / "bench.json", report)
    assert json.loads((tmp_path / "out" / "bench.json").read_text()) == report
