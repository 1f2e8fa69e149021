"""Completion of keys, values, references and `${{ }}` paths, also while the file does not parse.

The position's context comes from the text (`text_context` for the block structure, a small scanner
for flow collections and expressions on the line), because the file being typed is usually broken.
What is offered comes from the models (keys, enum values) and from the index (agents, prompts,
profiles, steps …), the same names the validator accepts.
"""

from __future__ import annotations

import json
import re
import types as pytypes
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.capabilities import get_capability

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

from builderos.catalog import (
    ACTIONS,
    AGENT_OUTPUTS,
    EXTRA_APPROVAL_ACTIONS,
    RUN_FIELDS,
    RUN_OUTPUTS,
    STEP_FIELDS,
    TOOLS,
)
from builderos.diagnostics import Span
from builderos.lsp.lazy import expr_functions, kind_models, model_at
from builderos.lsp.navigation import View, content_end, in_view
from builderos.lsp.server import BuilderOSServer
from builderos.prompts.refs import parse_prompt_ref, resolve, sort_versions
from builderos.workspace.chunks import Split, split_pipeline
from builderos.workspace.cursor import text_context
from builderos.workspace.locate import Locator
from builderos.workspace.yamlload import load_yaml

Kind = types.CompletionItemKind
DataPath = tuple[str | int, ...]
#: After `key: `, `- `, `[`, `,`, `{`, a `.` of a path and the `@` of a prompt reference.
TRIGGERS = [".", " ", "@", "[", ",", "{"]

_LEAD = re.compile(r"[ \t]*(?:-(?:[ \t]+|$))*")
_KEY = re.compile(r"('[^']*'|\"[^\"]*\"|[^\s#:'\"\[\]{},][^:#]*?)[ \t]*:(?=[ \t]|$)")
_EXPR_TOKEN = re.compile(r"[A-Za-z0-9_.\-]*$")


# -- where the cursor is -----------------------------------------------------------------------


@dataclass(slots=True)
class Spot:
    """The data path at the cursor (list items as -1), whether a key is expected, and what is typed."""

    path: DataPath
    on_key: bool
    prefix: str


@dataclass(slots=True)
class _Frame:
    mapping: bool
    key: str | None = None


def _flow(text: str) -> tuple[list[str | int], bool, str] | None:
    """The path inside a flow collection typed so far (`{max: 2, backoff: ex`), or None outside one."""
    stack: list[_Frame] = []
    token = ""
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == quote:
                quote = None
            token += ch
        elif ch in "'\"" and not token.strip():
            quote = ch
            token = ch
        elif ch in "{[":
            stack.append(_Frame(ch == "{"))
            token = ""
        elif ch in "}]":
            if stack:
                stack.pop()
            token = ""
        elif ch == ",":
            if stack and stack[-1].mapping:
                stack[-1].key = None
            token = ""
        elif ch == ":" and stack and stack[-1].mapping and (i + 1 == len(text) or text[i + 1] in " \t"):
            stack[-1].key = token.strip().strip("'\"")
            token = ""
        else:
            token += ch
        i += 1
    if not stack:
        return None
    path: list[str | int] = []
    for frame in stack[:-1]:
        if frame.mapping and frame.key is not None:
            path.append(frame.key)
        elif not frame.mapping:
            path.append(-1)
    top = stack[-1]
    prefix = token.strip().lstrip("'\"")
    if not top.mapping:
        return [*path, -1], False, prefix
    if top.key is None:
        return path, True, prefix
    return [*path, top.key], False, prefix


def spot_at(lines: list[str], line: int, col: int) -> Spot:
    """The completion context at a position, judged from the text alone."""
    tc = text_context(lines, line, col)
    before = lines[line][:col] if 0 <= line < len(lines) else ""
    rest = before[_content_col(before) :]
    if not tc.on_key:
        m = _KEY.match(rest)
        rest = rest[m.end() :] if m is not None else rest
    inline = _flow(rest)
    if inline is not None:
        inner, on_key, prefix = inline
        return Spot((*tc.path, *inner), on_key, prefix)
    prefix = rest.strip().lstrip("'\"") if not tc.on_key else tc.prefix
    return Spot(tc.path, tc.on_key, prefix)


