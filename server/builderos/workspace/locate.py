"""Find the exact range of a key or value by its path (("steps", 3, "needs", 0)) in a node tree.

Diagnostics are computed on plain data; only when one is reported do we walk the nodes to find where
it points. A pipeline parsed in chunks has one tree per step, each with its own line offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from builderos.diagnostics import Span
from builderos.workspace.yamlload import node_span

Path = tuple[str | int, ...]


@dataclass(slots=True)
class Found:
    """The deepest nodes reached for a path, and how much of the path they cover."""

    key: yaml.Node | None
    value: yaml.Node | None
    offset: int
    depth: int


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node | None]:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        found: tuple[yaml.Node | None, yaml.Node | None] = (None, None)
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value == part:
                    found = (key_node, value_node)  # the last duplicate wins, as in the data
                elif key_node.tag == "tag:yaml.org,2002:merge" and found[1] is None:
                    sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                    for source in sources:
                        k, v = _child(source, part)
                        if v is not None:
                            found = (k, v)
                            break
        return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None, None


@dataclass(slots=True)
class Locator:
    """Locates paths in a document; `steps` holds per-step trees of a chunk-parsed pipeline."""

    root: yaml.Node | None
    steps: list[tuple[yaml.Node, int]] | None = None
    steps_key: yaml.Node | None = None
    steps_start: tuple[int, int] | None = None  # the first step's '-' (where the list begins)
    cache: dict[Path, Found] = field(default_factory=dict)

    def find(self, path: Sequence[str | int]) -> Found:
        path = tuple(path)
        if self.steps is not None and path and path[0] == "steps":
            if len(path) >= 2 and isinstance(path[1], int) and 0 <= path[1] < len(self.steps):
                node, offset = self.steps[path[1]]
                return self._walk(node, path[2:], offset, None, 2)
            return Found(self.steps_key, self._steps_node(), 0, 1)
        if self.root is None:
            return Found(None, None, 0, 0)
        return self._walk(self.root, path, 0, None, 0)

    @staticmethod
    def _walk(node: yaml.Node, rest: Path, offset: int, key: yaml.Node | None, depth: int) -> Found:
        for part in rest:
            k, v = _child(node, part)
            if v is None:
                break
            key, node, depth = k, v, depth + 1
        return Found(key, node, offset, depth)

    def _steps_node(self) -> yaml.Node | None:
        """A stand-in for the steps sequence of a chunk-parsed pipeline, with absolute positions."""
        span = self._steps_span()
        if span is None:
            return None
        start = yaml.Mark("<steps>", 0, span.start_line, span.start_col, "", 0)
        end = yaml.Mark("<steps>", 0, span.end_line, span.end_col, "", 0)
        return yaml.SequenceNode("tag:yaml.org,2002:seq", [], start, end)

    def _steps_span(self) -> Span | None:
        """In a chunk-parsed pipeline, the whole steps list: first step's start to last step's end."""
        if not self.steps:
            return None
        first, first_off = self.steps[0]
        last, last_off = self.steps[-1]
        line, col = self.steps_start or (first.start_mark.line + first_off, first.start_mark.column)
        return Span(
            line,
            col,
            last.end_mark.line + last_off,
            last.end_mark.column,
        )

    def value_span(self, path: Sequence[str | int]) -> Span:
        """The value at path, or the deepest existing ancestor's value."""
        found = self.find(path)
        if found.value is None:
            return Span(0, 0, 0, 1)
        return node_span(found.value).shifted(found.offset)

    def key_span(self, path: Sequence[str | int]) -> Span:
        """The key at path if the path ends at a mapping key, else the value's span."""
        found = self.find(path)
        if found.depth == len(path) and found.key is not None:
            return node_span(found.key).shifted(found.offset)
        if found.value is None and found.key is None:
            return Span(0, 0, 0, 1)
        node = found.key if found.key is not None else found.value
        assert node is not None
        return node_span(node).shifted(found.offset)

    def exists(self, path: Sequence[str | int]) -> bool:
        return self.find(path).depth == len(path)
