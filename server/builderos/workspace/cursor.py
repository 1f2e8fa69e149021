"""What is under the cursor: the data path of the key or value there, from the node tree or the text.

Hover, definition and references use the node tree (exact). Completion must also work while the
file is half-typed and does not parse, so `text_context` derives the path from indentation alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from builderos.workspace.document import Document
from builderos.workspace.locate import Path


@dataclass(slots=True)
class Cursor:
    """The path of the innermost key or scalar at a position, and which of the two it is."""

    path: Path
    on_key: bool
    node: yaml.Node
    offset: int
    col_in_value: int = 0


def _inside(node: yaml.Node, offset: int, line: int, col: int) -> bool:
    s, e = node.start_mark, node.end_mark
    return (s.line + offset, s.column) <= (line, col) <= (e.line + offset, e.column)


def _descend(node: yaml.Node, path: Path, offset: int, line: int, col: int) -> Cursor | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if _inside(key_node, offset, line, col):
                return Cursor((*path, key_node.value), True, key_node, offset)
            if _inside(value_node, offset, line, col):
                found = _descend(value_node, (*path, key_node.value), offset, line, col)
                if found is not None:
                    return found
        return None
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            if _inside(item, offset, line, col):
                return _descend(item, (*path, i), offset, line, col)
        return None
    if isinstance(node, yaml.ScalarNode) and _inside(node, offset, line, col):
        start = node.start_mark
        within = col - start.column if start.line + offset == line else 0
        if node.style in ("'", '"'):
            within -= 1
        return Cursor(path, False, node, offset, max(within, 0))
    return None


def cursor_at(doc: Document, line: int, col: int) -> Cursor | None:
    """The key or scalar value at (line, code-point col), or None between nodes."""
    loc = doc.locator
    if loc.steps is not None:
        for i, (node, offset) in enumerate(loc.steps):
            if _inside(node, offset, line, col):
                return _descend(node, ("steps", i), offset, line, col)
    if loc.root is None:
        return None
    return _descend(loc.root, (), 0, line, col)


_KEY_AT = re.compile(r"([^\s#:'\"\[\]{},][^:#]*?|'[^']*'|\"[^\"]*\")[ \t]*:(?=\s|$)")


@dataclass(slots=True)
class TextContext:
    """A path guessed from indentation; list indexes are -1 (unknown)."""

    path: Path
    on_key: bool
    prefix: str
    in_flow_list: bool = False


@dataclass(slots=True)
class _LineShape:
    dashes: list[int]
    key_col: int | None
    key: str | None
    after_key: str
    content_col: int


def _shape(line: str) -> _LineShape:
    """Where a line's list markers and key sit."""
    dashes: list[int] = []
    pos = len(line) - len(line.lstrip(" "))
    while line[pos:].startswith("- ") or line[pos:] == "-":
        dashes.append(pos)
        pos += 1
        while pos < len(line) and line[pos] == " ":
            pos += 1
    m = _KEY_AT.match(line, pos)
    if m is None:
        return _LineShape(dashes, None, None, line[pos:], pos)
    return _LineShape(dashes, pos, m.group(1).strip("'\""), line[m.end() :], pos)


def text_context(lines: list[str], line: int, col: int) -> TextContext:
    """The path at a position judged from the text alone, for documents that are being typed."""
    current = lines[line][:col] if 0 <= line < len(lines) else ""
    shape = _shape(current)
    path: list[str | int] = []
    on_key = True
    prefix = current[shape.content_col :].strip()
    in_flow = False
    if shape.key is not None:
        value = shape.after_key
        in_flow = "[" in value and "]" not in value
        prefix = re.split(r"[\[,{]", value)[-1].strip().strip("'\"")
        path.append(shape.key)
        on_key = False
    level = shape.content_col
    for dash in reversed(shape.dashes):
        path.insert(0, -1)
        level = dash
    for i in range(line - 1, -1, -1):
        if level == 0:
            break
        text = lines[i]
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        above = _shape(text)
        anchors: list[tuple[int, str | None]] = [(d, None) for d in above.dashes]
        if above.key_col is not None:
            anchors.append((above.key_col, above.key))
        for anchor_col, name in reversed(anchors):
            if anchor_col < level:
                path.insert(0, -1 if name is None else name)
                level = anchor_col
    return TextContext(tuple(path), on_key, prefix, in_flow)
