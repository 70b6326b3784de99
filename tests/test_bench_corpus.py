"""The corpus benchmark's bookkeeping: which datasets are there, and the summary per dataset."""

import pytest

from ml.bench.corpus import CORPUS, format_summary, present, summary_rows


def test_present_lists_the_datasets_found_and_refuses_unknown_names(tmp_path):
    (tmp_path / "rossmann").mkdir()
    (tmp_path / "avocado").mkdir()
    assert [d.name for d in present(tmp_path)] == ["rossmann", "avocado"]  # corpus order
    assert [d.name for d in present(tmp_path, ["avocado", "built-in"])] == ["avocado"]
    with pytest.raises(ValueError, match="unknown datasets: rosman"):
        present(tmp_path, ["rosman"])
    assert {d.name for d in CORPUS} >= {"rossmann", "pasta_sales", "avocado", "online_retail"}


def report(kuajing_wape: float, peer_wape: float, verdict: dict) -> dict:
    return {
        "grain": "daily",
        "data": {"n_series": 1115},
        "models": {
            "kuajing": {"wape": kuajing_wape, "wape_mean": 0.16, "wrmsse": 0.7,
                        "coverage_p10_p90_pit": 0.675, "pinball": 10.25},
            "mlforecast": {"wape": peer_wape, "wrmsse": 0.59},
            "seasonal_naive": {"wape": 0.3, "wrmsse": 1.1},
            "statsforecast_autoets": {"wape": 0.2, "wrmsse": 0.8, "pinball": 12.5},
            "zero": {"wape": 1.0, "wrmsse": 0.5},  # a reference, never the best peer
        },
        "verdict": verdict,
        "served": {"model": "mlforecast", "metrics": {"wape": peer_wape}},
        "wall_seconds": 600.0,
    }  # fmt: skip


def test_the_summary_compares_kuajing_with_the_best_peer_and_names_missed_targets():
    reports = {
        "rossmann": report(0.159, 0.118, {"coverage_pit": False, "beats_every_baseline_and_peer":
                                          False, "scoring_time": True}),
        "avocado": report(0.08, 0.086, {"coverage_pit": True, "wape_vs_oracle": None}),
    }  # fmt: skip
    rows = summary_rows(reports)
    assert rows[0] | {"missed": rows[0]["missed"]} == {
        "dataset": "rossmann",
        "grain": "daily",
        "series": 1115,
        "wape": 0.159,
        "wape_mean": 0.16,
        "best_peer_wape": 0.118,
        "best_peer": "mlforecast",
        "wrmsse": 0.7,
        "best_peer_wrmsse": 0.59,
        "pit": 0.675,
        "pinball": 10.25,
        "autoets_pinball": 12.5,
        "served": "mlforecast",
        "served_wape": 0.118,
        "missed": "coverage_pit, beats_every_baseline_and_peer",
        "minutes": 10.0,
    }
    assert rows[1]["missed"] == "-"
    text = format_summary({"corpus_dir": "/shared", "absent": ["pasta_sales"], "summary": rows})
    assert (
        "rossmann" in text
        and "67.5%" in text
        and "10.25" in text
        and "12.5" in text
        and "skipped): pasta_sales" in text
    )


def test_every_corpus_importer_exists_and_takes_a_source_and_a_data_folder():
    import inspect

    from ml.bench.corpus import _importer

    for dataset in CORPUS:
        params = inspect.signature(_importer(dataset.importer)).parameters
        assert list(params)[:2] == ["source", "paths"] and "overwrite" in params, dataset.name
