"""Document symbols: the outline of a file, with a pipeline's steps as children of the pipeline.

The outline is built from the parsed data and the node tree, so ranges are exact: a symbol's range is
its whole mapping, its selection range is its name.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from builderos.diagnostics import Span
from builderos.lsp.navigation import DataPath, View, content_end, in_view, scalar_span
from builderos.lsp.server import BuilderOSServer
from builderos.workspace.document import Document
from builderos.workspace.yamlload import node_span

K = types.SymbolKind


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Outline:
    def __init__(self, view: View) -> None:
        self.view = view
        self.doc: Document = view.doc

    def whole(self) -> Span:
        lines = self.doc.lines
        last = len(lines) - 1
        return Span(0, 0, max(last, 0), len(lines[last]) if lines else 0)

    def node(self, path: DataPath, *, with_key: bool = False) -> Span | None:
        """The span of the value at `path` (from its key with `with_key`), ending on its last character."""
        found = self.doc.locator.find(path)
        if found.depth != len(path) or found.value is None:
            return None
        span = node_span(found.value).shifted(found.offset)
        end_line, end_col = content_end(self.doc.lines, found.value, found.offset)
        start_line, start_col = span.start_line, span.start_col
        if with_key and found.key is not None:
            key = node_span(found.key).shifted(found.offset)
            start_line, start_col = key.start_line, key.start_col
        return Span(start_line, start_col, end_line, end_col)

    def symbol(
        self,
        name: str,
        kind: types.SymbolKind,
        path: DataPath,
        name_path: DataPath | None,
        detail: str | None = None,
        children: list[types.DocumentSymbol] | None = None,
        *,
        whole: bool = False,
    ) -> types.DocumentSymbol | None:
        """A symbol for the value at `path`, selected at the scalar at `name_path` (its key when equal)."""
        keyed = name_path == path
        span = self.whole() if whole else self.node(path, with_key=keyed)
        if span is None:
            return None
        selection = Span(span.start_line, span.start_col, span.start_line, span.start_col)
        if name_path is not None:
            found = scalar_span(self.doc, name_path, key=keyed)
            if found is not None and span.contains(found[0].start_line, found[0].start_col):
                selection = found[0]
        return types.DocumentSymbol(
            name=name or "?",
            kind=kind,
            range=self.view.range(span),
            selection_range=self.view.range(selection),
            detail=detail,
            children=[c for c in children or [] if c is not None] or None,
        )

    def build(self) -> list[types.DocumentSymbol]:
        data = self.doc.data
        if not isinstance(data, dict):
            return []
        handler = getattr(self, f"_{self.doc.kind}", None)
        found = handler(data) if handler is not None else None
        return [s for s in (found if isinstance(found, list) else [found]) if s is not None]

    # -- kinds ---------------------------------------------------------------------------------
    def _pipeline(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        inputs = [
            self.symbol(
                str(name), K.Variable, ("inputs", name), ("inputs", name), _text(_dict(spec).get("type"))
            )
            for name, spec in _dict(data.get("inputs")).items()
        ]
        steps = []
        for i, step in enumerate(_list(data.get("steps"))):
            step = _dict(step)
            detail = next(
                (f"{k}: {step[k]}" for k in ("agent", "run", "uses") if isinstance(step.get(k), str)), None
            )
            name = _text(step.get("id")) or f"step {i + 1}"
            steps.append(self.symbol(name, K.Function, ("steps", i), ("steps", i, "id"), detail))
        children = [s for s in inputs if s is not None] + [s for s in steps if s is not None]
        name = _text(data.get("name")) or self.view.rel
        return self.symbol(
            name, K.Module, (), ("name",), _text(data.get("description")), children, whole=True
        )

    def _agent_symbol(
        self, agent: dict[str, Any], base: DataPath, *, whole: bool
    ) -> types.DocumentSymbol | None:
        name = _text(agent.get("name")) or "agent"
        detail = " · ".join(x for x in (_text(agent.get("role")), _text(agent.get("prompt"))) if x) or None
        return self.symbol(name, K.Class, base, (*base, "name"), detail, whole=whole)

    def _agent(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        return self._agent_symbol(data, (), whole=True)

    def _prompt(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        name = f"{data.get('name', '?')}@{data.get('version', '?')}"
        return self.symbol(name, K.Interface, (), ("name",), _text(data.get("description")), whole=True)

    def _project(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        models = _dict(data.get("models"))
        profiles = [
            self.symbol(
                str(name),
                K.Property,
                ("models", "profiles", name),
                ("models", "profiles", name),
                _text(_dict(p).get("provider")),
            )
            for name, p in _dict(models.get("profiles")).items()
        ]
        agents = [
            self._agent_symbol(a, ("agents", i), whole=False)
            for i, a in enumerate(_list(data.get("agents")))
            if isinstance(a, dict)
        ]
        children = [s for s in profiles + agents if s is not None]
        name = _text(data.get("name")) or "project"
        return self.symbol(
            name, K.Package, (), ("name",), _text(data.get("description")), children, whole=True
        )

    def _policy(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        agents = [
            self.symbol(
                str(name),
                K.Key,
                ("agents", name),
                ("agents", name),
                ", ".join(str(t) for t in _list(_dict(entry).get("tools"))) or None,
            )
            for name, entry in _dict(data.get("agents")).items()
        ]
        detail = f"default: {data.get('default', 'deny')}"
        return self.symbol("policy", K.Namespace, (), None, detail, [s for s in agents if s], whole=True)

    def _scenario(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        name = _text(data.get("name")) or "scenario"
        detail = f"pipeline {data['pipeline']}" if _text(data.get("pipeline")) else None
        return self.symbol(name, K.Event, (), ("name",), detail, whole=True)

    def _eval(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        cases = [
            self.symbol(
                _text(_dict(c).get("name")) or f"case {i + 1}", K.Method, ("cases", i), ("cases", i, "name")
            )
            for i, c in enumerate(_list(data.get("cases")))
        ]
        name = _text(data.get("name")) or "eval"
        detail = f"prompt {data['prompt']}" if _text(data.get("prompt")) else None
        return self.symbol(name, K.Event, (), ("name",), detail, [c for c in cases if c], whole=True)

    def _context(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        name = _text(data.get("id")) or "context"
        return self.symbol(name, K.Object, (), ("id",), _text(data.get("description")), whole=True)

    def _desk(self, data: dict[str, Any]) -> types.DocumentSymbol | None:
        params = [
            self.symbol(
                str(n), K.TypeParameter, ("parameters", n), ("parameters", n), _text(_dict(p).get("type"))
            )
            for n, p in _dict(data.get("parameters")).items()
        ]
        name = _text(data.get("name")) or "desk"
        return self.symbol(
            name, K.Package, (), ("name",), _text(data.get("version")), [p for p in params if p], whole=True
        )


def document_symbols(view: View) -> list[types.DocumentSymbol]:
    return Outline(view).build()


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def on_symbols(
        ls: BuilderOSServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        return await in_view(ls, params.text_document.uri, document_symbols, [], "documentSymbol")
