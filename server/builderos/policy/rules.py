"""Static policy decisions: tool permissions per agent and approval rules per action.

The validator (BOS040, BOS041) and the runtime gate share these functions, so the editor's approval
plan is the plan the engine will follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and the rule that decided it, in words a user can find in the file."""

    allowed: bool
    rule: str


@dataclass(frozen=True, slots=True)
class ApprovalMatch:
    """An approval rule that applies, with where it sits in the policy."""

    rule: str
    path: tuple[str | int, ...]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rule_text(rule: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in rule.items()) + "}"


class PolicyView:
    """A policy document (plain data, possibly partly invalid) read defensively."""

    def __init__(self, data: Any, present: bool = True) -> None:
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.present = present

    def section(self, name: str) -> dict[str, Any]:
        """A mapping section of the policy (paths, commands, network, secrets), or an empty one."""
        value = self.data.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def default(self) -> str:
        value = self.data.get("default", "deny")
        return value if value in ("allow", "deny") else "deny"

    def agent_tools(self, agent: str) -> list[str] | None:
        agents = self.data.get("agents")
        entry = agents.get(agent) if isinstance(agents, dict) else None
        if not isinstance(entry, dict):
            return None
        return [t for t in _list(entry.get("tools")) if isinstance(t, str)]

    def tool_decision(self, agent: str, tool: str) -> Decision:
        """Whether the policy lets `agent` use `tool` at all (paths and commands are checked per call)."""
        if not self.present:
            return Decision(False, "no builderos.policy.yaml: everything is denied by default")
        allowed = self.agent_tools(agent)
        if allowed is None:
            if self.default == "allow":
                return Decision(True, "default: allow")
            return Decision(False, f"default: deny (agent '{agent}' is not listed under agents:)")
        for pattern in allowed:
            if fnmatchcase(tool, pattern):
                return Decision(True, f"agents.{agent}.tools: {pattern}")
        return Decision(False, f"agents.{agent}.tools does not list {tool}")

    def approval_rules(
        self, action: str, env: str | None = None, branch: str | None = None
    ) -> list[ApprovalMatch]:
        """The approval rules that ask for a human when `action` runs (in `env`, on `branch`)."""
        found: list[ApprovalMatch] = []
        for i, rule in enumerate(_list(self.data.get("approvals"))):
            if isinstance(rule, dict) and self._matches(rule, action, env, branch):
                found.append(ApprovalMatch(f"approvals[{i}] {_rule_text(rule)}", ("approvals", i)))
        envs = self.data.get("envs")
        env_entry = envs.get(env) if isinstance(envs, dict) and env else None
        if isinstance(env_entry, dict):
            for i, rule in enumerate(_list(env_entry.get("approvals"))):
                if isinstance(rule, dict) and self._matches(rule, action, env, branch):
                    found.append(
                        ApprovalMatch(
                            f"envs.{env}.approvals[{i}] {_rule_text(rule)}",
                            ("envs", str(env), "approvals", i),
                        )
                    )
        return found

    @staticmethod
    def _matches(rule: dict[str, Any], action: str, env: str | None, branch: str | None) -> bool:
        pattern = rule.get("action", rule.get("tool", "*"))
        if not isinstance(pattern, str) or not fnmatchcase(action, pattern):
            return False
        if "env" in rule and env is not None and rule["env"] != env:
            return False
        if "env" in rule and env is None:
            return False
        return not ("branch" in rule and branch is not None and rule["branch"] != branch)
