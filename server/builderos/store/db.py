"""The store's database: SQLite in WAL mode through aiosqlite, with one batching writer.

Every write is a `Batch` handed to a single writer task; whatever has queued up meanwhile is
committed in one transaction, with one `executemany` per run of identical statements. A caller's
await returns only after its batch is committed, so "acknowledged" always means "on disk".
Several processes (the CLI and the daemon) share the file: writes take the lock with BEGIN IMMEDIATE
and wait for each other (busy timeout plus retries), so no user ever sees "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from builderos.store.audit import GENESIS_HASH, insert_sql, make_record, row_values
from builderos.store.clock import Clock
from builderos.store.schema import MIGRATIONS, SCHEMA_VERSION_KEY

DB_NAME = "builderos.db"
BUSY_TIMEOUT_MS = 15_000
LOCK_RETRIES = 40
#: Every connection the store writes through: full durability, foreign keys enforced.
CONNECTION_PRAGMAS = ("PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")
#: Batches up to this many rows commit on the event loop's thread when the write lock is free: a
#: WAL commit with its fsync takes ~0.3 ms here, a hand-off to aiosqlite's thread and back ~0.4 ms
#: more (scripts/bench_engine.py (b)). Bigger batches, and any batch that finds the lock taken,
#: go to the thread so the loop never blocks for long.
INLINE_MAX_ROWS = 64
#: Passes of the event loop the writer waits before it commits: group commit at no cost in time.
LINGER_PASSES = 8


class StoreError(Exception):
    """The store cannot be used (unwritable folder, corrupt database): a one-line reason and a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(slots=True)
class AuditEntry:
    """An audit record to append; seq, ts and the hashes are filled in inside the transaction."""

    actor: dict[str, Any]
    action: str
    entity_type: str
    entity_id: str
    outcome: str = "success"
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    """Statements (sql, rows) in order, and audit entries, committed together."""

    statements: list[tuple[str, list[Sequence[Any]]]] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    #: Fillers the writer calls just before the commit (on the event loop's thread, in order): a
    #: caller that does not wait for the commit leaves the encoding of its rows to that moment.
    later: list[Callable[[Batch], None]] = field(default_factory=list)

    def add(self, sql: str, *rows: Sequence[Any]) -> Batch:
        self.statements.append((sql, list(rows)))
        return self

    def fill(self) -> None:
        """Run the fillers (once): the batch is then complete."""
        while self.later:
            self.later.pop(0)(self)


#: Built once: `json.dumps` with options builds a new encoder on every call (a third of its time
#: for the small values of an event).
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str).encode


