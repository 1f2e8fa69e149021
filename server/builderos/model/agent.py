"""The agent file kind (`agents/*.yaml`, or inline under `agents:` in builderos.yaml).

An agent binds a role to a versioned prompt, a model profile and the tools it may call.
References (`prompt`, `model`, `tools`, `context_packs`) are plain strings here; the
validator resolves them against the workspace and reports BOS020-BOS024 and BOS060.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = ["Agent"]


class Agent(BosModel):
    """An agent: a role with a versioned prompt, a model profile and the tools it may use."""

    kind: Literal["agent"] = Field(
        default="agent",
        description="The file kind; only needed when the file is not under `agents/`.",
        examples=["agent"],
    )
    name: str = Field(
        min_length=1,
        description="The agent's name, used by pipeline steps (`agent: <name>`) and in the policy.",
        examples=["builder", "tester"],
    )
    role: str | None = Field(
        default=None,
        description=(
            "What the agent does; usually one of Builder, Tester, DocWriter, Reviewer, Deployer, "
            "DataEngineer, but any string is allowed."
        ),
        examples=["Builder", "Tester", "DocWriter", "Reviewer", "Deployer", "DataEngineer"],
    )
    description: str | None = Field(
        default=None,
        description="A sentence describing the agent, shown in the Agents view and on hover.",
        examples=["Writes code and a test for every change"],
    )
    prompt: str | None = Field(
        default=None,
        description=(
            "The prompt to use as `name@range`: an exact version (1.2.0), ^1.2, ~1.2, 1.x, "
            "'>=1.5 <2.0' or latest."
        ),
        examples=["builder@^1.2", "builder@1.2.0", "reviewer@latest"],
    )
    model: str | None = Field(
        default=None,
        description="A model profile from builderos.yaml `models.profiles`; defaults to `models.default`.",
        examples=["offline", "local", "claude"],
    )
    tools: list[str] = Field(
        default_factory=list,
        description="Tools the agent may call; a call also needs the policy to allow it.",
        examples=[["fs.read", "fs.write", "shell.run"]],
    )
    max_turns: int = Field(
        default=12,
        ge=1,
        description="The most model turns the agent loop takes in one step before it fails.",
        examples=[12],
    )
    context_packs: list[str] = Field(
        default_factory=list,
        description="Ids of extra context packs (context/*.json) merged after the project's packs.",
        examples=[["company"]],
    )
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Sampling temperature for this agent, overriding the model profile's.",
        examples=[0.2],
    )
