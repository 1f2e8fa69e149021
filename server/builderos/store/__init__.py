"""The .builderos store: SQLite (WAL) event log, run records, effects, approvals, artifacts, audit chain."""
