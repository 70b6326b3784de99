"""Keep generated README sections in step with the code (``make docs``)."""

from __future__ import annotations

import re
import sys

from ml import contract
from ml.settings import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def replace_section(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def render_readme(text: str) -> str:
    return replace_section(text, "contract", contract.markdown())


def main() -> int:
    current = README.read_text()
    updated = render_readme(current)
    if updated != current:
        README.write_text(updated)
        print(f"Updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
