"""The tamper-evident audit chain (SPEC §7): records, their storage, verification and NDJSON export.

A record is ``{seq, ts, actor: {type, id, source}, action, entity_type, entity_id, outcome,
details, prev_hash, hash}``. Its stored form is ``canonical_json(record)`` (see
`builderos.store.canonical`), and

    hash = sha256(prev_hash + canonical_json(record without "hash")).hexdigest()

where ``prev_hash`` is the 64 lowercase hex characters of the previous record's hash (ASCII bytes;
``GENESIS_HASH``, 64 zeros, for record 1) and ``+`` is byte concatenation. Records are numbered
from 1 with no gaps.

Why verification needs no JSON encoder (the layout rule): canonical JSON sorts keys, and a
record's keys sort as ``action < actor < details < entity_id < entity_type < hash < outcome <
prev_hash < seq < ts``. So ``hash`` is never the first member, and the bytes of the record without
its hash are exactly the stored bytes with the 74-byte member ``,"hash":"<64 hex>"`` cut out.
That member is the *last* occurrence of ``,"hash":"`` in the stored bytes: a ``"`` inside a JSON
string is always escaped and a string in an array is never followed by ``:``, so those 9 bytes
only ever start an object member named ``hash``; after the record's own ``hash`` come only
``outcome``, ``prev_hash``, ``seq`` and ``ts``, whose values are plain strings and a number, while
objects nested in ``actor`` and ``details`` (which may well have ``hash`` keys) all come before
it. Any implementation can verify a record with byte operations: find the last ``,"hash":"``,
take the 64 bytes after it as the stored hash (the byte after them must be ``"``), remove those
74 bytes, prepend the previous record's hash, sha256, compare as lowercase hex.

Verification (`verify_chain`, `verify_db`, `averify_db`) streams ``(seq, record bytes)`` in seq
order and stops at the first bad record, naming it: a changed byte anywhere in a record (hash
mismatch, malformed bytes), a deleted record (gap in seq, broken prev_hash link), records moved or
swapped, a seq column that disagrees with the record. The fast path parses no JSON: per record it
does the byte operations above with the *expected* previous hash, compares the hashes as exact
lowercase hex, checks the closing quote and that the seq column is the next number. It does not
read the record's own prev_hash and seq fields, and needs not: a record that passes is the one its
writer chained to that previous hash (anything else takes a sha256 collision), so its fields hold
what the writer put there. Only a record that fails is parsed (``json.loads``), checked field by
field and described.

A large log on disk is verified by `builderos.store.audit_parallel.verify_file` (what ``builderos
audit verify`` runs): the same fast check over contiguous seq ranges in worker processes, each
starting from the prev_hash its first record claims, then the links between the ranges are
checked; on any problem the sequential pass runs from the start, so the verdict (first bad record,
reason) is always the sequential one.

What a hash chain cannot show: records removed from the *end* (the remaining prefix is a valid
chain), or a chain rewritten from some record on by someone who recomputes every later hash. Keep
the head hash somewhere else (a run record, a commit, a ticket) and check against it with
`verify_with_head`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal, TextIO, cast, get_args

from builderos.store import chain_accel
from builderos.store.canonical import canonical_json, canonical_json_parsed

if TYPE_CHECKING:
    import aiosqlite

__all__ = [
    "ACTOR_TYPES",
    "AUDIT_DDL",
    "CHUNK_ROWS",
    "FIELDS",
    "GENESIS_HASH",
    "HEAD_SQL",
    "OUTCOMES",
    "TS_PATTERN",
    "Actor",
    "ActorType",
    "AuditRecord",
    "ChainVerifier",
    "Outcome",
    "VerifyResult",
    "averify_db",
    "export_ndjson",
    "export_query",
    "insert_sql",
    "make_record",
    "parse_record",
    "parse_since",
    "read_head",
    "row_values",
    "verify_chain",
    "verify_db",
    "verify_with_head",
]

GENESIS_HASH: Final = "0" * 64

ActorType = Literal["user", "agent", "system"]
Outcome = Literal["success", "failure", "denied"]
ACTOR_TYPES: Final[frozenset[str]] = frozenset(get_args(ActorType))
OUTCOMES: Final[frozenset[str]] = frozenset(get_args(Outcome))

#: The record's fields, in canonical (sorted) order.
FIELDS: Final = (
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
_ACTOR_FIELDS: Final = ("id", "source", "type")

#: Timestamps are UTC with milliseconds (what `builderos.store.clock.Clock.iso` writes). One fixed
#: width keeps text order equal to time order, which is what the ``ts`` index and ``since`` use.
TS_PATTERN: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")

#: The audit table and its indexes, one statement per ``;`` (no triggers, so a plain split works).
#: ``record`` holds the canonical bytes of the whole record, hash included: the other columns are
#: an index for filtering and can be rebuilt from it; verification reads only seq and record.
AUDIT_DDL: Final = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    hash TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_action ON audit(action);
CREATE INDEX IF NOT EXISTS audit_entity_type ON audit(entity_type);
CREATE INDEX IF NOT EXISTS audit_outcome ON audit(outcome);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);
"""