# -- models ------------------------------------------------------------------------------------


def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def field_at(root: type[BaseModel], path: DataPath) -> FieldInfo | None:
    """The model field a data path ends at (`("steps", -1, "retries")` → Step.retries)."""
    if not path or not isinstance(path[-1], str):
        return None
    owner = model_at(root, path[:-1])
    return _fields(owner).get(path[-1]) if owner is not None else None


def literal_values(tp: Any) -> list[str]:
    """The values of every Literal (and true/false for booleans) inside a type annotation."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    if tp is bool:
        return ["true", "false"]
    if origin in (typing.Annotated, typing.Union, pytypes.UnionType):
        args = typing.get_args(tp)[:1] if origin is typing.Annotated else typing.get_args(tp)
        out: list[str] = []
        for arg in args:
            out += [v for v in literal_values(arg) if v not in out]
        return out
    return []


def _list_item_values(tp: Any) -> list[str]:
    origin = typing.get_origin(tp)
    if origin is list:
        return literal_values(typing.get_args(tp)[0])
    if origin in (typing.Union, pytypes.UnionType, typing.Annotated):
        for arg in typing.get_args(tp):
            found = _list_item_values(arg)
            if found:
                return found
    return []


# -- what the current file holds, even half typed ----------------------------------------------


@dataclass(slots=True)
class StepEntry:
    id: str
    data: dict[str, Any]
    start: int
    end: int


@dataclass(slots=True)
class FileFacts:
    """Data of the file being typed: parsed as is, or with the cursor's line blanked, or scanned."""

    data: dict[str, Any] = field(default_factory=dict)
    steps: list[StepEntry] = field(default_factory=list)

    def current(self, line: int) -> StepEntry | None:
        return next((s for s in self.steps if s.start <= line <= s.end), None)


def file_facts(view: View, line: int) -> FileFacts:
    doc = view.doc
    if doc.loaded.ok and isinstance(doc.data, dict):
        return _facts(doc.data, doc.locator, doc.lines)
    lines = list(doc.lines)
    if 0 <= line < len(lines):
        lines[line] = ""
    loaded = load_yaml("\n".join(lines))
    if loaded.ok and isinstance(loaded.data, dict):
        return _facts(loaded.data, Locator(loaded.root), lines)
    if doc.kind == "pipeline":
        split = split_pipeline(doc.text)
        if split is not None:
            return _chunked(split)
    return _scan(doc.lines)


def _chunked(split: Split) -> FileFacts:
    """A pipeline whose steps parse one by one: a broken step costs only itself."""
    skeleton = load_yaml(split.skeleton)
    facts = FileFacts(dict(skeleton.data) if isinstance(skeleton.data, dict) else {})
    for chunk, start in split.chunks:
        loaded = load_yaml(chunk)
        items = loaded.data if loaded.ok and isinstance(loaded.data, list) and len(loaded.data) == 1 else None
        step = items[0] if items is not None and isinstance(items[0], dict) else None
        end = start + chunk.rstrip("\n").count("\n")
        if step is None:
            scanned = _scan(["steps:", *chunk.rstrip("\n").split("\n")]).steps
            step = scanned[0].data if scanned else None
        if step is not None and isinstance(step.get("id"), str):
            facts.steps.append(StepEntry(step["id"], step, start, end))
    facts.data["steps"] = [s.data for s in facts.steps]
    return facts


def _facts(data: dict[str, Any], locator: Locator, lines: list[str]) -> FileFacts:
    facts = FileFacts(data)
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            continue
        found = locator.find(("steps", i))
        if found.value is None:
            continue
        start = found.value.start_mark.line + found.offset
        facts.steps.append(
            StepEntry(step["id"], step, start, content_end(lines, found.value, found.offset)[0])
        )
    return facts


_ITEM = re.compile(r"^( *)- +(.*)$")
_SIMPLE = re.compile(r"^([A-Za-z_][\w-]*):[ \t]*([^#{\[]*?)[ \t]*(?:#.*)?$")


