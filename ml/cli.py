"""``kuajing``: the tasks that are not runs of the pipeline.

Runs of the pipeline go through Dagster (``make run``, the nightly schedule, the UI).
"""

from __future__ import annotations

from datetime import datetime
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
    from ml.contract import ENTITY_NAMES
    from ml.ingest import discover_files

    # The files ingest would read (subfolders included): demo data must not mix with them.
    existing = [p for name in ENTITY_NAMES for p in discover_files(paths.raw, name)]
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


def _raw_dir(folder: Path | None) -> Path:
    """A data folder (holding raw/) or a raw folder itself (holding orders/, catalog/, ...)."""
    if folder is not None and not (folder / "raw").is_dir():
        from ml.contract import ENTITY_NAMES

        if any((folder / name).is_dir() for name in ENTITY_NAMES):
            return folder.resolve()
    return DataPaths.from_env(folder).raw


@main.command()
@click.argument(
    "folder", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--samples", type=int, default=5, show_default=True, help="Sample rows per entity.")
@click.option(
    "--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Also write the figures to this JSON file.",
)  # fmt: skip
def validate(folder: Path | None, samples: int, json_file: Path | None) -> None:
    """Check a data folder against the raw data contract without running the pipeline.

    FOLDER is a data folder (with raw/ inside) or a raw folder (default: $KUAJING_DATA_DIR, else
    data/). Per entity: rows accepted and quarantined by rule, with sample rows. Nothing is
    written to the warehouse. Exits with 1 when a file cannot be read or orders are missing.
    """
    from tabulate import tabulate

    from ml.ingest.validate import validate_folder
    from ml.settings import run_date

    raw = _raw_dir(folder)
    report = validate_folder(raw, run_date(), samples=samples)
    click.echo(f"Contract check of {raw} (run date {run_date()}):")
    click.echo(tabulate(report.rows(), headers="keys", tablefmt="github", intfmt=","))
    for check in report.checks:
        if not check.samples.empty:
            click.echo(f"\n{check.entity}: sample quarantined rows")
            for row in check.samples.itertuples():
                where = f"row {row.row_number}" if row.row_number == row.row_number else "file"
                click.echo(f"  {row.source_file} {where}: {row.failed_rule}: {row.reason}")
        for path in check.unsupported:
            click.echo(f"warning: {path} is not read (only .csv and .parquet files are)")
    for error in report.unreadable:
        click.echo(f"error: raw/{error}", err=True)
    for name in report.missing_required:
        click.echo(f"error: no {name} files in {raw / name}: {name} is required", err=True)
    if json_file:
        write_json(json_file, report.as_dict())
    if not report.ok:
        raise SystemExit(1)
    click.echo("\nSee the whole quarantine of a run with `kuajing quarantine` (after `make run`).")


@main.command(name="quarantine")
@DATA_DIR_OPTION
@click.option("--entity", default=None, help="Only this entity (e.g. orders, catalog).")
@click.option("--rule", default=None, help="Only rows whose first failed rule is this one.")
@click.option("--limit", type=int, default=20, show_default=True, help="Rows listed.")
@click.option(
    "--export", "export_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write every matching row to this CSV, one column per original column, to fix them "
    "in a spreadsheet.",
)  # fmt: skip
def quarantine_cmd(
    data_dir: Path | None,
    entity: str | None,
    rule: str | None,
    limit: int,
    export_file: Path | None,
) -> None:
    """List or export the rows the last run quarantined, with the rule and the reason."""
    import duckdb
    from tabulate import tabulate

    from ml import contract
    from ml.ingest import quarantine

    if entity is not None and entity not in contract.ENTITY_NAMES:
        raise click.ClickException(
            f"unknown entity {entity!r}; known: {', '.join(contract.ENTITY_NAMES)}"
        )
    if rule is not None and rule not in {**contract.RULES, **contract.FILE_RULES}:
        known = ", ".join([*contract.RULES, *contract.FILE_RULES])
        raise click.ClickException(f"unknown rule {rule!r}; known: {known}")
    paths = DataPaths.from_env(data_dir)
    if not paths.warehouse.exists():
        raise click.ClickException(
            f"no warehouse at {paths.warehouse}: run `make run` first, or check files without "
            "a run with `kuajing validate`"
        )
    try:
        con = duckdb.connect(str(paths.warehouse), read_only=True)
    except duckdb.Error as error:
        raise click.ClickException(f"cannot open {paths.warehouse}: {error}") from None
    try:
        totals = quarantine.counts(con, entity)
        if totals.empty:
            click.echo("Nothing is quarantined" + (f" for {entity}." if entity else "."))
            return
        click.echo(tabulate(totals, headers="keys", tablefmt="github", showindex=False))
        rows = quarantine.sample(con, entity, rule, limit=limit)
        click.echo("")
        for row in rows.itertuples():
            where = f"row {row.row_number}" if row.row_number == row.row_number else "file"
            click.echo(f"{row.entity}: {row.source_file} {where}: {row.failed_rule}: {row.reason}")
        shown, total = len(rows), int(totals["rows"].sum()) if rule is None else None
        if total and shown < total:
            click.echo(f"... {shown} of {total:,} rows shown; --export FILE.csv writes them all")
        if export_file:
            written = quarantine.export(con, export_file, entity, rule)
            click.echo(f"Wrote {written:,} rows to {export_file}")
    finally:
        con.close()


@main.command()
@DATA_DIR_OPTION
@click.option(
    "--file",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A YAML file of changes (name, tariffs, fx, freight; see the README).",
)
@click.option(
    "--name",
    default=None,
    help="Names the report folder (default: the file's name, else a timestamp).",
)
@click.option(
    "--tariff-destination",
    default=None,
    help="Tariff: marketplace, country or customs union, e.g. US.",
)
@click.option("--tariff-hs", default=None, help="Tariff: HS code prefix, e.g. 8517.")
@click.option(
    "--tariff-origin", default=None, help="Tariff: origin country (ISO alpha-2) or ALL (default)."
)
@click.option(
    "--tariff-rate", default=None, help="Tariff: additional ad valorem rate, 0.25 or 25%."
)
@click.option(
    "--tariff-from",
    default=None,
    help="Tariff: first day in force (YYYY-MM-DD; default: every day).",
)
@click.option("--fx-currency", default=None, help="FX: the currency that moves, e.g. EUR.")
@click.option("--fx-rate", default=None, help="FX: its new value in USD per unit.")
@click.option(
    "--fx-change", default=None, help="FX: or its relative change vs USD, e.g. -0.05 or -5%."
)
@click.option("--fx-from", default=None, help="FX: first day (YYYY-MM-DD; default: every day).")
@click.option("--freight-lane", default=None, help="Freight: a lane id ...")
@click.option(
    "--freight-destination",
    default=None,
    help="Freight: ... or a destination, with --freight-mode.",
)
@click.option("--freight-mode", default=None, help="Freight: ocean, air, express or rail.")
@click.option(
    "--freight-cost-per-kg",
    default=None,
    help="Freight: the lane's new rate per kg (its currency).",
)
@click.option(
    "--freight-change",
    default=None,
    help="Freight: or a relative change of its rates, e.g. 0.3 or 30%.",
)
@click.option(
    "--freight-from", default=None, help="Freight: first day (YYYY-MM-DD; default: every day)."
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Days priced (default: nightly's, 7); a change starting later needs more.",
)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Report folder (default: out/whatif/<name or timestamp>/ in the data folder).",
)  # fmt: skip
def whatif(
    data_dir: Path | None,
    scenario_file: Path | None,
    name: str | None,
    days: int | None,
    out: Path | None,
    **flags: str | None,
) -> None:
    """What if a tariff, an FX rate or a freight cost changed: tonight's recommended prices,
    landed cost, margin, units and profit before and after, per marketplace and category.

    Reads the warehouse only (run the pipeline first); writes a report (CSV per listing,
    Markdown with a plot) to out/whatif/. Changes combine: the flags' and the file's.
    """
    from tabulate import tabulate

    from ml.pricing import whatif as wi

    try:
        data = wi.load_scenario_file(scenario_file) if scenario_file else {}
        data = wi.with_changes(data, wi.changes_from_flags(flags))
        chosen = wi.parse_scenario(data, name)
        paths = DataPaths.from_env(data_dir)
        horizon = days or wi.DEFAULT_HORIZON_DAYS
        folder = wi.report_folder(paths, chosen, out, datetime.now())
        result = wi.run_whatif(paths, chosen, horizon_days=horizon)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    files = wi.write_report(result, folder)
    click.echo("\n".join(wi.headline(result)))
    hit = result.groups[result.groups["affected"] > 0]
    if len(hit):
        click.echo("")
        click.echo(
            tabulate(wi.groups_table(hit), headers="keys", tablefmt="github", showindex=False)
        )
        others = len(result.groups) - len(hit)
        if others:
            click.echo(f"({others} other marketplace x category groups unchanged: see the report)")
    click.echo(f"\nReport: {folder}/ ({', '.join(p.name for p in files.values())})")


@main.group(name="import")
def import_group() -> None:
    """Import a public dataset, your own order exports or the US tariff schedule into the raw
    data contract."""


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


# The corpus of public datasets: each import writes a whole data folder (the README's "Real data:
# the corpus"). Command -> (module, function, what it imports, what --source is, what --limit
# counts).
CORPUS_IMPORTERS: dict[str, tuple[str, str, str, str, str]] = {
    "rossmann": (
        "ml.importers.rossmann",
        "import_rossmann",
        "the Kaggle Rossmann Store Sales (1,115 German drugstores, daily turnover, 2013-2015).",
        "Kaggle's train.csv (store.csv beside it is read too), a Parquet copy with store.csv's "
        "columns merged, or the folder holding it.",
        "stores (by store number)",
    ),
    "pasta-sales": (
        "ml.importers.pasta_sales",
        "import_pasta_sales",
        "the UCI Hierarchical Sales Data (118 pasta products of an Italian store, daily, "
        "2014-2018).",
        "The wide CSV or Parquet file (DATE, QTY_B1_1, PROMO_B1_1, ...), or its folder.",
        "products (B1_1, B1_2, ...)",
    ),
    "avocado": (
        "ml.importers.avocado",
        "import_avocado",
        "the Hass Avocado Board retail scan data (US regions x type, weekly, 2015-2021).",
        "The Kaggle 'Avocado Prices' CSV or a Parquet copy, or its folder.",
        "region x type series (by SKU)",
    ),
    "breakfast-at-the-frat": (
        "ml.importers.breakfast_at_the_frat",
        "import_breakfast_at_the_frat",
        "dunnhumby's Breakfast at the Frat (77 US stores x 58 products, weekly, 2009-2012).",
        "The transactions CSV or Parquet file (products.csv and stores.csv beside it are read "
        "too), or the folder holding them.",
        "store x product series (by SKU)",
    ),
}


def _corpus_command(name: str) -> None:
    module, function, what, source_help, unit = CORPUS_IMPORTERS[name]

    @import_group.command(
        name=name,
        help=f"Import {what} Writes a whole data folder: orders, catalog, marketplaces and, "
        "where the data has them, prices, promotions, warehouses and inventory (closed days as "
        "stock-outs). See the README, 'Real data: the corpus'.",
        short_help=f"Import {what.split(' (')[0]}.",
    )
    @DATA_DIR_OPTION
    @click.option(
        "--source", type=click.Path(exists=True, path_type=Path), required=True, help=source_help
    )
    @click.option(
        "--overwrite",
        is_flag=True,
        help="Replace every raw file already in the data folder (otherwise the import refuses).",
    )
    @click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=None,
        help=f"Import only the first N {unit}: a quick look before the full import.",
    )
    def command(data_dir: Path | None, source: Path, overwrite: bool, limit: int | None) -> None:
        import importlib

        from ml.importers.common import SourceError

        run = getattr(importlib.import_module(module), function)
        paths = DataPaths.from_env(data_dir).ensure()
        try:
            report = run(source, paths, overwrite=overwrite, limit=limit)
        except (FileExistsError, FileNotFoundError, SourceError) as error:
            raise click.ClickException(str(error)) from None
        click.echo(str(report))
        click.echo(
            f"Next: KUAJING_DATA_DIR={paths.root} make run, or "
            f"kuajing bench forecast --data-dir {paths.root}"
        )


