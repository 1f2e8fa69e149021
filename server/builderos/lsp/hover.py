"""Hover: what a key means (from the models), and what a reference points at (from the index).

A reference's hover answers the question one would otherwise open another file for: an agent's
role, prompt and tools; which version a prompt range resolves to and what changed in it; what an
action takes and returns; what kind of step a `needs` entry or `steps.<id>` names.
"""

from __future__ import annotations

import re
import types as pytypes
import typing
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from pydantic import BaseModel

from builderos.catalog import ACTIONS, TOOLS
from builderos.diagnostics import Span
from builderos.lsp.completion import field_at, field_doc, literal_values, step_outputs
from builderos.lsp.lazy import is_model, kind_models
from builderos.lsp.navigation import Occurrence, View, all_occurrences, in_view, occurrence_at
from builderos.lsp.server import BuilderOSServer
from builderos.prompts.refs import parse_prompt_ref, resolve, sort_versions
from builderos.workspace.cursor import cursor_at, text_context
from builderos.workspace.document import Document

_KEY_LINE = re.compile(r"^[ \t]*(?:-[ \t]+)*([A-Za-z_][\w.-]*)[ \t]*:(?=\s|$)")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _code(items: Any) -> str:
    return ", ".join(f"`{i}`" for i in items) if items else "none"


# -- references --------------------------------------------------------------------------------


def agent_summary(view: View, name: str) -> str | None:
    refs = view.ws.symbols.agents.get(name)
    if not refs:
        return None
    data = refs[0].data
    head = f"**agent `{name}`**"
    role = _text(data.get("role"))
    lines = [f"{head} — {role}" if role else head]
    if _text(data.get("description")):
        lines.append(str(data["description"]))
    facts: list[str] = []
    prompt = _text(data.get("prompt"))
    if prompt is not None:
        version = resolve(view.ws.symbols, parse_prompt_ref(prompt))
        facts.append(
            f"- prompt: `{prompt}`" + (f" → {version.version}" if version is not None else " (unresolved)")
        )
    model = _text(data.get("model")) or view.ws.symbols.default_profile
    if model is not None:
        facts.append(f"- model: `{model}`" + ("" if _text(data.get("model")) else " (the default)"))
    tools = data.get("tools")
    facts.append(
        f"- tools: {_code([t for t in tools if isinstance(t, str)] if isinstance(tools, list) else [])}"
    )
    lines.append("\n".join(facts))
    lines.append(f"Defined in `{refs[0].path}`")
    return "\n\n".join(lines)


def prompt_summary(view: View, name: str, rng: str) -> str:
    symbols = view.ws.symbols
    versions = symbols.prompts.get(name)
    if not versions:
        return f"**prompt `{name}`** — unknown prompt"
    found = resolve(symbols, parse_prompt_ref(f"{name}@{rng}"))
    listed = ", ".join(sort_versions([v.version for v in versions]))
    if found is None:
        return f"**prompt `{name}@{rng}`** — no version satisfies `{rng}`\n\nAvailable: {listed}"
    data = found.ref.data
    lines = [f"**prompt `{name}@{rng}`** → version **{found.version}** (`{found.ref.path}`)"]
    if _text(data.get("description")):
        lines.append(str(data["description"]))
    log = data.get("changelog")
    notes = next(
        (
            _text(e.get("notes"))
            for e in (log if isinstance(log, list) else [])
            if isinstance(e, dict) and str(e.get("version")) == found.version
        ),
        None,
    )
    lines.append(
        f"Changelog {found.version}: {notes}" if notes else f"No changelog entry for {found.version}"
    )
    inputs = data.get("inputs")
    output = data.get("output")
    fmt = output.get("format", "text") if isinstance(output, dict) else "text"
    lines.append(f"Inputs: {_code(inputs if isinstance(inputs, list) else [])} · output: {fmt}")
    lines.append(f"Versions: {listed}")
    return "\n\n".join(lines)