def _scan(lines: list[str]) -> FileFacts:
    """Steps and top-level scalars from the raw text, for files too broken to parse at all."""
    facts = FileFacts()
    in_steps = False
    item_indent = -1
    current: StepEntry | None = None
    for n, text in enumerate(lines):
        if text and not text[0].isspace() and not text.startswith(("-", "#")):
            in_steps = text.startswith("steps:")
            m = _SIMPLE.match(text)
            if m and m.group(2):
                facts.data[m.group(1)] = m.group(2).strip("'\"")
            current = None
            continue
        if not in_steps:
            continue
        item = _ITEM.match(text)
        if item is not None and (item_indent < 0 or len(item.group(1)) == item_indent):
            item_indent = len(item.group(1))
            current = StepEntry("", {}, n, n)
            facts.steps.append(current)
            body = item.group(2)
        elif current is not None and text.strip():
            body = text.strip()
            current.end = n
        else:
            continue
        m = _SIMPLE.match(body)
        if current is not None and m is not None and m.group(2):
            current.data.setdefault(m.group(1), m.group(2).strip("'\""))
            if m.group(1) == "id":
                current.id = m.group(2).strip("'\"")
    facts.steps = [s for s in facts.steps if s.id]
    facts.data["steps"] = [s.data for s in facts.steps]
    return facts


# -- items -------------------------------------------------------------------------------------


class Items:
    """Completion items that replace what is typed (`prefix`) at the cursor."""

    def __init__(self, view: View, line: int, col: int, prefix: str) -> None:
        start = max(col - len(prefix), 0)
        self.range = view.range(Span(line, start, line, col))
        self.items: list[types.CompletionItem] = []
        self.labels: set[str] = set()
        self.snippets = bool(
            get_capability(
                view.ls.client_capabilities, "text_document.completion.completion_item.snippet_support", False
            )
        )

    def add(
        self,
        label: str,
        kind: types.CompletionItemKind,
        detail: str | None = None,
        doc: str | None = None,
        *,
        insert: str | None = None,
        snippet: bool = False,
        sort: str | None = None,
    ) -> None:
        if label in self.labels:
            return
        self.labels.add(label)
        self.items.append(
            types.CompletionItem(
                label=label,
                kind=kind,
                detail=detail,
                documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=doc) if doc else None,
                text_edit=types.TextEdit(range=self.range, new_text=insert if insert is not None else label),
                insert_text_format=types.InsertTextFormat.Snippet
                if snippet and self.snippets
                else types.InsertTextFormat.PlainText,
                filter_text=label,
                sort_text=sort,
            )
        )


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def field_doc(f: FieldInfo) -> str:
    parts = [f.description or ""]
    if f.examples:
        parts.append("Examples: " + ", ".join(f"`{_show(e)}`" for e in f.examples))
    return "\n\n".join(p for p in parts if p)


def _key_items(items: Items, model: type[BaseModel], present: set[str]) -> None:
    for i, (key, f) in enumerate(_fields(model).items()):
        if key in present:
            continue
        required = " (required)" if f.is_required() else ""
        items.add(
            key,
            Kind.Property,
            f"{model.__name__}.{key}{required}",
            field_doc(f),
            insert=f"{key}: ",
            snippet=True,
            sort=f"{0 if f.is_required() else 1}{i:03d}",
        )


def _present_keys(lines: list[str], line: int) -> set[str]:
    """Keys already written in the block mapping of the cursor's line (same indentation, same item)."""
    text = lines[line] if 0 <= line < len(lines) else ""
    indent = _content_col(text)
    starts_item = "-" in text[:indent]
    found: set[str] = set()
    for step in (1,) if starts_item else (-1, 1):
        n = line + step
        while 0 <= n < len(lines):
            other = lines[n]
            stripped = other.lstrip(" ")
            n += step
            if not stripped or stripped.startswith("#"):
                continue
            col, spaces = _content_col(other), len(other) - len(stripped)
            if col < indent or (step > 0 and spaces < indent):
                break  # the parent, or the next item of the same list
            if col == indent:
                m = _KEY.match(other, col)
                if m is not None:
                    found.add(m.group(1).strip("'\""))
                if spaces < indent:
                    break  # the `- ` line that starts this item
    return found


