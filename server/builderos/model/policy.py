"""The policy file kind (`builderos.policy.yaml`): what agents may do and what needs a human.

A tool call runs only when both the agent's `tools` and the policy allow it; a call that
matches an approval rule waits for a human (SPEC §2, §6).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from builderos.model.common import BosModel

__all__ = [
    "AgentPolicy",
    "ApprovalRule",
    "CommandRules",
    "EnvPolicy",
    "NetworkRules",
    "PathRules",
    "Policy",
    "SecretRules",
]


class AgentPolicy(BosModel):
    """What one agent is allowed to do."""

    tools: list[str] = Field(
        default_factory=list,
        description="Tools this agent may call.",
        examples=[["fs.read", "fs.write", "shell.run"]],
    )


class PathRules(BosModel):
    """Which workspace paths tools may read and write (globs, matched after resolving `..` and symlinks)."""

    allow: list[str] = Field(
        default_factory=list,
        description="Glob patterns of paths tools may touch, relative to the workspace root.",
        examples=[["src/**", "tests/**", "README.md"]],
    )
    deny: list[str] = Field(
        default_factory=list,
        description="Glob patterns of paths tools may never touch; deny wins over allow.",
        examples=[["**/.env", ".git/**", "secrets/**"]],
    )


class CommandRules(BosModel):
    """Which shell commands `shell.run` and `run:` steps may execute."""

    allow: list[str] = Field(
        default_factory=list,
        description="Glob patterns of allowed command lines.",
        examples=[["pytest *", "ruff *", "python -m *"]],
    )
    deny: list[str] = Field(
        default_factory=list,
        description="Glob patterns of forbidden command lines; deny wins over allow.",
        examples=[["rm -rf *"]],
    )


class NetworkRules(BosModel):
    """Which hosts tools may reach."""

    allow: list[str] = Field(
        default_factory=list,
        description="Host names (or globs) tools may connect to.",
        examples=[["localhost", "api.github.com"]],
    )
    deny: list[str] = Field(
        default_factory=list,
        description="Host names (or globs) tools may never connect to; deny wins over allow.",
        examples=[["*.internal"]],
    )


class SecretRules(BosModel):
    """Secrets that are kept from agents and redacted from logs, events and the store."""

    env: list[str] = Field(
        default_factory=list,
        description="Environment variables whose values are secrets.",
        examples=[["OPENAI_API_KEY", "GITHUB_TOKEN"]],
    )
    patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions of secret values to redact wherever they appear.",
        examples=[["sk-[A-Za-z0-9]{20,}", "ghp_[A-Za-z0-9]{36}"]],
    )


class ApprovalRule(BosModel):
    """A rule that makes matching actions wait for a human's approval."""

    action: str = Field(
        description="The tool or action that needs approval; `*` matches every action.",
        examples=["fs.write", "git.push", "deploy", "*"],
    )
    branch: str | None = Field(
        default=None,
        description="Only when the action targets this git branch (glob).",
        examples=["main"],
    )
    env: str | None = Field(
        default=None,
        description="Only when the action targets this environment.",
        examples=["prod"],
    )
    path: str | None = Field(
        default=None,
        description="Only when the action touches a path matching this glob.",
        examples=["src/**"],
    )
    tool: str | None = Field(
        default=None,
        description="Only when the action is made through this tool.",
        examples=["shell.run"],
    )
    risk: Literal["low", "medium", "high"] | None = Field(
        default=None,
        description="The risk shown with the approval request.",
        examples=["high"],
    )


class EnvPolicy(BosModel):
    """Extra rules that apply when a run targets one environment."""

    approvals: list[ApprovalRule] = Field(
        default_factory=list,
        description="Approval rules added for this environment.",
        examples=[[{"action": "*"}]],
    )


class Policy(BosModel):
    """The workspace policy (builderos.policy.yaml): tools, paths, commands, network, secrets, approvals."""

    kind: Literal["policy"] = Field(
        default="policy",
        description="The file kind; only needed when the file is not builderos.policy.yaml.",
        examples=["policy"],
    )
    version: int = Field(
        default=1,
        ge=1,
        description="The version of the policy format.",
        examples=[1],
    )
    default: Literal["allow", "deny"] = Field(
        default="deny",
        description="What happens to anything no rule mentions.",
        examples=["deny"],
    )
    agents: dict[str, AgentPolicy] = Field(
        default_factory=dict,
        description="Per-agent permissions, by agent name.",
        examples=[{"builder": {"tools": ["fs.read", "fs.write", "shell.run"]}}],
    )
    paths: PathRules = Field(
        default_factory=PathRules,
        description="Which files tools may read and write.",
    )
    commands: CommandRules = Field(
        default_factory=CommandRules,
        description="Which shell commands may run.",
    )
    network: NetworkRules = Field(
        default_factory=NetworkRules,
        description="The hosts tools may connect to, and those they may never connect to.",
    )
    secrets: SecretRules = Field(
        default_factory=SecretRules,
        description="Secrets to keep from agents and redact from everything recorded.",
    )
    approvals: list[ApprovalRule] = Field(
        default_factory=list,
        description="Actions that wait for a human's approval.",
        examples=[[{"action": "fs.write"}, {"action": "deploy", "env": "prod"}]],
    )
    envs: dict[str, EnvPolicy] = Field(
        default_factory=dict,
        description="Extra rules per environment, by environment name.",
        examples=[{"prod": {"approvals": [{"action": "*"}]}}],
    )
