"""BOS050: a prompt version whose template differs from the snapshot a run took of that version.

Runs snapshot every prompt version they use to `.builderos/prompts/{name}@{version}.yaml`; once a
version has been used, its template is frozen: a change needs a new version.
"""

from __future__ import annotations

from typing import Any

from builderos.workspace.index import SNAPSHOT_DIR, Workspace


def snapshot_template(ws: Workspace, name: str, version: str) -> str | None:
    """The template of the snapshot of name@version, or None when no run used that version."""
    doc = ws.snapshots.get(f"{SNAPSHOT_DIR}/{name}@{version}.yaml")
    data = doc.data if doc is not None else None
    template = data.get("template") if isinstance(data, dict) else None
    return template if isinstance(template, str) else None


def changed_without_bump(ws: Workspace, path: str, data: dict[str, Any]) -> str | None:
    """The snapshot's file when this prompt file's template differs from it, else None."""
    name, version, template = data.get("name"), data.get("version"), data.get("template")
    if not isinstance(name, str) or version is None or not isinstance(template, str):
        return None
    if path.startswith(SNAPSHOT_DIR + "/"):
        return None
    frozen = snapshot_template(ws, name, str(version))
    if frozen is None or frozen == template:
        return None
    return f"{SNAPSHOT_DIR}/{name}@{version}.yaml"
