"""The audit chain: every kind of tampering is found and named, exports are exact, canonical JSON is strict.

A chain of 200 varied records is written once to a real SQLite file through the storage contract
(`make_record` + `row_values` + `insert_sql`); each test tampers with its own copy. Every test runs
with the compiled fast check and with the Python one alone (the `fast_check` fixture).
"""

from __future__ import annotations

import argparse
import enum
import hashlib
import io
import itertools
import json
import multiprocessing
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from builderos.cli import audit_cmd
from builderos.cli.common import UserError
from builderos.store import audit, audit_parallel
from builderos.store.audit import (
    AUDIT_DDL,
    GENESIS_HASH,
    ChainVerifier,
    averify_db,
    export_ndjson,
    insert_sql,
    make_record,
    parse_record,
    parse_since,
    read_head,
    row_values,
    verify_chain,
    verify_db,
    verify_with_head,
)
from builderos.store.audit_parallel import FileVerify, plan_ranges, verify_file
from builderos.store.canonical import canonical_json

N = 200
T0 = datetime(2024, 5, 1, tzinfo=UTC).timestamp()
STEP_S = 15 * 60  # one record every 15 minutes: 200 records span a little over two days
NOW = T0 + N * STEP_S  # the injected clock for `since`

ACTIONS = ("run.started", "step.finished", "tool.call", "approval.resolved", "policy.denied")
ENTITIES = ("run", "step", "approval", "file")
OUTCOMES = ("success", "success", "failure", "denied")
ACTORS = (
    {"type": "user", "id": "ana", "source": "editor"},
    {"type": "agent", "id": "builder", "source": "daemon"},
    {"type": "system", "id": "scheduler", "source": "daemon"},
)