def _content_col(text: str) -> int:
    m = _LEAD.match(text)
    return m.end() if m is not None else 0


# -- the completer -----------------------------------------------------------------------------


def _norm(path: DataPath) -> tuple[str | int, ...]:
    return tuple(-1 if isinstance(p, int) else p for p in path)


def _matches(pattern: tuple[str | int, ...], path: DataPath) -> bool:
    norm = _norm(path)
    return len(pattern) == len(norm) and all(p == "*" or p == q for p, q in zip(pattern, norm, strict=True))


#: Values that name other things: (file kind, data path with -1 for list items and * for names, source).
VALUE_SOURCES: tuple[tuple[str, tuple[str | int, ...], str], ...] = (
    ("pipeline", ("steps", -1, "agent"), "agents"),
    ("pipeline", ("steps", -1, "uses"), "actions"),
    ("pipeline", ("steps", -1, "needs", -1), "needs"),
    ("pipeline", ("steps", -1, "needs"), "needs"),
    ("pipeline", ("steps", -1, "on_failure"), "on_failure"),
    ("agent", ("prompt",), "prompts"),
    ("agent", ("model",), "profiles"),
    ("agent", ("tools", -1), "tools"),
    ("agent", ("context_packs", -1), "packs"),
    ("project", ("agents", -1, "prompt"), "prompts"),
    ("project", ("agents", -1, "model"), "profiles"),
    ("project", ("agents", -1, "tools", -1), "tools"),
    ("project", ("agents", -1, "context_packs", -1), "packs"),
    ("project", ("models", "default"), "profiles"),
    ("project", ("context_packs", -1), "packs"),
    ("prompt", ("model",), "profiles"),
    ("eval", ("prompt",), "prompt_versions"),
    ("eval", ("model",), "profiles"),
    ("policy", ("agents", "*", "tools", -1), "tools"),
    ("policy", ("approvals", -1, "action"), "approval_actions"),
    ("policy", ("envs", "*", "approvals", -1, "action"), "approval_actions"),
    ("scenario", ("pipeline",), "pipelines"),
    ("scenario", ("stubs", "llm", -1, "step"), "scenario_steps"),
    ("scenario", ("stubs", "approvals", -1, "step"), "scenario_steps"),
    ("scenario", ("stubs", "llm", -1, "tool_calls", -1, "tool"), "tools"),
)


