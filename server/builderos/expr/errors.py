"""The two ways an expression can fail: it does not parse, or it does not evaluate.

Both carry character offsets so the validator (BOS030) and the engine can point at the exact spot.
"""

from __future__ import annotations


class ExprSyntaxError(Exception):
    """The expression cannot be parsed (or names an unknown function, or is too long or too deep).

    `offset`/`end_offset` are relative to the string that was parsed; `shifted` moves them into an
    enclosing text (e.g. from an interpolation's source to the whole YAML scalar).
    """

    def __init__(self, message: str, offset: int, end_offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.end_offset = max(end_offset, offset)
        self.hint = hint

    def shifted(self, delta: int) -> ExprSyntaxError:
        return ExprSyntaxError(self.message, self.offset + delta, self.end_offset + delta, self.hint)

    def __repr__(self) -> str:
        return f"ExprSyntaxError({self.message!r}, {self.offset}, {self.end_offset}, {self.hint!r})"


class ExprEvalError(Exception):
    """Evaluation failed for a reason the author can fix (e.g. `len()` of a number).

    A missing path is *not* an error (it is null); this is only raised for type misuse and bad data.
    `start`/`end` locate the failing sub-expression in its source when known.
    """

    def __init__(self, message: str, start: int | None = None, end: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = end

    def shifted(self, delta: int) -> ExprEvalError:
        if self.start is None or self.end is None:
            return self
        return ExprEvalError(self.message, self.start + delta, self.end + delta)

    def __repr__(self) -> str:
        return f"ExprEvalError({self.message!r}, {self.start}, {self.end})"