for _name in CORPUS_IMPORTERS:
    _corpus_command(_name)


OVERWRITE_EXPORT_OPTION = click.option(
    "--overwrite",
    is_flag=True,
    help="Remove every file already in raw/<entity>/ first (otherwise files that no export "
    "import wrote make the import refuse; earlier export imports stay).",
)
EXPORT_FILE_ARGUMENT = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
ENCODING_OPTION = click.option(
    "--encoding", default=None, help="Text encoding of FILE (default: UTF-8, else Windows-1252)."
)
TIMEZONE_OPTION = click.option(
    "--timezone",
    "time_zone_name",
    default=None,
    help="IANA time zone to convert order times with an offset to "
    "(default: the marketplace's, see the README).",
)


def _run_export_import(file: Path, data_dir: Path | None, run) -> None:
    """Run one export import; its errors become one ClickException line naming the file."""
    from ml.importers.common import SourceError

    paths = DataPaths.from_env(data_dir).ensure()
    try:
        report = run(paths)
    except (SourceError, FileExistsError) as error:
        text = str(error)
        message = text if text.startswith(str(file)) else f"{file}: {text}"
        raise click.ClickException(message) from None
    click.echo(str(report))
    click.echo(f"Next: KUAJING_DATA_DIR={paths.root} make run")


