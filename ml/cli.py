"""``kuajing``: the tasks that are not runs of the pipeline.

Runs of the pipeline go through Dagster (``make run``, the nightly schedule, the UI).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ml.settings import DATA_DIR_ENV, DataPaths

DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Data folder (default: ${DATA_DIR_ENV}, else data/ in the project).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Kuajing: data and ML for cross-border sellers.

    Run the pipeline with `make run`; these commands prepare data and measure.
    """


@main.command()
@DATA_DIR_OPTION
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="Scenario name (ml/simulator/scenarios/<name>.yaml) or path to a YAML file.",
)
@click.option("--seed", type=int, default=None, help="Override the scenario's random seed.")
@click.option("--skus", type=int, default=None, help="Override the scenario's number of SKUs.")
@click.option(
    "--force", is_flag=True, help="Replace raw files already in the data folder (otherwise refuse)."
)
def demo(
    data_dir: Path | None, scenario: str, seed: int | None, skus: int | None, force: bool
) -> None:
    """Create the built-in demo data: a simulated seller with ground truth."""
    from ml.simulator import generate, load_scenario

    paths = DataPaths.from_env(data_dir)
    existing = [p for p in paths.raw.glob("*/*") if p.is_file()] if paths.raw.is_dir() else []
    if existing and not force:
        raise click.ClickException(
            f"{paths.raw} already holds {len(existing)} raw file(s); pass --force to replace "
            "them with demo data."
        )
    if existing:
        for p in existing:
            p.unlink()
    overrides = {k: v for k, v in {"seed": seed, "n_skus": skus}.items() if v is not None}
    try:
        chosen = load_scenario(scenario, overrides or None)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    summary = generate(chosen, paths.ensure(), progress=True)
    click.echo(str(summary))
    click.echo(f"Raw files: {paths.raw}\nGround truth (never read by the pipeline): {paths.truth}")


@main.group(name="import")
def import_group() -> None:
    """Import a public dataset into the raw data contract."""


@import_group.command(name="online-retail")
@DATA_DIR_OPTION
@click.option(
    "--source",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="The Online Retail file as downloaded from the UCI Machine Learning "
    "Repository (xlsx, csv or parquet), or a folder holding it.",
)
@click.option("--overwrite", is_flag=True, help="Replace raw files already there.")
def import_online_retail_cmd(data_dir: Path | None, source: Path, overwrite: bool) -> None:
    """Import the UCI Online Retail dataset (UK gift-ware retailer, 2010-2011)."""
    from ml.importers.online_retail import import_online_retail

    paths = DataPaths.from_env(data_dir).ensure()
    try:
        report = import_online_retail(source, paths, progress=True, overwrite=overwrite)
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(str(report))
    click.echo(f"Next: KUAJING_DATA_DIR={paths.root} make run")


JSON_OPTION = click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures to this JSON file.",
)


def write_json(json_file: Path | None, figures: dict) -> None:
    if json_file:
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(figures, indent=2))
        click.echo(f"Wrote {json_file}")


@main.group()
def bench() -> None:
    """Benchmarks: print figures and write them as JSON."""


@bench.command(name="pipeline")
@click.option(
    "--skus",
    default="200,2000,10000",
    show_default=True,
    help="Comma-separated SKU counts to measure.",
)
@click.option(
    "--marketplaces", type=int, default=10, show_default=True, help="Marketplaces per scenario."
)
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="Base scenario whose size is overridden.",
)
@JSON_OPTION
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the benchmark data folders go (default: a temporary folder, removed).",
)
def bench_pipeline(
    skus: str, marketplaces: int, scenario: str, json_file: Path | None, workdir: Path | None
) -> None:
    """Wall time and peak memory of generation, ingest + checks, and dbt build."""
    from ml.bench import format_table, run_pipeline_bench

    try:
        sizes = [int(s) for s in skus.split(",") if s.strip()]
    except ValueError:
        message = f"--skus must be comma-separated integers, got {skus!r}"
        raise click.ClickException(message) from None
    results = run_pipeline_bench(
        sizes, marketplaces=marketplaces, scenario=scenario, workdir=workdir
    )
    click.echo(format_table(results))
    write_json(json_file, results)


@bench.command(name="forecast")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A data folder in the raw contract (marts are built if missing). "
    "Default: the built-in default scenario, generated into a temporary folder.",
)
@click.option("--folds", type=int, default=3, show_default=True, help="Rolling-origin folds.")
@click.option(
    "--models",
    default=None,
    help="Comma-separated models to compare (default: all of kuajing, seasonal_naive, "
    "moving_average, statsforecast_autoets, statsforecast_croston, mlforecast, oracle; the "
    "oracle only where the data folder holds the simulator's ground truth).",
)
@click.option(
    "--grain",
    type=click.Choice(["auto", "daily", "weekly"]),
    default="auto",
    show_default=True,
    help="Forecast grain; auto infers it from the order dates.",
)
@JSON_OPTION
def bench_forecast(
    data_dir: Path | None, folds: int, models: str | None, grain: str, json_file: Path | None
) -> None:
    """Backtest Kuajing against baselines and peers on the same folds; scoring speed."""
    from ml.forecast import MODEL_KEYS, ForecastConfig
    from ml.forecast.bench import format_table, run_forecast_bench

    chosen = tuple(m.strip() for m in (models or ",".join(MODEL_KEYS)).split(",") if m.strip())
    unknown = sorted(set(chosen) - set(MODEL_KEYS))
    if unknown:
        raise click.ClickException(f"unknown models {unknown}; known: {', '.join(MODEL_KEYS)}")
    report = run_forecast_bench(
        data_dir, n_folds=folds, models=chosen, config=ForecastConfig(grain=grain), echo=click.echo
    )
    write_json(json_file, report)
    click.echo(format_table(report))


if __name__ == "__main__":
    main()
