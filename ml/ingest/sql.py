"""Small helpers to build DuckDB SQL text safely from names and values we control or read."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier (file headers can hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def quoted(expr: str) -> str:
    """SQL that renders a value between single quotes inside a reason text: 'EURO'."""
    return f"('''' || {expr} || '''')"


def in_list(values: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    return "(" + ", ".join(lit(v) for v in sorted(values)) + ")"