@import_group.command(name="amazon")
@EXPORT_FILE_ARGUMENT
@DATA_DIR_OPTION
@OVERWRITE_EXPORT_OPTION
@ENCODING_OPTION
def import_amazon_cmd(
    file: Path, data_dir: Path | None, overwrite: bool, encoding: str | None
) -> None:
    """Import an Amazon Seller Central "All Orders Report" (tab-separated) into raw/orders/."""
    from ml.importers.amazon import import_amazon

    _run_export_import(
        file,
        data_dir,
        lambda paths: import_amazon(file, paths, overwrite=overwrite, encoding=encoding),
    )


@import_group.command(name="shopify")
@EXPORT_FILE_ARGUMENT
@click.option(
    "--marketplace",
    required=True,
    help="Marketplace code of the store, e.g. DE (a Shopify store is one marketplace).",
)
@DATA_DIR_OPTION
@OVERWRITE_EXPORT_OPTION
@TIMEZONE_OPTION
def import_shopify_cmd(
    file: Path,
    marketplace: str,
    data_dir: Path | None,
    overwrite: bool,
    time_zone_name: str | None,
) -> None:
    """Import a Shopify order export (Orders > Export, CSV) into raw/orders/."""
    from ml.importers.shopify import import_shopify

    _run_export_import(
        file,
        data_dir,
        lambda paths: import_shopify(
            file,
            paths,
            marketplace=marketplace,
            overwrite=overwrite,
            time_zone_name=time_zone_name,
        ),
    )


