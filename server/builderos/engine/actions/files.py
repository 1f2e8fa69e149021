"""fs.write: one workspace file, written atomically and recorded with the hashes before and after."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builderos.engine.actions._common import (
    atomic_write,
    bad_param,
    rel_posix,
    req_str,
    resolve_inside,
    sha256_bytes,
    sha256_file,
)
from builderos.engine.interfaces import ActionInput, Outputs

ACTION = "fs.write"

#: Folders a pipeline must not write into besides the store (which only BuilderOS itself writes).
PROTECTED = (".git",)


def _content_bytes(value: Any) -> bytes:
    """Text as UTF-8; a structured value (e.g. an agent's JSON answer) as pretty JSON."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict | list):
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if value is None:
        raise bad_param(ACTION, "`content` is required")
    return str(value).encode("utf-8")


def _target(inp: ActionInput, rel: str) -> Path:
    """The resolved file to write, refused when outside the workspace or inside a protected folder."""
    target = resolve_inside(inp.workspace, rel, ACTION)
    store = inp.store_dir.resolve()
    parts = Path(rel_posix(inp.workspace, target)).parts
    if target.is_relative_to(store) or (parts and parts[0] in PROTECTED):
        raise bad_param(ACTION, f"`path` {rel!r} is inside {parts[0]}/, which pipelines may not write")
    if target == inp.workspace.resolve() or target.is_dir():
        raise bad_param(ACTION, f"`path` {rel!r} is a directory")
    return target


class FsWrite:
    """`fs.write`: path + content → the file, atomically; reconcile compares the file's hash."""

    name = "fs.write"

    async def run(self, inp: ActionInput) -> Outputs:
        rel = req_str(inp, ACTION, "path")
        if "content" not in inp.params:
            raise bad_param(ACTION, "`content` is required")
        data = _content_bytes(inp.params["content"])
        target = _target(inp, rel)
        shown = rel_posix(inp.workspace, target)
        new_sha = sha256_bytes(data)
        intent = {
            "path": shown,
            "sha256": new_sha,
            "previous_sha256": sha256_file(target),
            "bytes": len(data),
        }

        async def perform() -> Outputs:
            path = _target(inp, rel)  # again: a symlink may have appeared since the intent
            if sha256_file(path) != new_sha:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, data)
            inp.log(f"wrote {shown} ({len(data)} bytes, sha256 {new_sha[:12]})")
            return {"path": shown, "sha256": new_sha}

        async def reconcile(recorded: Mapping[str, Any]) -> Outputs | None:
            try:
                path = _target(inp, str(recorded["path"]))
            except Exception:
                return None
            if sha256_file(path) == recorded["sha256"]:
                return {"path": recorded["path"], "sha256": recorded["sha256"]}
            return None

        key = f"{inp.run_id}:{inp.step_id}:fs.write"
        return await inp.ledger.once(key, ACTION, intent, perform, reconcile)