class Completer:
    def __init__(self, view: View, line: int, col: int) -> None:
        self.view = view
        self.line = line
        self.col = col
        self.kind = view.doc.kind or ""
        self.symbols = view.ws.symbols
        self._facts: FileFacts | None = None

    @property
    def facts(self) -> FileFacts:
        if self._facts is None:
            self._facts = file_facts(self.view, self.line)
        return self._facts

    def run(self) -> list[types.CompletionItem]:
        lines = self.view.doc.lines
        before = lines[self.line][: self.col] if 0 <= self.line < len(lines) else ""
        start = before.rfind("${{")
        if start >= 0 and "}}" not in before[start:]:
            return self._expression(before[start + 3 :])
        spot = spot_at(lines, self.line, self.col)
        if (
            self.kind == "eval"
            and _matches(("cases", -1, "assert", -1, "value"), spot.path)
            and "expr" in before
        ):
            return self._expression(before)  # `expr` assertions are bare expressions
        items = Items(self.view, self.line, self.col, spot.prefix)
        root = kind_models().get(self.kind)
        if root is None or self.view.rel.endswith(".json"):
            return []  # context packs are JSON: YAML-shaped suggestions would not fit
        path = spot.path
        if spot.on_key and path and isinstance(path[-1], int) and model_at(root, path) is None:
            self._values(items, root, path)  # a block list item holding a scalar
        elif spot.on_key:
            self._keys(items, root, path)
        else:
            self._values(items, root, path)
        return items.items

    # -- keys ----------------------------------------------------------------------------------
    def _keys(self, items: Items, root: type[BaseModel], path: DataPath) -> None:
        present = _present_keys(self.view.doc.lines, self.line)
        items.labels |= present  # keys already written are not offered again
        if self._named_keys(items, path):
            return
        model = model_at(root, path)
        if model is not None:
            _key_items(items, model, present)

    def _named_keys(self, items: Items, path: DataPath) -> bool:
        """Mappings keyed by names of other things: policy agents, scenario steps, `with:` params."""
        if self.kind == "policy" and _matches(("agents",), path):
            self._agents(items)
        elif self.kind == "scenario" and (
            _matches(("expect", "steps"), path) or _matches(("expect", "outputs"), path)
        ):
            self._scenario_steps(items)
        elif self.kind == "scenario" and _matches(("stubs", "tools"), path):
            self._tools(items, actions=True)
        elif self.kind == "scenario" and _matches(("inputs",), path):
            self._pipeline_inputs(items, self._scenario_pipeline())
        elif self.kind == "pipeline" and _matches(("steps", -1, "with"), path):
            self._with_params(items)
        else:
            return False
        return True

    # -- values --------------------------------------------------------------------------------
    def _values(self, items: Items, root: type[BaseModel], path: DataPath) -> None:
        for kind, pattern, source in VALUE_SOURCES:
            if kind == self.kind and _matches(pattern, path):
                getattr(self, f"_source_{source}")(items)
                return
        self._enum(items, root, path)

    def _source_agents(self, items: Items) -> None:
        self._agents(items)

    def _source_actions(self, items: Items) -> None:
        self._actions(items)

    def _source_needs(self, items: Items) -> None:
        self._step_ids(items, needs=True)

    def _source_on_failure(self, items: Items) -> None:
        self._step_ids(items, needs=False)
        self._actions(items)

    def _source_prompts(self, items: Items) -> None:
        self._prompts(items, exact=False)

    def _source_prompt_versions(self, items: Items) -> None:
        self._prompts(items, exact=True)

    def _source_profiles(self, items: Items) -> None:
        self._profiles(items)

    def _source_tools(self, items: Items) -> None:
        self._tools(items, actions=False)

    def _source_packs(self, items: Items) -> None:
        self._packs(items)

    def _source_approval_actions(self, items: Items) -> None:
        self._tools(items, actions=True)
        for extra in EXTRA_APPROVAL_ACTIONS:
            items.add(extra, Kind.Keyword, "approval action")

    def _source_pipelines(self, items: Items) -> None:
        for name, refs in sorted(self.symbols.pipelines.items()):
            items.add(name, Kind.Module, refs[0].path, _text(refs[0].data.get("description")))

    def _source_scenario_steps(self, items: Items) -> None:
        self._scenario_steps(items)

    def _enum(self, items: Items, root: type[BaseModel], path: DataPath) -> None:
        if path and isinstance(path[-1], int):
            f = field_at(root, path[:-1])
            values = _list_item_values(f.annotation) if f is not None else []
        else:
            f = field_at(root, path)
            values = literal_values(f.annotation) if f is not None else []
        for i, value in enumerate(values):
            items.add(value, Kind.EnumMember, None, f.description if f is not None else None, sort=f"{i:03d}")

    # -- sources -------------------------------------------------------------------------------
    def _agents(self, items: Items) -> None:
        for name, refs in sorted(self.symbols.agents.items()):
            data = refs[0].data
            items.add(name, Kind.Class, _text(data.get("role")) or "agent", _text(data.get("description")))

    def _actions(self, items: Items) -> None:
        for name, spec in ACTIONS.items():
            items.add(name, Kind.Function, "built-in action", spec.summary)

    def _tools(self, items: Items, *, actions: bool) -> None:
        for name, tool in TOOLS.items():
            items.add(name, Kind.Function, f"tool ({tool.permission})", tool.summary)
        if actions:
            self._actions(items)
        for server in sorted(self.symbols.mcp_servers):
            items.add(
                f"mcp.{server}.", Kind.Module, "tools of an MCP server", f"Tools of the MCP server `{server}`"
            )

    def _packs(self, items: Items) -> None:
        for pack, ref in sorted(self.symbols.context_packs.items()):
            items.add(pack, Kind.Module, ref.path, _text(ref.data.get("description")))

    def _profiles(self, items: Items) -> None:
        for name, ref in sorted(self.symbols.profiles.items()):
            provider = _text(ref.data.get("provider")) or "?"
            model = _text(ref.data.get("model"))
            items.add(
                name, Kind.Value, f"{provider}{' · ' + model if model else ''}", f"Model profile `{name}`"
            )

    def _prompts(self, items: Items, *, exact: bool) -> None:
        for name, versions in sorted(self.symbols.prompts.items()):
            by_version = {v.version: v for v in versions}
            ordered = sort_versions(list(by_version))
            for i, version in enumerate(ordered):
                data = by_version[version].ref.data
                items.add(
                    f"{name}@{version}",
                    Kind.Reference,
                    _text(data.get("description")),
                    _changelog(data, version),
                    sort=f"{name}@0{i:03d}",
                )
            if exact:
                continue
            ranges: list[str] = []
            for version in ordered:
                major, minor = version.split(".")[:2]
                if f"^{major}.{minor}" not in ranges:
                    ranges.append(f"^{major}.{minor}")
            for i, rng in enumerate(ranges):
                best = resolve(self.symbols, parse_prompt_ref(f"{name}@{rng}"))
                detail = f"resolves to {best.version}" if best is not None else None
                items.add(f"{name}@{rng}", Kind.Reference, detail, None, sort=f"{name}@1{i:03d}")
            if ordered:
                items.add(
                    f"{name}@latest", Kind.Reference, f"resolves to {ordered[0]}", None, sort=f"{name}@2"
                )

    def _step_ids(self, items: Items, *, needs: bool) -> None:
        current = self.facts.current(self.line)
        listed: set[str] = set()
        if needs and current is not None:
            value = current.data.get("needs")
            listed = {n for n in value if isinstance(n, str)} if isinstance(value, list) else set()
        for i, step in enumerate(self.facts.steps):
            if current is not None and step.id == current.id:
                continue
            if step.id in listed:
                continue
            items.add(step.id, Kind.Function, _step_kind(step.data), None, sort=f"{i:04d}")

    def _scenario_pipeline(self) -> dict[str, Any]:
        name = self.facts.data.get("pipeline")
        refs = self.symbols.pipelines.get(name) if isinstance(name, str) else None
        return refs[0].data if refs else {}

    def _scenario_steps(self, items: Items) -> None:
        steps = self._scenario_pipeline().get("steps")
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                items.add(step["id"], Kind.Function, _step_kind(step), None, sort=f"{i:04d}")

    def _pipeline_inputs(self, items: Items, pipeline: dict[str, Any]) -> None:
        inputs = pipeline.get("inputs")
        for name, spec in (inputs if isinstance(inputs, dict) else {}).items():
            spec = spec if isinstance(spec, dict) else {}
            detail = f"{spec.get('type', 'string')}{', required' if spec.get('required') else ''}"
            items.add(str(name), Kind.Variable, detail, _text(spec.get("description")))

    def _with_params(self, items: Items) -> None:
        step = self.facts.current(self.line)
        if step is None:
            return
        uses, agent = step.data.get("uses"), step.data.get("agent")
        if isinstance(uses, str) and uses in ACTIONS:
            spec = ACTIONS[uses]
            for name, what in spec.params.items():
                required = " (required)" if name in spec.required else ""
                items.add(name, Kind.Property, f"{uses}{required}", what, insert=f"{name}: ", snippet=True)
        elif isinstance(agent, str) and agent in self.symbols.agents:
            prompt = self.symbols.agents[agent][0].data.get("prompt")
            version = resolve(self.symbols, parse_prompt_ref(prompt)) if isinstance(prompt, str) else None
            inputs = version.ref.data.get("inputs") if version is not None else None
            for name in inputs if isinstance(inputs, list) else []:
                if isinstance(name, str):
                    items.add(
                        name, Kind.Property, f"input of {prompt}", None, insert=f"{name}: ", snippet=True
                    )

    # -- expressions ---------------------------------------------------------------------------
    def _expression(self, source: str) -> list[types.CompletionItem]:
        """In an expression typed so far: roots and functions, then inputs, steps, outputs, env, run."""
        token = _EXPR_TOKEN.search(source)
        parts = (token.group() if token else "").split(".")
        items = Items(self.view, self.line, self.col, parts[-1])
        head = parts[:-1]
        if not head:
            for root in self._roots():
                items.add(root, Kind.Module, "context", None)
            for name in expr_functions():
                items.add(name, Kind.Function, "function", None, insert=f"{name}(", sort=f"z{name}")
        elif self.kind == "pipeline":
            self._pipeline_paths(items, head)
        return items.items

    def _roots(self) -> tuple[str, ...]:
        if self.kind == "eval":
            return ("output", "vars", "env")
        if self.kind == "desk":
            return ("params",)
        return ("inputs", "steps", "env", "run")

    def _pipeline_paths(self, items: Items, head: list[str]) -> None:
        data = self.facts.data
        root = head[0]
        if root == "inputs" and len(head) == 1:
            self._pipeline_inputs(items, data)
        elif root == "run" and len(head) == 1:
            for name in RUN_FIELDS:
                items.add(name, Kind.Field, "run", None)
        elif root == "env" and len(head) == 1:
            names: set[str] = set()
            for env in (data.get("env"), self._current_data().get("env")):
                names |= {str(k) for k in env} if isinstance(env, dict) else set()
            for name in sorted(names):
                items.add(name, Kind.Variable, "environment variable", None)
        elif root == "steps" and len(head) == 1:
            self._step_ids(items, needs=False)
        elif root == "steps" and len(head) == 2:
            for name in STEP_FIELDS:
                items.add(name, Kind.Field, f"of step {head[1]}", None)
        elif root == "steps" and len(head) == 3 and head[2] == "outputs":
            step = next((s for s in self.facts.steps if s.id == head[1]), None)
            if step is not None:
                for name, what in step_outputs(step.data).items():
                    items.add(name, Kind.Field, f"output of {head[1]}", what)

    def _current_data(self) -> dict[str, Any]:
        current = self.facts.current(self.line)
        return current.data if current is not None else {}


