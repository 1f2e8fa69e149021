"""Go to definition, find references and rename, over one model of "what names what" in every file.

Every feature that asks "what is under the cursor" (hover, definition, references, rename) reads the
same list of occurrences: a name, what kind of thing it names (agent, prompt, step, profile …), the
file and the exact range of the name. Collecting them from the parsed data and the node tree keeps
the answers consistent with the validator, which checks the same places.

Requests read the index on the index thread (`ls.on_worker`), so they never race a reload, and they
see the editor's current text of their own file even before the debounced re-index has run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from builderos.catalog import ACTIONS, TOOLS
from builderos.diagnostics import Span
from builderos.lsp.lazy import check_text, pipeline_roots
from builderos.lsp.positions import from_position, to_range
from builderos.lsp.server import BuilderOSServer
from builderos.prompts.refs import parse_prompt_ref, resolve
from builderos.validate.report import Report
from builderos.workspace.document import Document, parse_document
from builderos.workspace.index import Workspace
from builderos.workspace.kinds import kind_of
from builderos.workspace.yamlload import node_span

log = logging.getLogger("builderos.lsp")
T = TypeVar("T")
DataPath = tuple[str | int, ...]

#: Keys of a step whose strings may hold `${{ }}` (the ones the validator checks).
EXPRESSION_KEYS = ("with", "if", "env", "run", "timeout")
#: What a renamed step id or agent name may look like (step ids must stay valid in expressions).
STEP_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
AGENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
RENAMABLE = ("step", "agent")


class RequestFailed(JsonRpcException):
    """A request the server understood but cannot do here; the editor shows the message as is."""

    CODE = int(types.LSPErrorCodes.RequestFailed)
    MESSAGE = "request failed"


# -- the view of a request ---------------------------------------------------------------------


@dataclass(slots=True)
class View:
    """What a request sees: the index, and its own file as the editor has it right now."""

    ls: BuilderOSServer
    ws: Workspace
    uri: str
    rel: str
    doc: Document
    encoding: str

    def doc_of(self, rel: str) -> Document | None:
        if rel == self.rel:
            return self.doc
        return self.ws.docs.get(rel) or self.ws.snapshots.get(rel)

    def documents(self) -> Iterator[tuple[str, Document]]:
        """Every indexed file, with this request's file as the editor has it."""
        seen = False
        for rel, doc in sorted(self.ws.docs.items()):
            if rel == self.rel:
                seen = True
                yield rel, self.doc
            else:
                yield rel, doc
        if not seen:
            yield self.rel, self.doc

    def position(self, position: types.Position) -> tuple[int, int]:
        """The client's position as (line, code-point column) in this file."""
        return from_position(self.doc, position, self.encoding)

    def range(self, span: Span, doc: Document | None = None) -> types.Range:
        return to_range(doc or self.doc, span, self.encoding)

    def uri_of(self, rel: str) -> str:
        return self.uri if rel == self.rel else self.ls.uri_of(rel)

    def location(self, rel: str, span: Span) -> types.Location | None:
        doc = self.doc_of(rel)
        if doc is None:
            return None
        return types.Location(uri=self.uri_of(rel), range=self.range(span, doc))


def _make_view(ls: BuilderOSServer, uri: str, text: str | None, encoding: str) -> View | None:
    ws = ls.index
    rel = ls.rel_of(uri)
    if ws is None or rel is None:
        return None
    doc = ws.docs.get(rel)
    if text is not None and (doc is None or doc.text != text):
        kind = kind_of(rel, text)
        if kind is None:
            return None
        doc = parse_document(rel, text, kind)
    if doc is None:
        return None
    return View(ls, ws, uri, rel, doc, encoding)