def ts_of(i: int) -> str:
    moment = datetime.fromtimestamp(T0 + i * STEP_S, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def details_of(i: int) -> dict[str, Any]:
    """Realistic and awkward: nested `hash`/`outcome` keys, quotes, newlines, unicode, floats."""
    sha = hashlib.sha256(str(i).encode()).hexdigest()
    details: dict[str, Any] = {
        "run_id": f"01HZX{i:021d}",
        "path": f"src/app/handlers/h{i}.py",
        "args_sha256": sha,
        "duration_ms": (i * 37) % 977,
        "cost_usd": round(i * 0.0013, 4),
    }
    if i % 3 == 0:  # a nested object whose members look like the record's own tail
        details["artifact"] = {"a": 1, "hash": sha, "outcome": "success", "prev_hash": GENESIS_HASH}
    if i % 4 == 1:
        details["note"] = 'said "héllo" to 日本 🚀\nthen ,"hash":"x" and \\ and \t tab'
    if i % 5 == 2:
        details["files"] = [
            {"path": "a.py", "before": None, "after": sha[:12]},
            {"path": "ß/ø.md", "hash": sha},
        ]
    if i % 7 == 3:
        details = {}
    return details


def build_chain(path: Path, n: int = N) -> list[tuple[int, bytes]]:
    conn = sqlite3.connect(path)
    conn.executescript(AUDIT_DDL)
    rows = []
    with conn:
        last_seq, prev = read_head(conn)
        assert (last_seq, prev) == (0, GENESIS_HASH)
        for i in range(1, n + 1):
            record, stored = make_record(
                prev,
                i,
                ts_of(i),
                ACTORS[i % 3],
                ACTIONS[i % 5],
                ENTITIES[i % 4],
                f"e{i % 11}",
                OUTCOMES[i % 4],
                details_of(i),
            )
            rows.append(row_values(record, stored))
            prev = record.hash
        conn.executemany(insert_sql(), rows)
    assert read_head(conn) == (n, prev)
    conn.close()
    return [(row[0], row[7]) for row in rows]


@pytest.fixture(autouse=True, params=["compiled", "python"])
def fast_check(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with the fast check compiled to C (`chain_accel`) and with the Python loop alone.

    Forked verify workers inherit the choice; spawned ones load what the environment says.
    """
    if request.param == "python":
        monkeypatch.setattr(audit, "_fast_rows", None)
        monkeypatch.setenv("BUILDEROS_PURE_PYTHON", "1")
    elif audit._fast_rows is None:
        pytest.skip("the C fast check is not built here (test_chain_accel says why)")
    return str(request.param)


@pytest.fixture(scope="module")
def chain_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, bytes]]]:
    path = tmp_path_factory.mktemp("audit") / "builderos.db"
    return path, build_chain(path)


@pytest.fixture
def rows(chain_file: tuple[Path, list[tuple[int, bytes]]]) -> list[tuple[int, bytes]]:
    return list(chain_file[1])


@pytest.fixture
def db(chain_file: tuple[Path, list[tuple[int, bytes]]], tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A fresh copy of the chain's database, open."""
    path = tmp_path / "copy.db"
    shutil.copyfile(chain_file[0], path)
    conn = sqlite3.connect(path)
    yield conn
    conn.close()


def stored(conn: sqlite3.Connection, seq: int) -> bytes:
    value = conn.execute("SELECT record FROM audit WHERE seq = ?", (seq,)).fetchone()[0]
    assert isinstance(value, bytes)
    return value


def put(conn: sqlite3.Connection, seq: int, raw: bytes) -> None:
    conn.execute("UPDATE audit SET record = ? WHERE seq = ?", (raw, seq))
    conn.commit()


def flip(raw: bytes, offset: int, mask: int = 0x01) -> bytes:
    data = bytearray(raw)
    data[offset] ^= mask
    return bytes(data)


def value_spans(raw: bytes) -> dict[str, tuple[int, int]]:
    """Byte span of each top-level member's value (layout rule: keys in sorted order)."""
    starts = {
        "action": raw.index(b'{"action":') + len(b'{"action":'),
        "actor": raw.index(b',"actor":') + len(b',"actor":'),
        "details": raw.index(b',"details":') + len(b',"details":'),
    }
    for key in ("entity_id", "entity_type", "hash", "outcome", "prev_hash", "seq", "ts"):
        member = b',"' + key.encode() + b'":'
        starts[key] = raw.rindex(member) + len(member)
    keys = list(starts)
    spans = {}
    for key, after in zip(keys, [*keys[1:], None], strict=True):
        end = len(raw) - 1 if after is None else raw.rindex(b',"' + after.encode() + b'":', 0, starts[after])
        spans[key] = (starts[key], end)
    return spans


def assert_bad(result: Any, seq: int, *words: str) -> None:
    assert not result.ok
    assert result.first_bad_seq == seq, result.reason
    assert result.reason is not None
    for word in words:
        assert word in result.reason, result.reason


# -- the intact chain -------------------------------------------------------------------------


def test_intact_chain_verifies(db: sqlite3.Connection, rows: list[tuple[int, bytes]]) -> None:
    result = verify_db(db)
    assert result.ok and result.count == N and result.first_bad_seq is None and result.reason is None
    assert result.head_seq == N
    assert result.head_hash == json.loads(rows[-1][1])["hash"] == read_head(db)[1]
    assert verify_chain(rows) == result
    assert verify_with_head(rows, result.head_hash).ok


def test_an_intact_chain_never_takes_the_slow_path(
    db: sqlite3.Connection, rows: list[tuple[int, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nested `hash`/`outcome` members, quotes and unicode in details must not defeat the byte-level path."""

    def slow(*args: object) -> None:
        raise AssertionError(f"the careful path ran for {args[0]}")

    monkeypatch.setattr(audit, "_full_check", slow)
    assert verify_db(db).ok
    assert verify_chain(rows).ok


def test_empty_log_verifies(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "empty.db")
    conn.executescript(AUDIT_DDL)
    result = verify_db(conn)
    assert result.ok and result.count == 0 and result.head_seq == 0 and result.head_hash == GENESIS_HASH
    assert not verify_db(conn, expected_head_hash="ab" * 32).ok


def test_stored_bytes_follow_the_documented_rule(rows: list[tuple[int, bytes]]) -> None:
    """What another implementation relies on: canonical bytes, the hash formula, the 74-byte member."""
    prev = GENESIS_HASH
    for seq, raw in rows:
        obj = json.loads(raw)
        assert canonical_json(obj) == raw
        without = canonical_json({k: v for k, v in obj.items() if k != "hash"})
        assert obj["seq"] == seq and obj["prev_hash"] == prev
        assert obj["hash"] == hashlib.sha256(prev.encode() + without).hexdigest()
        cut = raw.rindex(b',"hash":"')
        assert raw[cut : cut + 74] == b',"hash":"' + obj["hash"].encode() + b'"'
        assert raw[:cut] + raw[cut + 74 :] == without
        prev = obj["hash"]


@pytest.mark.parametrize("size", [1, 7, 64, 1000])
def test_any_chunking_gives_the_same_verdict(rows: list[tuple[int, bytes]], size: int) -> None:
    bad = list(rows)
    bad[122] = (123, flip(bad[122][1], 40))
    for data, expected_bad in ((rows, None), (bad, 123)):
        verifier = ChainVerifier()
        for start in range(0, len(data), size):
            if not verifier.feed(data[start : start + size]):
                break
        result = verifier.result()
        assert result.first_bad_seq == expected_bad
        assert result == verify_chain(data)


def test_verifying_from_a_known_head_checks_only_what_follows(rows: list[tuple[int, bytes]]) -> None:
    head = json.loads(rows[149][1])["hash"]
    assert verify_chain(rows[150:], prev_hash=head, first_seq=151).ok
    assert_bad(verify_chain(rows[151:], prev_hash=head, first_seq=151), 151, "missing")
    assert_bad(verify_chain(rows[150:], prev_hash=GENESIS_HASH, first_seq=151), 151, "prev_hash")


# -- changed bytes ----------------------------------------------------------------------------

FLIP_SEQS = (1, 2, 100, 199, 200)
FIELDS = (
    "action",
    "actor",
    "details",
    "entity_id",
    "entity_type",
    "hash",
    "outcome",
    "prev_hash",
    "seq",
    "ts",
)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("seq", FLIP_SEQS)
def test_a_flipped_byte_in_any_field_is_named(
    db: sqlite3.Connection, seq: int, field: str, where: str
) -> None:
    raw = stored(db, seq)
    start, end = value_spans(raw)[field]
    offset = {"first": start, "middle": (start + end) // 2, "last": end - 1}[where]
    put(db, seq, flip(raw, offset))
    assert_bad(verify_db(db), seq, f"record {seq}")


@pytest.mark.parametrize("seq", FLIP_SEQS)
@pytest.mark.parametrize("mask", [0x01, 0x20, 0x80, 0xFF])
def test_a_flipped_structural_byte_is_named(db: sqlite3.Connection, seq: int, mask: int) -> None:
    raw = stored(db, seq)
    member = raw.rindex(b',"hash":"')
    for offset in (0, len(raw) - 1, member, member + 3, member + 8, member + 73, member + 74):
        put(db, seq, flip(raw, offset, mask))
        assert_bad(verify_db(db), seq, f"record {seq}")
    put(db, seq, raw)
    assert verify_db(db).ok


@pytest.mark.parametrize("seq", [1, 3, 100, 199, 200])
def test_every_single_byte_flip_is_detected(rows: list[tuple[int, bytes]], seq: int) -> None:
    """Exhaustive, in memory: each byte of the record, three kinds of flip, verified from just before."""
    start = max(seq - 3, 0)
    prev = GENESIS_HASH if start == 0 else json.loads(rows[start - 1][1])["hash"]
    window = rows[start : seq + 2]
    index = seq - 1 - start
    raw = window[index][1]
    for offset in range(len(raw)):
        for mask in (0x01, 0x20, 0x80):
            tampered = list(window)
            tampered[index] = (seq, flip(raw, offset, mask))
            result = verify_chain(tampered, prev_hash=prev, first_seq=start + 1)
            assert result.first_bad_seq == seq, (offset, mask, result)
            assert result.count == index


def upper_hex(raw: bytes, value: str) -> bytes:
    """`value` (a hash in `raw`) with its first letter in upper case."""
    letter = next(i for i, c in enumerate(value) if c.isalpha())
    changed = value[:letter] + value[letter].upper() + value[letter + 1 :]
    return raw.replace(b'"' + value.encode() + b'"', b'"' + changed.encode() + b'"')


def test_reasons_say_what_is_wrong(db: sqlite3.Connection) -> None:
    raw = stored(db, 17)
    obj = json.loads(raw)
    cases = {
        raw.replace(
            obj["ts"].encode(), b"2099-01-01T00:00:00.000Z"
        ): "hash does not match its content (was it edited?)",
        raw[:-1]: "not valid JSON",
        raw.replace(b'"actor":', b'"actoR":'): "field 'actor' is missing",
        upper_hex(raw, obj["hash"]): "its hash is not 64 lowercase hex digits",
        upper_hex(raw, obj["prev_hash"]): "its prev_hash is not 64 lowercase hex digits",
        raw.replace(b'"seq":17', b'"seq": 17'): "not the canonical form",
        raw[:20] + b"\xff" + raw[21:]: "not valid UTF-8",
    }
    for tampered, words in cases.items():
        put(db, 17, tampered)
        assert_bad(verify_db(db), 17, "record 17: ", words)


# -- deleted, moved, renumbered records ------------------------------------------------------


@pytest.mark.parametrize("seq", [1, 100, N - 1])
def test_a_deleted_record_is_named(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    db.commit()
    assert_bad(verify_db(db), seq, f"record {seq} is missing", "deleted")


def test_several_deleted_records_are_named(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM audit WHERE seq BETWEEN 100 AND 104")
    db.commit()
    result = verify_db(db)
    assert_bad(result, 100, "records 100–104 are missing", "from record 99 to record 105")
    assert result.count == 99 and result.head_seq == 99


@pytest.mark.parametrize(("a", "b"), [(10, 20), (50, 51), (1, N)])
def test_swapped_records_are_named(db: sqlite3.Connection, a: int, b: int) -> None:
    raw_a, raw_b = stored(db, a), stored(db, b)
    put(db, a, raw_b)
    put(db, b, raw_a)
    assert_bad(verify_db(db), a, f"record {a}: the seq column says {a}", f"content says {b}")


def test_swapping_whole_rows_is_named(db: sqlite3.Connection) -> None:
    db.execute("UPDATE audit SET seq = -1 WHERE seq = 10")
    db.execute("UPDATE audit SET seq = 10 WHERE seq = 20")
    db.execute("UPDATE audit SET seq = 20 WHERE seq = -1")
    db.commit()
    assert_bad(verify_db(db), 10, "content says 20")


@pytest.mark.parametrize(
    ("old", "new", "bad", "words"),
    [
        (50, 1000, 50, "record 50 is missing"),
        (N, N + 1, N + 1, f"the seq column says {N + 1} but the record's content says {N}"),
        (1, 0, 0, "the seq column says 0 but the record's content says 1"),
    ],
)
def test_a_changed_seq_column_is_named(
    db: sqlite3.Connection, old: int, new: int, bad: int, words: str
) -> None:
    db.execute("UPDATE audit SET seq = ? WHERE seq = ?", (new, old))
    db.commit()
    assert_bad(verify_db(db), bad, words)


def test_a_rewritten_record_breaks_the_link_to_the_next(db: sqlite3.Connection) -> None:
    """Editing record 50 and recomputing its own hash is caught at record 51."""
    old = parse_record(stored(db, 50))
    _, raw = make_record(
        old.prev_hash,
        50,
        old.ts,
        old.actor,
        old.action,
        old.entity_type,
        old.entity_id,
        "success",
        {**old.details, "approved_by": "mallory"},
    )
    put(db, 50, raw)
    assert_bad(verify_db(db), 51, "record 51: its prev_hash is not the hash of record 50")


def test_a_changed_hash_column_of_the_head_is_named(db: sqlite3.Connection) -> None:
    """The head's hash column is what the next append chains to, so verify checks it."""
    db.execute("UPDATE audit SET hash = ? WHERE seq = ?", ("ab" * 32, N))
    db.commit()
    assert_bad(verify_db(db), N, f"record {N}: its hash column")


# -- truncation and the head ------------------------------------------------------------------


def test_a_truncated_tail_is_found_only_with_the_head(
    db: sqlite3.Connection, rows: list[tuple[int, bytes]]
) -> None:
    head = verify_db(db).head_hash
    db.execute("DELETE FROM audit WHERE seq > 190")
    db.commit()
    assert verify_db(db).ok  # a prefix of a chain is a valid chain: the documented limit
    remaining = rows[:190]
    assert_bad(verify_with_head(remaining, head), 191, "ends at record 190", "expected head")
    assert_bad(verify_db(db, expected_head_hash=head), 191, "ends at record 190")


def test_a_head_from_earlier_accepts_later_appends(rows: list[tuple[int, bytes]]) -> None:
    earlier = json.loads(rows[99][1])["hash"]
    result = verify_with_head(rows, earlier)
    assert result.ok and result.head_seq == N
    assert not verify_with_head(rows, hashlib.sha256(b"another log").hexdigest()).ok
    with pytest.raises(ValueError, match="64 lowercase hex"):
        verify_with_head(rows, "not-a-hash")


# -- async ------------------------------------------------------------------------------------


async def test_averify_db_matches_verify_db(db: sqlite3.Connection) -> None:
    path = Path(db.execute("PRAGMA database_list").fetchone()[2])
    async with aiosqlite.connect(path) as conn:
        conn.row_factory = aiosqlite.Row
        result = await averify_db(conn)
        assert result.ok and result.count == N
    put(db, 42, flip(stored(db, 42), 30))
    async with aiosqlite.connect(path) as conn:
        assert_bad(await averify_db(conn, chunk_rows=16), 42, "record 42")
        assert (await averify_db(conn)) == verify_db(db)


# -- parallel verification of a file ------------------------------------------------------------

BIG = 25_000  # above PARALLEL_MIN_RECORDS, so verify_file splits it
BIG_WORKERS = 2  # fixed, so that the ranges are the same on any machine
BIG_RANGES = plan_ranges(BIG, BIG_WORKERS)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit-big") / "builderos.db"
    build_chain(path, BIG)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as the store keeps it: readers run beside the writer
    conn.close()
    return path


@pytest.fixture
def big(big_file: Path, tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A fresh copy of the large chain, and a connection to tamper with it (left open, as a daemon would)."""
    path = tmp_path / "builderos.db"
    shutil.copyfile(big_file, path)
    conn = sqlite3.connect(path)
    yield path, conn
    conn.close()


def both(path: Path, conn: sqlite3.Connection, **kwargs: Any) -> tuple[FileVerify, audit.VerifyResult]:
    """verify_file (2 workers) and the sequential verify_db over the same file."""
    return verify_file(path, workers=BIG_WORKERS, **kwargs), verify_db(conn, **kwargs)


def test_the_large_chain_plan_has_several_ranges() -> None:
    assert len(BIG_RANGES) >= 4 and BIG_RANGES[0][0] == 1 and BIG_RANGES[-1][1] == BIG
    assert all(b + 1 == c for (_, b), (c, _) in itertools.pairwise(BIG_RANGES))


def test_a_large_chain_verifies_in_parallel_as_sequentially(big: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = big
    parallel, sequential = both(path, conn)
    assert parallel.strategy == "parallel" and parallel.note is None
    assert (parallel.workers, parallel.ranges) == (BIG_WORKERS, len(BIG_RANGES))
    assert sequential.ok and sequential.count == BIG and sequential.head_seq == BIG
    assert sequential.head_hash == read_head(conn)[1]
    assert parallel.result == sequential


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_parallel_workers_take_only_the_fast_path(
    big: tuple[Path, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(*args: object) -> None:
        raise AssertionError(f"the careful path ran for {args[0]}")

    monkeypatch.setattr(audit, "_full_check", slow)  # forked workers inherit the patch
    found = verify_file(big[0], workers=BIG_WORKERS, start_method="fork")
    assert found.strategy == "parallel" and found.result.ok and found.result.count == BIG


def test_parallel_verify_with_spawned_workers(big: tuple[Path, sqlite3.Connection]) -> None:
    """What a multi-threaded caller gets: fresh interpreters that import the worker."""
    path, conn = big
    found = verify_file(path, workers=BIG_WORKERS, start_method="spawn")
    assert found.strategy == "parallel"
    assert found.result == verify_db(conn)


def test_small_logs_and_one_worker_stay_sequential(
    chain_file: tuple[Path, list[tuple[int, bytes]]], big: tuple[Path, sqlite3.Connection]
) -> None:
    small = verify_file(chain_file[0], workers=BIG_WORKERS)
    assert small.strategy == "sequential" and small.result.ok and small.result.count == N
    path, conn = big
    single = verify_file(path, workers=1)
    assert single.strategy == "sequential" and single.result == verify_db(conn)
    assert verify_file(path, workers=BIG_WORKERS, min_records=BIG + 1).strategy == "sequential"


def test_an_empty_log_verifies_sequentially(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "empty.db")
    conn.executescript(AUDIT_DDL)
    conn.close()
    found = verify_file(tmp_path / "empty.db", workers=BIG_WORKERS, min_records=0)
    assert found.strategy == "sequential"
    assert found.result.ok and found.result.count == 0 and found.result.head_hash == GENESIS_HASH


def assert_same_failure(
    path: Path, conn: sqlite3.Connection, bad_seq: int, *words: str, **kwargs: Any
) -> FileVerify:
    """The parallel verdict is the sequential one, word for word, reached by falling back."""
    parallel, sequential = both(path, conn, **kwargs)
    assert_bad(sequential, bad_seq, *words)
    assert parallel.result == sequential
    assert parallel.strategy == "fallback" and parallel.note, parallel
    return parallel


def second_range_seqs() -> list[int]:
    start, end = BIG_RANGES[1]
    return [start, (start + end) // 2, end]


@pytest.mark.parametrize("seq", second_range_seqs())
@pytest.mark.parametrize("field", ["details", "hash", "prev_hash", "seq"])
def test_a_flipped_byte_in_the_second_range_is_named_as_sequentially(
    big: tuple[Path, sqlite3.Connection], seq: int, field: str
) -> None:
    path, conn = big
    raw = stored(conn, seq)
    start, end = value_spans(raw)[field]
    put(conn, seq, flip(raw, (start + end) // 2))
    assert_same_failure(path, conn, seq, f"record {seq}")


def boundary_seqs() -> list[int]:
    return [1, BIG_RANGES[1][1], BIG_RANGES[2][0], BIG_RANGES[-1][0]]


@pytest.mark.parametrize("seq", boundary_seqs())
def test_a_deleted_record_at_a_range_boundary_is_named_as_sequentially(
    big: tuple[Path, sqlite3.Connection], seq: int
) -> None:
    path, conn = big
    conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))
    conn.commit()
    assert_same_failure(path, conn, seq, "missing")


def test_deleted_ranges_across_a_boundary_are_named_as_sequentially(
    big: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = big
    boundary = BIG_RANGES[2][0]
    conn.execute("DELETE FROM audit WHERE seq BETWEEN ? AND ?", (boundary - 3, boundary + 3))
    conn.commit()
    assert_same_failure(path, conn, boundary - 3, "missing")


def test_a_deleted_tail_is_an_intact_prefix_in_parallel_too(big: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = big
    head = verify_db(conn).head_hash
    conn.execute("DELETE FROM audit WHERE seq > ?", (BIG - 10,))
    conn.commit()
    parallel, sequential = both(path, conn)
    assert parallel.strategy == "parallel" and sequential.ok and sequential.count == BIG - 10
    assert parallel.result == sequential
    assert_same_failure(path, conn, BIG - 9, "ends at record", expected_head_hash=head)


def test_records_swapped_across_ranges_are_named_as_sequentially(
    big: tuple[Path, sqlite3.Connection],
) -> None:
    path, conn = big
    a, b = BIG_RANGES[0][1] - 5, BIG_RANGES[2][0] + 5
    raw_a, raw_b = stored(conn, a), stored(conn, b)
    put(conn, a, raw_b)
    put(conn, b, raw_a)
    assert_same_failure(path, conn, a, f"record {a}", "seq column says")


def test_renumbered_rows_swapped_across_ranges_are_named_as_sequentially(
    big: tuple[Path, sqlite3.Connection],
) -> None:
    """The rows (all columns) trade places: the seq column now disagrees with each record's content."""
    path, conn = big
    a, b = BIG_RANGES[1][0], BIG_RANGES[3][1]
    with conn:
        conn.execute("UPDATE audit SET seq = -1 WHERE seq = ?", (a,))
        conn.execute("UPDATE audit SET seq = ? WHERE seq = ?", (a, b))
        conn.execute("UPDATE audit SET seq = ? WHERE seq = -1", (b,))
    assert_same_failure(path, conn, a, f"record {a}")


def test_a_rewritten_record_at_a_range_start_breaks_the_link(big: tuple[Path, sqlite3.Connection]) -> None:
    """Rewriting the last record of a range with its own hash recomputed: caught at the next range's start."""
    path, conn = big
    seq = BIG_RANGES[1][1]
    old = parse_record(stored(conn, seq))
    _, raw = make_record(
        old.prev_hash,
        seq,
        old.ts,
        old.actor,
        old.action,
        old.entity_type,
        old.entity_id,
        "success",
        {**old.details, "approved_by": "mallory"},
    )
    put(conn, seq, raw)
    assert_same_failure(
        path, conn, seq + 1, f"record {seq + 1}: its prev_hash is not the hash of record {seq}"
    )


def test_a_changed_head_hash_column_is_named_in_parallel_too(big: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = big
    conn.execute("UPDATE audit SET hash = ? WHERE seq = ?", ("ab" * 32, BIG))
    conn.commit()
    parallel, sequential = both(path, conn)
    assert_bad(sequential, BIG, f"record {BIG}: its hash column")
    assert parallel.result == sequential
    assert parallel.strategy == "parallel"  # the ranges were intact: only the column is wrong


def test_the_expected_head_in_parallel(big: tuple[Path, sqlite3.Connection]) -> None:
    path, conn = big
    middle = parse_record(stored(conn, (BIG_RANGES[1][0] + BIG_RANGES[1][1]) // 2)).hash
    range_start = parse_record(stored(conn, BIG_RANGES[2][0])).prev_hash  # the last hash of range 2
    for head in (read_head(conn)[1], middle, range_start, GENESIS_HASH):
        parallel, sequential = both(path, conn, expected_head_hash=head)
        assert sequential.ok and sequential.count == BIG
        assert parallel.strategy == "parallel" and parallel.result == sequential
    another = hashlib.sha256(b"another log").hexdigest()
    assert_same_failure(path, conn, BIG + 1, "does not contain the expected head", expected_head_hash=another)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        verify_file(path, workers=BIG_WORKERS, expected_head_hash="not-a-hash")


def test_workers_that_cannot_run_leave_the_verdict_to_the_sequential_pass(
    big: tuple[Path, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("no processes today")

    monkeypatch.setattr(audit_parallel, "_run_ranges", broken)
    path, conn = big
    found = verify_file(path, workers=BIG_WORKERS)
    assert found.strategy == "fallback" and found.note is not None and "no processes today" in found.note
    assert found.result == verify_db(conn) and found.result.ok


def test_cli_audit_verify_uses_the_parallel_path(
    big: tuple[Path, sqlite3.Connection],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, conn = big
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "builderos.yaml").write_text("name: ws\n")
    (ws / ".builderos").symlink_to(path.parent)  # the store is the copy that `conn` tampers with
    strategies: list[str] = []
    real = audit_parallel.verify_file

    def spy(*args: Any, **kwargs: Any) -> FileVerify:
        found = real(*args, **kwargs)
        strategies.append(found.strategy)
        return found

    monkeypatch.setattr(audit_parallel, "verify_file", spy)
    args = argparse.Namespace(workspace=str(ws), json=True, workers=BIG_WORKERS)
    assert audit_cmd.cmd_verify(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "ok": True,
        "count": BIG,
        "first_bad_seq": None,
        "reason": None,
    }
    seq = BIG_RANGES[1][0] + 7
    put(conn, seq, flip(stored(conn, seq), 50))
    assert audit_cmd.cmd_verify(args) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["first_bad_seq"] == seq and out["count"] == seq - 1
    assert strategies == ["parallel", "fallback"]
    with pytest.raises(UserError, match="--workers"):
        audit_cmd.cmd_verify(argparse.Namespace(workspace=str(ws), json=False, workers=0))


# -- export -----------------------------------------------------------------------------------


def expected_lines(rows: list[tuple[int, bytes]], keep: Callable[[dict[str, Any]], bool]) -> list[bytes]:
    return [raw for _, raw in rows if keep(json.loads(raw))]


def export(db: sqlite3.Connection, **filters: Any) -> tuple[int, list[bytes]]:
    out = io.BytesIO()
    count = export_ndjson(db, out, now=lambda: NOW, **filters)
    data = out.getvalue()
    assert data.endswith(b"\n") or not data
    return count, data.splitlines()


SINCE_24H = ts_of(N - 96)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({}, lambda r: True),
        ({"action": "tool.call"}, lambda r: r["action"] == "tool.call"),
        (
            {"action": ["run.started", "policy.denied"]},
            lambda r: r["action"] in ("run.started", "policy.denied"),
        ),
        ({"entity_type": "approval"}, lambda r: r["entity_type"] == "approval"),
        ({"outcome": "denied"}, lambda r: r["outcome"] == "denied"),
        ({"since": "24h"}, lambda r: r["ts"] >= SINCE_24H),
        ({"since": "1d"}, lambda r: r["ts"] >= SINCE_24H),
        ({"since": "90m"}, lambda r: r["ts"] >= ts_of(N - 6)),
        ({"since": "2024-05-02T12:00:00Z"}, lambda r: r["ts"] >= "2024-05-02T12:00:00.000Z"),
        ({"since": "2024-05-02T14:00:00+02:00"}, lambda r: r["ts"] >= "2024-05-02T12:00:00.000Z"),
        (
            {"action": "tool.call", "outcome": "failure"},
            lambda r: r["action"] == "tool.call" and r["outcome"] == "failure",
        ),
        (
            {"action": "step.finished", "entity_type": "step", "outcome": "success", "since": "2d"},
            lambda r: (
                (r["action"], r["entity_type"], r["outcome"]) == ("step.finished", "step", "success")
                and r["ts"] >= ts_of(N - 192)
            ),
        ),
        ({"action": "no.such.action"}, lambda r: False),
    ],
)
def test_export_filters(
    db: sqlite3.Connection,
    rows: list[tuple[int, bytes]],
    filters: dict[str, Any],
    keep: Callable[[dict[str, Any]], bool],
) -> None:
    expected = expected_lines(rows, keep)
    count, lines = export(db, **filters)
    assert lines == expected
    assert count == len(expected)
    if filters and expected:
        assert 0 < count < N


def test_export_to_a_text_stream_is_the_same_text(
    db: sqlite3.Connection, rows: list[tuple[int, bytes]]
) -> None:
    out = io.StringIO()
    assert export_ndjson(db, out, entity_type="step") == len(
        expected_lines(rows, lambda r: r["entity_type"] == "step")
    )
    assert out.getvalue().encode() == b"".join(
        raw + b"\n" for raw in expected_lines(rows, lambda r: r["entity_type"] == "step")
    )
    assert "日本" in out.getvalue()  # unicode is kept as text, not escaped


def test_export_refuses_bad_filters(db: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="--outcome"):
        export_ndjson(db, io.BytesIO(), outcome="maybe")
    with pytest.raises(ValueError, match="--since"):
        export_ndjson(db, io.BytesIO(), since="yesterday")
    with pytest.raises(ValueError, match="--action"):
        export_ndjson(db, io.BytesIO(), action=[])


def test_parse_since() -> None:
    now = datetime(2024, 5, 3, 12, 0, 0, 250_000, tzinfo=UTC).timestamp()
    assert parse_since("24h", lambda: now) == "2024-05-02T12:00:00.250Z"
    assert parse_since("7d", lambda: now) == "2024-04-26T12:00:00.250Z"
    assert parse_since("1h30m", lambda: now) == "2024-05-03T10:30:00.250Z"
    assert parse_since(" 45 S ", lambda: now) == "2024-05-03T11:59:15.250Z"
    assert parse_since("2w", lambda: now) == "2024-04-19T12:00:00.250Z"
    assert parse_since("2024-05-01") == "2024-05-01T00:00:00.000Z"
    assert parse_since("2024-05-01T12:30") == "2024-05-01T12:30:00.000Z"
    assert parse_since("2024-05-01T12:30:00.5-01:00") == "2024-05-01T13:30:00.500Z"
    for bad in ("", "h", "24", "24x", "tomorrow", "99999999999d"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, lambda: now)


# -- making records ---------------------------------------------------------------------------


def make(**overrides: Any) -> tuple[Any, bytes]:
    args: dict[str, Any] = {
        "prev_hash": GENESIS_HASH,
        "seq": 1,
        "ts": "2024-05-01T12:00:00.000Z",
        "actor": {"type": "user", "id": "ana", "source": "cli"},
        "action": "approval.resolved",
        "entity_type": "approval",
        "entity_id": "ap1",
        "outcome": "success",
        "details": {"decision": "approve"},
    }
    args.update(overrides)
    return make_record(**args)


def test_make_record_returns_the_stored_bytes() -> None:
    record, raw = make(details={"b": [1, 2.5, None, True], "a": "é"})
    assert raw == canonical_json(record.to_json())
    assert parse_record(raw) == record
    assert record.prev_hash == GENESIS_HASH and len(record.hash) == 64
    assert verify_chain([(1, raw)]).ok


def test_make_record_keeps_the_details_it_hashed() -> None:
    details: dict[str, Any] = {"files": ["a.py"]}
    record, raw = make(details=details)
    details["files"].append("b.py")
    assert record.details == {"files": ["a.py"]}
    assert canonical_json(record.to_json()) == raw


@pytest.mark.parametrize(
    ("overrides", "error", "words"),
    [
        ({"actor": {"type": "robot", "id": "x", "source": "cli"}}, ValueError, "actor.type"),
        ({"actor": {"type": "user", "id": "x"}}, TypeError, "actor.source"),
        ({"actor": {"type": "user", "id": "x", "source": "cli", "ip": "1.2.3.4"}}, ValueError, "'ip'"),
        ({"outcome": "ok"}, ValueError, "outcome must be one of denied, failure, success"),
        ({"ts": "2024-05-01 12:00:00"}, ValueError, "ts must look like"),
        ({"ts": "2024-13-01T12:00:00.000Z"}, ValueError, "not a valid time"),
        ({"prev_hash": "0" * 63}, ValueError, "prev_hash"),
        ({"seq": 0}, ValueError, "seq"),
        ({"action": ""}, ValueError, "action"),
        ({"entity_id": 7}, TypeError, "entity_id"),
        ({"details": ["not", "an", "object"]}, TypeError, "details must be a JSON object"),
        ({"details": {"when": datetime(2024, 5, 1)}}, TypeError, "details.when: datetime"),
        ({"details": {"files": [{"path": "a", "mode": {0o644}}]}}, TypeError, "details.files[0].mode: set"),
        ({"details": {"pair": (1, 2)}}, TypeError, "details.pair: tuple"),
        ({"details": {"blob": b"secret"}}, TypeError, "details.blob: bytes"),
        ({"details": {"x": object()}}, TypeError, "details.x: object"),
        ({"details": {"ratio": float("nan")}}, ValueError, "details.ratio: nan"),
        ({"details": {"counts": {1: 2}}}, TypeError, "details.counts: key 1 is a int"),
    ],
)
def test_make_record_refuses_bad_values(
    overrides: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        make(**overrides)
    assert words in str(caught.value)


# -- canonical JSON ---------------------------------------------------------------------------


def test_canonical_json_is_deterministic() -> None:
    a = {"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": None}, "é": True, "Z": False}
    b = {"Z": False, "é": True, "a": {"x": None, "y": [1, {"c": 3, "d": 2}]}, "b": 1}
    assert canonical_json(a) == canonical_json(b)
    assert canonical_json(a) == b'{"Z":false,"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1,"\xc3\xa9":true}'


def test_canonical_json_strings_and_numbers() -> None:
    text = 'é 日本 🚀 "q" \\ / \n \t \x1f \x7f \u2028'
    assert canonical_json(text) == ('"é 日本 🚀 \\"q\\" \\\\ / \\n \\t \\u001f \x7f \u2028"').encode()
    assert (
        canonical_json([0, -1, 10**20, 1.0, 0.1, 1e-7, 1e16, -0.0])
        == b"[0,-1,100000000000000000000,1.0,0.1,1e-07,1e+16,-0.0]"
    )


def test_canonical_json_accepts_enum_values_as_their_value() -> None:
    class Kind(enum.StrEnum):
        RUN = "run"

    class Level(enum.IntEnum):
        HIGH = 3

    assert canonical_json({"k": Kind.RUN, "l": Level.HIGH}) == b'{"k":"run","l":3}'


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (float("nan"), ValueError, "$: nan"),
        ({"a": [1, float("inf")]}, ValueError, "$.a[1]: inf"),
        ({"a": {"b": -float("inf")}}, ValueError, "$.a.b: -inf"),
        ({"a": (1, 2)}, TypeError, "$.a: tuple"),
        ([{"when": datetime(2024, 1, 1)}], TypeError, "$[0].when: datetime"),
        ({"odd key": b"x"}, TypeError, '$["odd key"]: bytes'),
        ({"a": {2: "x"}}, TypeError, "$.a: key 2 is a int"),
        ({"a": {None: "x"}}, TypeError, "$.a: key None"),
        ({"s": "lone \ud800"}, ValueError, "$.s: lone surrogate"),
        ({"a": {1, 2}}, TypeError, "$.a: set"),
    ],
)
def test_canonical_json_refuses_what_is_not_json(value: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as caught:
        canonical_json(value)
    assert words in str(caught.value)


def test_canonical_json_refuses_cycles() -> None:
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match=r"\$\.a\[0\]: circular reference"):
        canonical_json(loop)