@import_group.command(name="csv")
@EXPORT_FILE_ARGUMENT
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=FILE_COLUMN",
    help="Contract column and the file column that holds it, e.g. --map order_id=OrderNo "
    "(repeat; columns named like the contract's are found without it).",
)
@click.option(
    "--const",
    "consts",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="A constant for a contract column the file lacks, e.g. --const marketplace=DE.",
)
@click.option(
    "--entity",
    default="orders",
    show_default=True,
    help="Contract entity the file holds (orders, catalog, prices, ...).",
)
@click.option(
    "--marketplace", default=None, help="Same as --const marketplace=XX: one marketplace."
)
@click.option("--currency", default=None, help="Same as --const currency=XXX: one currency.")
@click.option(
    "--date-format",
    default=None,
    help="strptime format of the file's dates, e.g. '%d.%m.%Y %H:%M' (default: ISO 8601).",
)
@click.option(
    "--decimal",
    type=click.Choice([".", ","]),
    default=".",
    show_default=True,
    help="Decimal separator of the file's numbers.",
)
@click.option(
    "--delimiter", default=None, help="Field delimiter (default: guessed from the header)."
)
@TIMEZONE_OPTION
@ENCODING_OPTION
@DATA_DIR_OPTION
@OVERWRITE_EXPORT_OPTION
def import_csv_cmd(
    file: Path,
    maps: tuple[str, ...],
    consts: tuple[str, ...],
    entity: str,
    marketplace: str | None,
    currency: str | None,
    date_format: str | None,
    decimal: str,
    delimiter: str | None,
    time_zone_name: str | None,
    encoding: str | None,
    data_dir: Path | None,
    overwrite: bool,
) -> None:
    """Import any other CSV into one contract entity by naming its columns (--map)."""
    from ml.importers.common import SourceError
    from ml.importers.mapped_csv import import_mapped_csv, parse_assignments

    try:
        mapping = parse_assignments(maps, "--map")
        constants = parse_assignments(consts, "--const")
        for name, value in (("marketplace", marketplace), ("currency", currency)):
            if value is None:
                continue
            if name in constants:
                raise SourceError(f"--{name} and --const {name}= both given")
            constants[name] = value
    except SourceError as error:
        raise click.ClickException(f"{file}: {error}") from None
    if delimiter == "\\t":
        delimiter = "\t"
    _run_export_import(
        file,
        data_dir,
        lambda paths: import_mapped_csv(
            file,
            paths,
            entity=entity,
            mapping=mapping,
            constants=constants,
            date_format=date_format,
            time_zone_name=time_zone_name,
            decimal=decimal,
            delimiter=delimiter,
            encoding=encoding,
            overwrite=overwrite,
        ),
    )


