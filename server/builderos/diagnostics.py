"""Diagnostics as BuilderOS reports them: a stable code, a severity, a message with a hint, an exact range.

Positions are kept in code points while checking (that is what libyaml counts) and converted to the
LSP's UTF-16 columns only at the boundary (`to_utf16`), so the checks never care about encodings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "information", "hint"]

#: The severity of every code of SPEC §3, in one place.
SEVERITY: dict[str, Severity] = {
    "BOS001": "error",
    "BOS002": "error",
    "BOS003": "error",
    "BOS010": "error",
    "BOS011": "error",
    "BOS012": "error",
    "BOS013": "error",
    "BOS020": "error",
    "BOS021": "error",
    "BOS022": "error",
    "BOS023": "error",
    "BOS024": "error",
    "BOS030": "error",
    "BOS031": "error",
    "BOS040": "warning",
    "BOS041": "information",
    "BOS050": "warning",
    "BOS051": "warning",
    "BOS052": "error",
    "BOS060": "error",
    "BOS070": "error",
    "BOS090": "error",
}

TITLES: dict[str, str] = {
    "BOS001": "YAML syntax error",
    "BOS002": "unknown key",
    "BOS003": "wrong type, missing required key or bad value",
    "BOS010": "duplicate step id",
    "BOS011": "`needs` names an unknown step",
    "BOS012": "dependency cycle",
    "BOS013": "a step must be exactly one of agent:, run: or uses:",
    "BOS020": "unknown agent",
    "BOS021": "unknown prompt",
    "BOS022": "no prompt version satisfies the range",
    "BOS023": "unknown model profile",
    "BOS024": "unknown tool or action",
    "BOS030": "expression syntax error",
    "BOS031": "expression names an unknown input, step or output",
    "BOS040": "the policy denies a tool this agent uses",
    "BOS041": "this step will ask for approval",
    "BOS050": "prompt changed without a version bump",
    "BOS051": "changelog has no entry for the version",
    "BOS052": "version is not semver",
    "BOS060": "unknown context pack",
    "BOS070": "desk parameter invalid",
    "BOS090": "document too large or alias expansion over the limit",
}


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a document: 0-based lines, columns in code points, end exclusive."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def shifted(self, lines: int) -> Span:
        return Span(self.start_line + lines, self.start_col, self.end_line + lines, self.end_col)

    def contains(self, line: int, col: int) -> bool:
        if (line, col) < (self.start_line, self.start_col):
            return False
        return (line, col) <= (self.end_line, self.end_col)


#: LSP DiagnosticSeverity numbers.
SEVERITY_NUMBER: dict[Severity, int] = {"error": 1, "warning": 2, "information": 3, "hint": 4}


@dataclass(slots=True)
class Diagnostic:
    """One finding. `data` carries what a quick fix needs (suggested replacement, missing key)."""

    code: str
    message: str
    span: Span
    hint: str = ""
    severity: Severity = "error"
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, code: str, message: str, span: Span, hint: str = "", **data: Any) -> Diagnostic:
        return cls(code=code, message=message, span=span, hint=hint, severity=SEVERITY[code], data=data)

    @property
    def lsp_data(self) -> dict[str, Any] | None:
        """What an LSP diagnostic carries for quick fixes: the finding's data and its hint."""
        data = dict(self.data)
        if self.hint:
            data["hint"] = self.hint
        return data or None

    @property
    def full_message(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


def utf16_column(line_text: str, col: int) -> int:
    """Convert a code-point column to the UTF-16 column the LSP counts."""
    prefix = line_text[:col]
    if prefix.isascii():
        return col
    return col + sum(1 for ch in prefix if ord(ch) > 0xFFFF)


def to_lsp_range(span: Span, lines: list[str] | None) -> dict[str, dict[str, int]]:
    """The LSP range of a span; `lines` is None for ASCII documents (no conversion needed)."""

    def col(line: int, c: int) -> int:
        if lines is None or line >= len(lines):
            return c
        return utf16_column(lines[line], c)

    return {
        "start": {"line": span.start_line, "character": col(span.start_line, span.start_col)},
        "end": {"line": span.end_line, "character": col(span.end_line, span.end_col)},
    }


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, if one is close enough to be a likely typo."""
    import difflib

    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
