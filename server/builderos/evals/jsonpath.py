"""A small JSONPath for eval assertions: `$`, `.key`, `['key']`, `[0]`, `[-1]` and `[*]`.

Enough for "the path of the second file" checks without a dependency; anything else is a clear error.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]|\[\*\]|\.\*|\[['"]([^'"]*)['"]\]""")

MISSING = object()


class JsonPathError(ValueError):
    """The path is not in the supported subset."""


def parse_path(path: str) -> list[str | int | None]:
    """The steps of a path: a key, an index, or None for a wildcard."""
    text = path.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"JSONPath {path!r} must start with '$'")
    steps: list[str | int | None] = []
    pos = 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise JsonPathError(
                f"JSONPath {path!r}: cannot read {text[pos:]!r} (supported: .key, ['key'], [0], [*])"
            )
        key, index, quoted = m.group(1), m.group(2), m.group(3)
        if key is not None:
            steps.append(key)
        elif index is not None:
            steps.append(int(index))
        elif quoted is not None:
            steps.append(quoted)
        else:
            steps.append(None)
        pos = m.end()
    return steps


def find(document: Any, path: str) -> list[Any]:
    """Every value the path selects (empty when nothing matches)."""
    current = [document]
    for step in parse_path(path):
        nxt: list[Any] = []
        for value in current:
            if step is None:
                if isinstance(value, dict):
                    nxt.extend(value.values())
                elif isinstance(value, list):
                    nxt.extend(value)
            elif isinstance(step, int):
                if isinstance(value, list) and -len(value) <= step < len(value):
                    nxt.append(value[step])
            elif isinstance(value, dict) and step in value:
                nxt.append(value[step])
        current = nxt
    return current