def dumps(value: Any) -> str:
    """The stored form of event data: compact, sorted keys, UTF-8 as is, other objects as str."""
    return _ENCODE(value)


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class Store:
    """One open store: the connection, the writer task and the folder layout."""

    def __init__(self, root: Path, conn: aiosqlite.Connection, clock: Clock) -> None:
        self.root = root  # the .builderos folder
        self.conn = conn
        self._inline: sqlite3.Connection | None = None  # the writer's own connection, never waits
        self.clock = clock
        self._queue: asyncio.Queue[tuple[Batch, asyncio.Future[None]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    async def open(cls, root: Path, clock: Clock | None = None) -> Store:
        """Open (creating and migrating if needed) the store in `root` (a .builderos folder)."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            for sub in ("runs", "artifacts", "logs", "prompts", "cas"):
                (root / sub).mkdir(exist_ok=True)
            # a probe of its own: the CLI and the daemon open the same store at the same time
            fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StoreError(
                f"cannot write to {root}: {exc.strerror or exc}",
                "make the workspace's .builderos folder writable",
            ) from None
        try:
            conn = await aiosqlite.connect(root / DB_NAME, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {root / DB_NAME}: {exc}", "check the file's permissions") from None
        store = cls(root, conn, clock or Clock())
        try:
            await store._with_lock_retry(store._configure)  # a new store: two openers may race to WAL
            await store._migrate()
            store._inline = _inline_connection(root / DB_NAME)
        except sqlite3.DatabaseError as exc:
            await conn.close()
            if _is_locked(exc):  # busy the whole time we retried: not damage, and not to be hidden
                raise StoreError(
                    f"the store {root} stayed locked by another process ({exc})",
                    "wait for the other BuilderOS process (a run, the daemon) and try again",
                ) from None
            raise StoreError(
                f"the database {root / DB_NAME} is unreadable ({exc})",
                "it may be corrupt: move it aside (the runs/*.json records stay readable) and run again",
            ) from None
        store._writer = asyncio.create_task(store._write_loop())
        return store

    async def _configure(self) -> None:
        await self.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        mode = list(await self.conn.execute_fetchall("PRAGMA journal_mode=WAL"))
        if not mode or str(mode[0][0]).lower() != "wal":
            raise sqlite3.DatabaseError("could not switch to WAL mode")
        for pragma in CONNECTION_PRAGMAS:
            await self.conn.execute(pragma)

    async def _migrate(self) -> None:
        await self._with_lock_retry(self._migrate_once)

    async def _migrate_once(self) -> None:
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            await self.conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            rows = list(
                await self.conn.execute_fetchall(
                    "SELECT value FROM meta WHERE key = ?", (SCHEMA_VERSION_KEY,)
                )
            )
            version = int(rows[0][0]) if rows else 0
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the store was written by a newer BuilderOS "
                    f"(schema {version}, this one knows {len(MIGRATIONS)})",
                    "upgrade BuilderOS",
                )
            for script in MIGRATIONS[version:]:
                for statement in _statements(script):
                    await self.conn.execute(statement)
            await self.conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (SCHEMA_VERSION_KEY, str(len(MIGRATIONS))),
            )
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._writer is not None:
            await self._queue.join()
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        await self.conn.close()

    # -- writing ---------------------------------------------------------------------------------
    async def write(self, batch: Batch) -> None:
        """Queue a batch and return once it is committed (raises what the commit raised)."""
        await self.submit(batch)

    def submit(self, batch: Batch) -> asyncio.Future[None]:
        """Queue a batch; the future resolves once it is committed. Batches commit in queue order."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((batch, future))
        return future

    async def _write_loop(self) -> None:
        while True:
            first = await self._queue.get()
            for _ in range(LINGER_PASSES):
                # let the tasks that are ready queue what they are about to write (a step's finish
                # and the next step's start), so that one commit and one fsync carry them all
                await asyncio.sleep(0)
            items = [first]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            batches = [b for b, _ in items]
            try:
                for batch in batches:
                    batch.fill()
                await self._with_lock_retry(functools.partial(self._commit, batches))
            except BaseException as exc:
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                self.commits += 1
                for _, future in items:
                    if not future.done():
                        future.set_result(None)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _with_lock_retry(self, attempt: Any) -> Any:
        delay = 0.005
        for _ in range(LOCK_RETRIES):
            try:
                return await attempt()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        return await attempt()

    async def _commit(self, batches: list[Batch]) -> None:
        inline = self._inline
        if inline is not None and _row_count(batches) <= INLINE_MAX_ROWS:
            try:
                self._commit_in_thread(inline, batches)
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc):
                    raise
                # another process holds the write lock: wait for it on aiosqlite's thread
        run_in_thread = getattr(self.conn, "_execute", None)
        raw = getattr(self.conn, "_conn", None)
        if run_in_thread is not None and raw is not None:
            # One hand-off to aiosqlite's thread for the whole transaction: each await is a thread
            # round trip, and six of them per commit cost more than the fsync (scripts/bench_engine.py).
            await run_in_thread(self._commit_in_thread, raw, batches)
            return
        await self._commit_awaiting(batches)

    def _commit_in_thread(self, conn: sqlite3.Connection, batches: list[Batch]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in _runs_of_same_sql(s for b in batches for s in b.statements):
                conn.executemany(sql, rows)
            entries = [e for b in batches for e in b.audit]
            if entries:
                head = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
                conn.executemany(insert_sql(), self._audit_rows(head, entries))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _audit_rows(self, head: Any, entries: list[AuditEntry]) -> list[Any]:
        seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
        rows = []
        for e in entries:
            seq += 1
            record, raw = make_record(
                prev,
                seq,
                self.clock.iso(),
                e.actor,
                e.action,
                e.entity_type,
                e.entity_id,
                e.outcome,
                e.details,
            )
            rows.append(row_values(record, raw))
            prev = record.hash
        return rows

    async def _commit_awaiting(self, batches: list[Batch]) -> None:
        """The same transaction through aiosqlite's public API (one await per statement)."""
        conn = self.conn
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in _runs_of_same_sql(s for b in batches for s in b.statements):
                await conn.executemany(sql, rows)
            entries = [e for b in batches for e in b.audit]
            if entries:
                await self._append_audit(entries)
            await conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise

    async def _append_audit(self, entries: list[AuditEntry]) -> None:
        last = list(await self.conn.execute_fetchall("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"))
        await self.conn.executemany(insert_sql(), self._audit_rows(last[0] if last else None, entries))

    # -- reading ---------------------------------------------------------------------------------
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        rows = await self.conn.execute_fetchall(sql, params)
        return list(rows)


def _inline_connection(path: Path) -> sqlite3.Connection | None:
    """A connection that fails at once on a taken lock (busy timeout 0) instead of blocking the loop.

    Opened with the ordinary busy timeout (another process may be opening or checkpointing the
    store), then switched to 0; None if it cannot be had: the store then commits on its thread.
    """
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        for pragma in (*CONNECTION_PRAGMAS, "PRAGMA busy_timeout=0"):
            conn.execute(pragma)
    except sqlite3.OperationalError:
        return None
    return conn


def _row_count(batches: list[Batch]) -> int:
    return sum(len(rows) for b in batches for _, rows in b.statements) + sum(len(b.audit) for b in batches)


def _runs_of_same_sql(
    statements: Iterable[tuple[str, list[Sequence[Any]]]],
) -> list[tuple[str, list[Sequence[Any]]]]:
    """Merge consecutive statements with the same SQL, keeping order (one executemany each)."""
    merged: list[tuple[str, list[Sequence[Any]]]] = []
    for sql, rows in statements:
        if merged and merged[-1][0] == sql:
            merged[-1][1].extend(rows)
        else:
            merged.append((sql, list(rows)))
    return merged


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
