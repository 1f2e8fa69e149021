"""Static policy decisions: tool permissions per agent and approval rules per action.

The validator (BOS040, BOS041) and the runtime gate share these functions, so the editor's approval
plan is the plan the engine will follow.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

#: What only a shell gives meaning to: separators, pipes, substitutions, redirections, line breaks.
#: Commands run without a shell, so an argument carrying these is an injection attempt, never a need.
SHELL_SYNTAX = re.compile(r"[;|&`\n\r]|\$[({A-Za-z_]|^\d*[<>]")


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and the rule that decided it, in words a user can find in the file."""

    allowed: bool
    rule: str
    reason: str = ""


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

    def command_decision(self, argv: Sequence[str]) -> Decision:
        """Whether an agent may run this argument vector (`commands.deny` wins over `commands.allow`).

        A pattern is split like a command line and matched argument by argument (a trailing `*`
        stands for any further arguments, or none); deny patterns also match the whole line and the
        program's base name, so `/bin/rm -rf /` is still `rm -rf /`.
        """
        if not argv:
            return Decision(False, "commands: no command given")
        for arg in argv:
            if SHELL_SYNTAX.search(arg) or any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in arg):
                return Decision(
                    False,
                    "commands: shell syntax",
                    f"{arg!r} is shell syntax, and commands run without a shell",
                )
        commands = self.section("commands")
        line = shlex.join(argv)
        base = [os.path.basename(argv[0]), *argv[1:]]
        for pattern in _list(commands.get("deny")):
            if isinstance(pattern, str) and (
                _argv_matches(argv, pattern)
                or _argv_matches(base, pattern)
                or fnmatchcase(line, pattern)
                or fnmatchcase(shlex.join(base), pattern)
            ):
                return Decision(False, f"commands.deny: {pattern}")
        for pattern in _list(commands.get("allow")):
            if isinstance(pattern, str) and _argv_matches(argv, pattern):
                return Decision(True, f"commands.allow: {pattern}")
        if self.default == "allow":
            return Decision(True, "default: allow")
        return Decision(False, "commands.allow (default: deny)")

    def host_decision(self, host: str, port: int | None = None) -> Decision:
        """Whether tools may connect to `host` (any port): `network.deny` wins over `network.allow`."""
        network = self.section("network")
        name = host.lower()
        spelled = [name, f"{name}:{port}"] if port is not None else [name]
        for pattern in _list(network.get("deny")):
            if isinstance(pattern, str) and any(fnmatchcase(h, pattern.lower()) for h in spelled):
                return Decision(False, f"network.deny: {pattern}")
        for pattern in _list(network.get("allow")):
            if isinstance(pattern, str) and any(fnmatchcase(h, pattern.lower()) for h in spelled):
                return Decision(True, f"network.allow: {pattern}")
        return Decision(False, "network.allow")

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


def _argv_matches(argv: Sequence[str], pattern: str) -> bool:
    try:
        parts = shlex.split(pattern)
    except ValueError:
        return False
    if not parts:
        return False
    if parts[-1] == "*":
        head = parts[:-1]
        return len(argv) >= len(head) and all(fnmatchcase(a, p) for a, p in zip(argv, head, strict=False))
    return len(argv) == len(parts) and all(fnmatchcase(a, p) for a, p in zip(argv, parts, strict=True))
