"""BOS030/BOS031: `${{ }}` expressions parse, and every path they read exists where it is read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from builderos.catalog import RUN_FIELDS, STEP_FIELDS
from builderos.diagnostics import did_you_mean
from builderos.expr import ExprSyntaxError, find_interpolations, parse, references
from builderos.validate.report import Report


@dataclass(slots=True)
class StepInfo:
    """What an expression may read of a step: its outputs, and whether more may appear (agent JSON)."""

    outputs: set[str]
    open_outputs: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Scope:
    """Names an expression may use at one place of a pipeline."""

    inputs: set[str]
    steps: dict[str, StepInfo]
    current: str | None = None
    runs_before: Callable[[str, str], bool] | None = None
    roots: tuple[str, ...] = ("inputs", "steps", "env", "run")


def walk_strings(value: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every string holding `${{` inside a value, with its path."""
    if isinstance(value, str):
        return [(path, value)] if "${{" in value else []
    out: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(walk_strings(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(walk_strings(v, (*path, i)))
    return out


def check_string(report: Report, path: Sequence[str | int], text: str, scope: Scope) -> None:
    """Report syntax errors and unknown references of every interpolation in `text`."""
    for interp in find_interpolations(text):
        if interp.error is not None:  # an unterminated `${{`: point at the opening braces
            span = report.scalar_offset_span(path, interp.start, interp.start + 3)
            report.add_span("BOS030", f"expression error: {interp.error}", span, interp.hint)
            continue
        check_expression(report, path, interp.source, interp.expr_start, scope)


def check_expression(report: Report, path: Sequence[str | int], source: str, base: int, scope: Scope) -> None:
    """Check one expression whose text starts at offset `base` of the string at `path`."""
    try:
        refs = _references(source)
    except ExprSyntaxError as exc:
        start = base + exc.offset
        end = base + max(exc.end_offset, exc.offset + 1)
        report.add_span(
            "BOS030", f"expression error: {exc}", report.scalar_offset_span(path, start, end), exc.hint
        )
        return
    for ref in refs:
        _check_reference(report, path, base, ref, scope)


@lru_cache(maxsize=16384)
def _references(source: str) -> tuple[Any, ...]:
    """Parsed references of an expression; the same few expressions recur on thousands of steps."""
    return tuple(references(parse(source)))


def _check_reference(report: Report, path: Sequence[str | int], base: int, ref: Any, scope: Scope) -> None:
    parts: list[str] = [str(p) for p in ref.parts]
    spans: list[tuple[int, int]] = list(ref.part_spans)

    def at(i: int | None) -> tuple[int, int]:
        if i is None or i >= len(spans):
            return base + ref.start, base + ref.end
        return base + spans[i][0], base + spans[i][1]

    def fail(i: int | None, message: str, hint: str, known: Sequence[str] = ()) -> None:
        start, end = at(i)
        name = parts[i] if i is not None and i < len(parts) else ""
        guess = did_you_mean(name, list(known)) if known and name else None
        data: dict[str, Any] = {}
        if guess:
            message += f": did you mean '{guess}'?"
            data["replacement"] = guess
        report.add_span("BOS031", message, report.scalar_offset_span(path, start, end), hint, **data)

    root = ref.root
    if root not in scope.roots:
        fail(None, f"unknown name '{root}' in expression", f"expressions read {', '.join(scope.roots)}")
        return
    if root == "inputs":
        if not parts:
            return
        if parts[0] not in scope.inputs:
            known = sorted(scope.inputs)
            fail(0, f"unknown input '{parts[0]}'", "declare it under the pipeline's inputs:", known)
        return
    if root == "run":
        if parts and parts[0] not in RUN_FIELDS:
            fail(0, f"unknown run field '{parts[0]}'", f"run has {', '.join(RUN_FIELDS)}", RUN_FIELDS)
        return
    if root != "steps" or not parts:
        return
    step_id = parts[0]
    info = scope.steps.get(step_id)
    if info is None:
        fail(0, f"unknown step '{step_id}'", "name a step id of this pipeline", sorted(scope.steps))
        return
    if scope.current is not None and scope.runs_before is not None:
        if step_id == scope.current:
            fail(0, f"step '{step_id}' reads its own outputs", "read the outputs of a step it needs")
            return
        if not scope.runs_before(step_id, scope.current):
            fail(
                0,
                f"step '{step_id}' is not guaranteed to run before '{scope.current}'",
                f"add '{step_id}' to the needs of '{scope.current}'",
            )
            return
    if len(parts) < 2:
        return
    if parts[1] not in STEP_FIELDS:
        fail(1, f"a step has no '{parts[1]}'", "use steps.<id>.outputs.<name>", STEP_FIELDS)
        return
    if parts[1] == "outputs" and len(parts) >= 3 and "*" not in info.open_outputs:
        name = parts[2]
        if name not in info.outputs and name not in info.open_outputs:
            known = sorted(info.outputs | info.open_outputs)
            fail(2, f"step '{step_id}' has no output '{name}'", f"its outputs are: {', '.join(known)}", known)
