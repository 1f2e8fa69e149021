"""Canonical JSON: one byte string per JSON value, so hashes of records can be recomputed anywhere.

The rule (what `canonical_json` produces; another implementation must produce the same bytes):

- The output is the UTF-8 encoding of a JSON text, without BOM and without any whitespace
  between tokens: members are separated by ``,`` and keys from values by ``:``.
- Object members are sorted by key, comparing keys code point by code point (Python's ``str``
  order; note this differs from RFC 8785, which compares UTF-16 code units, only for keys with
  characters above U+FFFF). Keys are unique (they come from a dict).
- Strings: ``"`` and ``\\`` are written ``\\"`` and ``\\\\``; U+0008, U+000C, U+000A, U+000D and
  U+0009 are written ``\\b \\f \\n \\r \\t``; every other character below U+0020 is written
  ``\\u00xx`` with lowercase hex. Every other character (including ``/``, U+007F, U+2028 and all
  non-ASCII text) is written as itself, in UTF-8. Lone surrogates are refused.
- Integers are written in decimal, without ``+`` or leading zeros. Floats are written as Python's
  ``repr`` (the shortest text that round-trips: ``0.1``, ``1.0``, ``1e-07``, ``1e+16``,
  ``-0.0``); NaN and the infinities are refused. Writers in other languages should therefore keep
  floats out of what they write (use integers or strings); verifying never needs to re-encode.
- ``true``, ``false`` and ``null`` as such.

Only JSON values are accepted: ``dict`` with ``str`` keys, ``list``, ``str``, ``int``, ``float``,
``bool`` and ``None`` (a subclass is written as its base value: a ``str`` enum as its string, an
``IntEnum`` as its number). Tuples, sets, bytes, datetimes, non-``str`` keys and every other
object are refused with a `TypeError` naming where the value is, so nothing that is not plain data
(or that could serialize differently tomorrow) reaches a hash.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_json", "canonical_json_parsed", "check_json_value"]

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_MAX_DEPTH = 500  # the walk's limit; the C encoder's is the interpreter's recursion limit


def canonical_json(obj: object) -> bytes:
    """Encode `obj` by the rule in this module's docstring.

    Raises TypeError (a non-JSON type, or a non-str key) or ValueError (NaN, infinity, a lone
    surrogate, a circular reference, nesting too deep), both naming the path, e.g.
    ``$.details.files[2]``.
    """
    return canonical_json_parsed(obj)[0]


def canonical_json_parsed(obj: object) -> tuple[bytes, Any]:
    """`canonical_json` and the value its bytes decode to: a deep copy made of plain JSON types.

    Encoding and decoding run in C; decoding back and comparing is what catches what the encoder
    would silently change (a tuple written as a list, a non-str key written as a string). The
    Python walk that names the path only runs when something is wrong.
    """
    try:
        data = _ENCODER.encode(obj).encode("utf-8")
        copy = json.loads(data)
        if copy == obj:
            return data, copy
    except (TypeError, ValueError, RecursionError):
        pass
    check_json_value(obj)  # raises, naming the path
    raise TypeError("$: not a JSON value")  # pragma: no cover - the walk always finds it


def check_json_value(obj: object, path: str = "$") -> None:
    """Raise TypeError/ValueError naming the path of the first value that is not plain JSON."""
    _check(obj, path, 0, set())


def _check(obj: object, path: str, depth: int, active: set[int]) -> None:
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError as exc:
            bad = obj[exc.start]
            raise ValueError(f"{path}: lone surrogate {bad!r} cannot be encoded as UTF-8") from None
        return
    if isinstance(obj, int) or obj is None:
        return
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path}: {obj!r} is not allowed in canonical JSON (only finite numbers)")
        return
    if not isinstance(obj, dict | list):
        raise TypeError(
            f"{path}: {type(obj).__name__} is not a JSON type "
            "(expected dict, list, str, int, float, bool or None; convert it before recording)"
        )
    if depth >= _MAX_DEPTH:
        raise ValueError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    ident = id(obj)
    if ident in active:
        raise ValueError(f"{path}: circular reference")
    active.add(ident)
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"{path}: key {key!r} is a {type(key).__name__}, but JSON object keys must be str"
                )
            _check(key, f"{path} (a key)", depth + 1, active)
            _check(value, _child(path, key), depth + 1, active)
    else:
        for index, value in enumerate(obj):
            _check(value, f"{path}[{index}]", depth + 1, active)
    active.discard(ident)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key, ensure_ascii=False)}]"