async def in_view(ls: BuilderOSServer, uri: str, fn: Callable[[View], T], default: T, feature: str) -> T:
    """Run `fn` on the index thread with a view of `uri`; internal errors are logged, not fatal.

    A JsonRpcException is an answer (a clear refusal), so it reaches the client unchanged.
    """
    open_doc = ls.workspace.text_documents.get(uri)
    text = open_doc.source if open_doc is not None else None
    encoding = ls.encoding

    def work() -> T:
        view = _make_view(ls, uri, text, encoding)
        return default if view is None else fn(view)

    try:
        return await ls.on_worker(work)
    except JsonRpcException:
        raise
    except Exception:
        log.exception("%s failed for %s", feature, uri)
        return default


# -- occurrences -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A named thing: kind (agent, prompt, step, input, output, profile, context_pack, pipeline,
    scenario, eval, action, tool) and name; steps and inputs are scoped to their pipeline file."""

    kind: str
    name: str
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Where a file names a target. `exact` says the span holds exactly the name (safe to rename);
    `extra` carries the version range of a prompt reference."""

    target: Target
    rel: str
    span: Span
    decl: bool = False
    exact: bool = True
    extra: str = ""
    path: DataPath = ()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def scalar_span(doc: Document, path: DataPath, *, key: bool = False) -> tuple[Span, bool] | None:
    """The range of the text of a scalar (quotes excluded) and whether it is exactly its value."""
    found = doc.locator.find(path)
    if found.depth != len(path):
        return None
    node = found.key if key else found.value
    if not isinstance(node, yaml.ScalarNode):
        return None
    span = node_span(node).shifted(found.offset)
    if span.start_line != span.end_line:
        return span, False
    if node.style in ("'", '"') and span.end_col - span.start_col >= 2:
        span = Span(span.start_line, span.start_col + 1, span.end_line, span.end_col - 1)
    lines = doc.lines
    text = lines[span.start_line][span.start_col : span.end_col] if span.start_line < len(lines) else ""
    return span, text == node.value


def content_end(lines: list[str], node: yaml.Node, offset: int = 0) -> tuple[int, int]:
    """Where a node's text really ends: a block node's end mark is where the next one starts."""
    start_line = node.start_mark.line + offset
    end_line, end_col = node.end_mark.line + offset, node.end_mark.column
    if end_line >= len(lines):
        end_line = len(lines) - 1
        end_col = len(lines[end_line]) if end_line >= 0 else 0
    while end_line > start_line and not lines[end_line][:end_col].strip(" -"):
        end_line -= 1
        end_col = len(lines[end_line].rstrip())
    return end_line, end_col


