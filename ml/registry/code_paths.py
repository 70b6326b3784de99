"""The project code a logged model carries (``code_paths``): the modules it imports when it is
loaded, with every project module they import in turn, and nothing else.

Imports are read from the source (``ast``), not by importing: the ``import`` statements a module
runs when it is imported (outside functions and ``if TYPE_CHECKING:``), and importing a module
runs its packages' ``__init__`` (whose imports count too). A project module imported inside a
function on the predict path must be one of the roots. Only modules of the same top-level
packages as the roots are followed (``ml``); third-party distributions are the model's pip
requirements. Only ``.py`` files are copied: a module that reads a data file at load or predict
time must find it elsewhere (the served-model test loads and predicts with the copy alone).
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from ml.settings import PROJECT_ROOT


def module_file(name: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The source of module ``name`` under ``root`` (a package's ``__init__.py``), or None."""
    base = root.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _import_time_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """The statements a module runs when imported: all but function bodies (and lambdas) and
    ``if TYPE_CHECKING:`` blocks."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                pending.extend(child.orelse)
                continue
            pending.append(child)


def _imported_names(source: Path, module: str) -> set[str]:
    """Every module name ``source`` (module ``module``) may import when imported:
    ``import a.b`` -> a.b; ``from a import b`` -> a and a.b (b may be a submodule); relative
    imports resolved."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_time_nodes(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_packages(name: str) -> list[str]:
    """``a.b.c`` -> a, a.b, a.b.c: importing a module imports its packages first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_closure(roots: Iterable[str], root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Module name -> source file of every project module importing ``roots`` runs."""
    roots = list(roots)
    tops = {name.split(".")[0] for name in roots}
    found: dict[str, Path] = {}
    pending = [pkg for name in roots for pkg in _with_packages(name)]
    while pending:
        name = pending.pop()
        if name in found or name.split(".")[0] not in tops:
            continue
        source = module_file(name, root)
        if source is None:
            continue  # a name imported from a module, not a module itself
        found[name] = source
        for imported in _imported_names(source, name):
            pending.extend(_with_packages(imported))
    missing = [name for name in roots if name not in found]
    if missing:
        raise ModuleNotFoundError(f"no source for {missing} under {root}")
    return found


def copy_code(roots: Iterable[str], dest: Path, root: Path = PROJECT_ROOT) -> list[Path]:
    """Copy ``import_closure(roots)`` to ``dest`` (same layout); returns the top-level package
    folders (or modules) to pass as ``code_paths``."""
    copied = import_closure(roots, root)
    for source in copied.values():
        target = dest / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    tops = sorted({name.split(".")[0] for name in copied})
    return [dest / top if (dest / top).is_dir() else dest / f"{top}.py" for top in tops]
