"""What every benchmark prints and writes: fixed-width tables, a JSON report, progress bars."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Column:
    """One column of a text table: its header, width, number format and the row key it shows."""

    header: str
    width: int
    fmt: str = ""  # e.g. '.3f', '+.3f', '.1%', ',' ('' for text)
    key: str | None = None  # defaults to the header

    def cell(self, row: Mapping[str, Any], first: bool) -> str:
        value = row.get(self.key or self.header)
        text = "-" if value is None else format(value, self.fmt)
        return text.ljust(self.width) if first else text.rjust(self.width)


def text_table(columns: Sequence[Column], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """A header line and one line per row; the first column left-aligned, numbers right."""

    def line(cells: list[str]) -> str:
        return "".join(cells)

    header = line(
        [c.header.ljust(c.width) if i == 0 else c.header.rjust(c.width)
         for i, c in enumerate(columns)]
    )  # fmt: skip
    return [header] + [line([c.cell(r, i == 0) for i, c in enumerate(columns)]) for r in rows]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0]}


def write_json(path: Path | None, figures: Mapping[str, Any], echo: Echo | None = None) -> None:
    """Write the report (if a path is given), creating its folder."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
    if echo is not None:
        echo(f"Wrote {path}")


@contextmanager
def progress(total: int, desc: str, unit: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr; the yielded function advances it one step, naming the step."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit) as bar:

        def step(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update()

        yield step
