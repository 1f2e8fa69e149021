"""Tokenizer: turns expression source into tokens with exact offsets, or a precise syntax error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import ExprSyntaxError
from .nodes import Scalar

TokenKind = Literal["name", "number", "string", "op", "eof"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_TAIL = re.compile(r"[A-Za-z0-9_.]*")
_MAX_NUMBER_CHARS = 40
_WHITESPACE = " \t\r\n"
# Two-character operators are tried first, so `<=` wins over `<` and `!=` over `!`.
_OPERATORS_2 = frozenset({"==", "!=", "<=", ">=", "&&", "||"})
_OPERATORS_1 = frozenset("()[].,!<>")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "0": "\0",
    "/": "/",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
_STRAY_HINTS = {
    "=": "use '==' to compare",
    "&": "use '&&' for 'and'",
    "|": "use '||' for 'or'",
    "+": "expressions have no arithmetic; compute values in a step",
    "-": "expressions have no arithmetic; compute values in a step",
    "*": "expressions have no arithmetic; compute values in a step",
    "/": "expressions have no arithmetic; compute values in a step",
    "%": "expressions have no arithmetic; compute values in a step",
    "$": "'${{ }}' cannot be nested; write the inner expression directly",
    "{": "'${{ }}' cannot be nested; write the inner expression directly",
    "}": "'}}' ends an expression; check for a stray brace",
    "\u2018": "use a straight quote ' instead of a typographic one",
    "\u2019": "use a straight quote ' instead of a typographic one",
    "\u201c": 'use a straight quote " instead of a typographic one',
    "\u201d": 'use a straight quote " instead of a typographic one',
}


@dataclass(frozen=True, slots=True)
class Token:
    """One token; `value` is the decoded literal for numbers and strings, else None."""

    kind: TokenKind
    text: str
    start: int
    end: int
    value: Scalar = None


def tokenize(source: str) -> list[Token]:
    """All tokens of `source`, ending with an `eof` token at `len(source)`."""
    tokens: list[Token] = []
    pos = 0
    n = len(source)
    while True:
        while pos < n and source[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            tokens.append(Token("eof", "", n, n))
            return tokens
        ch = source[pos]
        if ch == "'" or ch == '"':
            token = _string(source, pos)
        elif ch.isdigit() or (ch == "-" and pos + 1 < n and source[pos + 1].isdigit()):
            token = _number(source, pos)
        elif (m := _NAME.match(source, pos)) is not None:
            token = Token("name", m.group(), pos, m.end())
        elif (two := source[pos : pos + 2]) in _OPERATORS_2:
            token = Token("op", two, pos, pos + 2)
        elif ch in _OPERATORS_1:
            token = Token("op", ch, pos, pos + 1)
        else:
            raise _stray(source, pos)
        tokens.append(token)
        pos = token.end


def _stray(source: str, pos: int) -> ExprSyntaxError:
    ch = source[pos]
    shown = ch if ch.isprintable() else repr(ch)[1:-1]
    if source.startswith("${{", pos):
        return ExprSyntaxError("unexpected '${{'", pos, pos + 3, _STRAY_HINTS["$"])
    hint = _STRAY_HINTS.get(ch, "")
    if not hint and ch.isalnum():
        hint = "names use ASCII letters, digits, '_' and '-'; write other keys as ['clé']"
    return ExprSyntaxError(f"unexpected character '{shown}'", pos, pos + 1, hint)


def _number(source: str, pos: int) -> Token:
    m = _NUMBER.match(source, pos)
    assert m is not None  # the caller saw a digit (after an optional '-')
    end = m.end()
    tail = _NUMBER_TAIL.match(source, end)
    tail_end = tail.end() if tail is not None else end
    # `1.2.3`, `12abc`, `0x1f`, `1.`: report the whole run, not a confusing error on its second half.
    # Nothing valid glues a name, digit or dot onto a number (`x[0].path` has ']' in between).
    if tail_end > end:
        bad = source[pos:tail_end]
        raise ExprSyntaxError(
            f"invalid number '{bad}'", pos, tail_end, "numbers are written like 42, -1, 2.5 or 1e3"
        )
    text = m.group()
    if len(text) > _MAX_NUMBER_CHARS:
        raise ExprSyntaxError("number is too long", pos, end, f"use at most {_MAX_NUMBER_CHARS} characters")
    value: int | float
    if any(c in text for c in ".eE"):
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ExprSyntaxError("number is too large", pos, end, "")
    else:
        value = int(text)
    return Token("number", text, pos, end, value)


def _string(source: str, pos: int) -> Token:
    quote = source[pos]
    out: list[str] = []
    i = pos + 1
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == quote:
            return Token("string", source[pos : i + 1], pos, i + 1, "".join(out))
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = source[i + 1 : i + 2]
        if esc == "u":
            digits = source[i + 2 : i + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            raise ExprSyntaxError(
                "invalid \\u escape", i, min(i + 6, n), "write \\u followed by 4 hex digits, e.g. \\u00e9"
            )
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
            continue
        shown = f"\\{esc}" if esc else "\\"
        raise ExprSyntaxError(
            f"invalid escape '{shown}' in string",
            i,
            min(i + 2, n),
            "valid escapes are \\n \\t \\r \\\\ \\' \\\" and \\uXXXX",
        )
    raise ExprSyntaxError("unterminated string", pos, n, f"close the string with {quote}")
