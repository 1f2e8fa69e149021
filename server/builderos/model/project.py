"""The project file kind (`builderos.yaml`): model profiles, budgets, context packs, MCP servers.

Its presence makes a folder a BuilderOS workspace, so every key is optional and the
defaults describe an offline workspace.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from builderos.model.agent import Agent
from builderos.model.common import BosModel, Duration

__all__ = ["AppliedDesk", "Budgets", "Mcp", "McpServer", "ModelProfile", "Models", "Project"]


class ModelProfile(BosModel):
    """A named model configuration that agents select with `model: <profile>`."""

    provider: Literal["scripted", "openai", "anthropic"] = Field(
        description=(
            "Who answers: `scripted` (deterministic, offline, from scenarios or a script), `openai` "
            "(any OpenAI-compatible server) or `anthropic`."
        ),
        examples=["scripted", "openai", "anthropic"],
    )
    base_url: str | None = Field(
        default=None,
        description="The API base URL, e.g. a local Ollama, vLLM or llama.cpp server.",
        examples=["http://localhost:11434/v1"],
    )
    model: str | None = Field(
        default=None,
        description="The provider's model name.",
        examples=["qwen2.5-coder:7b", "claude-sonnet-4-5"],
    )
    api_key_env: str | None = Field(
        default=None,
        description="The environment variable that holds the API key (the key itself never goes in a file).",
        examples=["OPENAI_API_KEY", "ANTHROPIC_API_KEY"],
    )
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Default sampling temperature for this profile.",
        examples=[0.2],
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="The most tokens the model may produce in one response.",
        examples=[4096],
    )
    timeout: Duration | None = Field(
        default=None,
        description="How long to wait for one model response: a duration like `60s` or a number of seconds.",
        examples=["60s", 120],
    )
    script: str | None = Field(
        default=None,
        description="For `scripted`: a workspace-relative file with the scripted responses.",
        examples=["scripts/offline.yaml"],
    )


class Models(BosModel):
    """The model profiles of the workspace and which one is the default."""

    default: str | None = Field(
        default=None,
        description="The profile used when an agent names none.",
        examples=["offline"],
    )
    profiles: dict[str, ModelProfile] = Field(
        default_factory=dict,
        description="Model profiles by name.",
        examples=[{"offline": {"provider": "scripted"}}],
    )


class Budgets(BosModel):
    """Limits that stop a run when it spends more than allowed."""

    run_tokens: int | None = Field(
        default=None,
        ge=1,
        description="The most model tokens (input + output) one run may use; no limit when omitted.",
        examples=[200000],
    )
    run_usd: float | None = Field(
        default=None,
        ge=0,
        description="The most one run may cost in US dollars; no limit when omitted.",
        examples=[2.0],
    )


class McpServer(BosModel):
    """An MCP server started over stdio whose tools agents can use."""

    command: str = Field(
        description="The program to start.",
        examples=["npx", "uvx"],
    )
    args: list[str] = Field(
        default_factory=list,
        description="Arguments passed to the program.",
        examples=[["-y", "@modelcontextprotocol/server-github"]],
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables for the server process.",
        examples=[{"LOG_LEVEL": "info"}],
    )


class Mcp(BosModel):
    """Model Context Protocol servers available to agents."""

    servers: dict[str, McpServer] = Field(
        default_factory=dict,
        description="MCP servers by name; agents list their tools as `mcp.<server>.<tool>`.",
        examples=[{"github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"]}}],
    )


class AppliedDesk(BosModel):
    """A desk that was applied to this workspace, recorded with the parameters it was applied with."""

    name: str = Field(description="The desk's name.", examples=["python-service"])
    version: str | None = Field(
        default=None, description="The desk version that was applied.", examples=["1.0.0"]
    )
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="The parameter values the desk was applied with (secrets are never recorded).",
        examples=[{"package": "shop"}],
    )


class Project(BosModel):
    """BuilderOS project configuration (builderos.yaml): models, budgets, context packs and more."""

    kind: Literal["project"] = Field(
        default="project",
        description="The file kind; only needed when the file is not builderos.yaml.",
        examples=["project"],
    )
    version: int = Field(
        default=1,
        ge=1,
        description="The version of the builderos.yaml format.",
        examples=[1],
    )
    name: str | None = Field(
        default=None,
        description="The project's name, available to prompts as `project.name`.",
        examples=["acme-shop"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing the project.",
        examples=["The Acme web shop"],
    )
    stack: list[str] = Field(
        default_factory=list,
        description="Languages and frameworks the project uses, given to agents as context.",
        examples=[["python"]],
    )
    envs: list[str] = Field(
        default_factory=list,
        description="Deployment environments, in promotion order.",
        examples=[["dev", "stage", "prod"]],
    )
    models: Models = Field(
        default_factory=Models,
        description="Model profiles and the default profile.",
    )
    context_packs: list[str] = Field(
        default_factory=list,
        description="Ids of context/*.json packs, merged in this order, then runtime vars.",
        examples=[["company"]],
    )
    budgets: Budgets = Field(
        default_factory=Budgets,
        description="Token and cost limits per run.",
        examples=[{"run_tokens": 200000, "run_usd": 2.0}],
    )
    agents: list[Agent] = Field(
        default_factory=list,
        description="Agents defined inline, in addition to agents/*.yaml.",
    )
    mcp: Mcp = Field(
        default_factory=Mcp,
        description="MCP servers whose tools agents can use.",
    )
    policy: str | None = Field(
        default=None,
        description="Path of the policy file, relative to the workspace; defaults to builderos.policy.yaml.",
        examples=["builderos.policy.yaml"],
    )
    desks: list[str | AppliedDesk] = Field(
        default_factory=list,
        description="Desks applied to this workspace: a desk name, or the name with version and parameters.",
        examples=[["python-service"]],
    )
