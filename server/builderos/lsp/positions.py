"""Columns between our code points and the client's negotiated position encoding (UTF-16 by default)."""

from __future__ import annotations

from lsprotocol import types

from builderos.diagnostics import Span
from builderos.workspace.document import Document


def encode_column(line_text: str, col: int, encoding: str) -> int:
    """A code-point column as the client counts it."""
    prefix = line_text[:col]
    if prefix.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return col
    if encoding == types.PositionEncodingKind.Utf8:
        return len(prefix.encode("utf-8", "surrogatepass"))
    return col + sum(1 for ch in prefix if ord(ch) > 0xFFFF)


def decode_column(line_text: str, character: int, encoding: str) -> int:
    """The client's column as a code-point column (clamped to the line)."""
    if line_text.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return min(character, len(line_text))
    units = 0
    for i, ch in enumerate(line_text):
        if units >= character:
            return i
        if encoding == types.PositionEncodingKind.Utf8:
            units += len(ch.encode("utf-8", "surrogatepass"))
        else:
            units += 2 if ord(ch) > 0xFFFF else 1
    return len(line_text)


def to_range(doc: Document, span: Span, encoding: str) -> types.Range:
    lines = doc.lines

    def pos(line: int, col: int) -> types.Position:
        text = lines[line] if 0 <= line < len(lines) else ""
        return types.Position(line=line, character=encode_column(text, col, encoding))

    return types.Range(start=pos(span.start_line, span.start_col), end=pos(span.end_line, span.end_col))


def from_position(doc: Document, position: types.Position, encoding: str) -> tuple[int, int]:
    lines = doc.lines
    text = lines[position.line] if 0 <= position.line < len(lines) else ""
    return position.line, decode_column(text, position.character, encoding)
