"""Helpers shared by the built-in actions: parameter coercion, workspace-confined paths, atomic writes.

Every parameter error is a non-retryable StepFailed: retrying cannot fix a wrong `with:`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from builderos.engine.interfaces import ActionInput, StepFailed

#: A name that is safe as one path component (environments, releases, file names built from ids).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def bad_param(action: str, message: str) -> StepFailed:
    """A StepFailed for a wrong `with:` value."""
    return StepFailed(f"{action}: {message}", retryable=False)


def opt_str(inp: ActionInput, action: str, key: str) -> str | None:
    """A string parameter, None when absent or empty; numbers are accepted as their text."""
    value = inp.params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_param(action, f"`{key}` must be a string, got {type(value).__name__}")
    return str(value)


def req_str(inp: ActionInput, action: str, key: str) -> str:
    """A required string parameter."""
    value = opt_str(inp, action, key)
    if value is None:
        raise bad_param(action, f"`{key}` is required")
    return value


def opt_int(inp: ActionInput, action: str, key: str, default: int) -> int:
    """An integer parameter (expressions may resolve numbers to text, so "200" is accepted)."""
    value = inp.params.get(key)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise bad_param(action, f"`{key}` must be an integer, got {value!r}") from None


def opt_seconds(inp: ActionInput, action: str, key: str, default: float) -> float:
    """A duration in seconds: a number, or text like "10s", "500ms", "2m"."""
    value = inp.params.get(key)
    if value is None or value == "":
        return default
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds is None or seconds <= 0:
        raise bad_param(action, f"`{key}` must be a positive duration like 10 or '10s', got {value!r}")
    return seconds


def safe_name(action: str, key: str, value: str) -> str:
    """Reject names that would not stay one path component (`..`, slashes, leading dots)."""
    if not SAFE_NAME.match(value) or value in {".", ".."}:
        raise bad_param(action, f"`{key}` {value!r} must be letters, digits, '.', '_' or '-'")
    return value


def file_part(text: str) -> str:
    """An id made safe for a file name (run and step ids normally already are)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    """The file's sha256, or None when it does not exist (or is not a regular file)."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def resolve_inside(workspace: Path, rel: str, action: str, key: str = "path") -> Path:
    """Resolve a workspace-relative path, following symlinks, and refuse anything that lands outside.

    Deny by default: absolute paths, `..` escapes and symlinks out of the workspace all fail the step
    before anything is recorded or written.
    """
    if "\0" in rel:
        raise bad_param(action, f"`{key}` contains a NUL byte")
    if os.path.isabs(rel) or rel.startswith("~"):
        raise bad_param(action, f"`{key}` must be relative to the workspace, got {rel!r}")
    root = workspace.resolve()
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise bad_param(action, f"`{key}` {rel!r} resolves outside the workspace")
    return target


def rel_posix(workspace: Path, path: Path) -> str:
    """`path` relative to the workspace, with forward slashes (as intents and outputs show it)."""
    return path.relative_to(workspace.resolve()).as_posix()


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write through a temp file in the same folder + fsync + os.replace: readers see old or new, never half.

    The file keeps its permission bits when it already exists (mkstemp would make it 0600).
    """
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
