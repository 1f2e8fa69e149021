"""Paths as the policy sees them: resolved against the workspace root before any pattern is matched.

`..`, symlinks, absolute paths and `~` are resolved first; unicode is normalised (NFC) and deny
patterns match case-insensitively and also against the compatibility form (NFKC, so fullwidth
letters are their ASCII selves), so neither spelling tricks nor links reach a denied file. Control
and invisible format characters are refused outright: they have no place in a file name an agent
asks for, and they are how a name is made to look like another.
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


def spellings(rel: str) -> tuple[str, ...]:
    """`rel` and the other spellings a deny pattern must also see (the NFKC compatibility form)."""
    compat = unicodedata.normalize("NFKC", rel)
    return (rel,) if compat == rel else (rel, compat)


def denied_by(rel: str, patterns: Iterable[str]) -> str | None:
    """The first deny pattern that matches any spelling of `rel` or of a folder it is in (a denied
    folder denies what it holds: `secrets` as much as `secrets/**`), ignoring case; or None."""
    pats = [p for p in patterns if isinstance(p, str)]
    for spelling in spellings(rel):
        parts = spelling.split("/")
        for depth in range(len(parts), 0, -1):
            found = matches("/".join(parts[:depth]), pats, ignore_case=True)
            if found is not None:
                return found
    return None


def unusable_character(text: str) -> str | None:
    """The first control or invisible format character of `text` (NUL, newline, ESC, bidi overrides,
    zero-width characters), or None."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return ch
    return None


def resolve_in_workspace(workspace: Path, raw: object) -> str:
    """The workspace-relative, symlink-free, NFC path of `raw`, or PathEscape."""
    if not isinstance(raw, str) or not raw.strip():
        raise PathEscape(f"not a usable path: {raw!r}")
    bad = unusable_character(raw)
    if bad is not None:
        raise PathEscape(f"not a usable path: {raw!r} holds the control or invisible character {bad!r}")
    text = unicodedata.normalize("NFC", os.path.expanduser(raw))
    root = Path(os.path.realpath(workspace))
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = Path(os.path.realpath(candidate))
    except (OSError, ValueError) as exc:
        raise PathEscape(f"not a usable path: {raw!r} ({exc})") from None
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        raise PathEscape(f"{raw} resolves outside the workspace") from None
    rel_text = rel.as_posix()
    if rel_text in ("", "."):
        raise PathEscape(f"{raw} is the workspace itself, not a file in it")
    return unicodedata.normalize("NFC", rel_text)
