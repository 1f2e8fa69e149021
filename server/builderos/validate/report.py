"""A per-document collector of findings that turns data paths into exact ranges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import yaml

from builderos.diagnostics import Diagnostic, Span, did_you_mean
from builderos.workspace.document import Document
from builderos.workspace.index import Workspace
from builderos.workspace.yamlload import node_span

At = Literal["key", "value", "head"]
Path = Sequence[str | int]


Finding = tuple[str, str, tuple[str | int, ...], str, At, dict[str, Any]]


class Report:
    """Collects diagnostics for one document; rules say *what* (a path), this finds *where*.

    Findings keep their data path until `diagnostics()` resolves them, so the findings of a step can
    be cached by the step's text and re-used wherever the step moves in the file.
    """

    def __init__(self, ws: Workspace | None, doc: Document | None) -> None:
        self.ws = ws
        self._doc = doc
        self.findings: list[Finding] = []
        self.placed: list[Diagnostic] = []

    @classmethod
    def recorder(cls) -> Report:
        """A report without a document: it only records findings (for caching)."""
        return cls(None, None)

    def extend(self, findings: list[Finding], prefix: tuple[str | int, ...]) -> None:
        self.findings.extend((c, m, prefix + p, h, a, d) for c, m, p, h, a, d in findings)

    def diagnostics(self) -> list[Diagnostic]:
        out = list(self.placed)
        for code, message, path, hint, at, data in self.findings:
            out.append(Diagnostic.make(code, message, self.span(path, at), hint, **data))
        return out

    @property
    def doc(self) -> Document:
        assert self._doc is not None, "a recorder has no document"
        return self._doc

    def span(self, path: Path, at: At = "value") -> Span:
        loc = self.doc.locator
        if at == "key":
            return loc.key_span(path)
        if at == "head":
            return self.head_span(path)
        return loc.value_span(path)

    def head_span(self, path: Path) -> Span:
        """The first line of a mapping: its first key (for 'missing key' and whole-item findings)."""
        found = self.doc.locator.find(path)
        node = found.value
        if isinstance(node, yaml.MappingNode) and node.value:
            return node_span(node.value[0][0]).shifted(found.offset)
        if found.key is not None and found.depth == len(path):
            return node_span(found.key).shifted(found.offset)
        if node is not None:
            s = node_span(node).shifted(found.offset)
            return Span(s.start_line, s.start_col, s.start_line, s.start_col + 1)
        return Span(0, 0, 0, 1)

    def add(self, code: str, message: str, path: Path, hint: str = "", at: At = "value", **data: Any) -> None:
        self.findings.append((code, message, tuple(path), hint, at, data))

    def add_span(self, code: str, message: str, span: Span, hint: str = "", **data: Any) -> None:
        self.placed.append(Diagnostic.make(code, message, span, hint, **data))

    def unknown(
        self,
        code: str,
        what: str,
        name: str,
        known: Iterable[str],
        path: Path,
        hint: str,
        at: At = "value",
    ) -> None:
        """'unknown agent "buidler"' with a "did you mean" when a known name is close."""
        guess = did_you_mean(name, sorted(known))
        message = f"unknown {what} '{name}'"
        if guess is not None:
            message += f": did you mean '{guess}'?"
            self.add(code, message, path, hint, at, replacement=guess)
        else:
            self.add(code, message, path, hint, at)

    def scalar_offset_span(self, path: Path, start: int, end: int) -> Span:
        """The range of characters [start, end) of a string value, precise where the source allows."""
        found = self.doc.locator.find(path)
        node = found.value
        if not isinstance(node, yaml.ScalarNode) or found.depth != len(path):
            return self.span(path)
        whole = node_span(node).shifted(found.offset)
        value: str = node.value
        lines = self.doc.lines
        first = whole.start_line
        if node.style in (None, "", "'", '"') and whole.start_line == whole.end_line:
            pad = 0 if not node.style else 1
            col0 = whole.start_col + pad
            if first < len(lines) and lines[first][col0 : col0 + len(value)] == value:
                return Span(first, col0 + start, first, col0 + end)
            return whole
        if node.style == "|":
            line_no, col = _line_col(value, start)
            end_line_no, end_col = _line_col(value, end)
            src_line = first + 1 + line_no
            if src_line < len(lines):
                src = lines[src_line]
                indent = len(src) - len(src.lstrip(" "))
                wanted = value.split("\n")[line_no]
                if src[indent : indent + len(wanted)] == wanted:
                    if end_line_no != line_no:
                        return Span(src_line, indent + col, src_line, len(src))
                    return Span(src_line, indent + col, src_line, indent + end_col)
        return whole


def _line_col(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count("\n")
    return line, offset - (before.rfind("\n") + 1)