class _Collector:
    """Builds the occurrences of one document."""

    def __init__(self, ws: Workspace, rel: str, doc: Document, line: int | None, name: str | None) -> None:
        self.ws = ws
        self.rel = rel
        self.doc = doc
        self.line = line
        self.name = name
        self.out: list[Occurrence] = []

    def skip_step(self, i: int, step: dict[str, Any]) -> bool:
        """Steps that cannot hold what is asked for (a 5,000-step pipeline must stay fast)."""
        if self.name is not None:
            texts = self.doc.step_texts
            text = texts[i] if texts is not None and i < len(texts) else repr(step)
            if self.name not in text:
                return True
        if self.line is not None:
            found = self.doc.locator.find(("steps", i))
            if found.value is None:
                return True
            start = found.value.start_mark.line + found.offset
            end = found.value.end_mark.line + found.offset
            return not start <= self.line <= end
        return False

    def value(self, kind: str, name: Any, path: DataPath, *, scope: str = "", decl: bool = False) -> None:
        if not isinstance(name, str) or not name:
            return
        found = scalar_span(self.doc, path)
        if found is not None:
            span, exact = found
            self.out.append(Occurrence(Target(kind, name, scope), self.rel, span, decl, exact, path=path))

    def key(self, kind: str, name: Any, path: DataPath, *, scope: str = "", decl: bool = False) -> None:
        if not isinstance(name, str) or not name:
            return
        found = scalar_span(self.doc, path, key=True)
        if found is not None:
            span, exact = found
            self.out.append(Occurrence(Target(kind, name, scope), self.rel, span, decl, exact, path=path))

    def prompt(self, text: Any, path: DataPath) -> None:
        if not isinstance(text, str) or not text:
            return
        found = scalar_span(self.doc, path)
        if found is not None:
            ref = parse_prompt_ref(text)
            self.out.append(
                Occurrence(Target("prompt", ref.name), self.rel, found[0], False, False, ref.range, path)
            )

    def tool(self, name: Any, path: DataPath, *, key: bool = False) -> None:
        if isinstance(name, str):
            kind = "tool" if name in TOOLS or name.startswith("mcp.") else "action"
            (self.key if key else self.value)(kind, name, path)

    def agent(self, agent: dict[str, Any], base: DataPath) -> None:
        self.value("agent", agent.get("name"), (*base, "name"), decl=True)
        self.prompt(agent.get("prompt"), (*base, "prompt"))
        self.value("profile", agent.get("model"), (*base, "model"))
        for i, tool in enumerate(_list(agent.get("tools"))):
            self.tool(tool, (*base, "tools", i))
        for i, pack in enumerate(_list(agent.get("context_packs"))):
            self.value("context_pack", pack, (*base, "context_packs", i))

    def expressions(self, value: Any, path: DataPath, scope: str, *, condition: bool = False) -> None:
        """`steps.<id>` and `inputs.<name>` (and outputs) read by the `${{ }}` inside a value."""
        if isinstance(value, dict):
            for k, v in value.items():
                self.expressions(v, (*path, k), scope)
            return
        if isinstance(value, list):
            for i, v in enumerate(value):
                self.expressions(v, (*path, i), scope)
            return
        if not isinstance(value, str) or ("${{" not in value and not condition):
            return
        check = check_text(value, pipeline_roots(), condition=condition)
        report = Report(None, self.doc)
        for ref in check.references:
            if ref.root not in ("steps", "inputs") or not ref.parts or not isinstance(ref.parts[0], str):
                continue
            kind = "step" if ref.root == "steps" else "input"
            self._sub(report, path, value, Target(kind, ref.parts[0], scope), ref.part_spans[0])
            if kind == "step" and len(ref.parts) >= 3 and ref.parts[1] == "outputs":
                name = ref.parts[2]
                if isinstance(name, str):
                    target = Target("output", f"{ref.parts[0]}.{name}", scope)
                    self._sub(report, path, value, target, ref.part_spans[2])

    def _sub(self, report: Report, path: DataPath, text: str, target: Target, where: tuple[int, int]) -> None:
        start, end = where
        raw = text[start:end]
        if len(raw) >= 2 and raw[0] in "'\"" and raw[-1] == raw[0]:
            start, end = start + 1, end - 1
        span = report.scalar_offset_span(path, start, end)
        lines = self.doc.lines
        name = target.name.rsplit(".", 1)[-1] if target.kind == "output" else target.name
        exact = (
            span.start_line == span.end_line
            and span.start_line < len(lines)
            and lines[span.start_line][span.start_col : span.end_col] == name
        )
        if exact:
            self.out.append(Occurrence(target, self.rel, span, False, True, path=path))

    # -- per kind ------------------------------------------------------------------------------
    def collect(self) -> list[Occurrence]:
        data = self.doc.data
        if not isinstance(data, dict):
            return self.out
        handler = getattr(self, f"_kind_{self.doc.kind}", None)
        if handler is not None:
            handler(data)
        return self.out

    def _kind_agent(self, data: dict[str, Any]) -> None:
        self.agent(data, ())

    def _kind_project(self, data: dict[str, Any]) -> None:
        models = _dict(data.get("models"))
        for name in _dict(models.get("profiles")):
            self.key("profile", name, ("models", "profiles", name), decl=True)
        self.value("profile", models.get("default"), ("models", "default"))
        for i, pack in enumerate(_list(data.get("context_packs"))):
            self.value("context_pack", pack, ("context_packs", i))
        for i, agent in enumerate(_list(data.get("agents"))):
            if isinstance(agent, dict):
                self.agent(agent, ("agents", i))

    def _kind_policy(self, data: dict[str, Any]) -> None:
        for name, entry in _dict(data.get("agents")).items():
            self.key("agent", name, ("agents", name))
            for i, tool in enumerate(_list(_dict(entry).get("tools"))):
                if isinstance(tool, str) and "*" not in tool:
                    self.tool(tool, ("agents", name, "tools", i))
        rule_lists: list[tuple[DataPath, Any]] = [(("approvals",), data.get("approvals"))]
        for env, entry in _dict(data.get("envs")).items():
            rule_lists.append((("envs", env, "approvals"), _dict(entry).get("approvals")))
        for base, rules in rule_lists:
            for i, rule in enumerate(_list(rules)):
                action = _dict(rule).get("action")
                if isinstance(action, str) and (action in TOOLS or action in ACTIONS):
                    self.tool(action, (*base, i, "action"))

    def _kind_prompt(self, data: dict[str, Any]) -> None:
        self.value("prompt", data.get("name"), ("name",), decl=True)

    def _kind_context(self, data: dict[str, Any]) -> None:
        self.value("context_pack", data.get("id"), ("id",), decl=True)

    def _kind_eval(self, data: dict[str, Any]) -> None:
        self.value("eval", data.get("name"), ("name",), decl=True)
        self.prompt(data.get("prompt"), ("prompt",))
        self.value("profile", data.get("model"), ("model",))

    def _kind_scenario(self, data: dict[str, Any]) -> None:
        self.value("scenario", data.get("name"), ("name",), decl=True)
        pipeline = data.get("pipeline")
        self.value("pipeline", pipeline, ("pipeline",))
        refs = self.ws.symbols.pipelines.get(pipeline) if isinstance(pipeline, str) else None
        scope = refs[0].path if refs else ""
        for name in _dict(data.get("inputs")):
            self.key("input", name, ("inputs", name), scope=scope)
        stubs = _dict(data.get("stubs"))
        for i, stub in enumerate(_list(stubs.get("llm"))):
            self.value("step", _dict(stub).get("step"), ("stubs", "llm", i, "step"), scope=scope)
            for j, call in enumerate(_list(_dict(stub).get("tool_calls"))):
                self.tool(_dict(call).get("tool"), ("stubs", "llm", i, "tool_calls", j, "tool"))
        for name in _dict(stubs.get("tools")):
            self.tool(name, ("stubs", "tools", name), key=True)
        for i, decision in enumerate(_list(stubs.get("approvals"))):
            self.value("step", _dict(decision).get("step"), ("stubs", "approvals", i, "step"), scope=scope)
        expect = _dict(data.get("expect"))
        for section in ("steps", "outputs"):
            for name in _dict(expect.get(section)):
                self.key("step", name, ("expect", section, name), scope=scope)

    def _kind_pipeline(self, data: dict[str, Any]) -> None:
        rel = self.rel
        self.value("pipeline", data.get("name"), ("name",), decl=True)
        for name in _dict(data.get("inputs")):
            self.key("input", name, ("inputs", name), scope=rel, decl=True)
        steps = _list(data.get("steps"))
        ids = {s["id"] for s in steps if isinstance(s, dict) and isinstance(s.get("id"), str)}
        for i, step in enumerate(steps):
            if not isinstance(step, dict) or self.skip_step(i, step):
                continue
            base: DataPath = ("steps", i)
            self.value("step", step.get("id"), (*base, "id"), scope=rel, decl=True)
            self.value("agent", step.get("agent"), (*base, "agent"))
            self.value("action", step.get("uses"), (*base, "uses"))
            needs = step.get("needs")
            if isinstance(needs, str):
                self.value("step", needs, (*base, "needs"), scope=rel)
            for j, need in enumerate(_list(needs)):
                self.value("step", need, (*base, "needs", j), scope=rel)
            on_failure = step.get("on_failure")
            if on_failure in ids:
                self.value("step", on_failure, (*base, "on_failure"), scope=rel)
            elif isinstance(on_failure, str) and on_failure in ACTIONS:
                self.value("action", on_failure, (*base, "on_failure"))
            for key in EXPRESSION_KEYS:
                if key in step:
                    self.expressions(step[key], (*base, key), rel, condition=key == "if")