def action_summary(name: str) -> str | None:
    spec = ACTIONS.get(name)
    if spec is None:
        return None
    params = "\n".join(
        f"- `{p}`{' (required)' if p in spec.required else ''} — {what}" for p, what in spec.params.items()
    )
    outputs = "\n".join(f"- `{o}` — {what}" for o, what in spec.outputs.items())
    head = f"**action `{name}`** — {spec.summary}"
    return f"{head}\n\nParameters:\n{params or '- none'}\n\nOutputs:\n{outputs or '- none'}"


def tool_summary(name: str) -> str:
    spec = TOOLS.get(name)
    if spec is None:
        return action_summary(name) or f"**tool `{name}`**"
    return f"**tool `{name}`** — {spec.summary}\n\nNeeds the `{spec.permission}` permission of the policy"


def _pipeline_steps(view: View, scope: str) -> list[dict[str, Any]]:
    doc = view.doc_of(scope)
    steps = doc.data.get("steps") if doc is not None and isinstance(doc.data, dict) else None
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def step_summary(view: View, name: str, scope: str) -> str:
    step = next((s for s in _pipeline_steps(view, scope) if s.get("id") == name), None)
    if step is None:
        return f"**step `{name}`** — not a step of `{scope or 'this pipeline'}`"
    if isinstance(step.get("agent"), str):
        what = f"agent step: `{step['agent']}`"
    elif isinstance(step.get("run"), str):
        what = f"command step: `{step['run']}`"
    elif isinstance(step.get("uses"), str):
        what = f"action step: `{step['uses']}`"
    else:
        what = "a step with no agent:, run: or uses:"
    lines = [f"**step `{name}`** — {what}"]
    if _text(step.get("description")) or _text(step.get("name")):
        lines.append(str(step.get("description") or step.get("name")))
    needs = step.get("needs")
    needs_list = [needs] if isinstance(needs, str) else needs if isinstance(needs, list) else []
    lines.append(f"Needs: {_code(needs_list)} · outputs: {_code(list(step_outputs(step)))}")
    return "\n\n".join(lines)


def output_summary(view: View, name: str, scope: str) -> str:
    step_id, _, output = name.partition(".")
    step = next((s for s in _pipeline_steps(view, scope) if s.get("id") == step_id), None)
    outputs = step_outputs(step) if step is not None else {}
    what = outputs.get(output)
    if what is None:
        return f"**output `{output}` of step `{step_id}`** — unknown output; outputs: {_code(list(outputs))}"
    return f"**output `{output}` of step `{step_id}`** — {what}"


def reference_hover(view: View, occ: Occurrence) -> str | None:
    """A summary of what an occurrence names."""
    target = occ.target
    symbols = view.ws.symbols
    if target.kind == "agent":
        return agent_summary(view, target.name) or f"**agent `{target.name}`** — unknown agent"
    if target.kind == "prompt":
        if occ.decl:
            return prompt_summary(view, target.name, str(_doc_value(view, occ, "version") or "latest"))
        return prompt_summary(view, target.name, occ.extra)
    if target.kind == "action":
        return action_summary(target.name)
    if target.kind == "tool":
        return tool_summary(target.name)
    if target.kind == "step":
        return step_summary(view, target.name, target.scope)
    if target.kind == "output":
        return output_summary(view, target.name, target.scope)
    if target.kind == "profile":
        ref = symbols.profiles.get(target.name)
        if ref is None:
            return f"**model profile `{target.name}`** — unknown profile"
        facts = ", ".join(f"{k} `{v}`" for k, v in ref.data.items() if k in ("provider", "model", "base_url"))
        return f"**model profile `{target.name}`** — {facts}\n\nDefined in `{ref.path}`"
    if target.kind == "context_pack":
        pack = symbols.context_packs.get(target.name)
        if pack is None:
            return f"**context pack `{target.name}`** — unknown context pack"
        desc = _text(pack.data.get("description"))
        head = f"**context pack `{target.name}`** (version {pack.data.get('version', '?')})"
        return f"{head}{' — ' + desc if desc else ''}\n\nDefined in `{pack.path}`"
    if target.kind == "pipeline":
        refs = symbols.pipelines.get(target.name)
        if not refs:
            return f"**pipeline `{target.name}`** — unknown pipeline"
        data = refs[0].data
        steps = data.get("steps")
        inputs = data.get("inputs")
        desc = _text(data.get("description"))
        count = len(steps) if isinstance(steps, list) else 0
        return (
            f"**pipeline `{target.name}`**{' — ' + desc if desc else ''}\n\n"
            f"{count} steps · inputs: {_code(list(inputs) if isinstance(inputs, dict) else [])}\n\n"
            f"Defined in `{refs[0].path}`"
        )
    if target.kind == "input":
        decl = next((o for o in all_occurrences(view, target) if o.decl), None)
        doc = view.doc_of(target.scope)
        inputs = doc.data.get("inputs") if doc is not None and isinstance(doc.data, dict) else None
        spec = inputs.get(target.name) if isinstance(inputs, dict) else None
        if decl is None or not isinstance(spec, dict):
            return f"**input `{target.name}`** — not an input of the pipeline"
        required = ", required" if spec.get("required") else ""
        desc = _text(spec.get("description"))
        head = f"**input `{target.name}`** — {spec.get('type', 'string')}{required}"
        return f"{head} — {desc}" if desc else head
    return None


