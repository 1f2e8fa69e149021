"""Agents with real models: prompt rendering, providers, the tool-calling loop and the run budget.

The engine asks `runtime_for(profile, budget, …)` for the runtime of a model profile (None for
`scripted`, which the engine keeps), or wraps a whole run in `AgentRouter.for_project(…)`.
"""

from __future__ import annotations

from builderos.agents.budget import Budget, Price
from builderos.agents.loop import AgentRouter, LlmAgent, parse_json_answer, runtime_for
from builderos.agents.providers import ProviderConfig, ProviderError, provider_for
from builderos.agents.render import Rendered, merge_context_packs, render_prompt, render_template
from builderos.agents.tool_schemas import TOOL_SCHEMAS, tool_set, wire_name

__all__ = [
    "TOOL_SCHEMAS",
    "AgentRouter",
    "Budget",
    "LlmAgent",
    "Price",
    "ProviderConfig",
    "ProviderError",
    "Rendered",
    "merge_context_packs",
    "parse_json_answer",
    "provider_for",
    "render_prompt",
    "render_template",
    "runtime_for",
    "tool_set",
    "wire_name",
]