def occurrences(
    ws: Workspace, rel: str, doc: Document, *, line: int | None = None, name: str | None = None
) -> list[Occurrence]:
    """Every name this document defines or refers to, with exact ranges.

    `line` and `name` only skip pipeline steps that cannot hold an answer (not on that line, or
    without that name in their text); everything else is always collected.
    """
    return _Collector(ws, rel, doc, line, name).collect()


def occurrence_at(view: View, line: int, col: int) -> Occurrence | None:
    """The innermost occurrence at a position of the view's file."""
    best: Occurrence | None = None
    for occ in occurrences(view.ws, view.rel, view.doc, line=line):
        if occ.span.contains(line, col) and (best is None or _size(occ.span) <= _size(best.span)):
            best = occ
    return best


def _size(span: Span) -> tuple[int, int]:
    return (span.end_line - span.start_line, span.end_col - span.start_col)


def all_occurrences(view: View, target: Target) -> list[Occurrence]:
    """Occurrences of `target` in every file (pipeline-scoped targets only where they can appear)."""
    out: list[Occurrence] = []
    name = target.name.split(".")[0]
    for rel, doc in view.documents():
        if name not in doc.text:
            continue
        if target.scope and rel != target.scope and doc.kind != "scenario":
            continue
        out.extend(o for o in occurrences(view.ws, rel, doc, name=name) if o.target == target)
    if target.kind == "prompt":
        for rel, doc in sorted(view.ws.snapshots.items()):
            out.extend(o for o in occurrences(view.ws, rel, doc, name=name) if o.target == target)
    return out


