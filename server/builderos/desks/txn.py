"""All-or-nothing file changes under a folder, surviving a kill at any point.

Everything is staged first in `.builderos/desks/txn/` (same filesystem, so moves are renames), then a
journal is written, then files are moved into place, the ones they replace kept aside. A kill before
the journal says `committed` is rolled back by `recover` (the folder is as before); after it, rolled
forward (the pending audit entry is written and the staging area removed). Every apply and upgrade
calls `recover` first, and `builderos desk recover` does it on demand.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builderos.desks.errors import DeskError
from builderos.engine.actions._common import fsync_dir
from builderos.engine.crashpoints import crashpoint

TXN_DIR = Path(".builderos") / "desks" / "txn"
JOURNAL = "journal.json"


@dataclass(frozen=True)
class Change:
    """Write `data` at `rel` (relative to the folder, POSIX), or delete it when `data` is None."""

    rel: str
    data: bytes | None
    executable: bool = False


AuditWriter = Callable[[dict[str, Any]], None]


def safe_target(dest: Path, rel: str) -> Path:
    """dest/rel, refused when it is absolute, climbs out, or goes through a link that leads outside."""
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or "\\" in rel
        or any(p in ("", ".", "..") for p in parts)
        or ":" in parts[0]
    ):
        raise DeskError(
            f"refusing the path {rel!r}: it is not a plain relative path", "paths stay inside the folder"
        )
    target = dest / rel
    root = dest.resolve()
    if not target.parent.resolve().is_relative_to(root):
        raise DeskError(f"refusing {rel}: it leads outside {dest}", "remove the symbolic link on the way")
    return target


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _missing_dirs(dest: Path, rels: list[str]) -> list[str]:
    """Folders (relative) that do not exist yet and that writing `rels` would create."""
    missing: set[str] = set()
    for rel in [*rels, TXN_DIR.as_posix() + "/x"]:
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if not (dest / sub).exists():
                missing.add(sub)
    return sorted(missing, key=lambda s: (s.count("/"), s))


def commit(
    dest: Path, changes: list[Change], audit: dict[str, Any] | None, write_audit: AuditWriter | None
) -> None:
    """Apply `changes` to `dest` atomically, then write the audit entry."""
    recover(dest, write_audit)
    targets = [safe_target(dest, c.rel) for c in changes]
    created_dirs = _missing_dirs(dest, [c.rel for c in changes])
    txn = dest / TXN_DIR
    (txn / "new").mkdir(parents=True, exist_ok=True)
    (txn / "old").mkdir(exist_ok=True)
    entries: list[dict[str, Any]] = []
    for i, (change, target) in enumerate(zip(changes, targets, strict=True)):
        staged = None
        if change.data is not None:
            staged = f"new/{i}"
            with (txn / staged).open("wb") as fh:
                fh.write(change.data)
                fh.flush()
                os.fsync(fh.fileno())
            if change.executable:
                os.chmod(txn / staged, 0o755)
            crashpoint("desk.stage")
        entries.append({"rel": change.rel, "new": staged, "existed": target.exists() or target.is_symlink()})
    journal = {"state": "prepared", "entries": entries, "created_dirs": created_dirs, "audit": audit}
    _write_json_atomic(txn / JOURNAL, journal)
    crashpoint("desk.journal")
    try:
        for i, (entry, target) in enumerate(zip(entries, targets, strict=True)):
            if entry["existed"]:
                os.replace(target, txn / "old" / str(i))
                crashpoint("desk.backup")
            if entry["new"] is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(txn / entry["new"], target)
                crashpoint("desk.move")
    except OSError as exc:  # e.g. a folder where a file goes: undo what was moved, keep nothing
        recover(dest, None)
        where = f" ({exc.filename})" if exc.filename else ""
        raise DeskError(
            f"could not write the files{where}: {exc.strerror or exc}; nothing was changed",
            "fix the folder and apply again",
        ) from None
    journal["state"] = "committed"
    _write_json_atomic(txn / JOURNAL, journal)
    crashpoint("desk.committed")
    _finish(dest, journal, write_audit)


def _finish(dest: Path, journal: dict[str, Any], write_audit: AuditWriter | None) -> None:
    if journal.get("audit") and write_audit is not None:
        try:
            write_audit(journal["audit"])
        except Exception as exc:  # the files are in place; the entry is written by the next recover
            raise DeskError(
                f"the files were written, but the audit entry could not be: {exc}",
                "run 'builderos desk recover' to record it",
            ) from None
        crashpoint("desk.audited")
    shutil.rmtree(dest / TXN_DIR, ignore_errors=True)


def pending(dest: Path) -> bool:
    return (dest / TXN_DIR).exists()


def recover(dest: Path, write_audit: AuditWriter | None) -> str | None:
    """Finish or undo an interrupted transaction; says which ("rolled back"/"rolled forward"), or None."""
    txn = dest / TXN_DIR
    if not txn.exists():
        return None
    journal_path = txn / JOURNAL
    if not journal_path.is_file():  # killed while staging: nothing was moved yet
        shutil.rmtree(txn, ignore_errors=True)
        _remove_empty(dest, [TXN_DIR.parent.as_posix(), TXN_DIR.parent.parent.as_posix()])
        return "rolled back"
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DeskError(
            f"the desk journal {journal_path} is unreadable", "inspect it, then remove the folder"
        ) from None
    if journal.get("state") == "committed":
        _finish(dest, journal, write_audit)
        return "rolled forward"
    entries = journal.get("entries") or []
    for i in reversed(range(len(entries))):
        entry = entries[i]
        target = dest / entry["rel"]
        old = txn / "old" / str(i)
        if old.exists() or old.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, target)
        elif (
            not entry["existed"]
            and entry["new"] is not None
            and not (txn / entry["new"]).exists()
            and (target.exists() or target.is_symlink())
        ):
            target.unlink()
    shutil.rmtree(txn, ignore_errors=True)
    _remove_empty(dest, list(journal.get("created_dirs") or []))
    return "rolled back"


def _remove_empty(dest: Path, rels: list[str]) -> None:
    for rel in sorted(rels, key=lambda s: -s.count("/")):
        folder = dest / rel
        try:
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            continue
