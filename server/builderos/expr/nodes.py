"""The syntax tree. Immutable, so parsed expressions can be cached and shared across threads.

Every node knows its `start`/`end` offsets in the source and its `depth`; the parser refuses trees
deeper than the limit, which keeps the (recursive) evaluator far from Python's recursion limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TLiteral

#: A literal's value.
Scalar = str | int | float | bool | None

BinaryOp = TLiteral["==", "!=", "<", "<=", ">", ">=", "in"]
LogicalOp = TLiteral["&&", "||"]


@dataclass(frozen=True, slots=True)
class Expr:
    """Base of every node."""

    start: int
    end: int
    depth: int


@dataclass(frozen=True, slots=True)
class Literal(Expr):
    """`1`, `2.5`, `'text'`, `"text"`, `true`, `false`, `null`."""

    value: Scalar


@dataclass(frozen=True, slots=True)
class ListExpr(Expr):
    """`['stage', 'prod']`: a list literal, mostly for `x in [...]`."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """One access step after a path's root: `.name`, `['key']`, `[0]` or a computed `[expr]`.

    `key` is a str or int when known while parsing, or the index expression when computed.
    `start`/`end` cover the name or the bracket's contents (not the dot or the brackets).
    """

    key: str | int | Expr
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Path(Expr):
    """A context path: a root name (`steps`) followed by segments (`.plan`, `.outputs`, `['text']`)."""

    root: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Access(Expr):
    """Segments applied to something that is not a bare root, e.g. `fromJSON(x).files[0]`."""

    base: Expr
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """`!operand`."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    """A comparison or `in`; `op_start`/`op_end` locate the operator for error messages."""

    op: BinaryOp
    left: Expr
    right: Expr
    op_start: int
    op_end: int


@dataclass(frozen=True, slots=True)
class Logical(Expr):
    """`a && b && c` or `a || b || c`, flattened so long chains stay shallow."""

    op: LogicalOp
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A call of a built-in function; `name_start`/`name_end` locate the name."""

    name: str
    args: tuple[Expr, ...]
    name_start: int
    name_end: int
