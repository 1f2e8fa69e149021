"""The versioned SQLite schema of .builderos/builderos.db, applied by ordered migrations."""

from __future__ import annotations

from builderos.store.audit import AUDIT_DDL

SCHEMA_VERSION_KEY = "schema_version"

#: Each entry upgrades the database by one version; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        owner TEXT,
        heartbeat REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        last_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
    CREATE TABLE IF NOT EXISTS events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        step_id TEXT,
        type TEXT NOT NULL,
        ts TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS effects (
        key TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        step_id TEXT,
        kind TEXT NOT NULL,
        intent TEXT NOT NULL,
        result TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        done_at TEXT
    );
    CREATE INDEX IF NOT EXISTS effects_run ON effects(run_id);
    CREATE TABLE IF NOT EXISTS approvals (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        step_id TEXT,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        resolved_at TEXT,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status);
    CREATE TABLE IF NOT EXISTS artifacts (
        run_id TEXT NOT NULL,
        step_id TEXT NOT NULL,
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (run_id, step_id, name)
    );
    """
    + AUDIT_DDL,
)
