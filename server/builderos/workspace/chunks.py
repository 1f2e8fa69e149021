"""Incremental parsing of pipelines: re-parse only the steps whose text changed.

A keystroke in a 5,000-step pipeline must not re-parse 21,000 lines. We split the text into the
`steps:` items (by indentation, on line boundaries) and a skeleton (the rest, with the step lines
blanked so every line keeps its number). Each step's text is a cache key for its parsed tree; only
new texts are parsed, each on its own. PyYAML stays the judge: whenever a chunk does not parse on
its own, holds an anchor, alias or directive, or the split is unsure, the whole file is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from builderos.diagnostics import Diagnostic
from builderos.workspace.strict import strict_check
from builderos.workspace.yamlload import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    LoadedYaml,
    LoadLimitError,
    build_data,
    compose,
    load_yaml,
    nesting_too_deep,
)

_STEPS_KEY = re.compile(r"^steps:[ ]*(#.*)?$")
_UNSAFE_TOKENS = (yaml.AnchorToken, yaml.AliasToken, yaml.DirectiveToken, yaml.DocumentStartToken)
_CLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class Split:
    """The step items' texts with their first line, and the skeleton with those lines blanked."""

    skeleton: str
    chunks: list[tuple[str, int]]
    steps_line: int


def split_pipeline(text: str) -> Split | None:
    """Split a block-style pipeline; None when the layout is not one we can split with certainty."""
    if "\t" in text or "\r" in text:
        return None
    lines = text.split("\n")
    steps_line = -1
    for i, line in enumerate(lines):
        if line.startswith("steps:") and _STEPS_KEY.match(line):
            if steps_line >= 0:
                return None
            steps_line = i
    if steps_line < 0:
        return None
    chunks: list[tuple[int, int]] = []
    indent = -1
    end = len(lines)
    for i in range(steps_line + 1, len(lines)):
        line = lines[i]
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(stripped)
        is_item = stripped == "-" or stripped.startswith("- ")
        if indent < 0:
            if not is_item:
                return None
            indent = depth
        if depth > indent:
            continue
        if depth == indent and is_item:
            if chunks:
                chunks[-1] = (chunks[-1][0], i)
            chunks.append((i, -1))
            continue
        if depth == 0 and stripped.startswith(("---", "...")):
            return None
        end = i
        break
    if not chunks:
        return None
    chunks[-1] = (chunks[-1][0], end)
    last_item_end = chunks[-1][1]
    while last_item_end > chunks[-1][0] + 1 and not lines[last_item_end - 1].strip():
        last_item_end -= 1  # trailing blank lines belong to neither chunk nor skeleton content
    chunks[-1] = (chunks[-1][0], last_item_end)
    skeleton_lines = lines[:]
    for start, stop in chunks:
        skeleton_lines[start:stop] = [""] * (stop - start)
    skeleton = "\n".join(skeleton_lines)
    if re.search(r"^(%|---|\.\.\.)", skeleton, re.MULTILINE):
        return None
    return Split(skeleton, [("\n".join(lines[s:e]) + "\n", s) for s, e in chunks], steps_line)


@dataclass(slots=True)
class ChunkEntry:
    """A parsed step: its node (lines relative to `base`), data and load findings."""

    node: yaml.Node
    base: int
    data: Any
    diagnostics: list[Diagnostic]


@dataclass(slots=True)
class ParsedPipelineText:
    """Result of an incremental parse: skeleton tree, per-step trees with their offsets, merged data."""

    loaded: LoadedYaml
    steps: list[tuple[yaml.Node, int]] | None
    steps_key: yaml.Node | None
    step_texts: list[str] | None
    steps_start: tuple[int, int] | None = None


def _parse_chunk(text: str) -> ChunkEntry | None:
    """A step parsed on its own, or None when only a whole-file parse can judge it."""
    if nesting_too_deep(text, MAX_DEPTH - 1) is not None:
        return None  # a step sits one level below the root; the whole-file parse reports BOS090
    try:
        for token in yaml.scan(text, Loader=_CLoader):
            if isinstance(token, _UNSAFE_TOKENS):
                return None
        root = compose(text)
        if not isinstance(root, yaml.SequenceNode) or len(root.value) != 1:
            return None
        item = root.value[0]
        if strict_check(text, root) is not None:
            return None  # the whole-file parse reports it
        data, diagnostics, _ = build_data(item)
    except (yaml.YAMLError, LoadLimitError, ValueError, RecursionError):
        return None
    return ChunkEntry(item, 0, data, diagnostics)


