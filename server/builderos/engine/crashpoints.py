"""Named points where a test may kill the process (SIGKILL) to prove that runs survive any crash.

Inert unless BUILDEROS_CRASHPOINT is set: `N` kills at the N-th point reached (any name),
`name:N` at the N-th time `name` is reached. BUILDEROS_CRASHPOINT_TRACE=FILE appends every point
reached to FILE, so a test can enumerate the points of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal

_SPEC = os.environ.get("BUILDEROS_CRASHPOINT")
_TRACE = os.environ.get("BUILDEROS_CRASHPOINT_TRACE")
_counts: dict[str, int] = {}


def crashpoint(name: str) -> None:
    if _SPEC is None and _TRACE is None:
        return
    total = _counts["*"] = _counts.get("*", 0) + 1
    mine = _counts[name] = _counts.get(name, 0) + 1
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as fh:
            fh.write(f"{total} {name} {mine}\n")
    if _SPEC is None:
        return
    target, _, nth = _SPEC.rpartition(":")
    hit = (target == "" and str(total) == nth) or (target == name and str(mine) == nth)
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)
