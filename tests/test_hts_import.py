"""The HTS importer: rate texts against hand-written expectations, the line rules on a hand-made
schedule, then the real 2024 Basic Edition against its README.

The real file is read in place from ``../shared/data/hts/`` (never copied into the repo); those
tests are skipped only where it is absent. What is written must pass the project's own contract
check (``kuajing validate``) with nothing quarantined.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA

from ml.cli import main
from ml.importers.common import SourceError
from ml.importers.hts import (
    Rate,
    Unparsed,
    edition_from_file_name,
    hts_digits,
    import_hts,
    line_outcomes,
    measure_prefixes,
    parse_rate,
)
from ml.ingest.validate import validate_folder
from ml.settings import DataPaths

REAL_FILE = SHARED_DATA / "hts" / "hts_2024_basic_edition.csv"
needs_real_file = pytest.mark.skipif(
    not REAL_FILE.is_file(), reason=f"shared HTS file not found at {REAL_FILE}"
)
VALID_FROM = date(2024, 1, 1)
RUN_DATE = date(2026, 1, 1)
HEADER = (
    "HTS Number,Indent,Description,Unit of Quantity,General Rate of Duty,Special Rate of Duty,"
    "Column 2 Rate of Duty,Quota Quantity,Additional Duties"
)


def rate(text: str) -> Rate:
    parsed = parse_rate(text)
    assert isinstance(parsed, Rate), parsed
    return parsed


def close(a: float | None, b: float) -> bool:
    return a is not None and a == pytest.approx(b, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Rate texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Free", 0.0),
        ("free", 0.0),
        ("6.8%", 0.068),
        ("16.5%", 0.165),
        ("0%", 0.0),
        ("2.5%<u></u>", 0.025),  # HTML left in the export
        ("350%", 3.5),
    ],
)
def test_free_and_percentages_are_ad_valorem_fractions(text, expected):
    parsed = rate(text)
    assert parsed.rate_type == "ad_valorem" and close(parsed.ad_valorem_rate, expected)
    assert parsed.specific_rate is None and parsed.specific_unit is None


@pytest.mark.parametrize(
    ("text", "usd_per_kg"),
    [
        ("1¢/kg", 0.01),
        ("86.5¢/kg", 0.865),
        ("$1.35/kg", 1.35),
        ("$1.646/kg", 1.646),
        ("$1.24/t", 0.00124),  # a metric ton is 1,000 kg
        ("39.7¢/t", 0.000397),
        ("5¢/kg on contents and container", 0.05),  # gross weight: the shipping weight
        ("2.1¢/kg on entire contents of container", 0.021),
    ],
)
def test_amounts_per_mass_are_usd_per_kg(text, usd_per_kg):
    parsed = rate(text)
    assert parsed.rate_type == "specific" and parsed.specific_unit == "kg"
    assert close(parsed.specific_rate, usd_per_kg) and parsed.ad_valorem_rate is None


@pytest.mark.parametrize(
    ("text", "usd_per_item"),
    [
        ("0.9¢ each", 0.009),
        ("$1.20 each", 1.2),
        ("68¢/head", 0.68),
        ("4.4¢/doz.", 0.044 / 12),
        ("6.5¢/gross", 0.065 / 144),
        ("6.5¢/gross<il></il>", 0.065 / 144),
        ("89.6¢/1000", 0.000896),  # tulip bulbs, counted in No.
        ("$1.34/1000", 0.00134),
        ("10¢/No.", 0.1),
        ("3¢/pr.", 0.03),  # a pair is the one article a SKU sells
    ],
)
def test_amounts_per_count_are_usd_per_item(text, usd_per_item):
    parsed = rate(text)
    assert parsed.rate_type == "per_item" and parsed.specific_unit == "item"
    assert close(parsed.specific_rate, usd_per_item) and parsed.ad_valorem_rate is None


@pytest.mark.parametrize(
    ("text", "ad_valorem", "specific", "unit"),
    [
        ("2.2¢/kg + 5%", 0.05, 0.022, "kg"),
        ("2.2¢/kg +5%", 0.05, 0.022, "kg"),
        ("$1.61/kg + 2.4%", 0.024, 1.61, "kg"),
        ("62¢ each + 2.8%", 0.028, 0.62, "item"),
        ("90¢/pr. + 37.5%", 0.375, 0.9, "item"),
        ("96¢/doz. + 1.4%", 0.014, 0.96 / 12, "item"),
        ("20¢/thousand + 3.5%", 0.035, 0.0002, "item"),
        ("5% + 1¢/kg", 0.05, 0.01, "kg"),  # order does not matter
    ],
)
def test_amount_plus_percentage_is_compound(text, ad_valorem, specific, unit):
    parsed = rate(text)
    assert parsed.rate_type == "compound" and parsed.specific_unit == unit
    assert close(parsed.ad_valorem_rate, ad_valorem) and close(parsed.specific_rate, specific)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("0.34¢/liter", "per liter"),
        ("3.1¢/ liter", "per liter"),
        ("18.9¢/pf.liter", "per pf.liter"),
        ("5.25¢/bbl", "per bbl"),
        ("18.7¢/m<sup>2</sup>", "per m2"),
        ("14.5¢/m<sup>2 </sup>+ 0.4%", "per m2"),  # a compound rate with such a unit too
        ("$1.13/m<sup>3</sup>", "per m3"),
        ("18.7¢/clean kg", "per clean kg"),
        ("3.7¢/kg on drained weight", "per kg on drained weight"),
        ("16.9¢/kg of total sugars + 5.1%", "per kg of total sugars"),
        ("4.4¢/kg on lead content", "per kg on lead content"),
    ],
)
def test_units_landed_cost_cannot_evaluate_are_unsupported(text, detail):
    assert parse_rate(text) == Unparsed("unsupported_unit", detail)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no rate"),
        (
            "3.6606¢/kg less 0.020668¢/kg for each degree under 100 degrees (and fractions of a "
            "degree in proportion) but not less than 3.143854¢/kg",
            "a formula",
        ),
        ("30¢ each + 6.9% on the case + 5.3% on the battery", "a percentage of a part"),
        ("6.5% on the entire set", "a percentage of a part"),
        ("13.5¢/kg + 6.3% + 1.9¢/article", "2 specific and 1 ad valorem parts"),
        ("3.9% + 5%", "0 specific and 2 ad valorem parts"),
        ("The rate applicable to each garment in the ensemble if separately entered", "words"),
        ("Free, under bond, as prescribed in U.S. note 1 to this subchapter", "words"),
        ("1.5 percent of the fair retail value", "words"),
        ("5¢", "an amount without a unit"),
    ],
)
def test_other_texts_are_unparseable_with_what_decided_it(text, says):
    parsed = parse_rate(text)
    assert isinstance(parsed, Unparsed) and parsed.reason == "unparseable_rate"
    assert says in parsed.detail


def test_the_edition_comes_from_the_file_name():
    assert edition_from_file_name(Path("hts_2024_basic_edition.csv")) == "2024 Basic Edition"
    assert edition_from_file_name(Path("hts_2025_revision_19_csv.csv")) == "2025 Revision 19"
    assert edition_from_file_name(Path("hts.csv")) == "hts.csv"


# ---------------------------------------------------------------------------------------------
# Lines of a hand-made schedule


# (HTS number, description, General rate, expected outcome, expected hs_code_prefix)
LINES = [
    ("0101", "Live horses:", "", "no_rate", None),
    ("", "Horses:", "", "text_only", None),
    ("0101.21.00", "Purebred breeding animals", "Free", "measure", "01012100"),
    ("0101.21.00.10", "Males", "", "inherits_parent", None),
    ("0101.21.00.20", "Females", "", "inherits_parent", None),
    ("0101.30.00.00", "Asses", "6.8%", "measure", "01013000"),  # an 8-digit line, exported
    ("0102.29.40", "Other", "1¢/kg", "measure", "01022940"),
    ("0102.29.40.24", "Male", "2%", "measure", "0102294024"),  # its own rate under its line
    ("0102.29.40.28", "Female", "", "inherits_parent", None),
    ("0103.10.00.10", "Purebred", "3%", "measure", "0103100010"),  # siblings, no 8-digit line
    ("0103.10.00.20", "Other", "4%", "measure", "0103100020"),
    ("0104", "Sheep and goats", "5%", "measure", "0104"),  # a heading stating a rate
    ("0104.20.00.00", "Goats", "68¢/head", "measure", "01042000"),
    ("0401.10.00.00", "Milk", "0.34¢/liter", "unsupported_unit", None),
    ("0401.10.00.00", "Milk again", "Free", "duplicate_number", None),
    ("1701.12.05.00", "Sugar", "3¢/kg less 1¢/kg for each degree", "unparseable_rate", None),
    ("0709.51.01.00", "Mushrooms", "8.8¢/kg + 20%", "measure", "07095101"),
    ("12345", "Typo", "Free", "invalid_number", None),
    ("9903.88.03", "Section 301 List 3", "The duty provided in the applicable subheading + 25%",
     "chapter_99", None),
    ("9903", "Chapter 99 heading", "", "chapter_99", None),
]  # fmt: skip


def schedule_file(path: Path, lines=LINES, *, bom: bool = True) -> Path:
    rows = [
        ",".join(f'"{v}"' for v in (number, "1", description, "", general, "", "", "", ""))
        for number, description, general, *_ in lines
    ]
    path.write_text(("\ufeff" if bom else "") + "\n".join([HEADER, *rows]) + "\n", "utf-8")
    return path


def test_each_line_gets_its_outcome_and_prefix():
    digits = hts_digits(pd.Series([n for n, *_ in LINES]))
    texts = pd.Series([g for _, _, g, *_ in LINES])
    outcome = line_outcomes(digits, texts, texts.map(parse_rate))
    assert outcome.tolist() == [o for *_, o, _ in LINES]
    prefixes = measure_prefixes(digits)
    written = outcome.eq("measure")
    assert prefixes[written].tolist() == [p for *_, o, p in LINES if o == "measure"]


def test_import_writes_contract_rows_that_validate_and_reconcile(tmp_path):
    paths = DataPaths(tmp_path / "data").ensure()
    report = import_hts(schedule_file(tmp_path / "hts_2024_basic_edition.csv"), paths,
                        valid_from=VALID_FROM)  # fmt: skip

    assert report.reconciles and report.rows_in == len(LINES)
    assert report.rows_written == 9 and report.rows_reported == 4
    assert report.by_rate_type == {"ad_valorem": 6, "specific": 1, "per_item": 1, "compound": 1}
    text = str(report)
    assert "20 read = 9 written + 4 reported + 1 text-only + 3 inheriting + 1 without a rate" in (
        text
    )
    assert "+ 2 chapter 99" in text and "layered on top" in text
    assert f"reported rows: {report.unparsed_file} (4)" in text

    target = paths.raw_entity("tariff_measures") / "hts_mfn_2024-01-01.csv"
    written = pd.read_csv(target, dtype=str, keep_default_na=False).set_index("measure_id")
    asses = written.loc["hts-0101300000-2024-01-01"]
    assert asses["hs_code_prefix"] == "01013000" and asses["ad_valorem_rate"] == "0.068"
    assert (asses["destination"], asses["origin_country"], asses["measure_type"]) == (
        "US",
        "ALL",
        "mfn",
    )
    assert asses["valid_from"] == "2024-01-01" and asses["valid_to"] == ""
    assert set(written["legal_basis"]) == {"HTSUS 2024 Basic Edition general rate"}
    goats = written.loc["hts-0104200000-2024-01-01"]
    assert (goats["rate_type"], goats["specific_rate"], goats["specific_unit"]) == (
        "per_item",
        "0.68",
        "item",
    )
    assert goats["rate_currency"] == "USD" and asses["rate_currency"] == ""
    mushrooms = written.loc["hts-0709510100-2024-01-01"]
    assert (mushrooms["rate_type"], mushrooms["ad_valorem_rate"], mushrooms["specific_rate"]) == (
        "compound",
        "0.2",
        "0.088",
    )

    unparsed = pd.read_csv(report.unparsed_file, dtype=str, keep_default_na=False)
    assert unparsed["reason"].tolist() == [
        "unsupported_unit",
        "duplicate_number",
        "unparseable_rate",
        "invalid_number",
    ]
    milk = unparsed.iloc[0]
    assert (milk["row"], milk["hts_number"], milk["description"]) == ("14", "0401.10.00.00", "Milk")
    assert (milk["general_rate"], milk["detail"]) == ("0.34¢/liter", "per liter")

    saved = json.loads(Path(report.report_file).read_text())
    assert saved["reconciles"] and saved["excluded"]["chapter_99"] == 2

    check = {c.entity: c for c in validate_folder(paths.raw, RUN_DATE).checks}["tariff_measures"]
    assert check.result is not None
    assert check.result.rows_accepted == 9 and check.result.rows_quarantined == 0


def test_an_existing_import_is_kept_unless_overwrite_and_other_files_are_never_touched(tmp_path):
    paths = DataPaths(tmp_path / "data").ensure()
    folder = paths.raw_entity("tariff_measures")
    folder.mkdir(parents=True)
    # The seller's additional duties, beside the schedule: another legal basis, stacking on it.
    own = folder / "section_301.csv"
    own.write_text(
        "measure_id,destination,hs_code_prefix,origin_country,measure_type,rate_type,"
        "ad_valorem_rate,specific_rate,specific_unit,rate_currency,value_threshold,"
        "threshold_currency,valid_from,valid_to,legal_basis\n"
        "s301-392690,US,392690,CN,additional,ad_valorem,0.25,,,,,,2019-09-01,,Section 301 List 3\n"
    )
    source = schedule_file(tmp_path / "hts_2024_basic_edition.csv")
    first = import_hts(source, paths, valid_from=VALID_FROM)
    assert first.warnings == []
    with pytest.raises(FileExistsError, match="--overwrite"):
        import_hts(source, paths, valid_from=VALID_FROM)
    import_hts(source, paths, valid_from=VALID_FROM, overwrite=True)

    # A newer edition while the old one is still open-ended: both in force, their MFN rates stack.
    newer = date(2025, 1, 1)
    later = import_hts(source, paths, valid_from=newer, edition="2025 Revision 1")
    assert len(later.warnings) == 1
    assert "tariff_measures/hts_mfn_2024-01-01.csv holds 9 US mfn" in later.warnings[0]
    assert "--valid-to" in later.warnings[0]
    # Ended the day before, the old edition stays for earlier dates, beside the new one.
    ended = import_hts(source, paths, valid_from=VALID_FROM, valid_to=date(2024, 12, 31),
                       overwrite=True)  # fmt: skip
    assert ended.warnings == [] and "valid from 2024-01-01 to 2024-12-31" in str(ended)
    again = import_hts(source, paths, valid_from=newer, edition="2025 Revision 1", overwrite=True)
    assert again.warnings == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "hts_mfn_2024-01-01.csv",
        "hts_mfn_2025-01-01.csv",
        "section_301.csv",
    ]
    check = {c.entity: c for c in validate_folder(paths.raw, RUN_DATE).checks}["tariff_measures"]
    assert check.result is not None
    assert check.result.rows_accepted == 9 + 9 + 1 and check.result.rows_quarantined == 0

    with pytest.raises(SourceError, match="before --valid-from"):
        import_hts(source, paths, valid_from=newer, valid_to=VALID_FROM, overwrite=True)


def test_catalog_codes_no_measure_matches_are_warned_about(tmp_path):
    paths = DataPaths(tmp_path / "data").ensure()
    catalog = paths.raw_entity("catalog")
    catalog.mkdir(parents=True)
    (catalog / "catalog.csv").write_text(
        "sku,title,category,hs_code,origin_country,unit_cost,cost_currency,weight_kg\n"
        "A,Asses,animals,0101.30.00.00,CN,1,USD,1\n"
        "B,Tee,apparel,610910,CN,1,USD,1\n"
        "C,Goat,animals,0104200000,CN,1,USD,1\n"
    )
    report = import_hts(schedule_file(tmp_path / "hts.csv"), paths, valid_from=VALID_FROM)
    assert report.warnings == [
        "1 of the catalog's 3 HS codes match no measure of this import (e.g. 610910): US "
        "listings with them get no MFN duty. HTS rates are stated on 8- and 10-digit lines: "
        "give those SKUs their 8- or 10-digit HTSUS code"
    ]


def test_a_file_that_is_not_an_hts_export_is_one_line_naming_the_missing_columns(tmp_path):
    other = tmp_path / "orders.csv"
    other.write_text("\ufefforder_id,HTS Number\n1,0101\n", "utf-8")
    paths = DataPaths(tmp_path / "data").ensure()
    with pytest.raises(SourceError, match="missing column\\(s\\) Description, General Rate"):
        import_hts(other, paths, valid_from=VALID_FROM)

    out = CliRunner().invoke(
        main, ["import", "hts", str(other), "--valid-from", "2024-01-01", "--data-dir",
               str(tmp_path / "data")],
    )  # fmt: skip
    assert out.exit_code == 1
    assert out.output.startswith(f"Error: {other}: not a USITC HTS export")
    assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "raw" / "tariff_measures").exists()


def test_cli_imports_and_refuses_a_second_time(tmp_path):
    source = schedule_file(tmp_path / "hts_2024_basic_edition.csv", bom=False)
    args = ["import", "hts", str(source), "--valid-from", "2024-01-01",
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    runner = CliRunner()
    out = runner.invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "20 read = 9 written + 4 reported" in out.output
    assert "hts_mfn_2024-01-01_unparsed.csv (4)" in out.output
    out = runner.invoke(main, args)
    assert out.exit_code == 1 and "already exists" in out.output and "--overwrite" in out.output
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0
    out = runner.invoke(main, ["import", "hts", str(source), "--data-dir", str(tmp_path)])
    assert out.exit_code == 2 and "--valid-from" in out.output


# ---------------------------------------------------------------------------------------------
# The real 2024 Basic Edition


@pytest.fixture(scope="module")
def real_import(tmp_path_factory):
    if not REAL_FILE.is_file():
        pytest.skip(f"shared HTS file not found at {REAL_FILE}")
    paths = DataPaths(tmp_path_factory.mktemp("hts") / "data").ensure()
    return paths, import_hts(REAL_FILE, paths, valid_from=VALID_FROM)


@needs_real_file
def test_real_file_reconciles_with_its_readme(real_import):
    _, report = real_import
    assert report.rows_in == 35_744 and report.reconciles
    counted = (
        report.rows_written
        + report.rows_reported
        + sum(report.count(o) for o in ("text_only", "inherits_parent", "no_rate", "chapter_99"))
    )
    assert counted == report.rows_in
    # The README: 22,153 rows have an empty General rate. Every one is a text-only row, a
    # statistical line inheriting, a line without a rate or a chapter 99 line; none is reported.
    unrated = report.count("text_only") + report.count("inherits_parent") + report.count("no_rate")
    chapter_99_rated = 2_022  # chapter 99 lines stating a General rate
    assert unrated + report.count("chapter_99") - chapter_99_rated == 22_153
    assert report.count("chapter_99") == 3_350 and report.count("text_only") == 6_001
    assert report.legal_basis == "HTSUS 2024 Basic Edition general rate"
    assert set(report.by_rate_type) == {"ad_valorem", "specific", "per_item", "compound"}


@needs_real_file
def test_real_file_known_lines(real_import):
    paths, report = real_import
    written = pd.read_csv(report.output_file, dtype=str, keep_default_na=False)
    by_id = written.set_index("measure_id")
    assert by_id.index.is_unique and (written["hs_code_prefix"].str.len() == 8).all()

    def line(number: str) -> tuple[str, ...]:
        """The written rate of an HTS line: prefix, rate type, ad valorem, specific, unit."""
        row = by_id.loc[f"hts-{hts_digits(pd.Series([number]))[0]}-2024-01-01"]
        columns = ("hs_code_prefix", "rate_type", "ad_valorem_rate", "specific_rate")
        return (*(row[c] for c in columns), row["specific_unit"])

    assert line("0101.30.00.00") == ("01013000", "ad_valorem", "0.068", "", "")  # asses 6.8%
    assert line("0101.21.00") == ("01012100", "ad_valorem", "0", "", "")  # horses, Free
    assert line("0102.29.40") == ("01022940", "specific", "", "0.01", "kg")  # cattle, 1¢/kg
    assert line("0104.20.00.00") == ("01042000", "per_item", "", "0.68", "item")  # 68¢/head
    assert line("0709.51.01.00") == ("07095101", "compound", "0.2", "0.088", "kg")  # 8.8¢/kg + 20%
    assert line("6109.10.00") == ("61091000", "ad_valorem", "0.165", "", "")  # cotton T-shirts
    # 0102.29.40.24 (Male) states no rate: it inherits 0102.29.40's, whose prefix covers it.
    assert "hts-0102294024-2024-01-01" not in by_id.index and "0102294024".startswith("01022940")

    unparsed = pd.read_csv(report.unparsed_file, dtype=str, keep_default_na=False)
    assert len(unparsed) == report.rows_reported > 0
    milk = unparsed[unparsed["hts_number"].eq("0401.10.00.00")].iloc[0]
    assert (milk["general_rate"], milk["reason"], milk["detail"]) == (
        "0.34¢/liter",
        "unsupported_unit",
        "per liter",
    )
    sugar = unparsed[unparsed["hts_number"].eq("1701.12.05.00")].iloc[0]
    assert sugar["reason"] == "unparseable_rate" and sugar["general_rate"].startswith("3.6606¢/kg")
    assert (unparsed["general_rate"] != "").all() and (unparsed["description"] != "").all()

    check = {c.entity: c for c in validate_folder(paths.raw, RUN_DATE).checks}["tariff_measures"]
    assert check.result is not None
    assert check.result.rows_accepted == report.rows_written
    assert check.result.rows_quarantined == 0


@needs_real_file
@pytest.mark.slow
def test_the_demo_catalog_takes_the_real_rates_once_the_schedule_is_imported(tmp_path):
    """The built-in catalog's codes are lines of the 2024 edition; imported into a demo folder,
    the edition's 8-digit general rates replace the simulator's hs6 US MFN rows (same legal
    basis, longer prefix) instead of stacking on them: no clash is warned about, and the
    kitchen line 8516.60.40 pays its real rate (Free) where the simulator charged 4 %."""
    from ml.bench.forecast import build_marts
    from ml.simulator import generate, load_scenario
    from ml.simulator.reference import PRODUCT_TYPES

    lines = set(hts_digits(pd.read_csv(REAL_FILE, dtype=str)["HTS Number"]))
    assert {p.hs_code for p in PRODUCT_TYPES} <= lines
    paths = DataPaths(tmp_path).ensure()
    generate(load_scenario("small", {"data_issues": {}}), paths)
    report = import_hts(REAL_FILE, paths, valid_from=VALID_FROM)
    assert not [w for w in report.warnings if "stack" in w]
    build_marts(paths, lambda _: None)
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        mfn = con.execute(
            "select distinct c.hs_code, t.hs_code_prefix, t.legal_basis, t.ad_valorem_rate "
            "from intermediate.int_tariff_measures_selected t "
            "join marts.dim_sku c using (sku) "
            "where t.marketplace = 'US' and t.measure_type = 'mfn'"
        ).fetchall()
    finally:
        con.close()
    assert mfn and all(len(prefix) == 8 for _, prefix, _, _ in mfn)
    assert {basis for _, _, basis, _ in mfn} == {"HTSUS 2024 Basic Edition general rate"}
    kitchen = {rate for code, _, _, rate in mfn if code.startswith("85166040")}
    assert kitchen == {0.0}