#: The last record: ``(seq, hash)``, or no row for an empty log.
HEAD_SQL: Final = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
_SCAN_SQL: Final = "SELECT seq, record FROM audit ORDER BY seq"
_HEAD_COLUMN_SQL: Final = "SELECT hash FROM audit WHERE seq = ?"
_INSERT_SQL: Final = (
    "INSERT INTO audit (seq, ts, action, entity_type, entity_id, outcome, hash, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
CHUNK_ROWS: Final = 1024

_MEMBER: Final = b',"hash":"'  # the hash member is _MEMBER + 64 hex + b'"': 74 bytes
_sha256 = hashlib.sha256
#: The fast check in C, when built (`chain_accel`); `ChainVerifier.feed` looks it up on each call.
_fast_rows = chain_accel.load()


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a user (editor, CLI), an agent (by name) or the system (daemon, scheduler)."""

    type: ActorType
    id: str
    source: str  # where the action came from: "cli", "editor", "daemon", "api:<address>"...

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "source": self.source, "type": self.type}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit record as written. Treat ``details`` as read-only: the stored bytes are the truth."""

    seq: int
    ts: str
    actor: Actor
    action: str
    entity_type: str
    entity_id: str
    outcome: Outcome
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (``canonical_json`` of it is the stored bytes)."""
        return {
            "action": self.action,
            "actor": self.actor.to_json(),
            "details": self.details,
            "entity_id": self.entity_id,
            "entity_type": self.entity_type,
            "hash": self.hash,
            "outcome": self.outcome,
            "prev_hash": self.prev_hash,
            "seq": self.seq,
            "ts": self.ts,
        }


def make_record(
    prev_hash: str,
    seq: int,
    ts: str,
    actor: Actor | Mapping[str, Any],
    action: str,
    entity_type: str,
    entity_id: str,
    outcome: str,
    details: Mapping[str, Any] | None,
) -> tuple[AuditRecord, bytes]:
    """Build record `seq` chained to `prev_hash`; return it and its stored bytes (hash included).

    Everything is validated here, at the only place records are made: actor.type and outcome
    values, the timestamp format (`TS_PATTERN`), and that details hold only plain JSON values
    (redaction is the caller's job, but no object, NaN or tuple can slip into a hash). Raises
    ValueError or TypeError with a one-line reason.
    """
    if not (isinstance(prev_hash, str) and _HEX64.fullmatch(prev_hash)):
        raise ValueError(f"prev_hash must be 64 lowercase hex digits, got {prev_hash!r}")
    if type(seq) is not int or seq < 1:
        raise ValueError(f"seq must be a positive int, got {seq!r}")
    if not (isinstance(ts, str) and TS_PATTERN.fullmatch(ts)):
        raise ValueError(f"ts must look like 2024-05-01T12:00:00.000Z (UTC, milliseconds), got {ts!r}")
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        raise ValueError(f"ts is not a valid time: {ts!r}") from None
    who = _actor(actor)
    for name, value in (("action", action), ("entity_type", entity_type), ("entity_id", entity_id)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not action:
        raise ValueError("action must not be empty")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(sorted(OUTCOMES))}, got {outcome!r}")
    if details is None:
        details = {}
    if not isinstance(details, Mapping):
        raise TypeError(f"details must be a JSON object (a dict), got {type(details).__name__}")
    body = {
        "action": action,
        "actor": who.to_json(),
        "details": dict(details),
        "entity_id": entity_id,
        "entity_type": entity_type,
        "outcome": outcome,
        "prev_hash": prev_hash,
        "seq": seq,
        "ts": ts,
    }
    try:
        unhashed, hashed_body = canonical_json_parsed(body)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"audit record {action!r}: {str(exc).replace('$.', '', 1)}") from None
    digest = _sha256(prev_hash.encode("ascii") + unhashed).hexdigest()
    # The inverse of the layout rule: the hash member goes right before the last `,"outcome":"`.
    cut = unhashed.rindex(b',"outcome":"')
    stored = b"".join((unhashed[:cut], _MEMBER, digest.encode("ascii"), b'"', unhashed[cut:]))
    # The record is built from what was hashed: plain str for a str enum, and a copy of details
    # that the caller's later changes cannot reach.
    hashed_body["hash"] = digest
    return _record(hashed_body), stored


def _actor(actor: Actor | Mapping[str, Any]) -> Actor:
    if isinstance(actor, Actor):
        fields: Mapping[str, Any] = actor.to_json()
    elif isinstance(actor, Mapping):
        fields = actor
        unexpected = sorted(set(fields) - set(_ACTOR_FIELDS))
        if unexpected:
            raise ValueError(f"actor has unexpected field {unexpected[0]!r} (put extra facts in details)")
    else:
        raise TypeError(f"actor must be an Actor or a mapping, got {type(actor).__name__}")
    for name in _ACTOR_FIELDS:
        if not isinstance(fields.get(name), str):
            raise TypeError(f"actor.{name} must be a str, got {fields.get(name)!r}")
    if fields["type"] not in ACTOR_TYPES:
        raise ValueError(f"actor.type must be one of agent, system, user, got {fields['type']!r}")
    return Actor(type=fields["type"], id=fields["id"], source=fields["source"])


def parse_record(raw: bytes) -> AuditRecord:
    """Read stored bytes back into an AuditRecord (no verification; see `verify_chain`)."""
    return _record(json.loads(raw))


def _record(obj: dict[str, Any]) -> AuditRecord:
    actor = obj["actor"]
    return AuditRecord(
        seq=obj["seq"],
        ts=obj["ts"],
        actor=Actor(type=actor["type"], id=actor["id"], source=actor["source"]),
        action=obj["action"],
        entity_type=obj["entity_type"],
        entity_id=obj["entity_id"],
        outcome=obj["outcome"],
        details=obj["details"],
        prev_hash=obj["prev_hash"],
        hash=obj["hash"],
    )


# -- storage ----------------------------------------------------------------------------------


def insert_sql() -> str:
    """The INSERT for `row_values` rows (use with executemany inside the write transaction)."""
    return _INSERT_SQL


def row_values(record: AuditRecord, stored: bytes) -> tuple[int, str, str, str, str, str, str, bytes]:
    """The audit-table row for a record from `make_record`: index columns, then the stored bytes."""
    return (
        record.seq,
        record.ts,
        record.action,
        record.entity_type,
        record.entity_id,
        record.outcome,
        record.hash,
        stored,
    )


def read_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the last record, ``(0, GENESIS_HASH)`` when the log is empty.

    Read it inside the same write transaction (BEGIN IMMEDIATE) as the inserts that follow, so two
    writers cannot both extend the same head (the seq primary key would refuse the second anyway).
    """
    row = conn.execute(HEAD_SQL).fetchone()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of a verification.

    ``count`` is the number of records found intact (all of them when ok); ``first_bad_seq`` and
    ``reason`` name the first problem (for a missing record, the seq that is missing);
    ``head_seq``/``head_hash`` are the last intact record (``first_seq - 1`` and the starting hash
    when there is none) — the value to keep elsewhere for `verify_with_head`.
    """

    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH


@dataclass(slots=True)
class _Problem:
    seq: int
    reason: str


@dataclass(slots=True)
class ChainVerifier:
    """Incremental verification: `feed` chunks of ``(seq, record bytes)`` in seq order, then `result`.

    `feed` returns False once a bad record has been found (later rows are ignored). Start from a
    known point with ``prev_hash``/``first_seq`` (e.g. a head verified earlier) to check only what
    was appended since; with ``expect_head`` the chain must contain a record with that hash.
    """

    prev_hash: str = GENESIS_HASH
    first_seq: int = 1
    expect_head: str | None = None
    _prev: bytes = field(init=False)
    _next: int = field(init=False)
    _want: bytes | None = field(init=False)  # the expected head, until it is seen
    _count: int = field(default=0, init=False)
    _problem: _Problem | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        for name, value in (("prev_hash", self.prev_hash), ("expected head", self.expect_head)):
            if value is not None and not _HEX64.fullmatch(value):
                raise ValueError(f"{name} must be 64 lowercase hex digits, got {value!r}")
        self._prev = self.prev_hash.encode("ascii")
        self._next = self.first_seq
        wanted = self.expect_head is not None and self.expect_head != self.prev_hash
        self._want = self.expect_head.encode("ascii") if wanted and self.expect_head else None

    def feed(self, rows: Iterable[tuple[int, bytes]]) -> bool:
        """Verify the next rows; False when the chain is broken (the problem is in `result`)."""
        if self._problem is not None:
            return False
        fast = _fast_rows
        if fast is not None and type(rows) is list:
            # The compiled fast check takes the rows that pass it; the loop below gets the rest
            # (from the first row that does not pass: the full check names it, or finds it sound).
            passed, self._prev, seen = fast(rows, self._prev, self._next, self._want)
            self._count += passed
            self._next += passed
            if seen:
                self._want = None
            if passed == len(rows):
                return True
            rows = rows[passed:]
        prev, expect, want = self._prev, self._next, self._want
        member, sha, quote = _MEMBER, _sha256, b'"'
        try:
            for seq, rec in rows:
                # The fast check (module docstring): sha256 of the previous hash and the two slices
                # around the member, fed one after the other (no joined copy of the record), then
                # the 65 bytes after ,"hash":" must be exactly that lowercase hex and the closing
                # quote. A record without the member (at == -1) fails it too: its "hash" would have
                # to be the sha256 of bytes that contain it; one too short compares unequal.
                try:
                    at = rec.rfind(member)
                    digest = sha(prev)
                    digest.update(rec[:at])
                    digest.update(rec[at + 74 :])
                    stored = digest.hexdigest().encode()
                    fine = seq == expect and rec[at + 9 : at + 74] == stored + quote
                except (AttributeError, TypeError):  # not bytes (None, a number, a TEXT column's str)
                    fine = False
                if not fine:
                    checked = _full_check(seq, rec, prev.decode("ascii"), expect, self.first_seq)
                    if isinstance(checked, _Problem):
                        self._problem = checked
                        return False
                    stored = checked  # sound after all (say, a TEXT record column)
                if stored == want:
                    want = None
                prev = stored
                expect += 1
        finally:
            self._count += expect - self._next
            self._prev, self._next, self._want = prev, expect, want
        return True

    @property
    def expected_head_seen(self) -> bool:
        """True once the record with hash ``expect_head`` has been fed (or when none was asked for)."""
        return self._want is None

    def result(self) -> VerifyResult:
        """The verdict for everything fed so far (the end of the log is here)."""
        head_seq, head_hash = self._next - 1, self._prev.decode("ascii")
        problem = self._problem
        if problem is not None:
            return VerifyResult(False, self._count, problem.seq, problem.reason, head_seq, head_hash)
        if self._want is not None:
            where = f"ends at record {head_seq}" if self._count or head_seq else "is empty"
            reason = (
                f"the log {where} and does not contain the expected head {self._want[:16].decode()}… "
                f"(were records after {head_seq} removed, or is the head from another log?)"
            )
            return VerifyResult(False, self._count, head_seq + 1, reason, head_seq, head_hash)
        return VerifyResult(True, self._count, None, None, head_seq, head_hash)


def _full_check(
    seq: object, raw: object, expected_prev: str, expected_seq: int, first_seq: int
) -> _Problem | bytes:
    """Everything SPEC §7 says about one record, parsed, in the order that best explains a failure.

    Returns the first problem as a readable sentence, or the record's hash (ASCII) when it is fine.
    """
    name = f"record {seq}"
    where = seq if isinstance(seq, int) else expected_seq
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _Problem(
            where, f"{name}: the record column holds a {type(raw).__name__}, not the record's bytes"
        )
    raw = bytes(raw)
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError as exc:
        return _Problem(where, f"{name}: byte {exc.start} is not valid UTF-8 (was it edited or damaged?)")
    except ValueError as exc:
        return _Problem(
            where, f"{name}: its bytes are not valid JSON ({_short(exc)}) (was it edited or damaged?)"
        )
    if not isinstance(obj, dict):
        return _Problem(
            where, f"{name}: its bytes are a JSON {type(obj).__name__}, not a record (was it edited?)"
        )
    missing = [k for k in FIELDS if k not in obj]
    if missing:
        return _Problem(where, f"{name}: field {missing[0]!r} is missing (was it edited?)")
    extra = sorted(k for k in obj if k not in FIELDS)
    if extra:
        return _Problem(where, f"{name}: it has an unexpected field {extra[0]!r} (was it edited?)")
    for key in ("hash", "prev_hash"):
        if not (isinstance(obj[key], str) and _HEX64.fullmatch(obj[key])):
            return _Problem(where, f"{name}: its {key} is not 64 lowercase hex digits (was it edited?)")
    content_seq = obj["seq"]
    if type(content_seq) is not int:
        return _Problem(where, f"{name}: its seq field is not an integer (was it edited?)")
    body = {k: v for k, v in obj.items() if k != "hash"}
    try:
        unhashed = canonical_json(body)
    except (TypeError, ValueError) as exc:
        return _Problem(where, f"{name}: its content is not canonical JSON ({exc}) (was it edited?)")
    if _sha256(obj["prev_hash"].encode("ascii") + unhashed).hexdigest() != obj["hash"]:
        return _Problem(where, f"{name}: hash does not match its content (was it edited?)")
    if canonical_json(obj) != raw:
        return _Problem(
            where, f"{name}: its bytes are not the canonical form of its content (was it edited?)"
        )
    if content_seq != seq:
        return _Problem(
            where,
            f"{name}: the seq column says {seq} but the record's content says {content_seq} "
            "(was it renumbered, moved or swapped?)",
        )
    if not isinstance(seq, int) or seq < expected_seq:
        return _Problem(where, f"{name}: out of order, expected record {expected_seq} (duplicated or moved?)")
    if seq > expected_seq:
        gone = (
            f"record {expected_seq} is"
            if seq == expected_seq + 1
            else f"records {expected_seq}–{seq - 1} are"
        )
        span = (
            f"the log starts at record {seq}"
            if expected_seq == first_seq
            else f"the log goes from record {expected_seq - 1} to record {seq}"
        )
        return _Problem(expected_seq, f"{gone} missing: {span} (deleted?)")
    if obj["prev_hash"] != expected_prev:
        before = "the genesis hash" if expected_prev == GENESIS_HASH else f"the hash of record {seq - 1}"
        return _Problem(
            where,
            f"{name}: its prev_hash is not {before} (a record before it was removed, inserted or replaced)",
        )
    return str(obj["hash"]).encode("ascii")


def _short(exc: ValueError) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."


def verify_chain(
    rows: Iterable[tuple[int, bytes]],
    *,
    prev_hash: str = GENESIS_HASH,
    first_seq: int = 1,
) -> VerifyResult:
    """Verify ``(seq, record bytes)`` rows given in seq order; stop at and name the first bad record.

    Detects changed bytes, deleted, moved or swapped records and seq columns that disagree with the
    content — but not records removed from the end: use `verify_with_head` for that.
    """
    verifier = ChainVerifier(prev_hash=prev_hash, first_seq=first_seq)
    verifier.feed(rows)
    return verifier.result()


def verify_with_head(
    rows: Iterable[tuple[int, bytes]],
    expected_head_hash: str,
    *,
    prev_hash: str = GENESIS_HASH,
    first_seq: int = 1,
) -> VerifyResult:
    """`verify_chain`, and the chain must contain the record whose hash is `expected_head_hash`.

    The head is a hash kept outside the database (taken from an earlier `VerifyResult.head_hash`);
    records appended after it are fine, records removed from the end are not.
    """
    verifier = ChainVerifier(prev_hash=prev_hash, first_seq=first_seq, expect_head=expected_head_hash)
    verifier.feed(rows)
    return verifier.result()


def verify_db(
    conn: sqlite3.Connection,
    *,
    expected_head_hash: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> VerifyResult:
    """Verify the audit table of `conn`, reading ``seq, record`` in seq order in chunks.

    Besides the chain, the head row's ``hash`` column must match its record, since appends chain
    to that column. The other index columns are not covered (they only steer exports).
    """
    verifier = ChainVerifier(expect_head=expected_head_hash)
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, whatever the connection uses
    try:
        cursor.execute(_SCAN_SQL)
        while rows := cursor.fetchmany(chunk_rows):
            if not verifier.feed(rows):
                break
    finally:
        cursor.close()
    result = verifier.result()
    if result.ok and result.count:
        row = conn.execute(_HEAD_COLUMN_SQL, (result.head_seq,)).fetchone()
        return _with_head_column(result, None if row is None else row[0])
    return result


async def averify_db(
    conn: aiosqlite.Connection,
    *,
    expected_head_hash: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> VerifyResult:
    """`verify_db` for an aiosqlite connection; the event loop runs between chunks."""
    verifier = ChainVerifier(expect_head=expected_head_hash)
    async with conn.execute(_SCAN_SQL) as cursor:
        cursor.row_factory = None  # plain tuples, whatever the connection uses
        while rows := list(await cursor.fetchmany(chunk_rows)):
            if not verifier.feed(cast("list[tuple[int, bytes]]", rows)):
                break
    result = verifier.result()
    if result.ok and result.count:
        async with conn.execute(_HEAD_COLUMN_SQL, (result.head_seq,)) as cursor:
            row = await cursor.fetchone()
        return _with_head_column(result, None if row is None else row[0])
    return result


def _with_head_column(result: VerifyResult, column: object) -> VerifyResult:
    """The head's ``hash`` column is what the next append chains to (see `read_head`): check it too."""
    if column == result.head_hash:
        return result
    seq = result.head_seq
    reason = (
        f"record {seq}: its hash column is {str(column)[:16]}…, not the record's hash "
        f"{result.head_hash[:16]}… (the next record would be chained to the wrong hash)"
    )
    return VerifyResult(False, result.count, seq, reason, result.head_seq, result.head_hash)


# -- export -----------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Filter = str | Sequence[str] | None


def parse_since(value: str, now: Callable[[], float] = time.time) -> str:
    """The lower bound for ``ts`` from an ISO-8601 time or a duration back from now.

    Durations: a number and a unit, s m h d w, several allowed (``30m``, ``24h``, ``7d``,
    ``1h30m``). Times: ``2024-05-01``, ``2024-05-01T12:00``, ``2024-05-01T12:00:00Z``,
    ``…+02:00``; without a zone they are UTC. Returns the bound in the stored ``ts`` format.
    """
    text = value.strip()
    compact = text.replace(" ", "").lower()
    if compact and _DURATION_PART.sub("", compact) == "":
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(compact))
        try:
            moment = datetime.fromtimestamp(now(), UTC) - timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"--since: {value!r} reaches back before the year 1") from None
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "--since: expected a time like 2024-05-01T12:00:00Z or a duration like 30m, 24h, 7d;"
                f" got {value!r}"
            ) from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def export_query(
    action: Filter = None,
    entity_type: Filter = None,
    outcome: Filter = None,
    since: str | None = None,
    *,
    now: Callable[[], float] = time.time,
) -> tuple[str, list[str]]:
    """The SELECT (and its parameters) for the stored bytes of the records matching every filter.

    Each filter is a value or a list of values (any of them matches); filters combine with AND.
    """
    clauses: list[str] = []
    params: list[str] = []
    for column, wanted in (("action", action), ("entity_type", entity_type), ("outcome", outcome)):
        if wanted is None:
            continue
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        if not values or not all(isinstance(v, str) for v in values):
            raise ValueError(f"--{column.replace('_', '-')}: expected one or more names")
        if column == "outcome":
            unknown = [v for v in values if v not in OUTCOMES]
            if unknown:
                raise ValueError(f"--outcome: {unknown[0]!r} is not one of {', '.join(sorted(OUTCOMES))}")
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        params.extend(values)
    if since is not None:
        clauses.append("ts >= ?")
        params.append(parse_since(since, now))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"SELECT record FROM audit{where} ORDER BY seq", params


def export_ndjson(
    conn: sqlite3.Connection,
    out: TextIO | BinaryIO,
    action: Filter = None,
    entity_type: Filter = None,
    outcome: Filter = None,
    since: str | None = None,
    *,
    now: Callable[[], float] = time.time,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Stream the matching records to `out`, one per line, exactly the stored bytes; return the count.

    `since` is an ISO-8601 time or a duration back from `now()` (see `parse_since`). Give a binary
    stream to keep the bytes exact (text streams get them decoded as UTF-8). Filtering uses the
    indexed columns; a copy that must be trusted should be checked with ``audit verify`` first.
    """
    sql, params = export_query(action, entity_type, outcome, since, now=now)
    is_text = isinstance(out, io.TextIOBase) or hasattr(out, "encoding")
    count = 0
    cursor = conn.cursor()
    cursor.row_factory = None
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_rows):
            lines = b"".join([bytes(row[0]) + b"\n" for row in rows])
            if is_text:
                cast(TextIO, out).write(lines.decode("utf-8"))
            else:
                cast(BinaryIO, out).write(lines)
            count += len(rows)
    finally:
        cursor.close()
    return count
