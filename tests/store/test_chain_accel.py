"""The audit chain's fast check compiled to C passes exactly the rows the Python fast check passes.

The C module (``builderos.store._chainfast``) only ever *passes* rows; everything else is left to the
Python code. So soundness rests on one property, checked here row by row against a reference written
from the module docstring of `builderos.store.audit`: the C code passes a row only when the Python
fast check does, with the same hash. The rows are real records and every kind of damage to them: each
byte flipped, each truncation, bytes inserted, the hash member moved, copied or malformed, and rows
that are not ``(int, bytes)`` pairs at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

from builderos.store import audit, chain_accel
from builderos.store.audit import GENESIS_HASH, make_record

MEMBER = b',"hash":"'
PREV = GENESIS_HASH.encode()

fast = chain_accel.load()
needs_fast = pytest.mark.skipif(fast is None, reason="the C fast check is not built here")


def test_the_compiled_fast_check_is_built() -> None:
    """The test command installs with gcc and OpenSSL's headers: the accelerator must be there.

    (A build without them is complete but slower; BUILDEROS_PURE_PYTHON=1 asks for that on purpose.)
    """
    if os.environ.get("BUILDEROS_PURE_PYTHON"):
        pytest.skip("BUILDEROS_PURE_PYTHON is set")
    assert fast is not None, (
        "builderos.store._chainfast was not built: install with a C compiler and OpenSSL's headers "
        "(Debian: gcc libssl-dev), then `pip install -e .` again"
    )
    assert audit._fast_rows is fast


def reference(row: Any, prev: bytes, expect: int) -> bytes | None:
    """The Python fast check of one row, as `ChainVerifier.feed` does it: the row's hash, or None."""
    if type(row) is not tuple or len(row) != 2:
        return None
    seq, rec = row
    if type(seq) is not int or type(rec) is not bytes or seq != expect:
        return None
    at = rec.rfind(MEMBER)
    if at < 0:
        return None
    digest = hashlib.sha256(prev + rec[:at] + rec[at + 74 :]).hexdigest().encode()
    return digest if rec[at + 9 : at + 74] == digest + b'"' else None


def compiled(row: Any, prev: bytes, expect: int) -> bytes | None:
    assert fast is not None
    passed, head, seen = fast([row], prev, expect, None)
    assert passed in (0, 1) and seen is False
    return head if passed else None


def records() -> Iterator[tuple[int, bytes, bytes]]:
    """``(seq, stored bytes, prev_hash)`` of records shaped like the real ones, nested hashes included."""
    prev = GENESIS_HASH
    details: list[dict[str, Any]] = [
        {},
        {"path": "src/app.py", "sha256": "ab" * 32},
        {"result": {"hash": "cd" * 32, "outcome": "x"}, "note": 'quote " and \\ and «ü»'},
        {"args": ['","hash":"' + "0" * 64 + '"', {"hash": "ef" * 32}]},
    ]
    for seq, detail in enumerate(details, start=1):
        actor = {"type": "agent", "id": "builder", "source": "daemon"}
        record, raw = make_record(
            prev, seq, "2024-05-01T00:00:00.000Z", actor, "tool.call", "step", f"s{seq}", "success", detail
        )
        yield seq, raw, prev.encode()
        prev = record.hash


RECORDS = list(records())


