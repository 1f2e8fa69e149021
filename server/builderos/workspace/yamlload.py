"""Parse YAML with PyYAML's C loader into nodes that keep positions, with hostile input bounded.

Why our own construction step: PyYAML's constructors lose positions and expand aliases eagerly.
We keep the composed node tree (for ranges), build plain Python data from it ourselves, and count
alias expansion as we go, so a billion-laughs document is refused in microseconds instead of eating
memory. The C composer recurses in C and crashes on very deep nesting, so depth is checked first.
"""

from __future__ import annotations

import datetime
import functools
import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from builderos.diagnostics import Diagnostic, Span

MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 200
MAX_ALIAS_EXPANSION = 100_000

_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = SafeConstructor()
_BRACKETS = re.compile(r"[\[\]{}]")


@functools.lru_cache(maxsize=4)
def _deep_block(limit: int) -> re.Pattern[str]:
    """Lines whose indentation and `- ` / `? ` markers alone could nest `limit` levels deep."""
    return re.compile(r"^[ \t\-?:]{" + str(limit) + ",}", re.MULTILINE)


_HINTS = (
    ("mapping values are not allowed", "quote the value if it contains ': ', or check the indentation"),
    ("cannot start any token", "YAML does not allow this character here; tabs must be spaces"),
    ("could not find expected ':'", "a key needs ':' after it; check the line above for a missing quote"),
    ("did not find expected key", "check the indentation of this line against its siblings"),
    ("did not find expected '-'", "items of a list start with '- ' at the same indentation"),
    ("found undefined alias", "define the anchor with '&name' before using '*name'"),
    ("expected a single document", "BuilderOS files hold one document; remove the extra '---'"),
    ("found unexpected end of stream", "a quote or bracket is not closed"),
    ("duplicate anchor", "give each anchor a unique name"),
)


class LoadLimitError(Exception):
    """Raised while constructing data when the document exceeds a limit (becomes BOS090)."""

    def __init__(self, message: str, span: Span, hint: str) -> None:
        super().__init__(message)
        self.span = span
        self.hint = hint


@dataclass(slots=True)
class LoadedYaml:
    """A parsed document: its node tree (None when empty or broken), plain data and load findings."""

    root: yaml.Node | None
    data: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    aliases: int = 0

    @property
    def ok(self) -> bool:
        return not any(d.code in ("BOS001", "BOS090") for d in self.diagnostics)


def node_span(node: yaml.Node) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(s.line, s.column, e.line, e.column)


