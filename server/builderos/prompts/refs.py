"""`name@range` prompt references (`builder@^1.2`, `builder@1.2.0`, `builder@latest`) and semver checks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from builderos.workspace.index import PromptVersion, Symbols


@functools.cache
def _semver() -> Any:
    """nodesemver, imported on first use: it compiles ~40 ms of regexes, on the daemon's way to ready."""
    import nodesemver

    return nodesemver


@dataclass(frozen=True, slots=True)
class PromptRef:
    name: str
    range: str
    name_end: int  # offset of '@' (or len) in the reference text, to point diagnostics at each half


def parse_prompt_ref(text: str) -> PromptRef:
    name, sep, rng = text.partition("@")
    return PromptRef(name.strip(), rng.strip() if sep else "latest", len(name))


def is_semver(version: str) -> bool:
    try:
        parsed = _semver().valid(version, loose=False)
    except (ValueError, TypeError):
        return False
    return parsed is not None and str(parsed.version) == version


def valid_range(rng: str) -> bool:
    if rng == "latest":
        return True
    try:
        return _semver().valid_range(rng, loose=False) is not None
    except (ValueError, TypeError):
        return False


def resolve(symbols: Symbols, ref: PromptRef) -> PromptVersion | None:
    """The highest version of the prompt that satisfies the range (files win over snapshots)."""
    versions = [v for v in symbols.prompts.get(ref.name, []) if is_semver(v.version)]
    if not versions:
        return None
    rng = "*" if ref.range == "latest" else ref.range
    try:
        best = _semver().max_satisfying([v.version for v in versions], rng, loose=False)
    except (ValueError, TypeError):
        return None
    if best is None:
        return None
    matching = [v for v in versions if v.version == best]
    return next((v for v in matching if not v.snapshot), matching[0])


def sort_versions(versions: list[str]) -> list[str]:
    good = [v for v in versions if is_semver(v)]
    return sorted(
        good, key=functools.cmp_to_key(lambda a, b: _semver().compare(a, b, loose=False)), reverse=True
    )
