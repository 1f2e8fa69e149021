"""Value semantics shared by the evaluator and the functions: truthiness, equality, ordering, text.

The rules are deliberately strict (unlike GitHub Actions' loose coercions), so a condition means what
it says:

* `==` never converts: `1 == '1'` is false, `true == 1` is false, `'A' == 'a'` is false;
  ints and floats compare by value (`1 == 1.0`), lists and objects compare deeply by the same rules.
* `<`, `<=`, `>`, `>=` order two numbers or two strings; any other pair is simply false.
* Falsy: null, false, 0, 0.0, NaN, '' and empty lists and objects. Everything else is truthy.
* Text (for interpolation): null -> '', booleans -> 'true'/'false', integral floats without '.0',
  lists and objects -> compact JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any


def is_number(value: object) -> bool:
    """Int or float, but not bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_list(value: object) -> bool:
    """A list-like value; strings and bytes are not lists here."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def type_name(value: object) -> str:
    """The user-facing name of a value's type, as used in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if is_list(value):
        return "list"
    return type(value).__name__


def truthy(value: Any) -> bool:
    """Truthiness for `if:`, `!`, `&&` and `||` (see the module docstring)."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if is_number(value):
        return not (value == 0 or (isinstance(value, float) and math.isnan(value)))
    if isinstance(value, str | Mapping) or is_list(value):
        return len(value) > 0
    return True


def strict_equal(a: Any, b: Any) -> bool:
    """`==` without coercions (see the module docstring)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and bool(a == b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if is_list(a) and is_list(b):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return False


def ordered(op: str, a: Any, b: Any) -> bool:
    """`<`, `<=`, `>`, `>=` on two numbers or two strings; any other pair is False, never an error."""
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def contained(needle: Any, haystack: Any) -> bool:
    """`needle in haystack`: list membership, substring, or object key; anything else is False."""
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, Mapping):
        return isinstance(needle, str) and needle in haystack
    if is_list(haystack):
        return any(strict_equal(needle, item) for item in haystack)
    return False


def to_json(value: Any) -> str:
    """Compact JSON; values JSON cannot hold (dates, objects) are written as their text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str, allow_nan=False)


def to_text(value: Any) -> str:
    """How a value reads when interpolated into a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping) or is_list(value):
        try:
            return to_json(value)
        except ValueError:  # NaN or infinity somewhere inside
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)