def declarations(view: View, occ: Occurrence) -> list[Occurrence]:
    """Where the target of an occurrence is defined; a prompt reference goes to its resolved version."""
    if occ.decl:
        return [occ]
    target = occ.target
    if target.kind in ("action", "tool"):
        return []
    if target.kind == "output":
        step = Target("step", target.name.split(".")[0], target.scope)
        return _output_declaration(view, step, target.name.split(".", 1)[1])
    found = [o for o in all_occurrences(view, target) if o.decl]
    if target.kind == "prompt":
        version = resolve(view.ws.symbols, parse_prompt_ref(f"{target.name}@{occ.extra}"))
        if version is None:
            return []
        found = [o for o in found if o.rel == version.ref.path]
    return found


def _output_declaration(view: View, step: Target, name: str) -> list[Occurrence]:
    """A declared output (`outputs: {text: …}`) of the step, else the step's id."""
    decls = [o for o in all_occurrences(view, step) if o.decl]
    out: list[Occurrence] = []
    for decl in decls:
        doc = view.doc_of(decl.rel)
        if doc is None:
            continue
        output_path = (*decl.path[:-1], "outputs", name)
        found = scalar_span(doc, output_path, key=True)
        if found is not None:
            out.append(
                Occurrence(Target("output", f"{step.name}.{name}", step.scope), decl.rel, found[0], True)
            )
        else:
            out.append(decl)
    return out


# -- rename ------------------------------------------------------------------------------------


