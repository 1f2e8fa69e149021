"""Upgrading an applied desk: per file, a three-way merge of the applied version (the base), the new
version and the user's current file. Untouched files take the new version, the user's edits are kept,
and overlapping edits are left with conflict markers and reported (and audited), never lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builderos.desks import records, txn
from builderos.desks.apply import commit_files, validate
from builderos.desks.catalog import DeskSource, check_requires, select, split_spec
from builderos.desks.merge import merge_text, unified
from builderos.desks.params import MASK, public_params, resolve_params
from builderos.desks.render import RenderedFile, render_desk
from builderos.diagnostics import Diagnostic


@dataclass
class FileUpgrade:
    rel: str
    status: str  # updated | merged | conflict | kept | created | deleted | unchanged
    diff_desk: str = ""  # old desk version → new desk version
    diff_yours: str = ""  # old desk version → your file
    note: str = ""


@dataclass
class UpgradeResult:
    desk: DeskSource
    from_version: str
    files: list[FileUpgrade]
    applied: bool
    diagnostics: list[tuple[str, Diagnostic]] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return [f.rel for f in self.files if f.status == "conflict"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "desk": self.desk.name,
            "from": self.from_version,
            "to": self.desk.version,
            "applied": self.applied,
            "files": [{"path": f.rel, "status": f.status, "note": f.note} for f in self.files],
            "conflicts": self.conflicts,
            "diagnostics": {
                "errors": sum(1 for _, d in self.diagnostics if d.severity == "error"),
                "warnings": sum(1 for _, d in self.diagnostics if d.severity == "warning"),
            },
        }


def _text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def upgrade_desk(
    spec: str,
    given: Mapping[str, Any],
    dest: Path,
    workspace: Path | None = None,
    dry_run: bool = False,
    source: str = "cli",
) -> UpgradeResult:
    name, _ = split_spec(spec)
    if not dry_run:
        from builderos.desks.audit import write_entry_sync

        txn.recover(dest, lambda e: write_entry_sync(dest, e))
    record = records.load_record(dest, name)
    src = select(spec if "@" in spec else f"{name}@>={record.get('version', '0.0.0')}", workspace)
    check_requires(src.desk)
    # the recorded values (secrets were never recorded: they must be given again), then the new ones
    recorded = {
        k: v for k, v in (record.get("params") or {}).items() if v != MASK and k in src.desk.parameters
    }
    values = resolve_params(src.desk, {**recorded, **given})
    new_files = {f.rel: f for f in render_desk(src, values)}
    base = records.load_base(dest, name, record)
    label = f"{name} {src.version}"
    results: list[FileUpgrade] = []
    writes: list[txn.Change] = []
    for rel in sorted(set(base) | set(new_files)):
        target = txn.safe_target(dest, rel)
        current = target.read_bytes() if target.is_file() else None
        fu, write = _upgrade_one(rel, base.get(rel), new_files.get(rel), current, label)
        results.append(fu)
        if write is not None:
            writes.append(write)
    result = UpgradeResult(src, str(record.get("version")), results, False)
    if dry_run:
        return result
    extra = {
        "from": record.get("version"),
        "conflicts": result.conflicts,
        "files": {f.rel: f.status for f in results if f.status != "unchanged"},
    }
    commit_files(dest, src, public_params(src.desk, values), new_files, "desk.upgrade", source, extra, writes)
    result.applied = True
    result.diagnostics = validate(dest)
    return result


def _upgrade_one(
    rel: str, base: bytes | None, new: RenderedFile | None, current: bytes | None, label: str
) -> tuple[FileUpgrade, txn.Change | None]:
    """What happens to one file, and the write it needs (None: leave it)."""
    new_data = new.data if new is not None else None
    executable = new.executable if new is not None else False
    texts = [_text(x) if x is not None else "" for x in (base, new_data, current)]
    diff_desk = unified(texts[0] or "", texts[1] or "", f"a/{rel}", f"b/{rel}") if None not in texts else ""
    diff_yours = (
        unified(texts[0] or "", texts[2] or "", f"a/{rel}", f"yours/{rel}") if None not in texts else ""
    )

    def fu(status: str, note: str = "") -> FileUpgrade:
        return FileUpgrade(rel, status, diff_desk, diff_yours, note)

    if new_data is None:  # the new version drops the file
        if current is None:
            return fu("unchanged", "gone already"), None
        if current == base:
            return fu("deleted", "the desk no longer has it"), txn.Change(rel, None)
        return fu("kept", "the desk no longer has it; you changed it, so it stays"), None
    if current is None:
        if base is not None and base == new_data:
            return fu("unchanged", "you deleted it and the desk did not change it"), None
        if base is None:
            return fu("created"), txn.Change(rel, new_data, executable)
        return fu("conflict", "you deleted it and the desk changed it: left deleted"), None
    if current == new_data:
        return fu("unchanged"), None
    if base is not None and current == base:
        return fu("updated"), txn.Change(rel, new_data, executable)
    if base is not None and new_data == base:
        return fu("kept", "only you changed it"), None
    yours_text, new_text, base_text = _text(current), _text(new_data), _text(base) if base is not None else ""
    if yours_text is None or new_text is None or base_text is None:
        return fu("conflict", "a binary file changed on both sides: yours is kept"), None
    merged = merge_text(base_text, yours_text, new_text, label)
    write = txn.Change(rel, merged.text.encode("utf-8"), executable)
    if merged.conflicts:
        return fu("conflict", f"{merged.conflicts} conflicting change(s) marked in the file"), write
    return fu("merged", "your changes and the desk's merged"), write
