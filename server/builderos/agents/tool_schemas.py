"""JSON schemas of the tools' arguments, and the names tools go by on the wire.

Providers accept tool names matching `^[a-zA-Z0-9_-]{1,64}$`, so `fs.read` is sent as `fs_read` and
the model's calls are mapped back to the BuilderOS name before they reach the policy gate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from builderos.agents.providers.base import ToolDef
from builderos.catalog import TOOLS

_STRING = {"type": "string"}

#: The arguments each built-in tool takes (what `engine.toolbox.ToolBox` reads from `args`).
TOOL_SCHEMAS: dict[str, dict[str, Any]] = {
    "fs.read": {
        "type": "object",
        "properties": {"path": {**_STRING, "description": "workspace-relative path of the file"}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "fs.list": {
        "type": "object",
        "properties": {
            "glob": {**_STRING, "description": "glob relative to the workspace root, e.g. src/**/*.py"}
        },
        "required": ["glob"],
        "additionalProperties": False,
    },
    "fs.write": {
        "type": "object",
        "properties": {
            "path": {**_STRING, "description": "workspace-relative path of the file"},
            "content": {**_STRING, "description": "the complete new content of the file"},
        },
        "required": ["path", "content"],
        "additionalProperties": False,
    },
    "fs.delete": {
        "type": "object",
        "properties": {"path": {**_STRING, "description": "workspace-relative path of the file"}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "shell.run": {
        "type": "object",
        "properties": {
            "command": {
                "description": "the command: a command line (split like a shell, but run without one) "
                "or an argument vector",
                "anyOf": [_STRING, {"type": "array", "items": _STRING, "minItems": 1}],
            }
        },
        "required": ["command"],
        "additionalProperties": False,
    },
    "git.status": {"type": "object", "properties": {}, "additionalProperties": False},
    "git.diff": {"type": "object", "properties": {}, "additionalProperties": False},
    "git.commit": {
        "type": "object",
        "properties": {"message": {**_STRING, "description": "the commit message"}},
        "required": ["message"],
        "additionalProperties": False,
    },
    "http.fetch": {
        "type": "object",
        "properties": {"url": {**_STRING, "description": "the URL to GET (its host must be allowed)"}},
        "required": ["url"],
        "additionalProperties": False,
    },
}

#: Tools without a known schema (MCP tools) take any object.
ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}

_WIRE_BAD = re.compile(r"[^A-Za-z0-9_-]")


def wire_name(tool: str) -> str:
    """The name a tool goes by on the wire: `fs.read` → `fs_read` (at most 64 characters)."""
    return _WIRE_BAD.sub("_", tool)[:64] or "tool"


def tool_schema(tool: str) -> dict[str, Any]:
    return TOOL_SCHEMAS.get(tool, ANY_OBJECT)


def tool_description(tool: str) -> str:
    spec = TOOLS.get(tool)
    if spec is not None:
        return spec.summary
    if tool.startswith("mcp."):
        return f"The MCP tool {tool}."
    return f"The tool {tool}."


@dataclass(slots=True)
class ToolSet:
    """The tools offered to a model, with the wire name → BuilderOS name map."""

    definitions: list[ToolDef] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    def tool_for(self, wire: str) -> str:
        """The BuilderOS name of a tool the model called (an unknown name is passed through, and the
        policy gate denies it)."""
        return self.names.get(wire, wire)


def tool_set(tools: Iterable[str], described: Mapping[str, Any] | None = None) -> ToolSet:
    """Tool definitions for the given BuilderOS tool names, in order, without duplicates;
    `described` holds what MCP servers say of their tools (description, input_schema)."""
    described = described or {}
    out = ToolSet()
    for tool in tools:
        if not isinstance(tool, str) or tool in out.names.values():
            continue
        wire = wire_name(tool)
        n = 2
        while wire in out.names:  # `mcp.a_b.c` and `mcp.a.b_c` both map to `mcp_a_b_c`
            suffix = f"_{n}"
            wire = wire_name(tool)[: 64 - len(suffix)] + suffix
            n += 1
        out.names[wire] = tool
        known = described.get(tool)
        if known is not None:
            schema = known.input_schema if isinstance(known.input_schema, dict) else ANY_OBJECT
            text = known.description or tool_description(tool)
            out.definitions.append(ToolDef(wire, text, {"type": "object", **schema}))
        else:
            out.definitions.append(ToolDef(wire, tool_description(tool), tool_schema(tool)))
    return out
