"""Verifying a large audit log on disk with several processes (what ``builderos audit verify`` runs).

Checking a chain is embarrassingly parallel once the links between pieces are checked separately.
`verify_file` splits records ``1..n`` (``n`` the largest seq) into contiguous ranges and verifies
each range in a worker process with its own read-only SQLite connection (WAL lets readers run side
by side). A range ``[a, b]`` starts from the ``prev_hash`` that its first record *claims* (read
with ``json.loads``) and runs the ordinary fast check (`ChainVerifier`) over rows ``a..b``, seq
column included; the worker reports whether the range is intact, how many records it holds, the
hash of its last record, the claimed start and whether it contains the expected head. The parent
then checks what the workers could not:

* every range is complete (``count == b - a + 1``) and intact;
* the links: range 1 claims the genesis hash, and range ``k`` claims exactly the hash that range
  ``k - 1`` computed for its last record;
* the expected head, if given, is in some range; and the head row's ``hash`` column, as `verify_db`
  does.

Why that is the same verdict as one sequential pass: with the links equal, the hash a worker
starts from is the hash the sequential pass would have reached at that record, so each range
computes exactly the hashes of the sequential pass, record for record. The claimed ``prev_hash``
is only a guess that the link check confirms: a wrong guess cannot pass (the first record's hash
would not match, or the link would not).

On any failure — a bad record, a missing one, a broken link, the expected head not found, a log
that does not start at record 1, a worker that cannot run — the parent verifies the whole log
again with the sequential `verify_db`, from the start, so the first bad record is named with
exactly the messages of a sequential verification. Tampering is the rare case; speed matters for
the intact chain. Small logs (fewer than `PARALLEL_MIN_RECORDS` records) are verified sequentially:
starting processes costs more than it saves.

Processes are started with "fork" when the calling process has a single thread (the CLI): cheap,
and safe because no other thread can be holding a lock at the fork. Otherwise "spawn" (each worker
is a fresh interpreter that imports this module, a few hundred milliseconds). The daemon keeps the
sequential `verify_db` (the ``audit/verify`` request runs it in a thread): it is multi-threaded
(pygls, asyncio.to_thread), so it could only spawn; its workers would compete for the cores with
the runs it is executing; and an editor request for a verdict is not a bulk job — the CLI is where
a large log is verified.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from builderos.store.audit import (
    CHUNK_ROWS,
    GENESIS_HASH,
    ChainVerifier,
    VerifyResult,
    _with_head_column,
    verify_db,
)

__all__ = [
    "PARALLEL_MIN_RECORDS",
    "FileVerify",
    "Strategy",
    "default_start_method",
    "plan_ranges",
    "verify_file",
]

#: Below this many records one process verifies the log (starting workers would cost more).
PARALLEL_MIN_RECORDS: Final = 20_000
#: Ranges per worker: more, smaller ranges balance the load when a core is busy with something else.
RANGES_PER_WORKER: Final = 4
#: No range smaller than this (each costs a connection and a query).
MIN_RANGE: Final = 4_096
#: SQLite reads (up to) this much of the file through mmap, without copying pages into its cache.
MMAP_BYTES: Final = 1 << 30

#: Two index look-ups (``SELECT min(seq), max(seq)`` in one query would scan the whole table).
_ENDS_SQL: Final = "SELECT (SELECT min(seq) FROM audit), (SELECT max(seq) FROM audit)"
_RANGE_SQL: Final = "SELECT seq, record FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq"
_HEAD_COLUMN_SQL: Final = "SELECT hash FROM audit WHERE seq = ?"

#: How the verdict was reached: one process; worker processes, every range intact; or worker
#: processes found a problem (or could not run) and the sequential pass named it.
Strategy = Literal["sequential", "parallel", "fallback"]


@dataclass(frozen=True, slots=True)
class FileVerify:
    """A `VerifyResult` and how it was reached (``workers`` and ``ranges`` are 0 when sequential)."""

    result: VerifyResult
    strategy: Strategy
    workers: int = 0
    ranges: int = 0
    note: str | None = None  # why the parallel verdict was not kept (strategy "fallback")


@dataclass(frozen=True, slots=True)
class _Range:
    """What a worker found in records ``start..end``."""

    start: int
    end: int
    intact: bool  # every record it read passed, starting from `claimed_prev`
    count: int  # records read and found intact
    claimed_prev: str | None  # the prev_hash its first record claims (None: no usable first record)
    head_hash: str  # the computed hash of its last intact record
    head_seen: bool  # the expected head is among its records (or no head was asked for)


def plan_ranges(n: int, workers: int) -> list[tuple[int, int]]:
    """Records ``1..n`` cut into contiguous ``(start, end)`` ranges of near-equal size for `workers`.

    `RANGES_PER_WORKER` ranges per worker, none smaller than `MIN_RANGE` records, at least one per
    worker (and at most one per record).
    """
    count = max(1, min(n, max(workers, min(workers * RANGES_PER_WORKER, n // MIN_RANGE))))
    bounds = [1 + i * n // count for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(count)]


def _uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _connect_ro(uri: str) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True)
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return conn


def _verify_range(uri: str, start: int, end: int, expect_head: str | None, chunk_rows: int) -> _Range:
    """Worker: verify records ``start..end`` from the prev_hash the first one claims."""
    conn = _connect_ro(uri)
    try:
        cursor = conn.execute(_RANGE_SQL, (start, end))
        rows = cursor.fetchmany(chunk_rows)
        if not rows or rows[0][0] != start:
            return _Range(start, end, False, 0, None, GENESIS_HASH, False)
        try:
            claimed = json.loads(rows[0][1])["prev_hash"]
            verifier = ChainVerifier(prev_hash=claimed, first_seq=start, expect_head=expect_head)
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, not a record, not hex...
            return _Range(start, end, False, 0, None, GENESIS_HASH, False)
        intact = True
        while rows:
            if not verifier.feed(rows):
                intact = False
                break
            rows = cursor.fetchmany(chunk_rows)
        result = verifier.result()
        return _Range(
            start, end, intact, result.count, claimed, result.head_hash, verifier.expected_head_seen
        )
    finally:
        conn.close()


def default_start_method() -> str:
    """The start method for workers: fork when this process has a single thread, else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return "fork" if "fork" in methods and threading.active_count() == 1 else "spawn"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def verify_file(
    path: str | os.PathLike[str],
    *,
    expected_head_hash: str | None = None,
    workers: int | None = None,
    min_records: int = PARALLEL_MIN_RECORDS,
    start_method: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> FileVerify:
    """Verify the audit table of the SQLite file at `path`, in parallel when it is large.

    The verdict is always the one `verify_db` gives (same `VerifyResult`); see the module docstring
    for how. `workers` defaults to the CPUs this process may use (1: no worker processes);
    `start_method` to "fork" when this process has one thread, else "spawn". Raises
    ``sqlite3.Error`` when the file or its audit table cannot be read.
    """
    if expected_head_hash is not None:
        ChainVerifier(expect_head=expected_head_hash)  # the same ValueError as verify_db for a bad head
    uri = _uri(Path(path))
    wanted = _cpus() if workers is None else workers
    conn = _connect_ro(uri)
    try:
        low, high = conn.execute(_ENDS_SQL).fetchone()
        count = high if isinstance(high, int) else 0  # records 1..count, if none is missing
        if wanted < 2 or count < max(min_records, 2):
            result = verify_db(conn, expected_head_hash=expected_head_hash, chunk_rows=chunk_rows)
            return FileVerify(result, "sequential")
        if low != 1:
            note = f"the log starts at record {low}, not 1"
            return _fallback(conn, expected_head_hash, chunk_rows, note, 0, 0)
    finally:
        conn.close()  # closed before forking: the workers open their own
    ranges = plan_ranges(count, wanted)
    procs = min(wanted, len(ranges))
    problem: str | None
    try:
        found = _run_ranges(
            uri, ranges, expected_head_hash, procs, start_method or default_start_method(), chunk_rows
        )
        problem = _problem(found, ranges, expected_head_hash)
    except Exception as exc:  # a worker that could not run or read: the sequential pass decides
        found, problem = [], f"the worker processes failed ({type(exc).__name__}: {exc})"
    conn = _connect_ro(uri)
    try:
        if problem is not None:
            return _fallback(conn, expected_head_hash, chunk_rows, problem, procs, len(ranges))
        result = VerifyResult(True, count, None, None, count, found[-1].head_hash)
        row = conn.execute(_HEAD_COLUMN_SQL, (count,)).fetchone()
        result = _with_head_column(result, None if row is None else row[0])
        return FileVerify(result, "parallel", procs, len(ranges))
    finally:
        conn.close()


def _run_ranges(
    uri: str,
    ranges: list[tuple[int, int]],
    expect_head: str | None,
    workers: int,
    method: str,
    chunk_rows: int,
) -> list[_Range]:
    """The workers' findings in seq order; they stop at the first range that is not intact."""
    context = multiprocessing.get_context(method)
    found: list[_Range] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_verify_range, uri, a, b, expect_head, chunk_rows) for a, b in ranges]
        for future in futures:
            found.append(future.result())
            if not found[-1].intact:  # the sequential pass will name it: do not wait for the rest
                for pending in futures:
                    pending.cancel()
                break
    return found


def _problem(found: list[_Range], ranges: list[tuple[int, int]], expect_head: str | None) -> str | None:
    """Why the ranges do not make one intact chain (None when they do)."""
    before = GENESIS_HASH
    for part in found:
        where = f"records {part.start}..{part.end}"
        if not part.intact:
            return f"{where}: not intact"
        if part.count != part.end - part.start + 1:
            return f"{where}: {part.count} records, not {part.end - part.start + 1}"
        if part.claimed_prev != before:
            return f"{where}: the first record's prev_hash is not the hash the range before ends with"
        before = part.head_hash
    if len(found) != len(ranges):
        return "not every range was verified"
    if expect_head is not None and not any(part.head_seen for part in found):
        return "the expected head is in no range"
    return None


def _fallback(
    conn: sqlite3.Connection,
    expect_head: str | None,
    chunk_rows: int,
    note: str,
    workers: int,
    ranges: int,
) -> FileVerify:
    result = verify_db(conn, expected_head_hash=expect_head, chunk_rows=chunk_rows)
    return FileVerify(result, "fallback", workers, ranges, note)