def point_span(line: int, col: int) -> Span:
    return Span(line, col, line, col + 1)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building large node trees: it halves parse time (nothing cyclic is freed)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def nesting_too_deep(text: str, limit: int = MAX_DEPTH) -> Span | None:
    """Where nesting first exceeds `limit`, or None. Cheap bounds first; an exact event scan if needed."""
    flow_suspect = False
    flow_limit = limit // 2  # block levels around a flow collection count too: be conservative
    if text.count("[") + text.count("{") >= flow_limit:
        depth = 0
        for m in _BRACKETS.finditer(text):
            depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
            if depth >= flow_limit:
                flow_suspect = True
                break
    if not flow_suspect and _deep_block(limit // 2).search(text) is None:
        return None
    return _deeper_event(text, limit)


def _deeper_event(text: str, limit: int, *, look_before: bool = True) -> Span | None:
    """Where the event stream first nests deeper than `limit` (the exact scan of `nesting_too_deep`)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_CLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit and event.start_mark is not None:
                    return point_span(event.start_mark.line, event.start_mark.column)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None or not is_depth_error(exc):
            return None  # the composer reports the syntax error itself
        # libyaml (since PyYAML 6.0.4) stops at its own limit of 1000 flow levels while it scans
        # ahead, before it hands out the first event: the text before that point has the events
        if look_before and 0 < mark.index < len(text):
            found = _deeper_event(text[: mark.index], limit, look_before=False)
            if found is not None:
                return found
        return point_span(mark.line, mark.column)
    return None


def is_depth_error(exc: yaml.YAMLError) -> bool:
    """libyaml's own nesting limit (PyYAML >= 6.0.4), which is BOS090, not a syntax error."""
    return "maximum nesting depth" in str(getattr(exc, "problem", "") or "")


def syntax_diagnostic(exc: yaml.YAMLError, line_offset: int = 0) -> Diagnostic:
    """BOS001 at the problem mark, with a hint for the common mistakes."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}"
    if context and context not in problem:
        message += f" ({context})"
    hint = next((h for needle, h in _HINTS if needle in message), "fix the YAML syntax at this position")
    return Diagnostic.make("BOS001", message, point_span(line + line_offset, col), hint)


class _Builder:
    """Turns a node tree into plain data; counts alias expansion; reports duplicate keys."""

    def __init__(self) -> None:
        self.done: dict[int, tuple[Any, int]] = {}
        self.active: set[int] = set()
        self.expansion = 0
        self.aliases = 0
        self.diagnostics: list[Diagnostic] = []

    def build(self, node: yaml.Node) -> tuple[Any, int]:
        key = id(node)
        seen = self.done.get(key)
        if seen is not None:
            self.aliases += 1
            self.expansion += seen[1]
            if self.expansion > MAX_ALIAS_EXPANSION:
                raise LoadLimitError(
                    f"alias expansion over the limit of {MAX_ALIAS_EXPANSION:,} nodes",
                    node_span(node),
                    "this looks like an alias bomb; write the values out instead of nesting aliases",
                )
            return seen
        if key in self.active:
            raise LoadLimitError(
                "recursive alias: a node contains itself",
                node_span(node),
                "an alias may not refer to an anchor that encloses it",
            )
        if isinstance(node, yaml.ScalarNode):
            result = (self._scalar(node), 1)
        else:
            self.active.add(key)
            try:
                result = self._mapping(node) if isinstance(node, yaml.MappingNode) else self._sequence(node)
            finally:
                self.active.discard(key)
        self.done[key] = result
        return result

    @staticmethod
    def _scalar(node: yaml.ScalarNode) -> Any:
        if node.style or node.tag == "tag:yaml.org,2002:str":
            return node.value
        ctor = _SCALARS.yaml_constructors.get(node.tag)
        if ctor is None or node.tag == "tag:yaml.org,2002:binary":
            return node.value
        try:
            value = ctor(_SCALARS, node)
        except (ValueError, yaml.YAMLError):
            return node.value
        if isinstance(value, datetime.date):
            return node.value  # our files keep dates and versions as the text the user wrote
        return value

    def _sequence(self, node: yaml.Node) -> tuple[list[Any], int]:
        items: list[Any] = []
        size = 1
        for child in node.value:
            value, n = self.build(child)
            items.append(value)
            size += n
        return items, size

    def _mapping(self, node: yaml.Node) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        size = 1
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.diagnostics.append(
                    Diagnostic.make(
                        "BOS003",
                        "a key must be a plain value, not a list or mapping",
                        node_span(key_node),
                        "write the key as a plain word",
                    )
                )
                continue
            key = key_node.value
            if key in out:
                self.diagnostics.append(
                    Diagnostic.make(
                        "BOS003",
                        f"duplicate key '{key}': the later value would silently win",
                        node_span(key_node),
                        "remove one of the two keys",
                        key=key,
                    )
                )
            value, n = self.build(value_node)
            out[key] = value
            size += n
        for merge in merges:  # `<<: *base` and `<<: [*a, *b]`: explicit keys win, then earlier sources
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                value, n = self.build(source)
                size += n
                if isinstance(value, dict):
                    for k, v in value.items():
                        out.setdefault(k, v)
        return out, size


def build_data(root: yaml.Node) -> tuple[Any, list[Diagnostic], int]:
    """Plain data of a node tree, its load findings and alias count; LoadLimitError for bombs."""
    builder = _Builder()
    value, _ = builder.build(root)
    return value, builder.diagnostics, builder.aliases


def compose(text: str) -> yaml.Node | None:
    """The C composer with the GC paused; raises yaml.YAMLError."""
    with gc_paused():
        return yaml.compose(text, Loader=_CLoader)


def _too_deep(where: Span) -> Diagnostic:
    return Diagnostic.make(
        "BOS090",
        f"nesting deeper than {MAX_DEPTH} levels",
        where,
        "flatten the structure; BuilderOS files never need this depth",
    )


def load_yaml(text: str) -> LoadedYaml:
    """Parse one document. Never raises for anything a user can type."""
    from builderos.workspace.strict import strict_check

    size = len(text.encode("utf-8", "surrogatepass")) if not text.isascii() else len(text)
    if size > MAX_DOCUMENT_BYTES:
        return LoadedYaml(
            None,
            None,
            [
                Diagnostic.make(
                    "BOS090",
                    f"document is {size:,} bytes, over the limit of {MAX_DOCUMENT_BYTES:,}",
                    point_span(0, 0),
                    "split it into several files",
                )
            ],
        )
    deep = nesting_too_deep(text)
    if deep is not None:
        return LoadedYaml(None, None, [_too_deep(deep)])
    try:
        root = compose(text)
    except yaml.YAMLError as exc:
        if is_depth_error(exc):
            mark = getattr(exc, "problem_mark", None)
            where = point_span(mark.line, mark.column) if mark is not None else point_span(0, 0)
            return LoadedYaml(None, None, [_too_deep(where)])
        return LoadedYaml(None, None, [syntax_diagnostic(exc)])
    except (ValueError, RecursionError, MemoryError) as exc:  # defensive: libyaml edge cases
        return LoadedYaml(None, None, [Diagnostic.make("BOS001", f"YAML error: {exc}", point_span(0, 0), "")])
    if root is None:
        return LoadedYaml(None, None, [])
    try:
        with gc_paused():
            data, diagnostics, aliases = build_data(root)
    except LoadLimitError as exc:
        return LoadedYaml(root, None, [Diagnostic.make("BOS090", str(exc), exc.span, exc.hint)])
    problem = strict_check(text, root)
    if problem is not None:
        return LoadedYaml(None, None, [problem])
    return LoadedYaml(root, data, diagnostics, aliases)
