"""Import rules between the packages of ``ml/``, read from the source with ``ast`` (no import).

The simulator generates demo data: no domain module (ingest, importers, quality, forecast,
reference, registry, ...) may import it, so a seller's pipeline runs the same code whether or
not its data is simulated. The exceptions are the simulator itself, the benchmarks (they score
against its ground truth) and the command line (``kuajing demo`` runs it). Reference data
(``ml.reference``) is read by every domain, so it imports no domain in turn.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from ml.settings import PROJECT_ROOT

ML = PROJECT_ROOT / "ml"
SIMULATOR = "ml.simulator"
# May import the simulator: itself, the benchmarks, the CLI's `demo` command.
SIMULATOR_USERS = ("ml.simulator", "ml.bench", "ml.cli")
# What ml.reference may import from ml (besides itself).
REFERENCE_DEPENDENCIES = ("ml.reference", "ml.settings")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every module an ``import`` or ``from ... import`` statement of ``source`` names, relative
    imports resolved against ``module``; ``from a import b`` yields ``a`` and ``a.b`` (``b``
    may be a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def ml_imports() -> dict[str, set[str]]:
    """Module -> the ``ml`` modules it imports, for every module under ``ml/``."""
    found = {}
    for path in sorted(ML.rglob("*.py")):
        module = module_name(path)
        names = imported_modules(
            path.read_text(encoding="utf-8"), module, path.name == "__init__.py"
        )
        found[module] = {name for name in names if name.startswith("ml.")}
    return found


def test_the_import_reader_resolves_absolute_and_relative_imports():
    source = (
        "import ml.simulator.calendar\n"
        "from ml import simulator\n"
        "from ..simulator.reference import MARKETPLACES\n"
        "from . import panel\n"
        "from .data import load_demand\n"
    )
    names = set(imported_modules(source, "ml.forecast.calendar", is_package=False))
    assert {"ml.simulator.calendar", "ml.simulator", "ml.simulator.reference"} <= names
    assert {"ml.forecast.panel", "ml.forecast.data"} <= names
    package = set(imported_modules("from . import calendar", "ml.reference", is_package=True))
    assert "ml.reference.calendar" in package


def test_no_domain_module_imports_the_simulator():
    imports = ml_imports()
    assert "ml.forecast.calendar" in imports and "ml.ingest.rules" in imports  # walked
    offenders = {
        module: sorted(name for name in names if is_within(name, SIMULATOR))
        for module, names in imports.items()
        if not any(is_within(module, user) for user in SIMULATOR_USERS)
    }
    assert {m: names for m, names in offenders.items() if names} == {}


def test_reference_data_imports_no_domain():
    imports = ml_imports()
    reference = {m: names for m, names in imports.items() if is_within(m, "ml.reference")}
    assert "ml.reference.calendar" in reference
    offenders = {
        module: sorted(
            name
            for name in names
            if not any(is_within(name, allowed) for allowed in REFERENCE_DEPENDENCIES)
        )
        for module, names in reference.items()
    }
    assert {m: names for m, names in offenders.items() if names} == {}