def step_outputs(step: dict[str, Any]) -> dict[str, str]:
    """What `steps.<id>.outputs.*` may read: the step kind's outputs and the ones it declares."""
    out: dict[str, str] = {}
    if "agent" in step:
        out.update(AGENT_OUTPUTS)
    elif "run" in step:
        out.update(RUN_OUTPUTS)
    elif isinstance(step.get("uses"), str) and step["uses"] in ACTIONS:
        out.update(ACTIONS[step["uses"]].outputs)
    declared = step.get("outputs")
    for name, what in (declared if isinstance(declared, dict) else {}).items():
        out.setdefault(str(name), what if isinstance(what, str) else "declared by the step")
    return out


def _step_kind(step: dict[str, Any]) -> str:
    for key in ("agent", "run", "uses"):
        if isinstance(step.get(key), str):
            return f"{key}: {step[key]}"
    return "step"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _changelog(data: dict[str, Any], version: str) -> str | None:
    log = data.get("changelog")
    for entry in log if isinstance(log, list) else []:
        if isinstance(entry, dict) and str(entry.get("version")) == version:
            return _text(entry.get("notes"))
    return None


def complete(view: View, position: types.Position) -> types.CompletionList:
    line, col = view.position(position)
    return types.CompletionList(is_incomplete=False, items=Completer(view, line, col).run())


def setup(server: BuilderOSServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=TRIGGERS))
    async def on_completion(
        ls: BuilderOSServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        return await in_view(
            ls, params.text_document.uri, lambda v: complete(v, params.position), None, "completion"
        )