@import_group.command(name="hts")
@EXPORT_FILE_ARGUMENT
@click.option(
    "--valid-from",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="First day the edition's rates are in force (YYYY-MM-DD); written as valid_from and "
    "into the output name raw/tariff_measures/hts_mfn_<date>.csv.",
)
@click.option(
    "--valid-to",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Last day in force (YYYY-MM-DD; default: open-ended): ends an edition that a newer "
    "one, imported with its own --valid-from, replaces.",
)
@click.option(
    "--edition",
    default=None,
    help="Edition named in legal_basis, e.g. '2025 Revision 19' (default: from the file name, "
    "'2024 Basic Edition' for hts_2024_basic_edition.csv).",
)
@DATA_DIR_OPTION
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace raw/tariff_measures/hts_mfn_<date>.csv if it exists (otherwise the import "
    "refuses); other tariff_measures files are never touched.",
)
def import_hts_cmd(
    file: Path,
    valid_from: datetime,
    valid_to: datetime | None,
    edition: str | None,
    data_dir: Path | None,
    overwrite: bool,
) -> None:
    """Import the US Harmonized Tariff Schedule (USITC CSV export) as US MFN tariff measures."""
    from ml.importers.hts import import_hts

    _run_export_import(
        file,
        data_dir,
        lambda paths: import_hts(
            file,
            paths,
            valid_from=valid_from.date(),
            valid_to=valid_to.date() if valid_to else None,
            edition=edition,
            overwrite=overwrite,
        ),
    )


JSON_OPTION = click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures to this JSON file.",
)


