"""The audit chain's fast check compiled to C (``_chainfast.c``), where this install has it.

The C module is built when the package is installed with a C compiler and OpenSSL's headers at hand;
otherwise (or with ``BUILDEROS_PURE_PYTHON=1``, which also keeps it out of a build) the Python loop
in `builderos.store.audit` does all the work. Both give the same verdicts: the C code only passes
the rows that clear the fast check and leaves every other row to the Python code.
"""

from __future__ import annotations

import os
from collections.abc import Callable

#: ``verify_rows(rows, prev, first_seq, want) -> (passed, prev, want_seen)``; see ``_chainfast.c``.
FastRows = Callable[[list[tuple[int, bytes]], bytes, int, "bytes | None"], tuple[int, bytes, bool]]


def load() -> FastRows | None:
    """The compiled ``verify_rows``, or None when it is not built or switched off."""
    if os.environ.get("BUILDEROS_PURE_PYTHON"):
        return None
    try:
        from builderos.store._chainfast import verify_rows
    except ImportError:
        return None
    return verify_rows