def _doc_value(view: View, occ: Occurrence, key: str) -> Any:
    doc = view.doc_of(occ.rel)
    return doc.data.get(key) if doc is not None and isinstance(doc.data, dict) else None


# -- keys --------------------------------------------------------------------------------------


def type_label(tp: Any) -> str:
    """A readable type: `list of text`, `one of a, b`, `Retries`."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is typing.Annotated:
        return type_label(args[0])
    if origin in (typing.Union, pytypes.UnionType):
        labels: list[str] = []
        for arg in args:
            if arg is type(None):
                continue
            label = type_label(arg)
            if label not in labels:
                labels.append(label)
        return " or ".join(labels)
    if origin is list:
        return f"list of {type_label(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of name → {type_label(args[1])}" if len(args) == 2 else "mapping"
    names = {str: "text", int: "integer", float: "number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if is_model(tp):
        return str(tp.__name__)
    return "any value"


def key_hover(root: type[BaseModel], path: tuple[str | int, ...]) -> str | None:
    f = field_at(root, path)
    if f is None:
        return None
    key = str(path[-1])
    required = " (required)" if f.is_required() else ""
    lines = [f"**{key}**{required} — {type_label(f.annotation)}"]
    doc = field_doc(f)
    if doc:
        lines.append(doc)
    values = literal_values(f.annotation)
    if values and len(values) > 2:
        lines.append("Values: " + ", ".join(f"`{v}`" for v in values))
    return "\n\n".join(lines)


def _key_at(doc: Document, line: int, col: int) -> tuple[tuple[str | int, ...], Span] | None:
    """The key under the cursor: from the node tree, or from the text when the file does not parse."""
    cursor = cursor_at(doc, line, col)
    if cursor is not None:
        if not cursor.on_key:
            return None
        node = cursor.node
        span = Span(
            node.start_mark.line + cursor.offset,
            node.start_mark.column,
            node.end_mark.line + cursor.offset,
            node.end_mark.column,
        )
        return cursor.path, span
    if doc.loaded.root is not None and doc.loaded.ok:
        return None
    text = doc.lines[line] if 0 <= line < len(doc.lines) else ""
    m = _KEY_LINE.match(text)
    if m is None or not m.start(1) <= col <= m.end(1):
        return None
    tc = text_context(doc.lines, line, m.end(1) + 1)
    return tc.path, Span(line, m.start(1), line, m.end(1))


def hover(view: View, position: types.Position) -> types.Hover | None:
    line, col = view.position(position)
    occ = occurrence_at(view, line, col)
    if occ is not None:
        text = reference_hover(view, occ)
        if text:
            return _hover(view, text, occ.span)
    root = kind_models().get(view.doc.kind or "")
    found = _key_at(view.doc, line, col)
    if root is None or found is None:
        return None
    path, span = found
    text = key_hover(root, path)
    return _hover(view, text, span) if text else None


def _hover(view: View, text: str, span: Span) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=view.range(span)
    )


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: BuilderOSServer, params: types.HoverParams) -> types.Hover | None:
        return await in_view(ls, params.text_document.uri, lambda v: hover(v, params.position), None, "hover")
