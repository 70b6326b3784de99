"""Keep what is generated from the contract in step with it (``make docs``): the README's
contract section and the dbt sources file (``dbt_project/models/staging/_sources.yml``)."""

from __future__ import annotations

import re
import sys

import yaml

from ml import contract
from ml.settings import DBT_PROJECT_DIR, PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
SOURCES = DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml"
SOURCES_HEADER = "# Generated from ml/contract.py by `make docs`: edit the contract, not this.\n"
RAW_DESCRIPTION = (
    "The raw data contract (ml/contract.py) as loaded by the ingest layer: one table per entity, "
    "contract columns typed, plus lineage columns. Rows that break a contract rule are in "
    "quality.quarantine instead."
)
QUALITY_DESCRIPTION = (
    "What the ingest layer refused (ml/contract.py QUARANTINE). Written by ingest before dbt "
    "runs; the table always exists, empty when nothing was quarantined."
)


def replace_section(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def render_readme(text: str) -> str:
    return replace_section(text, "contract", contract.markdown())


def _table(table: contract.Table, description: str) -> dict:
    return {
        "name": table.name,
        "description": description,
        "columns": [
            {"name": name, "description": table.descriptions[name], "data_type": dtype.lower()}
            for name, dtype in table.columns.items()
        ],
    }


def _entity_description(e: contract.Entity) -> str:
    if e.required:
        return f"{e.description}. Required."
    return (
        f"{e.description}. Optional: the table always exists, empty when no files were given "
        f"({e.when_absent})."
    )


def render_sources() -> str:
    """The dbt sources: every raw entity and the quarantine, as the contract defines them."""
    sources = {
        "version": 2,
        "sources": [
            {
                "name": contract.RAW_SCHEMA,
                "description": RAW_DESCRIPTION,
                "schema": contract.RAW_SCHEMA,
                "tables": [
                    _table(contract.raw_table(e.name), _entity_description(e))
                    for e in contract.ENTITIES
                ],
            },
            {
                "name": contract.QUARANTINE.schema,
                "description": QUALITY_DESCRIPTION,
                "schema": contract.QUARANTINE.schema,
                "tables": [
                    _table(
                        contract.QUARANTINE,
                        "one row per refused row (or empty file), with the rules it broke and "
                        "its values as read.",
                    )
                ],
            },
        ],
    }
    return SOURCES_HEADER + yaml.safe_dump(sources, sort_keys=False, width=100)


def _write_if_changed(path, text: str) -> None:
    if path.read_text() != text:
        path.write_text(text)
        print(f"Updated {path}")


def main() -> int:
    _write_if_changed(README, render_readme(README.read_text()))
    _write_if_changed(SOURCES, render_sources())
    return 0


if __name__ == "__main__":
    sys.exit(main())