def write_json(json_file: Path | None, figures: dict) -> None:
    from ml.bench.output import write_json as write

    write(json_file, figures, echo=click.echo)


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
    from ml.bench.pipeline import format_table, run_pipeline_bench

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
@click.option(
    "--corpus",
    is_flag=True,
    help="Run on every real dataset of the corpus that is present (and the built-in scenario): "
    "one table per dataset and a summary.",
)
@click.option(
    "--corpus-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --corpus: the folder holding the datasets (default: $KUAJING_CORPUS_DIR, else "
    "../shared/data beside the project).",
)
@click.option(
    "--datasets",
    default=None,
    help="With --corpus: comma-separated datasets to run (e.g. rossmann,avocado,built-in).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --corpus: where the imported datasets are kept and reused "
    "(default: out/bench_corpus in the data folder).",
)
@JSON_OPTION
def bench_forecast(
    data_dir: Path | None,
    folds: int,
    models: str | None,
    grain: str,
    corpus: bool,
    corpus_dir: Path | None,
    datasets: str | None,
    workdir: Path | None,
    json_file: Path | None,
) -> None:
    """Backtest Kuajing against baselines and peers on the same folds; scoring speed."""
    from ml.bench.forecast import format_table, run_forecast_bench
    from ml.forecast import MODEL_KEYS, ForecastConfig

    chosen = tuple(m.strip() for m in (models or ",".join(MODEL_KEYS)).split(",") if m.strip())
    unknown = sorted(set(chosen) - set(MODEL_KEYS))
    if unknown:
        raise click.ClickException(f"unknown models {unknown}; known: {', '.join(MODEL_KEYS)}")
    if corpus:
        from ml.bench import corpus as bench_corpus

        names = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else None
        root = bench_corpus.corpus_dir(corpus_dir)
        work = workdir or DataPaths.from_env(data_dir).out / "bench_corpus"
        try:
            report = bench_corpus.run_corpus_bench(
                root, work, names=names, n_folds=folds, models=chosen, echo=click.echo
            )
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        write_json(json_file, report)
        click.echo(bench_corpus.format_summary(report))
        return
    config = ForecastConfig(grain=grain)  # type: ignore[arg-type]  # click.Choice checked it
    report = run_forecast_bench(
        data_dir, n_folds=folds, models=chosen, config=config, echo=click.echo
    )
    write_json(json_file, report)
    click.echo(format_table(report))


DEMAND_STREAM_OPTION = click.option(
    "--demand-stream",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Which shoppers the replay's days draw (every policy meets the same ones): another "
    "number shows how much the figures owe to the draws.",
)


@bench.command(name="pricing")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A data folder in the raw contract (marts are built if missing). "
    "Default: a simulated seller (--scenario), generated into a temporary folder.",
)
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="Without --data-dir: the simulator scenario (ml/simulator/scenarios/<name>.yaml, e.g. "
    "tariff_shock, linear, logit) or a YAML file.",
)
@DEMAND_STREAM_OPTION
@JSON_OPTION
def bench_pricing(
    data_dir: Path | None, scenario: str, demand_stream: int, json_file: Path | None
) -> None:
    """Every listing's own-price elasticity, identified or pooled (error against the truth on
    simulated data)."""
    from ml.bench.pricing import format_table, run_pricing_bench

    if data_dir is not None and demand_stream:
        raise click.UsageError(
            "--demand-stream picks the shoppers of a simulated seller's replay: "
            "a data folder (--data-dir) has no replay"
        )
    try:
        report = run_pricing_bench(data_dir, scenario, echo=click.echo, demand_stream=demand_stream)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    write_json(json_file, report)
    click.echo(format_table(report))


@bench.command(name="allocation")
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    help="The simulator scenario (ml/simulator/scenarios/<name>.yaml, e.g. tariff_shock, "
    "lane_delay, demand_surge) or a YAML file.",
)
@DEMAND_STREAM_OPTION
@JSON_OPTION
def bench_allocation(scenario: str, demand_stream: int, json_file: Path | None) -> None:
    """Replay the scenario's 90-day holdout day by day with every stock policy (kuajing,
    direct_parcel, proportional, base_stock, oracle): profit, fill rate, cost per unit sold,
    days of supply, stock-outs."""
    from ml.bench.allocation import format_table, run_allocation_bench

    try:
        report = run_allocation_bench(scenario, echo=click.echo, demand_stream=demand_stream)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    write_json(json_file, report)
    click.echo(format_table(report))


if __name__ == "__main__":
    main()
