"""``kuajing bench forecast --corpus``: the forecast comparison on every real dataset of the
corpus that is present, plus the built-in scenario; one report per dataset and a summary.

Each dataset is imported into the raw contract in a work folder (kept between runs: an import
and its marts are reused when the folder already holds them), then backtested exactly as
``kuajing bench forecast --data-dir`` would.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.bench.forecast import format_table, run_forecast_bench
from ml.bench.output import Column, Echo, text_table
from ml.settings import PROJECT_ROOT, DataPaths

CORPUS_ENV = "KUAJING_CORPUS_DIR"
BUILT_IN = "built-in"


@dataclass(frozen=True)
class CorpusDataset:
    name: str  # as on the command line
    folder: str  # under the corpus folder
    importer: str  # "module:function", called as f(source, paths, overwrite=True)
    what: str


CORPUS: tuple[CorpusDataset, ...] = (
    CorpusDataset(
        "online_retail",
        "online_retail",
        "ml.importers.online_retail:import_online_retail",
        "daily, sparse: a UK gift-ware web shop, 38 countries",
    ),
    CorpusDataset(
        "rossmann",
        "rossmann",
        "ml.importers.rossmann:import_rossmann",
        "daily, dense, turnover: 1,115 drugstores, promotions, closed days",
    ),
    CorpusDataset(
        "pasta_sales",
        "pasta_sales",
        "ml.importers.pasta_sales:import_pasta_sales",
        "daily item counts: 118 pasta products, promotion flags",
    ),
    CorpusDataset(
        "avocado",
        "avocado",
        "ml.importers.avocado:import_avocado",
        "weekly, high volume, prices: US regions x conventional/organic",
    ),
    CorpusDataset(
        "breakfast_at_the_frat",
        "breakfast_at_the_frat",
        "ml.importers.breakfast_at_the_frat:import_breakfast_at_the_frat",
        "weekly store x product, shelf and base prices, feature, display",
    ),
)


def corpus_dir(explicit: Path | None = None) -> Path:
    """``explicit``, else ``$KUAJING_CORPUS_DIR``, else ``../shared/data`` beside the project."""
    chosen = explicit or os.environ.get(CORPUS_ENV) or PROJECT_ROOT.parent / "shared" / "data"
    return Path(chosen).expanduser().resolve()


def present(root: Path, names: Iterable[str] | None = None) -> list[CorpusDataset]:
    """The corpus datasets found under ``root`` (those named, if ``names``)."""
    wanted = set(names) if names is not None else None
    known = {d.name for d in CORPUS}
    if wanted is not None and wanted - known - {BUILT_IN}:
        unknown = ", ".join(sorted(wanted - known - {BUILT_IN}))
        raise ValueError(f"unknown datasets: {unknown}; known: {', '.join(sorted(known))}")
    return [
        d for d in CORPUS if (root / d.folder).is_dir() and (wanted is None or d.name in wanted)
    ]


def _importer(spec: str) -> Callable[..., Any]:
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def import_dataset(dataset: CorpusDataset, root: Path, workdir: Path, echo: Echo) -> DataPaths:
    """The dataset in the raw contract under ``workdir/<name>`` (imported once)."""
    from ml.ingest import discover_files

    paths = DataPaths(workdir / dataset.name)
    if discover_files(paths.raw, "orders"):
        echo(f"{dataset.name}: using the import in {paths.root}")
        return paths
    echo(f"{dataset.name}: importing {root / dataset.folder} into {paths.root}")
    report = _importer(dataset.importer)(root / dataset.folder, paths.ensure(), overwrite=True)
    echo(str(report))
    return paths


def run_corpus_bench(
    root: Path,
    workdir: Path,
    *,
    names: Iterable[str] | None = None,
    n_folds: int = 3,
    models: tuple[str, ...] | None = None,
    echo: Echo = print,
) -> dict:
    """One forecast bench report per dataset present (and the built-in scenario), in order."""
    selected = list(names) if names is not None else None
    datasets = present(root, selected)
    kw: dict[str, Any] = {"n_folds": n_folds, "echo": echo}
    if models is not None:
        kw["models"] = models
    reports: dict[str, dict] = {}
    if selected is None or BUILT_IN in selected:
        started = time.perf_counter()
        reports[BUILT_IN] = run_forecast_bench(None, **kw)
        reports[BUILT_IN]["wall_seconds"] = round(time.perf_counter() - started, 1)
        echo(format_table(reports[BUILT_IN]))
    for dataset in datasets:
        started = time.perf_counter()
        paths = import_dataset(dataset, root, workdir, echo)
        report = run_forecast_bench(paths.root, **kw)
        report["dataset"] = {"name": dataset.name, "what": dataset.what}
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        reports[dataset.name] = report
        echo(format_table(report))
    absent = [
        d.name for d in CORPUS if d not in datasets and (selected is None or d.name in selected)
    ]
    return {
        "benchmark": "forecast_corpus",
        "corpus_dir": str(root),
        "absent": absent,
        "datasets": reports,
        "summary": summary_rows(reports),
    }


PEER_EXCLUDED = ("kuajing", "oracle", "zero")


def summary_rows(reports: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per dataset: Kuajing against the best peer, calibration, verdict, time."""
    rows = []
    for name, report in reports.items():
        models = report["models"]
        k = models.get("kuajing", {})
        peers = {m: v for m, v in models.items() if m not in PEER_EXCLUDED}
        best_wape = min(peers, key=lambda m: peers[m]["wape"]) if peers else None
        weighted = {m: v for m, v in peers.items() if v.get("wrmsse") is not None}
        best_wrmsse = min(weighted, key=lambda m: weighted[m]["wrmsse"]) if weighted else None
        missed = [t for t, ok in report["verdict"].items() if ok is False]
        served = report.get("served") or {}
        rows.append(
            {
                "dataset": name,
                "grain": report["grain"],
                "series": report["data"]["n_series"],
                "wape": k.get("wape"),
                "wape_mean": k.get("wape_mean"),
                "best_peer_wape": peers[best_wape]["wape"] if best_wape else None,
                "best_peer": best_wape,
                "wrmsse": k.get("wrmsse"),
                "best_peer_wrmsse": weighted[best_wrmsse]["wrmsse"] if best_wrmsse else None,
                "pit": k.get("coverage_p10_p90_pit"),
                "pinball": k.get("pinball"),
                "autoets_pinball": models.get("statsforecast_autoets", {}).get("pinball"),
                "served": served.get("model"),
                "served_wape": served.get("metrics", {}).get("wape"),
                "missed": ", ".join(missed) or "-",
                "minutes": round(report.get("wall_seconds", 0.0) / 60, 1),
            }
        )
    return rows


