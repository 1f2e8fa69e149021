"""Desk operations in the audit chain of the folder they changed (never with secret values)."""

from __future__ import annotations

import asyncio
import getpass
import os
from pathlib import Path
from typing import Any

from builderos.store.db import AuditEntry, Batch, Store


def actor(source: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:
        user = os.environ.get("USER", "user")
    return {"type": "user", "id": user, "source": source}


async def write_entry(dest: Path, entry: dict[str, Any]) -> None:
    """Append one entry, unless the transaction it belongs to was already recorded (after a crash)."""
    store = await Store.open(dest / ".builderos")
    try:
        txn = entry.get("details", {}).get("txn")
        if txn:
            rows = await store.fetch(
                "SELECT 1 FROM audit WHERE action = ? AND CAST(record AS TEXT) LIKE ?",
                (entry["action"], f'%"txn":"{txn}"%'),
            )
            if rows:
                return
        await store.write(
            Batch(
                audit=[
                    AuditEntry(
                        actor=entry["actor"],
                        action=entry["action"],
                        entity_type=entry["entity_type"],
                        entity_id=entry["entity_id"],
                        outcome=entry.get("outcome", "success"),
                        details=entry.get("details", {}),
                    )
                ]
            )
        )
    finally:
        await store.close()


def write_entry_sync(dest: Path, entry: dict[str, Any]) -> None:
    """For code that is not in an event loop (the CLI, or a worker thread of the daemon)."""
    asyncio.run(write_entry(dest, entry))
