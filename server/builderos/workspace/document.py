"""A BuilderOS file as the validator sees it: text, kind, parsed data and a way back to ranges."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from builderos.diagnostics import Diagnostic, Span, to_lsp_range
from builderos.workspace.chunks import IncrementalPipelineParser
from builderos.workspace.locate import Locator
from builderos.workspace.yamlload import LoadedYaml, load_yaml, point_span

#: What the index stores instead of the text of a file too large to read (see index._read_text).
TOO_LARGE_MARK = "\x00builderos:too-large:"


@dataclass(slots=True)
class Document:
    """One file of the workspace (from disk or from the editor)."""

    path: str
    text: str
    kind: str | None
    loaded: LoadedYaml
    locator: Locator
    version: int | None = None
    from_editor: bool = False
    step_texts: list[str] | None = None
    _lines: list[str] | None = field(default=None, repr=False)

    @property
    def data(self) -> Any:
        return self.loaded.data

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def lsp_range(self, span: Span) -> dict[str, dict[str, int]]:
        return to_lsp_range(span, None if self.text.isascii() else self.lines)


def _load_json(text: str) -> LoadedYaml:
    """Context packs are JSON; JSON is YAML, but a JSON error should read like one."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return LoadedYaml(
            None,
            None,
            [
                Diagnostic.make(
                    "BOS001",
                    f"JSON syntax error: {exc.msg}",
                    point_span(exc.lineno - 1, exc.colno - 1),
                    "context packs are JSON files; check quotes and commas",
                )
            ],
        )
    return load_yaml(text)


def parse_document(
    path: str,
    text: str,
    kind: str | None,
    version: int | None = None,
    parser: IncrementalPipelineParser | None = None,
) -> Document:
    """Parse a file; pipelines go through the incremental parser when one is kept for the document."""
    if text.startswith(TOO_LARGE_MARK):
        size = int(text[len(TOO_LARGE_MARK) :] or 0)
        too_big = Diagnostic.make(
            "BOS090",
            f"file is {size:,} bytes, too large to check",
            point_span(0, 0),
            "split it into several files",
        )
        return Document(path, "", kind, LoadedYaml(None, None, [too_big]), Locator(None), version)
    if kind == "pipeline" and parser is not None:
        result = parser.parse(text)
        locator = Locator(result.loaded.root)
        if result.steps is not None:
            locator = Locator(result.loaded.root, result.steps, result.steps_key, result.steps_start)
        return Document(path, text, kind, result.loaded, locator, version, step_texts=result.step_texts)
    loaded = _load_json(text) if path.endswith(".json") else load_yaml(text)
    return Document(path, text, kind, loaded, Locator(loaded.root), version)
