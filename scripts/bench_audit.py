#!/usr/bin/env python3
"""Audit-chain benchmark: verification throughput against raw ``hashlib.sha256`` over the same bytes.

Run from the repository root:

    .venv/bin/python scripts/bench_audit.py                      # 10,000 and 100,000 records, 5 runs
    .venv/bin/python scripts/bench_audit.py --sizes 1000 --repeat 3
    .venv/bin/python scripts/bench_audit.py --clock wall         # wall-clock instead of CPU time

For each size it writes a chain of ~500-byte records with realistic details to a temporary SQLite
file (WAL, as the store keeps it, checkpointed), then measures, interleaved so that the figures of
one row are taken side by side:

  (a)  the limit: ``hashlib.sha256(record).digest()`` for every stored record, one call per record,
       over the same bytes in memory;
  (b)  ``verify_chain`` over the same ``(seq, record)`` rows in memory: the verification itself;
  (c)  ``verify_db``: reading ``seq, record`` from SQLite and verifying, end to end;
  (d)  reading the same rows from SQLite and doing nothing with them: the floor under (c).

Throughput is MB (10^6 bytes) of stored record bytes per second; the ratio is ours over (a), and
the target is >= 0.5. Medians over the runs; by default CPU time of this process, which is what
single-threaded work costs and is steadier than wall time on a shared machine.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "server"))

from builderos.store import audit  # noqa: E402
from builderos.store.audit import (  # noqa: E402
    AUDIT_DDL,
    GENESIS_HASH,
    insert_sql,
    make_record,
    row_values,
    verify_chain,
    verify_db,
)

TARGET = 0.5
ACTIONS = ("run.started", "step.started", "tool.call", "tool.result", "step.finished", "approval.resolved")
ENTITIES = ("run", "step", "tool", "approval")
TOOLS = ("fs.write", "fs.read", "shell.run", "git.commit", "http.get")
T0 = datetime(2024, 5, 1, tzinfo=UTC).timestamp()


def ts_of(i: int) -> str:
    moment = datetime.fromtimestamp(T0 + i * 0.75, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def details_of(i: int) -> dict[str, object]:
    """What a tool call leaves behind, redacted: names, paths, hashes of arguments and results, costs."""
    digest = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
    details: dict[str, object] = {
        "tool": TOOLS[i % len(TOOLS)],
        "path": f"src/app/handlers/h{i % 97}.py",
        "args_sha256": digest[:32],
        "duration_ms": (i * 37) % 977,
    }
    if i % 3 == 0:
        details["result"] = {"hash": digest[32:], "bytes": i % 4096}
    if i % 5 == 0:
        details["note"] = "wrote 42 lines — «ok»"
    return details


def build(path: Path, n: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(AUDIT_DDL)
    prev = GENESIS_HASH
    batch = []
    with conn:
        for i in range(1, n + 1):
            record, stored = make_record(
                prev,
                i,
                ts_of(i),
                {"type": "agent", "id": "builder", "source": "daemon"},
                ACTIONS[i % len(ACTIONS)],
                ENTITIES[i % len(ENTITIES)],
                f"01HZX{i // 50:021d}/step-{i % 7}",
                "failure" if i % 41 == 0 else "success",
                details_of(i),
            )
            batch.append(row_values(record, stored))
            prev = record.hash
            if len(batch) == 1000:
                conn.executemany(insert_sql(), batch)
                batch.clear()
        conn.executemany(insert_sql(), batch)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(
    fns: dict[str, Callable[[], object]], repeat: int, clock: Callable[[], float]
) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench(n: int, repeat: int, clock: Callable[[], float], workdir: Path) -> list[tuple[str, ...]]:
    path = workdir / f"audit-{n}.db"
    started = time.perf_counter()
    build(path, n)
    build_s = time.perf_counter() - started
    conn = sqlite3.connect(path)
    rows: list[tuple[int, bytes]] = conn.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall()
    records = [raw for _, raw in rows]
    total = sum(map(len, records))
    sha256 = hashlib.sha256

    def raw_sha256() -> None:
        for raw in records:
            sha256(raw).digest()

    def read_only() -> None:
        cursor = conn.execute("SELECT seq, record FROM audit ORDER BY seq")
        while cursor.fetchmany(1024):
            pass

    assert verify_chain(rows).ok and verify_db(conn).ok, "the benchmark chain does not verify"
    medians = measure(
        {
            "sha256": raw_sha256,
            "verify_chain": lambda: verify_chain(rows),
            "verify_db": lambda: verify_db(conn),
            "read": read_only,
        },
        repeat,
        clock,
    )
    conn.close()
    size = os.path.getsize(path)
    limit = total / medians["sha256"] / 1e6
    print(
        f"  {n:,} records built in {build_s:.1f} s; sha256 alone {medians['sha256'] * 1e3:.1f} ms",
        file=sys.stderr,
    )
    out: list[tuple[str, ...]] = []
    for name, label, target in (
        ("verify_chain", "verify_chain (rows in memory)", f">= {TARGET}"),
        ("verify_db", "verify_db (SQLite -> verdict)", f">= {TARGET}"),
        ("read", "SQLite read alone (floor of verify_db)", "-"),
    ):
        ours = total / medians[name] / 1e6
        ratio = ours / limit
        verdict = "" if target == "-" else (" ok" if ratio >= TARGET else " missed")
        out.append(
            (
                f"{n:,}",
                f"{total / n:.0f}",
                f"{size / n:.0f}",
                label,
                f"{medians[name] * 1e3:.1f}",
                f"{ours:.0f}",
                f"{limit:.0f}",
                f"{ratio:.2f}",
                target + verdict,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chain lengths")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median reported)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    header = (
        "records",
        "rec B",
        "db B/rec",
        "workload",
        "ms",
        "ours MB/s",
        "sha256 MB/s",
        "ratio",
        "target",
    )
    table: list[tuple[str, ...]] = [header]
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        for n in sizes:
            table.extend(bench(n, args.repeat, clock, Path(tmp)))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print(
        f"audit chain verification vs hashlib.sha256 over the same bytes (median of {args.repeat}, "
        f"{args.clock} time, Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"fast check {'compiled (C)' if audit._fast_rows is not None else 'pure Python'})"
    )
    for index, row in enumerate(table):
        print(
            "  ".join(
                cell.ljust(width) if i == 3 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))


if __name__ == "__main__":
    main()
