"""Paths as the policy sees them: resolved against the workspace root before any pattern is matched.

`..`, symlinks, absolute paths and `~` are resolved first; unicode is normalised (NFC) and deny
patterns match case-insensitively, so neither spelling tricks nor links reach a denied file.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path


class PathEscape(Exception):
    """The path resolves outside the workspace (or is not a path at all)."""


@lru_cache(maxsize=1024)
def glob_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """`**` crosses folders, `*` and `?` stay inside one; anchored to the whole relative path."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)


def matches(rel: str, patterns: Iterable[str], ignore_case: bool = False) -> str | None:
    """The first pattern that matches `rel`, or None."""
    for pattern in patterns:
        if isinstance(pattern, str) and glob_regex(pattern, ignore_case).match(rel):
            return pattern
    return None


def resolve_in_workspace(workspace: Path, raw: str) -> str:
    """The workspace-relative, symlink-free, NFC path of `raw`, or PathEscape."""
    if not isinstance(raw, str) or not raw or "\x00" in raw or any(ord(ch) < 32 for ch in raw):
        raise PathEscape(f"not a usable path: {raw!r}")
    text = unicodedata.normalize("NFC", os.path.expanduser(raw))
    root = Path(os.path.realpath(workspace))
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = Path(os.path.realpath(candidate))
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        raise PathEscape(f"{raw} resolves outside the workspace ({resolved})") from None
    rel_text = rel.as_posix()
    if rel_text in ("", "."):
        raise PathEscape(f"{raw} is the workspace itself, not a file in it")
    return unicodedata.normalize("NFC", rel_text)