def rename_target(view: View, line: int, col: int) -> Occurrence:
    """The step id or agent name at a position, or a clear refusal."""
    occ = occurrence_at(view, line, col)
    if occ is None or occ.target.kind not in RENAMABLE:
        noun = occ.target.kind.replace("_", " ") if occ is not None else ""
        what = f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}" if noun else "this position"
        raise RequestFailed(
            f"BuilderOS can rename step ids and agent names only, not {what}: "
            "put the cursor on a step's id, a needs entry, a steps.<id> in an expression, "
            "an agent's name or a step's agent"
        )
    if not occ.exact:
        raise RequestFailed(f"'{occ.target.name}' is written in a way BuilderOS cannot rename exactly here")
    if occ.target.kind == "step" and not occ.target.scope:
        raise RequestFailed(f"step '{occ.target.name}' belongs to no known pipeline, so it cannot be renamed")
    return occ


def rename_edits(view: View, occ: Occurrence, new_name: str) -> dict[str, list[types.TextEdit]]:
    """Every exact occurrence of the target, as edits per file URI."""
    target = occ.target
    pattern = STEP_ID if target.kind == "step" else AGENT_NAME
    if not pattern.fullmatch(new_name):
        rule = (
            "a letter or _ followed by letters, digits, _ or -"
            if target.kind == "step"
            else ("letters, digits, _, . or -")
        )
        raise RequestFailed(f"'{new_name}' is not a valid {target.kind} name: use {rule}")
    changes: dict[str, list[types.TextEdit]] = {}
    for found in all_occurrences(view, target):
        doc = view.doc_of(found.rel)
        if doc is None or not found.exact:
            continue
        edit = types.TextEdit(range=view.range(found.span, doc), new_text=new_name)
        changes.setdefault(view.uri_of(found.rel), []).append(edit)
    for edits in changes.values():
        edits.sort(key=lambda e: (e.range.start.line, e.range.start.character))
    return changes


# -- handlers ----------------------------------------------------------------------------------


def _locations(view: View, occs: list[Occurrence]) -> list[types.Location]:
    out: list[types.Location] = []
    seen: set[tuple[str, Span]] = set()
    for occ in occs:
        if (occ.rel, occ.span) in seen:
            continue
        seen.add((occ.rel, occ.span))
        location = view.location(occ.rel, occ.span)
        if location is not None:
            out.append(location)
    return out


def definition(view: View, position: types.Position) -> list[types.Location]:
    occ = occurrence_at(view, *view.position(position))
    if occ is None:
        return []
    return _locations(view, declarations(view, occ))


def references(view: View, position: types.Position, include_declaration: bool) -> list[types.Location]:
    occ = occurrence_at(view, *view.position(position))
    if occ is None or occ.target.kind == "output":
        return []
    found = all_occurrences(view, occ.target)
    if not include_declaration:
        found = [o for o in found if not o.decl]
    found.sort(key=lambda o: (o.rel, o.span.start_line, o.span.start_col))
    return _locations(view, found)


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def on_definition(ls: BuilderOSServer, params: types.DefinitionParams) -> list[types.Location]:
        uri = params.text_document.uri
        return await in_view(ls, uri, lambda v: definition(v, params.position), [], "definition")

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def on_references(ls: BuilderOSServer, params: types.ReferenceParams) -> list[types.Location]:
        uri, include = params.text_document.uri, params.context.include_declaration
        return await in_view(ls, uri, lambda v: references(v, params.position, include), [], "references")

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    async def on_prepare_rename(
        ls: BuilderOSServer, params: types.PrepareRenameParams
    ) -> types.PrepareRenamePlaceholder | None:
        def prepare(view: View) -> types.PrepareRenamePlaceholder:
            occ = rename_target(view, *view.position(params.position))
            return types.PrepareRenamePlaceholder(range=view.range(occ.span), placeholder=occ.target.name)

        return await in_view(ls, params.text_document.uri, prepare, None, "prepareRename")

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    async def on_rename(ls: BuilderOSServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        def rename(view: View) -> types.WorkspaceEdit:
            occ = rename_target(view, *view.position(params.position))
            return types.WorkspaceEdit(changes=rename_edits(view, occ, params.new_name))

        return await in_view(ls, params.text_document.uri, rename, None, "rename")
