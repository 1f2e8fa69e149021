"""Artifacts: blobs content-addressed by sha256 under cas/, with a per-run view under artifacts/."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def store_artifact(store_root: Path, run_id: str, step_id: str, name: str, data: bytes) -> tuple[str, int]:
    """Keep `data` once in cas/ and link it as artifacts/{run}/{step}/{name}; returns (sha256, size)."""
    sha = hashlib.sha256(data).hexdigest()
    blob = store_root / "cas" / sha[:2] / sha
    if not blob.exists():
        _atomic_write(blob, data)
    view = store_root / "artifacts" / run_id / step_id / name
    if not view.resolve().is_relative_to((store_root / "artifacts").resolve()):
        return sha, len(data)
    view.parent.mkdir(parents=True, exist_ok=True)
    if view.exists() or view.is_symlink():
        view.unlink()
    try:
        os.link(blob, view)
    except OSError:
        _atomic_write(view, data)
    return sha, len(data)
