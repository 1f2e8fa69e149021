"""`${{ … }}` inside YAML strings: finding them, and rendering a string with them filled in.

A string that is exactly one interpolation (whitespace around it allowed) renders to the expression's
value with its type, so `with: {count: "${{ len(x) }}"}` passes a number. Otherwise every part is
turned into text (see values.to_text) and the pieces are joined.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ExprEvalError, ExprSyntaxError
from .evaluator import evaluate
from .nodes import Expr
from .parser import parse
from .values import to_text, truthy

OPEN = "${{"
CLOSE = "}}"


@dataclass(frozen=True, slots=True)
class Interpolation:
    """One `${{ … }}` in a text.

    `start`/`end`: the `${{` and just after the `}}`; `expr_start`/`expr_end`: the inner `source`.
    An unterminated `${{` has `error` set and runs to the end of the text.
    """

    start: int
    end: int
    expr_start: int
    expr_end: int
    source: str
    error: str | None = None
    hint: str = ""


def find_interpolations(text: str) -> list[Interpolation]:
    """Every `${{ … }}` in `text`, in order. A `}}` inside a quoted string does not close one."""
    return list(_find_cached(text))


def has_interpolation(text: str) -> bool:
    """Cheap test before doing any work on a scalar."""
    return OPEN in text


@functools.lru_cache(maxsize=8192)
def _find_cached(text: str) -> tuple[Interpolation, ...]:
    found: list[Interpolation] = []
    pos = 0
    while (start := text.find(OPEN, pos)) != -1:
        expr_start = start + len(OPEN)
        close = _find_close(text, expr_start)
        if close == -1:
            found.append(
                Interpolation(
                    start,
                    len(text),
                    expr_start,
                    len(text),
                    text[expr_start:],
                    error="unterminated '${{'",
                    hint="close the expression with '}}'",
                )
            )
            break
        found.append(Interpolation(start, close + len(CLOSE), expr_start, close, text[expr_start:close]))
        pos = close + len(CLOSE)
    return tuple(found)


_CLOSE_OR_QUOTE = re.compile(r"\}\}|['\"]")


def _find_close(text: str, pos: int) -> int:
    """Offset of the `}}` closing an expression that starts at `pos`, or -1."""
    while (m := _CLOSE_OR_QUOTE.search(text, pos)) is not None:
        if m.group() == CLOSE:
            return m.start()
        quote = m.group()
        i = m.end()
        n = len(text)
        while i < n and text[i] != quote:
            i += 2 if text[i] == "\\" else 1
        if i >= n:
            # An unterminated string: close at the first '}}' so the parser can say
            # "unterminated string" at the right place instead of "unterminated '${{'".
            return text.find(CLOSE, m.start())
        pos = i + 1
    return -1


def parse_interpolation(interp: Interpolation) -> Expr:
    """Parse one interpolation; syntax errors carry offsets relative to the enclosing text."""
    if interp.error is not None:
        raise ExprSyntaxError(interp.error, interp.start, interp.expr_start, interp.hint)
    try:
        return parse(interp.source)
    except ExprSyntaxError as exc:
        raise exc.shifted(interp.expr_start) from None


def is_whole(text: str, interps: list[Interpolation]) -> bool:
    """True when `text` is exactly one interpolation, give or take surrounding whitespace."""
    return len(interps) == 1 and not text[: interps[0].start].strip() and not text[interps[0].end :].strip()


def render(text: str, context: Mapping[str, Any]) -> Any:
    """Fill in a string's interpolations (see the module docstring for the typing rule).

    Raises ExprSyntaxError or ExprEvalError with offsets relative to `text`.
    """
    interps = find_interpolations(text)
    if not interps:
        return text
    exprs = [parse_interpolation(i) for i in interps]  # all syntax errors before any evaluation
    if is_whole(text, interps):
        return _evaluate_in(exprs[0], interps[0], context)
    pieces: list[str] = []
    pos = 0
    for interp, expr in zip(interps, exprs, strict=True):
        pieces.append(text[pos : interp.start])
        value = _evaluate_in(expr, interp, context)
        try:
            pieces.append(to_text(value))
        except RecursionError:
            raise ExprEvalError(
                "a value is nested too deeply to write as text", interp.start, interp.end
            ) from None
        pos = interp.end
    pieces.append(text[pos:])
    return "".join(pieces)


def _evaluate_in(expr: Expr, interp: Interpolation, context: Mapping[str, Any]) -> Any:
    try:
        return evaluate(expr, context)
    except ExprEvalError as exc:
        raise exc.shifted(interp.expr_start) from None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a `with:` value (dicts and lists recursively; keys are left alone)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


def evaluate_condition(condition: Any, context: Mapping[str, Any]) -> bool:
    """Whether an `if:` holds. A string with `${{ }}` is rendered; a string without is read as a bare
    expression (as GitHub Actions does, so `if: steps.test.outputs.exit_code == 0` works);
    YAML booleans and numbers count by truthiness.
    """
    if isinstance(condition, str):
        if has_interpolation(condition):
            return truthy(render(condition, context))
        return truthy(evaluate(parse(condition), context))
    return truthy(condition)
