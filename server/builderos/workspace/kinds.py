"""Which kind of BuilderOS file a path is: from its location, or a top-level `kind:` that overrides it."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

KINDS = ("project", "agent", "prompt", "pipeline", "policy", "scenario", "eval", "desk", "context")
_KIND_LINE = re.compile(r"^kind:[ \t]*['\"]?([A-Za-z]+)['\"]?[ \t]*(#.*)?$", re.MULTILINE)
_FOLDERS = {
    "agents": "agent",
    "prompts": "prompt",
    "ship": "pipeline",
    "scenarios": "scenario",
    "evals": "eval",
}
IGNORED_DIRS = frozenset(
    {".git", ".builderos", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache"}
)


def kind_from_location(rel_path: str) -> str | None:
    """The kind a workspace-relative path implies, or None for files BuilderOS does not own."""
    p = PurePosixPath(rel_path)
    parts = p.parts
    if not parts or any(part in IGNORED_DIRS for part in parts[:-1]):
        return None
    name = parts[-1]
    if len(parts) == 1:
        if name in ("builderos.yaml", "builderos.yml"):
            return "project"
        if name in ("builderos.policy.yaml", "builderos.policy.yml"):
            return "policy"
        return None
    if len(parts) == 2 and parts[0] == "context" and name.endswith(".json"):
        return "context"
    if len(parts) == 3 and parts[0] == "desks" and name in ("desk.yaml", "desk.yml"):
        return "desk"
    if len(parts) == 2 and parts[0] in _FOLDERS and name.endswith((".yaml", ".yml")):
        return _FOLDERS[parts[0]]
    return None


def declared_kind(text: str) -> str | None:
    """A top-level `kind:` line, found without parsing (cheap enough for every YAML file on disk)."""
    m = _KIND_LINE.search(text)
    if m is None:
        return None
    kind = m.group(1)
    return kind if kind in KINDS else None


def kind_of(rel_path: str, text: str | None) -> str | None:
    """`kind:` wins over location for YAML files; JSON context packs are judged by location only."""
    located = kind_from_location(rel_path)
    if text is not None and rel_path.endswith((".yaml", ".yml")):
        declared = declared_kind(text)
        if declared is not None:
            return declared
    return located


def may_be_builderos_file(rel_path: str) -> bool:
    """Files worth reading when scanning a workspace (templates inside desks are not ours)."""
    parts = PurePosixPath(rel_path).parts
    if any(part in IGNORED_DIRS for part in parts[:-1]):
        return False
    if len(parts) >= 3 and parts[0] == "desks" and parts[2] != "desk.yaml" and parts[2] != "desk.yml":
        return False
    return rel_path.endswith((".yaml", ".yml")) or kind_from_location(rel_path) == "context"
