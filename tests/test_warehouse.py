"""Compaction: a warehouse re-built again and again keeps the size of its data."""

import duckdb

from ml.warehouse import compact, free_share


def rebuild(path, rows: int) -> None:
    """What a run does to the file: tables replaced whole, a view on top."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(
        "CREATE OR REPLACE TABLE marts.fact AS SELECT range AS id, random() AS x, "
        f"md5(range::VARCHAR) AS s FROM range({rows})"
    )
    con.execute("CREATE OR REPLACE VIEW marts.v AS SELECT count(*) AS n FROM marts.fact")
    con.close()


def test_compaction_gives_back_the_free_space_of_re_runs_and_keeps_every_row(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    rebuild(path, 300_000)
    first = path.stat().st_size
    assert compact(path) is None  # nothing free yet: no rewrite
    for _ in range(3):
        rebuild(path, 300_000)
    assert free_share(path) >= 0.2
    grown = path.stat().st_size
    assert grown > first * 1.3

    result = compact(path)

    assert result is not None and result.bytes_before == grown
    assert path.stat().st_size == result.bytes_after <= first * 1.1
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT n FROM marts.v").fetchall() == [(300_000,)]
    con.close()
    assert not list(tmp_path.glob("*.compacting*"))
