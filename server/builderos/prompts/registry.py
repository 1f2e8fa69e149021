"""The prompt registry of a workspace: every version of every prompt (files under prompts/ and the
snapshots in `.builderos/prompts/`), `latest`, and the diff between two versions."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from builderos.prompts.refs import is_semver, sort_versions
from builderos.workspace.index import PromptVersion, Workspace


class PromptError(Exception):
    """A registry request that cannot be answered: one line and a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class VersionInfo:
    name: str
    version: str
    path: str
    snapshot: bool
    data: dict[str, Any]

    @property
    def template(self) -> str:
        value = self.data.get("template")
        return value if isinstance(value, str) else ""

    def notes(self) -> str:
        for entry in self.data.get("changelog") or []:
            if isinstance(entry, dict) and str(entry.get("version")) == self.version:
                return str(entry.get("notes") or "")
        return ""


def _info(name: str, v: PromptVersion) -> VersionInfo:
    return VersionInfo(name, v.version, v.ref.path, v.snapshot, dict(v.ref.data))


def names(ws: Workspace) -> list[str]:
    return sorted(ws.symbols.prompts)


def versions(ws: Workspace, name: str) -> list[VersionInfo]:
    """The semver versions of a prompt, newest first (a file wins over a snapshot of its version)."""
    found = ws.symbols.prompts.get(name)
    if not found:
        known = ", ".join(names(ws)) or "none"
        raise PromptError(f"unknown prompt '{name}'", f"prompts in this workspace: {known}")
    by_version: dict[str, VersionInfo] = {}
    for v in found:
        if is_semver(v.version) and (v.version not in by_version or by_version[v.version].snapshot):
            by_version[v.version] = _info(name, v)
    return [by_version[v] for v in sort_versions(list(by_version))]


def get(ws: Workspace, name: str, version: str | None) -> VersionInfo:
    """One version; None or `latest` means the newest."""
    all_versions = versions(ws, name)
    if not all_versions:
        raise PromptError(f"prompt '{name}' has no semver version", "write version: MAJOR.MINOR.PATCH")
    if version in (None, "", "latest"):
        return all_versions[0]
    for v in all_versions:
        if v.version == version:
            return v
    listed = ", ".join(v.version for v in all_versions)
    raise PromptError(f"prompt '{name}' has no version {version}", f"available: {listed}")


def previous(ws: Workspace, name: str, version: str) -> VersionInfo | None:
    all_versions = versions(ws, name)
    for i, v in enumerate(all_versions):
        if v.version == version:
            return all_versions[i + 1] if i + 1 < len(all_versions) else None
    return None


def diff(ws: Workspace, name: str, from_version: str | None, to_version: str | None) -> dict[str, Any]:
    """`{name, from, to, fromText, toText, diff}`: the templates of two versions and a unified diff;
    `to` defaults to the latest, `from` to the version before `to`."""
    to = get(ws, name, to_version)
    if from_version in (None, ""):
        before = previous(ws, name, to.version)
        if before is None:
            raise PromptError(
                f"prompt '{name}' has no version before {to.version}",
                "bump it ('builderos prompt bump') to compare versions",
            )
    else:
        before = get(ws, name, from_version)
    lines = difflib.unified_diff(
        before.template.splitlines(keepends=True),
        to.template.splitlines(keepends=True),
        fromfile=f"{name}@{before.version}",
        tofile=f"{name}@{to.version}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return {
        "name": name,
        "from": before.version,
        "to": to.version,
        "fromText": before.template,
        "toText": to.template,
        "diff": text,
    }
