"""Evaluation of a parsed expression against a context (inputs, steps, env, run, ...).

Only mappings and lists are traversed, never attributes, so an expression cannot reach Python
internals whatever objects the context holds. A path that does not exist is null, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ExprEvalError
from .functions import FUNCTIONS
from .nodes import Access, Binary, Call, Expr, ListExpr, Literal, Logical, Not, Path, Segment
from .values import contained, is_list, ordered, strict_equal, truthy


def evaluate(expr: Expr, context: Mapping[str, Any]) -> Any:
    """The value of `expr`; raises ExprEvalError (with the failing node's offsets) on type misuse."""
    try:
        return _eval(expr, context)
    except RecursionError:  # deeply nested *data* (the tree itself is depth-limited by the parser)
        raise ExprEvalError("a value is nested too deeply to process", expr.start, expr.end) from None


def get_item(value: Any, key: Any) -> Any:
    """`value[key]` by the expression rules: objects by string key, lists by index >= 0, else null."""
    if isinstance(value, Mapping):
        return value.get(key) if isinstance(key, str) else None
    if is_list(value) and isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(value):
        return value[key]
    return None


def _follow(value: Any, segments: tuple[Segment, ...], context: Mapping[str, Any]) -> Any:
    for seg in segments:
        key = _eval(seg.key, context) if isinstance(seg.key, Expr) else seg.key
        value = get_item(value, key)
        if value is None:
            return None
    return value


def _eval(expr: Expr, context: Mapping[str, Any]) -> Any:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Path):
        return _follow(context.get(expr.root), expr.segments, context)
    if isinstance(expr, Logical):
        if expr.op == "||":
            return any(truthy(_eval(operand, context)) for operand in expr.operands)
        return all(truthy(_eval(operand, context)) for operand in expr.operands)
    if isinstance(expr, Binary):
        left = _eval(expr.left, context)
        right = _eval(expr.right, context)
        if expr.op == "==":
            return strict_equal(left, right)
        if expr.op == "!=":
            return not strict_equal(left, right)
        if expr.op == "in":
            return contained(left, right)
        return ordered(expr.op, left, right)
    if isinstance(expr, Not):
        return not truthy(_eval(expr.operand, context))
    if isinstance(expr, Call):
        args = [_eval(arg, context) for arg in expr.args]
        try:
            return FUNCTIONS[expr.name].body(args)
        except ExprEvalError as exc:
            if exc.start is None:
                raise ExprEvalError(exc.message, expr.start, expr.end) from None
            raise
    if isinstance(expr, ListExpr):
        return [_eval(item, context) for item in expr.items]
    if isinstance(expr, Access):
        return _follow(_eval(expr.base, context), expr.segments, context)
    raise ExprEvalError(f"cannot evaluate {type(expr).__name__}", expr.start, expr.end)