@needs_fast
@pytest.mark.parametrize(("seq", "raw", "prev"), RECORDS, ids=[f"record{r[0]}" for r in RECORDS])
def test_every_damaged_form_of_a_record_gets_the_python_verdict(seq: int, raw: bytes, prev: bytes) -> None:
    assert reference((seq, raw), prev, seq) is not None  # the record itself is sound
    variants: list[bytes] = [raw]
    for i in range(len(raw)):
        for mask in (0x01, 0x20, 0x80):
            damaged = bytearray(raw)
            damaged[i] ^= mask
            variants.append(bytes(damaged))
        variants.append(raw[:i])  # every truncation
        variants.append(raw[:i] + b"x" + raw[i:])  # a byte inserted anywhere
    at = raw.rfind(MEMBER)
    member = raw[at : at + 74]
    variants += [
        raw[:at] + raw[at + 74 :],  # no hash member
        raw[:at] + raw[at + 74 : -1] + member + b"}",  # the member moved to the end
        raw[:-1] + member + b"}",  # a second copy at the end
        raw[: at + 73] + raw[at + 74 :],  # no closing quote
        raw[: at + 9] + raw[at + 9 : at + 73].upper() + raw[at + 73 :],  # upper-case hex
        raw[: at + 74],  # nothing after the member
        member,  # the member alone
        b"",
    ]
    for variant in variants:
        expected = reference((seq, variant), prev, seq)
        assert compiled((seq, variant), prev, seq) == expected, variant
        assert compiled((seq + 1, variant), prev, seq) is None  # the wrong seq
        other = b"1" + prev[1:]
        assert compiled((seq, variant), other, seq) == reference((seq, variant), other, seq)


@needs_fast
@pytest.mark.parametrize(
    "row",
    [
        None,
        [1, RECORDS[0][1]],  # a list, not a tuple
        (1, RECORDS[0][1], None),
        (1,),
        (True, RECORDS[0][1]),  # a bool is an int in Python, not a seq here: the Python code decides
        (1.0, RECORDS[0][1]),
        (2**80, RECORDS[0][1]),
        (-1, RECORDS[0][1]),
        (1, RECORDS[0][1].decode()),  # a TEXT column
        (1, bytearray(RECORDS[0][1])),
        (1, memoryview(RECORDS[0][1])),
        (1, None),
    ],
    ids=lambda row: (
        type(row).__name__ if not isinstance(row, tuple) else "-".join(type(v).__name__ for v in row)
    ),
)
def test_rows_that_are_not_int_and_bytes_are_left_to_python(row: Any) -> None:
    assert compiled(row, PREV, 1) is None


@needs_fast
def test_it_stops_at_the_first_row_that_fails_and_keeps_the_last_good_hash() -> None:
    assert fast is not None
    rows = [(seq, raw) for seq, raw, _ in RECORDS]
    heads = [p for _, _, p in RECORDS[1:]]
    assert fast(rows, PREV, 1, None) == (4, reference(rows[-1], RECORDS[-1][2], 4), False)
    broken = [*rows[:2], (3, rows[2][1].replace(b"success", b"failure")), rows[3]]
    assert fast(broken, PREV, 1, None) == (2, heads[1], False)
    assert fast([], PREV, 7, None) == (0, PREV, False)
    # a head to look for: seen only among the rows that passed
    assert fast(rows, PREV, 1, heads[0])[2] is True
    assert fast(broken, PREV, 1, heads[2])[2] is False
    # from the middle of the chain, as the parallel workers start
    assert fast(rows[2:], heads[1], 3, None)[0] == 2


@needs_fast
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (((1, b"x"), PREV, 1, None), TypeError),  # not a list
        (([], PREV[:10], 1, None), ValueError),
        (([], PREV.decode(), 1, None), ValueError),
        (([], PREV, 1, b"abc"), ValueError),
        (([], PREV, "1", None), TypeError),
        (([], PREV, 2**80, None), OverflowError),
    ],
)
def test_bad_arguments_raise(args: tuple[Any, ...], error: type[Exception]) -> None:
    assert fast is not None
    with pytest.raises(error):
        fast(*args)
    with pytest.raises(TypeError):
        fast([], PREV, 1)  # type: ignore[call-arg]


def test_pure_python_is_chosen_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDEROS_PURE_PYTHON", "1")
    assert chain_accel.load() is None
    monkeypatch.delenv("BUILDEROS_PURE_PYTHON")
    assert chain_accel.load() is fast
