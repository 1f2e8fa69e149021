"""Static checks of a YAML scalar's expressions, in the shape the validator turns into diagnostics.

Syntax problems become BOS030 and unknown context roots BOS031; the references are handed back
(with offsets in the scalar's text) so the validator can check step ids, outputs and inputs, which
only it knows.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Set
from dataclasses import dataclass, field, replace

from . import interpolation, parser
from .errors import ExprSyntaxError
from .interpolation import find_interpolations, is_whole, parse_interpolation
from .parser import Reference, functions_used, parse, references

#: What pipeline expressions may read (SPEC §2).
PIPELINE_ROOTS: frozenset[str] = frozenset({"inputs", "steps", "env", "run"})
#: What eval `expr` assertions may read: the pipeline roots plus the model's output and the case vars.
EVAL_ROOTS: frozenset[str] = PIPELINE_ROOTS | {"output", "vars"}
#: What desk templates may read.
DESK_ROOTS: frozenset[str] = frozenset({"params"})


@dataclass(frozen=True, slots=True)
class ExprProblem:
    """A finding with offsets relative to the checked text; `code` is BOS030 or BOS031."""

    code: str
    message: str
    hint: str
    start: int
    end: int


@dataclass(slots=True)
class TextCheck:
    """Everything the validator needs about one scalar.

    `references` and `functions` cover only the expressions that parsed; their offsets are relative
    to the text. References with an unknown root are already reported in `problems` (BOS031).
    `whole` says the text is a single `${{ }}`, so it renders to a typed value rather than a string.
    """

    problems: list[ExprProblem] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    functions: list[tuple[str, int, int]] = field(default_factory=list)
    whole: bool = False


def _syntax(exc: ExprSyntaxError) -> ExprProblem:
    return ExprProblem("BOS030", exc.message, exc.hint, exc.offset, exc.end_offset)


def _shift(ref: Reference, delta: int) -> Reference:
    return replace(
        ref,
        parts=list(ref.parts),
        start=ref.start + delta,
        end=ref.end + delta,
        part_spans=[(a + delta, b + delta) for a, b in ref.part_spans],
    )


def unknown_root_problem(ref: Reference, roots: Set[str]) -> ExprProblem | None:
    """BOS031 for a reference whose root is not one of `roots`, with a "did you mean"."""
    if ref.root in roots:
        return None
    close = difflib.get_close_matches(ref.root, sorted(roots), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"expressions can read {', '.join(sorted(roots))}"
    start, end = ref.root_span
    return ExprProblem("BOS031", f"unknown context '{ref.root}'", hint, start, end)


def _add_expression(result: TextCheck, source: str, delta: int, roots: Set[str]) -> None:
    try:
        expr = parse(source)
    except ExprSyntaxError as exc:
        result.problems.append(_syntax(exc.shifted(delta)))
        return
    for ref in references(expr):
        shifted = _shift(ref, delta)
        result.references.append(shifted)
        problem = unknown_root_problem(shifted, roots)
        if problem is not None:
            result.problems.append(problem)
    result.functions.extend((name, a + delta, b + delta) for name, a, b in functions_used(expr))


def check_text(text: str, roots: Set[str] = PIPELINE_ROOTS, *, condition: bool = False) -> TextCheck:
    """Check every `${{ }}` in a YAML string value.

    With `condition=True` (an `if:` value) a string without `${{` is checked as a bare expression,
    and a string mixing text with `${{ }}` is an error: it would render to a non-empty string and
    always be true. Results are cached per (text, roots, condition), since the validator re-checks
    every scalar on each keystroke; the lists are fresh, the Reference objects inside are shared.
    """
    cached = _check_cached(text, frozenset(roots), condition)
    return TextCheck(list(cached.problems), list(cached.references), list(cached.functions), cached.whole)


@functools.lru_cache(maxsize=8192)
def _check_cached(text: str, roots: frozenset[str], condition: bool) -> TextCheck:
    result = TextCheck()
    interps = find_interpolations(text)
    result.whole = is_whole(text, interps)
    if condition and not interps:
        _add_expression(result, text, 0, roots)
        return result
    for interp in interps:
        if interp.error is not None:
            try:
                parse_interpolation(interp)
            except ExprSyntaxError as exc:
                result.problems.append(_syntax(exc))
            continue
        _add_expression(result, interp.source, interp.expr_start, roots)
    if condition and interps and not result.whole:
        result.problems.append(
            ExprProblem(
                "BOS030",
                "a condition must be a single expression",
                "put the whole condition inside one '${{ }}'; text around it makes it always true",
                0,
                len(text),
            )
        )
    return result


def clear_cache() -> None:
    """Forget every cached parse, interpolation scan and check (for tests and long-lived daemons)."""
    parser._parse_cached.cache_clear()
    interpolation._find_cached.cache_clear()
    _check_cached.cache_clear()
