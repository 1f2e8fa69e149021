"""The built-in functions: their arity (checked while parsing) and their behaviour (at evaluation).

A null argument (usually a missing path) gives the empty answer rather than an error, so
`len(steps.x.outputs.files) > 0` is simply false when the output is absent: `len(null)` is 0,
`contains(null, x)`, `startsWith(null, p)` and `endsWith(null, s)` are false, `fromJSON(null)` is null.
Any other wrong type raises ExprEvalError naming the function and the type it got.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ExprEvalError
from .values import contained, is_list, to_json, to_text, type_name


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in: arity bounds (`max_args` None = variadic), a usage line for hints, the body."""

    min_args: int
    max_args: int | None
    usage: str
    body: Callable[[list[Any]], Any]


def _len(args: list[Any]) -> Any:
    (value,) = args
    if value is None:
        return 0
    if isinstance(value, str | Mapping) or is_list(value):
        return len(value)
    raise ExprEvalError(f"len() needs a string, list or object, got {type_name(value)}")


def _contains(args: list[Any]) -> Any:
    haystack, needle = args
    if haystack is None:
        return False
    if isinstance(haystack, str) or is_list(haystack) or isinstance(haystack, Mapping):
        return contained(needle, haystack)
    raise ExprEvalError(
        f"contains() needs a string, list or object as its first argument, got {type_name(haystack)}"
    )


def _affix(name: str, test: Callable[[str, str], bool]) -> Callable[[list[Any]], Any]:
    def body(args: list[Any]) -> Any:
        text, affix = args
        if text is None or affix is None:
            return False
        if not isinstance(text, str) or not isinstance(affix, str):
            bad = text if not isinstance(text, str) else affix
            raise ExprEvalError(f"{name}() needs two strings, got {type_name(bad)}")
        return test(text, affix)

    return body


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{(\d+)\}|[{}]")


def format_problem(template: str, n_values: int) -> str | None:
    """Why `format(template, <n_values values>)` cannot work, or None; also used while parsing."""
    for m in _PLACEHOLDER.finditer(template):
        token = m.group()
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            return f"format(): stray '{token}' in the template (write '{token * 2}' for a literal brace)"
        index = int(m.group(1))
        if index >= n_values:
            return f"format(): placeholder {{{index}}} has no value ({n_values} given)"
    return None


def _format(args: list[Any]) -> Any:
    template, *values = args
    if not isinstance(template, str):
        raise ExprEvalError(f"format() needs a string template, got {type_name(template)}")
    problem = format_problem(template, len(values))
    if problem is not None:
        raise ExprEvalError(problem)

    def replace(m: re.Match[str]) -> str:
        token = m.group()
        if token in ("{{", "}}"):
            return token[0]
        return to_text(values[int(m.group(1))])

    return _PLACEHOLDER.sub(replace, template)


def _to_json(args: list[Any]) -> Any:
    (value,) = args
    try:
        return to_json(value)
    except ValueError as exc:
        raise ExprEvalError(f"toJSON(): {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _from_json(args: list[Any]) -> Any:
    (text,) = args
    if text is None:
        return None
    if not isinstance(text, str):
        raise ExprEvalError(f"fromJSON() needs a string, got {type_name(text)}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ExprEvalError(f"fromJSON(): invalid JSON ({exc.msg} at character {exc.pos})") from None
    except ValueError as exc:
        raise ExprEvalError(f"fromJSON(): {exc}") from None
    except RecursionError:
        raise ExprEvalError("fromJSON(): the JSON is nested too deeply") from None


FUNCTIONS: dict[str, Function] = {
    "len": Function(1, 1, "len(value)", _len),
    "contains": Function(2, 2, "contains(haystack, needle)", _contains),
    "startsWith": Function(2, 2, "startsWith(text, prefix)", _affix("startsWith", str.startswith)),
    "endsWith": Function(2, 2, "endsWith(text, suffix)", _affix("endsWith", str.endswith)),
    "format": Function(1, None, "format('{0} and {1}', a, b)", _format),
    "toJSON": Function(1, 1, "toJSON(value)", _to_json),
    "fromJSON": Function(1, 1, "fromJSON(text)", _from_json),
}