SUMMARY_COLUMNS = (
    Column("dataset", 24),
    Column("grain", 8),
    Column("series", 8, ","),
    Column("WAPE", 7, ".3f", "wape"),
    Column("(mean)", 8, ".3f", "wape_mean"),
    Column("peer", 8, ".3f", "best_peer_wape"),
    Column("WRMSSE", 8, ".3f", "wrmsse"),
    Column("peer", 8, ".3f", "best_peer_wrmsse"),
    Column("PIT", 7, ".1%", "pit"),
    Column("pinball", 10, ".4g"),
    Column("AutoETS", 10, ".4g", "autoets_pinball"),
    Column("served", 24),
    Column("WAPE", 7, ".3f", "served_wape"),
    Column("min", 6, ".1f", "minutes"),
)


def format_summary(report: dict) -> str:
    rows = report["summary"]
    lines = [
        f"Forecast corpus ({report['corpus_dir']}): Kuajing against the best baseline or peer "
        '("peer" columns) on each dataset, pinball loss of its quantiles against AutoETS\'s '
        "intervals, and what a training run there serves",
        *text_table(SUMMARY_COLUMNS, rows),
        "",
        *(
            f"  {r['dataset']}: best WAPE peer {r['best_peer']}; missed: {r['missed']}"
            for r in rows
        ),
    ]
    if report["absent"]:
        lines.append(f"Not in the corpus folder (skipped): {', '.join(report['absent'])}")
    return "\n".join(lines)
