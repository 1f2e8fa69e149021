"""Batches whose rows are encoded at commit time (`Batch.later`): committed whole, or failed loudly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from builderos.store.db import Batch, Store


def rows(path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path / "builderos.db")
    try:
        return list(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'test.%' ORDER BY key"))
    finally:
        conn.close()


async def test_a_filler_runs_before_the_commit_and_its_rows_commit_with_the_batch(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:
        value = {"text": "before"}
        batch = Batch().add("INSERT INTO meta(key, value) VALUES (?, ?)", ("test.a", "eager"))
        batch.later.append(
            lambda b: b.add("INSERT INTO meta(key, value) VALUES (?, ?)", ("test.b", value["text"]))
        )
        future = store.submit(batch)
        value["text"] = "at commit"  # what the filler reads is what it finds when the writer commits
        await future
    finally:
        await store.close()
    assert rows(tmp_path) == [("test.a", "eager"), ("test.b", "at commit")]


async def test_a_failing_filler_fails_the_whole_batch_and_nothing_is_half_written(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    try:

        def broken(b: Batch) -> None:
            raise ValueError("cannot encode")

        batch = Batch().add("INSERT INTO meta(key, value) VALUES (?, ?)", ("test.a", "eager"))
        batch.later.append(broken)
        with pytest.raises(ValueError, match="cannot encode"):
            await store.submit(batch)
        await store.write(Batch().add("INSERT INTO meta(key, value) VALUES (?, ?)", ("test.c", "next")))
    finally:
        await store.close()
    assert rows(tmp_path) == [("test.c", "next")]
