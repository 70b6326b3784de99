"""The simulator's exact output for one seed, pinned, and the stepped engine with its policies.

The digest table pins every raw and truth file of a tiny scenario, so a refactor that changes one
random draw or one row fails here. Parquet files are pinned by content (schema and rows), not by
bytes, because the bytes carry the writer's library version. After an intended change of the
simulated data, print the new table with ``.venv/bin/python tests/test_simulator_engine.py``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pyarrow.parquet as pq

from ml.settings import DataPaths
from ml.simulator import generate, load_scenario

TINY = {"n_skus": 6, "history_start": "2026-06-01"}  # as in test_simulator.py

# sha256 (first 16 hex digits) of each file of load_scenario("small", TINY); Parquet by content.
TINY_DIGESTS: dict[str, str] = {
    "raw/.kuajing_simulator.json": "a67af60fe49f1ade",
    "raw/ad_spend/ad_spend_2026-06.parquet": "a7e8f214bb6fca3f",
    "raw/ad_spend/ad_spend_2026-07.parquet": "d5487c72426dbac9",
    "raw/ad_spend/ad_spend_2026-08.parquet": "79203724f9d9cb1c",
    "raw/ad_spend/ad_spend_2026-09.parquet": "2bd101a7c3c74c23",
    "raw/ad_spend/ad_spend_2026-10.parquet": "e6ad3f79c5223037",
    "raw/catalog/catalog.csv": "718e3fda7b7bb79f",
    "raw/fx_rates/fx_rates.csv": "f9c242eec88b8a9f",
    "raw/inventory/inventory_2026-06.parquet": "f5e1f935f3fea772",
    "raw/inventory/inventory_2026-07.parquet": "def6c942af2c492b",
    "raw/inventory/inventory_2026-08.parquet": "75678bd5beeaf521",
    "raw/inventory/inventory_2026-09.parquet": "7c773a8dbb6331d5",
    "raw/inventory/inventory_2026-10.parquet": "defa8c750ca4a0ef",
    "raw/lanes/lanes.csv": "58a800677f1c3a5e",
    "raw/marketplaces/marketplaces.csv": "158c53bb2fdbfb78",
    "raw/orders/orders_2026-06.parquet": "2119b80287b64e86",
    "raw/orders/orders_2026-07.parquet": "e7692257f694be80",
    "raw/orders/orders_2026-08.parquet": "578b0b0c248285cc",
    "raw/orders/orders_2026-09.parquet": "761dbef3262ef0ae",
    "raw/orders/orders_2026-10.parquet": "f886a157cbbb1d9c",
    "raw/orders/orders_manual_upload.csv": "38e4a74752567176",
    "raw/prices/prices.csv": "1e62e0c4b37856bd",
    "raw/promotions/promotions.csv": "5eaa200990126258",
    "raw/shipments/shipments.csv": "cfc4f3aca38e6769",
    "raw/tariff_measures/tariff_measures.csv": "cd20c850a310863d",
    "raw/warehouses/warehouses.csv": "48235f7c9b441288",
    "truth/ad_campaigns.parquet": "0593f4234f8e4aed",
    "truth/daily_mean_sample.parquet": "db7b5119d615b21c",
    "truth/injected_issues.json": "b5e351f742e6efe1",
    "truth/injected_rows.csv": "940eaacffac1fa4b",
    "truth/meta.json": "858d2c3fb0a9a58e",
    "truth/prices.parquet": "f9887e6debadefd2",
    "truth/promotions.parquet": "903dd6bf02ce7a43",
    "truth/scenario.yaml": "63e66e25f2a402d4",
    "truth/series.parquet": "a5d8614ebb8a9ff3",
}


def content_digest(path: Path) -> str:
    """sha256 of a file's bytes; for Parquet, of its schema and rows (writer metadata aside)."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        rows = table.to_pandas().to_csv(index=False, lineterminator="\n")
        data = (str(table.schema.remove_metadata()) + "\n" + rows).encode()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def tree_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): content_digest(p) for p in sorted(root.rglob("*")) if p.is_file()
    }


def tiny_digests(root: Path) -> dict[str, str]:
    generate(load_scenario("small", TINY), DataPaths(root))
    return tree_digests(root)


def test_tiny_scenario_output_is_pinned(tmp_path):
    got = tiny_digests(tmp_path)
    changed = sorted(
        k for k in got.keys() | TINY_DIGESTS.keys() if got.get(k) != TINY_DIGESTS.get(k)
    )
    assert not changed, f"simulated files changed: {changed}"


if __name__ == "__main__":  # print the digest table to paste above
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        table = tiny_digests(Path(tmp))
    sys.stdout.write("TINY_DIGESTS: dict[str, str] = {\n")
    for key, value in table.items():
        sys.stdout.write(f'    "{key}": "{value}",\n')
    sys.stdout.write("}\n")
