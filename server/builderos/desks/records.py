"""What was applied where: `.builderos/desks/applied/<name>.json` and the rendered files as applied.

The rendered copy (`.builderos/desks/base/<name>/…`) is the base of the three-way merge when the desk
is upgraded. Secret parameters are never recorded (their values are masked).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from builderos.desks.errors import DeskError
from builderos.desks.txn import Change

DESKS_DIR = Path(".builderos") / "desks"


def record_rel(name: str) -> str:
    return (DESKS_DIR / "applied" / f"{name}.json").as_posix()


def base_rel(name: str, rel: str) -> str:
    return (DESKS_DIR / "base" / name / rel).as_posix()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_changes(record: dict[str, Any], files: dict[str, bytes], old_files: list[str]) -> list[Change]:
    """The record and the base copies as changes of the same transaction (stale base copies removed)."""
    name = str(record["name"])
    changes = [Change(record_rel(name), (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())]
    changes += [Change(base_rel(name, rel), data) for rel, data in sorted(files.items())]
    changes += [Change(base_rel(name, rel), None) for rel in old_files if rel not in files]
    return changes


def load_record(dest: Path, name: str) -> dict[str, Any]:
    path = dest / record_rel(name)
    if not path.is_file():
        raise DeskError(
            f"desk '{name}' was never applied to {dest}",
            f"apply it first: builderos desk apply {name} --dest {dest}",
            usage=True,
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise DeskError(f"{path} is not valid JSON", "re-apply the desk with --force") from None
    if not isinstance(data, dict):
        raise DeskError(f"{path} is not a desk record", "re-apply the desk with --force")
    return data


def load_base(dest: Path, name: str, record: dict[str, Any]) -> dict[str, bytes]:
    """The rendered files of the applied version, by path."""
    out: dict[str, bytes] = {}
    for rel in record.get("files") or {}:
        path = dest / base_rel(name, str(rel))
        if path.is_file():
            out[str(rel)] = path.read_bytes()
    return out
