"""`builderos prompt bump NAME major|minor|patch --notes …`: a new version of a prompt, in place.

The prompt's file gets the new version and a changelog entry on top (its other lines untouched), and
the previous version stays available as `prompts/NAME@OLD.yaml` (the text a run snapshotted, when one
did), so agents pinned to it still resolve.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import nodesemver

from builderos.diagnostics import Span
from builderos.prompts.registry import PromptError, versions
from builderos.workspace.document import Document, parse_document
from builderos.workspace.index import SNAPSHOT_DIR, Workspace

LEVELS = ("major", "minor", "patch")


@dataclass(frozen=True, slots=True)
class Bumped:
    name: str
    old: str
    new: str
    path: str  # the edited file
    kept: str | None  # the copy of the old version (None when it already existed)


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[:line]) + col


def _replace(text: str, span: Span, new: str) -> str:
    start = _offset(text, span.start_line, span.start_col)
    end = _offset(text, span.end_line, span.end_col)
    old = text[start:end]
    quote = old[0] if old[:1] in ("'", '"') else ""
    return text[:start] + quote + new + quote + text[end:]


def _with_entry(doc: Document, text: str, entry: str) -> str:
    """`text` with `entry` (a flow mapping) first in the changelog, whatever style it is written in."""
    loc = doc.locator
    changelog = doc.data.get("changelog") if isinstance(doc.data, dict) else None
    if isinstance(changelog, list) and changelog:
        first = loc.value_span(("changelog", 0))
        line_start = _offset(text, first.start_line, 0)
        item_start = _offset(text, first.start_line, first.start_col)
        prefix = text[line_start:item_start]
        if prefix.strip() == "-":  # block style: a new `- ` line above the first
            return text[:line_start] + prefix + entry + "\n" + text[line_start:]
        return text[:item_start] + entry + ", " + text[item_start:]  # flow style
    if isinstance(changelog, list) or "changelog" in (doc.data or {}):
        return _replace_value(text, loc.value_span(("changelog",)), f"[{entry}]")
    return text + ("" if text.endswith("\n") else "\n") + f"changelog:\n  - {entry}\n"


def _replace_value(text: str, span: Span, new: str) -> str:
    start = _offset(text, span.start_line, span.start_col)
    end = _offset(text, span.end_line, span.end_col)
    return text[:start] + new + text[end:]


def bump(ws: Workspace, name: str, level: str, notes: str, today: dt.date | None = None) -> Bumped:
    if level not in LEVELS:
        raise PromptError(f"unknown bump level '{level}'", "use major, minor or patch")
    if not notes.strip():
        raise PromptError("a new version needs changelog notes", 'pass --notes "what changed and why"')
    files = [v for v in versions(ws, name) if not v.snapshot]
    if not files:
        raise PromptError(f"prompt '{name}' has no file under prompts/", "only snapshots of it exist")
    current = files[0]
    doc = ws.docs[current.path]
    new = str(nodesemver.inc(current.version, level, loose=False))
    if any(v.version == new for v in versions(ws, name)):
        raise PromptError(
            f"{name}@{new} already exists", "bump from the newest version, or pick another level"
        )
    kept_rel = f"prompts/{name}@{current.version}.yaml"
    kept: str | None = None
    if current.path != kept_rel and not (ws.root / kept_rel).exists():
        kept = kept_rel
    quoted = json.dumps(notes.strip(), ensure_ascii=False)
    entry = f"{{version: {new}, notes: {quoted}, date: {(today or dt.date.today()).isoformat()}}}"
    text = _replace(doc.text, doc.locator.value_span(("version",)), new)
    text = _with_entry(parse_document(current.path, text, "prompt"), text, entry)
    check = parse_document(current.path, text, "prompt")
    if not check.loaded.ok or not isinstance(check.data, dict) or str(check.data.get("version")) != new:
        raise PromptError(f"could not edit {current.path} safely", "edit the version and changelog by hand")
    target = current.path
    if current.path == kept_rel:  # the newest version is itself the NAME@OLD copy: it stays as it is
        target = f"prompts/{name}.yaml"
        if (ws.root / target).exists():
            raise PromptError(f"{target} exists but is not the newest version", "fix its version by hand")
    if kept is not None:
        # the old version as runs used it: its snapshot when there is one (the file may have been
        # edited since, which is what BOS050 reports and this bump resolves)
        frozen = ws.snapshots.get(f"{SNAPSHOT_DIR}/{name}@{current.version}.yaml")
        _write(ws.root / kept, frozen.text if frozen is not None else doc.text)
    _write(ws.root / target, text)
    return Bumped(name, current.version, new, target, kept)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
