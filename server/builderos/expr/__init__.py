"""The `${{ … }}` expression language: one implementation for the validator and the engine.

The validator calls `check_text` (or `find_interpolations` + `parse` + `references`) to report
BOS030/BOS031 at exact offsets; the engine calls `render`, `render_value` and `evaluate_condition`.
Semantics are strict on purpose (no string/number coercion); see `values` for the exact rules.
"""

from __future__ import annotations

from .check import DESK_ROOTS, EVAL_ROOTS, PIPELINE_ROOTS, ExprProblem, TextCheck, check_text, clear_cache
from .errors import ExprEvalError, ExprSyntaxError
from .evaluator import evaluate
from .functions import FUNCTIONS
from .interpolation import (
    Interpolation,
    evaluate_condition,
    find_interpolations,
    has_interpolation,
    render,
    render_value,
)
from .nodes import Expr
from .parser import MAX_DEPTH, MAX_SOURCE_CHARS, Reference, functions_used, parse, references
from .values import to_text, truthy

__all__ = [
    "DESK_ROOTS",
    "EVAL_ROOTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_SOURCE_CHARS",
    "PIPELINE_ROOTS",
    "Expr",
    "ExprEvalError",
    "ExprProblem",
    "ExprSyntaxError",
    "Interpolation",
    "Reference",
    "TextCheck",
    "check_text",
    "clear_cache",
    "evaluate",
    "evaluate_condition",
    "find_interpolations",
    "functions_used",
    "has_interpolation",
    "parse",
    "references",
    "render",
    "render_value",
    "to_text",
    "truthy",
]
