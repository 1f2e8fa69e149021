"""First diagnostics sooner: validate the workspace in a forked child while the daemon starts.

Starting the daemon is mostly imports (the LSP types alone take over half a second), and the
validator's own imports and the first check of the workspace take about as long again. On a machine
with two cores the two can overlap: before importing the LSP stack, `serve` forks a child that runs
the same validator over the files on disk and hands back the diagnostics through a pipe. The daemon
publishes them as soon as the editor is connected, then checks again itself (same code, same
results) and keeps the editor up to date from there on.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time
from pathlib import Path
from typing import Any

MAX_WAIT_S = 3.0


class Prefetch:
    """A forked validation of the workspace at `root`, read once."""

    def __init__(self, root: Path, pid: int, fd: int) -> None:
        self.root = root
        self.pid = pid
        self.fd = fd
        self.consumed = False

    @classmethod
    def start(cls, root: Path) -> Prefetch | None:
        if not hasattr(os, "fork") or not (root / "builderos.yaml").is_file():
            return None
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never touch the JSON-RPC channel, always exit
            code = 0
            try:
                os.close(read_fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)
                payload = json.dumps(_compute(root)).encode()
                view = memoryview(payload)
                while view:
                    written = os.write(write_fd, view)
                    view = view[written:]
            except BaseException:  # the parent simply validates by itself
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        return cls(root.resolve(), pid, read_fd)

    def read(self, timeout: float = MAX_WAIT_S) -> dict[str, list[dict[str, Any]]] | None:
        """The child's diagnostics by workspace-relative path, or None if it failed or took too long."""
        if self.consumed:
            return None
        self.consumed = True
        chunks: list[bytes] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                ready, _, _ = select.select([self.fd], [], [], left)
                if not ready:
                    return None
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self.fd)
            self.reap()
        try:
            data = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def reap(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


def _compute(root: Path) -> dict[str, list[dict[str, Any]]]:
    """In the child: the validator over the files on disk, as LSP diagnostics (UTF-16 columns)."""
    from builderos.diagnostics import SEVERITY_NUMBER
    from builderos.validate.api import validate_workspace
    from builderos.workspace.index import Workspace

    ws = Workspace(root)
    ws.scan()
    out: dict[str, list[dict[str, Any]]] = {}
    for rel, diagnostics in validate_workspace(ws).items():
        doc = ws.docs[rel]
        items = []
        for d in diagnostics:
            data = d.lsp_data
            item: dict[str, Any] = {
                "range": doc.lsp_range(d.span),
                "message": d.full_message,
                "severity": SEVERITY_NUMBER[d.severity],
                "code": d.code,
                "source": "builderos",
            }
            if data:
                item["data"] = data
            items.append(item)
        out[rel] = items
    return out