def _steps_key(root: yaml.Node | None) -> yaml.Node | None:
    if isinstance(root, yaml.MappingNode):
        for key_node, _ in root.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == "steps":
                return key_node
    return None


@dataclass
class IncrementalPipelineParser:
    """Per-document parse cache; `parse` gives the same data and positions as a whole-file parse."""

    max_fresh_ratio: float = 0.2
    entries: dict[str, ChunkEntry] = field(default_factory=dict)
    skeleton_cache: tuple[str, LoadedYaml] | None = None
    whole_parses: int = 0
    chunk_parses: int = 0

    def parse(self, text: str) -> ParsedPipelineText:
        small = (
            len(text) * 4 <= MAX_DOCUMENT_BYTES
            or len(text.encode("utf-8", "surrogatepass")) <= MAX_DOCUMENT_BYTES
        )
        split = split_pipeline(text) if small else None  # too big: the whole-file parse reports BOS090
        if split is None:
            return self._whole(text, None)
        missing = [chunk for chunk, _ in split.chunks if chunk not in self.entries]
        if len(missing) > max(1, int(len(split.chunks) * self.max_fresh_ratio)):
            return self._whole(text, split)
        for chunk in missing:
            entry = _parse_chunk(chunk)
            if entry is None:
                return self._whole(text, split)
            self.chunk_parses += 1
            self.entries[chunk] = entry
        skeleton = self._skeleton(split.skeleton)
        if not skeleton.ok or not isinstance(skeleton.data, dict) or skeleton.data.get("steps") is not None:
            return self._whole(text, split)
        steps: list[tuple[yaml.Node, int]] = []
        step_data: list[Any] = []
        diagnostics = list(skeleton.diagnostics)
        used: dict[str, ChunkEntry] = {}
        for chunk, start in split.chunks:
            entry = self.entries[chunk]
            used[chunk] = entry
            offset = start - entry.base
            steps.append((entry.node, offset))
            step_data.append(entry.data)
            diagnostics.extend(
                Diagnostic(d.code, d.message, d.span.shifted(offset), d.hint, d.severity, d.data)
                for d in entry.diagnostics
            )
        self.entries = used
        data = dict(skeleton.data)
        data["steps"] = step_data
        loaded = LoadedYaml(skeleton.root, data, diagnostics)
        first_text, first_line = split.chunks[0]
        dash = (first_line, len(first_text) - len(first_text.lstrip(" ")))
        texts = [c for c, _ in split.chunks]
        return ParsedPipelineText(loaded, steps, _steps_key(skeleton.root), texts, dash)

    def _skeleton(self, skeleton: str) -> LoadedYaml:
        if self.skeleton_cache is not None and self.skeleton_cache[0] == skeleton:
            return self.skeleton_cache[1]
        loaded = load_yaml(skeleton)
        self.skeleton_cache = (skeleton, loaded)
        return loaded

    def _whole(self, text: str, split: Split | None) -> ParsedPipelineText:
        """Parse the whole file and, when its steps line up with the split, seed the chunk cache."""
        self.whole_parses += 1
        loaded = load_yaml(text)
        steps_node = None
        if isinstance(loaded.root, yaml.MappingNode):
            for key_node, value_node in loaded.root.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == "steps":
                    steps_node = value_node
        self.entries = {}
        if (
            split is not None
            and loaded.ok
            and isinstance(steps_node, yaml.SequenceNode)
            and isinstance(loaded.data, dict)
            and isinstance(loaded.data.get("steps"), list)
            and len(steps_node.value) == len(split.chunks) == len(loaded.data["steps"])
            and loaded.aliases == 0
        ):
            for (chunk, start), node, data in zip(
                split.chunks, steps_node.value, loaded.data["steps"], strict=True
            ):
                if node.start_mark.line != start:
                    self.entries = {}
                    break
                self.entries[chunk] = ChunkEntry(node, start, data, [])
            if self.entries:
                dup = [d for d in loaded.diagnostics if d.code == "BOS003"]
                for d in dup:  # keep load findings with the step they belong to
                    for chunk, _start in split.chunks:
                        entry = self.entries[chunk]
                        if entry.node.start_mark.line <= d.span.start_line <= entry.node.end_mark.line:
                            entry.diagnostics.append(d)
                            break
        return ParsedPipelineText(loaded, None, None, None)
