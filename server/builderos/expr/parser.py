"""Parser: expression source -> immutable syntax tree, plus the queries the validator needs.

Recursive descent for values (literals, paths, calls, groups, `!`), and precedence climbing with an
explicit operator stack for the binary operators, so a long `a || b || ...` chain costs no recursion
and every level of nesting costs a handful of Python frames. Nesting is capped at MAX_DEPTH and the
source at MAX_SOURCE_CHARS, so hostile input gives ExprSyntaxError, never RecursionError.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import cast

from .errors import ExprSyntaxError
from .functions import FUNCTIONS, format_problem
from .lexer import Token, tokenize
from .nodes import (
    Access,
    Binary,
    BinaryOp,
    Call,
    Expr,
    ListExpr,
    Literal,
    Logical,
    LogicalOp,
    Not,
    Path,
    Segment,
)

MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 64

#: Binding strength, lowest first. All binary operators are left-associative.
_PRECEDENCE: dict[str, int] = {
    "||": 1,
    "&&": 2,
    "==": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "in": 5,
}
_KEYWORD_VALUES: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_VALUE_HINT = (
    "a value is a literal ('text', 42, true, null, [1, 2]), a path like inputs.goal, or a call like len(x)"
)
_FUNCTION_LIST = ", ".join(f"{name}()" for name in FUNCTIONS)


def parse(source: str) -> Expr:
    """Parse one expression (the text between `${{` and `}}`); cached on the source string.

    Raises ExprSyntaxError with offsets relative to `source`.
    """
    if len(source) > MAX_SOURCE_CHARS:
        raise ExprSyntaxError(
            f"expression is too long ({len(source)} characters)",
            MAX_SOURCE_CHARS,
            len(source),
            f"keep expressions under {MAX_SOURCE_CHARS} characters; compute large values in a step",
        )
    return _parse_cached(source)


@functools.lru_cache(maxsize=8192)
def _parse_cached(source: str) -> Expr:
    # lru_cache does not cache exceptions, so only valid expressions occupy the cache.
    try:
        return _Parser(source).parse()
    except RecursionError:  # belt and braces: the depth limit should make this unreachable
        raise ExprSyntaxError(
            "expression is nested too deeply", 0, len(source), f"use at most {MAX_DEPTH} levels"
        ) from None


def _show(tok: Token) -> str:
    """A token as quoted in a message: strings already carry quotes; long tokens are cut."""
    text = tok.text if len(tok.text) <= 30 else tok.text[:29] + "…"
    return text if tok.kind == "string" else f"'{text}'"


def _binary_op(tok: Token) -> str | None:
    if (tok.kind == "op" and tok.text in _PRECEDENCE) or (tok.kind == "name" and tok.text == "in"):
        return tok.text
    return None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, op: str) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == "op" and tok.text == op

    def expect_close(self, op: str, opener: Token) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == op:
            return self.advance()
        message = f"expected '{op}' to close '{opener.text}' at column {opener.start + 1}"
        if tok.kind == "eof":
            raise ExprSyntaxError(message, opener.start, opener.end, f"add '{op}' at the end")
        hint = f"found {_show(tok)} where '{op}' was expected"
        if _binary_op(tok) is None and tok.kind != "op":
            hint += "; join conditions with && or ||"
        raise ExprSyntaxError(message, tok.start, tok.end, hint)

    def enter(self, tok: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExprSyntaxError(
                f"expression is nested too deeply (more than {MAX_DEPTH} levels)",
                tok.start,
                tok.end,
                "simplify the expression or compute part of it in a step",
            )

    def leave(self) -> None:
        self.nesting -= 1

    def node(self, expr: Expr) -> Expr:
        if expr.depth > MAX_DEPTH:
            raise ExprSyntaxError(
                f"expression is nested too deeply (more than {MAX_DEPTH} levels)",
                expr.start,
                expr.end,
                "simplify the expression or compute part of it in a step",
            )
        return expr

    # -- grammar -------------------------------------------------------------------------------

    def parse(self) -> Expr:
        if self.peek().kind == "eof":
            raise ExprSyntaxError(
                "empty expression",
                0,
                len(self.source),
                "write an expression between '${{' and '}}', e.g. ${{ inputs.goal }}",
            )
        expr = self.expression()
        tok = self.peek()
        if tok.kind != "eof":
            raise self.unexpected(tok)
        return expr

    def unexpected(self, tok: Token) -> ExprSyntaxError:
        """A token where an operator or the end was expected."""
        hints = {
            ")": "there is no '(' for it to close",
            "]": "there is no '[' for it to close",
            ",": "commas only separate function arguments",
            "!": "use '!=' to compare, or put '!' before a value",
            ".": "only paths and function results have fields",
            "[": "only paths and function results can be indexed",
        }
        if tok.kind == "op":
            hint = hints.get(tok.text, "")
        else:
            hint = "join conditions with && or ||, or compare with =="
        return ExprSyntaxError(f"unexpected {_show(tok)}", tok.start, tok.end, hint)

    def expression(self) -> Expr:
        """Binary operators by precedence climbing over an explicit stack (no recursion per level)."""
        operands: list[Expr] = [self.unary()]
        ops: list[Token] = []
        while (op := _binary_op(self.peek())) is not None:
            prec = _PRECEDENCE[op]
            while ops and _PRECEDENCE[ops[-1].text] >= prec:
                self.reduce(operands, ops)
            ops.append(self.advance())
            operands.append(self.unary())
        while ops:
            self.reduce(operands, ops)
        return operands[0]

    def reduce(self, operands: list[Expr], ops: list[Token]) -> None:
        tok = ops.pop()
        right = operands.pop()
        left = operands.pop()
        if tok.text in ("&&", "||"):
            op: LogicalOp = "&&" if tok.text == "&&" else "||"
            parts: list[Expr] = []
            for side in (left, right):
                if isinstance(side, Logical) and side.op == op:  # same operator: associative
                    parts.extend(side.operands)
                else:
                    parts.append(side)
            depth = 1 + max(p.depth for p in parts)
            operands.append(self.node(Logical(left.start, right.end, depth, op, tuple(parts))))
            return
        bop = cast(BinaryOp, tok.text)  # one of _PRECEDENCE's comparison operators
        depth = 1 + max(left.depth, right.depth)
        operands.append(self.node(Binary(left.start, right.end, depth, bop, left, right, tok.start, tok.end)))

    def unary(self) -> Expr:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "!":
            self.advance()
            self.enter(tok)
            operand = self.unary()
            self.leave()
            return self.node(Not(tok.start, operand.end, operand.depth + 1, operand))
        return self.postfix()

    def postfix(self) -> Expr:
        expr, outer_start = self.primary()
        if isinstance(expr, Literal):
            return expr  # `1.x` or `'a'[0]` fall through to a clear "unexpected '.'"
        segments: list[Segment] = []
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == ".":
                self.advance()
                name = self.peek()
                if name.kind != "name":
                    hint = "use [n] to index a list, e.g. files[0]" if name.kind == "number" else ""
                    if name.kind == "eof":
                        raise ExprSyntaxError("expected a name after '.'", tok.start, tok.end, hint)
                    raise ExprSyntaxError(
                        f"expected a name after '.', found {_show(name)}", name.start, name.end, hint
                    )
                self.advance()
                segments.append(Segment(name.text, name.start, name.end))
            elif tok.kind == "op" and tok.text == "[":
                self.advance()
                self.enter(tok)
                if self.at("]"):
                    close = self.peek()
                    raise ExprSyntaxError(
                        "expected an index inside '[]'",
                        tok.start,
                        close.end,
                        "e.g. files[0] or outputs['url']",
                    )
                index = self.expression()
                self.expect_close("]", tok)
                self.leave()
                key: str | int | Expr = index
                literal = index.value if isinstance(index, Literal) else None
                if isinstance(literal, str | int) and not isinstance(literal, bool):
                    key = literal
                segments.append(Segment(key, index.start, index.end))
            else:
                break
        end = self.tokens[self.i - 1].end
        if self.at("("):
            shown = self.source[outer_start:end]
            shown = shown if len(shown) <= 30 else shown[:29] + "…"
            raise ExprSyntaxError(
                f"'{shown}' is not a function", outer_start, end, f"the functions are {_FUNCTION_LIST}"
            )
        if not segments:
            return expr
        inner = [s.key.depth + 1 for s in segments if isinstance(s.key, Expr)]
        if isinstance(expr, Path) and outer_start == expr.start:
            depth = max([expr.depth, *inner])
            return self.node(Path(expr.start, end, depth, expr.root, expr.segments + tuple(segments)))
        depth = max([expr.depth + 1, *inner])
        return self.node(Access(outer_start, end, depth, expr, tuple(segments)))

    def primary(self) -> tuple[Expr, int]:
        """A value, and where it starts including any parentheses around it."""
        tok = self.peek()
        if tok.kind in ("number", "string"):
            self.advance()
            return Literal(tok.start, tok.end, 0, tok.value), tok.start
        if tok.kind == "name" and tok.text in _KEYWORD_VALUES:
            self.advance()
            return Literal(tok.start, tok.end, 0, _KEYWORD_VALUES[tok.text]), tok.start
        if tok.kind == "name" and tok.text != "in":
            self.advance()
            if self.at("("):
                return self.call(tok), tok.start
            return Path(tok.start, tok.end, 0, tok.text, ()), tok.start
        if tok.kind == "op" and tok.text == "(":
            self.advance()
            self.enter(tok)
            inner = self.expression()
            self.expect_close(")", tok)
            self.leave()
            return inner, tok.start
        if tok.kind == "op" and tok.text == "[":
            return self.list_literal(), tok.start
        if tok.kind == "eof":
            prev = self.tokens[self.i - 1]
            raise ExprSyntaxError(f"expected a value after {_show(prev)}", prev.start, prev.end, _VALUE_HINT)
        raise ExprSyntaxError(f"expected a value, found {_show(tok)}", tok.start, tok.end, _VALUE_HINT)

    def list_literal(self) -> Expr:
        lbracket = self.advance()
        self.enter(lbracket)
        items = self.comma_separated("]")
        rbracket = self.expect_close("]", lbracket)
        self.leave()
        depth = 1 + max((item.depth for item in items), default=0)
        return self.node(ListExpr(lbracket.start, rbracket.end, depth, tuple(items)))

    def comma_separated(self, closer: str) -> list[Expr]:
        """Expressions separated by commas, up to (not including) `closer`; no trailing comma."""
        items: list[Expr] = []
        if not self.at(closer):
            while True:
                items.append(self.expression())
                if not self.at(","):
                    break
                self.advance()
        return items

    def call(self, name: Token) -> Expr:
        spec = FUNCTIONS.get(name.text)
        if spec is None:
            raise ExprSyntaxError(
                f"unknown function '{name.text}'", name.start, name.end, _suggest(name.text)
            )
        lparen = self.advance()
        self.enter(lparen)
        args = self.comma_separated(")")
        rparen = self.expect_close(")", lparen)
        self.leave()
        n = len(args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            if spec.max_args is None:
                wanted = f"at least {spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            elif spec.min_args == spec.max_args:
                wanted = f"{spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
            else:
                wanted = f"{spec.min_args} to {spec.max_args} arguments"
            raise ExprSyntaxError(
                f"{name.text}() takes {wanted}, got {n}", name.start, rparen.end, f"usage: {spec.usage}"
            )
        if name.text == "format" and isinstance(args[0], Literal) and isinstance(args[0].value, str):
            problem = format_problem(args[0].value, n - 1)
            if problem is not None:
                raise ExprSyntaxError(problem, args[0].start, args[0].end, f"usage: {spec.usage}")
        depth = 1 + max((a.depth for a in args), default=0)
        return self.node(Call(name.start, rparen.end, depth, name.text, tuple(args), name.start, name.end))


def _suggest(name: str) -> str:
    by_lower = {f.lower(): f for f in FUNCTIONS}
    close = [by_lower[name.lower()]] if name.lower() in by_lower else []
    close = close or difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"the functions are {_FUNCTION_LIST}"


# -- queries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """A context path used by an expression, e.g. `steps.plan.outputs.text`.

    `parts` are the segments after the root that are known without evaluating anything
    (["plan", "outputs", "text"]; `[0]` gives 0). `part_spans[i]` locates `parts[i]` so a diagnostic
    can underline exactly the unknown step id or output name. `dynamic` is True when the path goes on
    with a computed index (`steps[inputs.id]`), after which nothing can be checked statically.
    References from check_text are cached and shared: treat them as read-only.
    """

    root: str
    parts: list[str | int]
    start: int
    end: int
    part_spans: list[tuple[int, int]]
    dynamic: bool = False

    @property
    def root_span(self) -> tuple[int, int]:
        return (self.start, self.start + len(self.root))


def _children(expr: Expr) -> list[Expr]:
    if isinstance(expr, Path):
        return [s.key for s in expr.segments if isinstance(s.key, Expr)]
    if isinstance(expr, Access):
        return [expr.base, *(s.key for s in expr.segments if isinstance(s.key, Expr))]
    if isinstance(expr, Not):
        return [expr.operand]
    if isinstance(expr, Binary):
        return [expr.left, expr.right]
    if isinstance(expr, Logical):
        return list(expr.operands)
    if isinstance(expr, Call):
        return list(expr.args)
    if isinstance(expr, ListExpr):
        return list(expr.items)
    return []


def _walk(expr: Expr) -> list[Expr]:
    """Every node, parents before children, in source order (depth is bounded by the parser)."""
    out = [expr]
    for child in _children(expr):
        out.extend(_walk(child))
    return out


def references(expr: Expr) -> list[Reference]:
    """Every context path the expression reads, in source order."""
    refs: list[Reference] = []
    for node in _walk(expr):
        if not isinstance(node, Path):
            continue
        parts: list[str | int] = []
        spans: list[tuple[int, int]] = []
        dynamic = False
        for seg in node.segments:
            if isinstance(seg.key, Expr):
                dynamic = True
                break
            parts.append(seg.key)
            spans.append((seg.start, seg.end))
        refs.append(Reference(node.root, parts, node.start, node.end, spans, dynamic))
    refs.sort(key=lambda r: r.start)
    return refs


def functions_used(expr: Expr) -> list[tuple[str, int, int]]:
    """Every function call as (name, start, end) of the name, in source order."""
    calls = [(n.name, n.name_start, n.name_end) for n in _walk(expr) if isinstance(n, Call)]
    calls.sort(key=lambda c: c[1])
    return calls
