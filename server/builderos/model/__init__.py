"""Pydantic models of every BuilderOS file kind: the reference for formats and for schemas/*.json.

`KIND_MODELS` maps a kind name (from the file's location or its `kind:` key) to the
model of a whole file. The models check shapes only; cross-file and semantic checks
belong to the validator.
"""

from __future__ import annotations

from pydantic import BaseModel

from builderos.model.agent import Agent
from builderos.model.common import DURATION_PATTERN, BosModel, Duration, DurationStr, duration_seconds
from builderos.model.context import ContextPack
from builderos.model.desk import Desk, DeskParameter, DeskRequires
from builderos.model.eval_suite import Assertion, EvalCase, EvalSuite
from builderos.model.pipeline import Pipeline, PipelineInput, Retries, Step
from builderos.model.policy import (
    AgentPolicy,
    ApprovalRule,
    CommandRules,
    EnvPolicy,
    NetworkRules,
    PathRules,
    Policy,
    SecretRules,
)
from builderos.model.project import AppliedDesk, Budgets, Mcp, McpServer, ModelProfile, Models, Project
from builderos.model.prompt import ChangelogEntry, Prompt, PromptOutput
from builderos.model.scenario import (
    ApprovalDecision,
    FileExpectation,
    LlmStub,
    Scenario,
    ScenarioExpect,
    ScenarioStubs,
    ToolCallStub,
    ToolStub,
)

__all__ = [
    "DURATION_PATTERN",
    "KINDS",
    "KIND_MODELS",
    "Agent",
    "AgentPolicy",
    "AppliedDesk",
    "ApprovalDecision",
    "ApprovalRule",
    "Assertion",
    "BosModel",
    "Budgets",
    "ChangelogEntry",
    "CommandRules",
    "ContextPack",
    "Desk",
    "DeskParameter",
    "DeskRequires",
    "Duration",
    "DurationStr",
    "EnvPolicy",
    "EvalCase",
    "EvalSuite",
    "FileExpectation",
    "LlmStub",
    "Mcp",
    "McpServer",
    "ModelProfile",
    "Models",
    "NetworkRules",
    "PathRules",
    "Pipeline",
    "PipelineInput",
    "Policy",
    "Project",
    "Prompt",
    "PromptOutput",
    "Retries",
    "Scenario",
    "ScenarioExpect",
    "ScenarioStubs",
    "SecretRules",
    "Step",
    "ToolCallStub",
    "ToolStub",
    "duration_seconds",
]

KIND_MODELS: dict[str, type[BaseModel]] = {
    "project": Project,
    "agent": Agent,
    "prompt": Prompt,
    "pipeline": Pipeline,
    "policy": Policy,
    "scenario": Scenario,
    "eval": EvalSuite,
    "desk": Desk,
    "context": ContextPack,
}
"""The model of a whole file, by kind name."""

KINDS: tuple[str, ...] = tuple(KIND_MODELS)
"""Every kind name, in a stable order."""
