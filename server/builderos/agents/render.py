"""Prompt rendering: `{{ goal }}`, `{{ project.name }}`, `{{ context.facts.style.tests }}`.

A small renderer of its own (no eval, no Jinja): a tag is `{{ path }}` where a path is names joined
by dots, with list indexes as `.0` or `[0]`. Anything else inside `{{ }}` (filters, calls,
statements) renders as empty and is listed, like an unknown variable, so a prompt never leaks
template syntax to a model and the author sees what did not resolve.

The variables, from lowest to highest precedence:
1. the facts of the context packs — builderos.yaml `context_packs` then the agent's `context_packs`,
   merged in order (later keys win, `facts` merged deeply) — at the top level (`{{ company }}`);
2. the runtime variables: the step's inputs (`with:`), then any extra variables;
3. the namespaces `project` (builderos.yaml data), `context` (the merged packs: `facts`, `packs`),
   `facts` (= `context.facts`), `inputs` and `agent`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_TAG = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+|\[\d+\])*$")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+|\[\d+\]")
_MISSING = object()


@dataclass(slots=True)
class MergedContext:
    """Context packs merged in order."""

    data: dict[str, Any] = field(default_factory=dict)  # {facts, packs, and other top-level keys}
    packs: list[dict[str, Any]] = field(default_factory=list)  # [{id, version}] in merge order
    missing_context_pack_ids: list[str] = field(default_factory=list)

    @property
    def facts(self) -> dict[str, Any]:
        facts = self.data.get("facts")
        return facts if isinstance(facts, dict) else {}


@dataclass(slots=True)
class Rendered:
    text: str
    missing_context_pack_ids: list[str]
    unknown_variables: list[str]
    context_packs: list[dict[str, Any]]  # [{id, version}] merged, for provenance


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `over` merged in: nested objects merge, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def pack_ids(project: Mapping[str, Any] | None, agent: Mapping[str, Any] | None) -> list[str]:
    """The project's `context_packs` then the agent's, each id once (its first place)."""
    ids: list[str] = []
    for owner in (project, agent):
        listed = owner.get("context_packs") if isinstance(owner, Mapping) else None
        for pack_id in listed if isinstance(listed, list) else []:
            if isinstance(pack_id, str) and pack_id not in ids:
                ids.append(pack_id)
    return ids


def merge_context_packs(ids: Iterable[str], packs: Mapping[str, Mapping[str, Any]]) -> MergedContext:
    """Merge the packs `ids` names, in order; ids with no pack are listed as missing."""
    merged = MergedContext()
    facts: dict[str, Any] = {}
    for pack_id in ids:
        pack = packs.get(pack_id)
        if not isinstance(pack, Mapping):
            if pack_id not in merged.missing_context_pack_ids:
                merged.missing_context_pack_ids.append(pack_id)
            continue
        for key, value in pack.items():
            if key == "facts":
                if isinstance(value, Mapping):
                    facts = deep_merge(facts, value)
            elif key != "kind":
                merged.data[key] = value
        merged.packs.append({"id": pack_id, "version": pack.get("version")})
    merged.data["facts"] = facts
    merged.data["packs"] = [p["id"] for p in merged.packs]
    return merged


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or `_MISSING`."""
    value: Any = scope
    for seg in _SEGMENT.findall(path):
        key = seg[1:-1] if seg.startswith("[") else seg
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list | tuple) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return _MISSING
    return value


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def render_template(template: str, scope: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(text, unknown variables): each `{{ path }}` replaced by its value."""
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        value = lookup(scope, expr) if _PATH.match(expr) else _MISSING
        if value is _MISSING:
            if expr not in unknown:
                unknown.append(expr)
            return ""
        return format_value(value)

    return _TAG.sub(replace, template), unknown


def build_scope(
    *,
    inputs: Mapping[str, Any] | None = None,
    project: Mapping[str, Any] | None = None,
    context: MergedContext | None = None,
    agent: Mapping[str, Any] | None = None,
    runtime_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    ctx = context or MergedContext()
    agent_info = {k: agent.get(k) for k in ("name", "role", "description")} if agent else {}
    return {
        **ctx.facts,
        **dict(inputs or {}),
        **dict(runtime_vars or {}),
        "project": dict(project or {}),
        "context": ctx.data,
        "facts": ctx.facts,
        "inputs": dict(inputs or {}),
        "agent": agent_info,
    }


def render_prompt(
    template: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    project: Mapping[str, Any] | None = None,
    packs: Mapping[str, Mapping[str, Any]] | None = None,
    agent: Mapping[str, Any] | None = None,
    runtime_vars: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render a prompt template for an agent.

    `packs` maps a context pack id to its data (`{"id", "version", "facts"}`); the packs used are
    the project's `context_packs` then the agent's, and those not found are listed in
    `missing_context_pack_ids`.
    """
    merged = merge_context_packs(pack_ids(project, agent), packs or {})
    scope = build_scope(
        inputs=inputs, project=project, context=merged, agent=agent, runtime_vars=runtime_vars
    )
    text, unknown = render_template(template, scope)
    return Rendered(text, merged.missing_context_pack_ids, unknown, merged.packs)
