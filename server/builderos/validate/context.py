"""What every rule may read: the workspace, its symbols, the policy, and caches that survive keystrokes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builderos.policy.rules import PolicyView
from builderos.validate.report import Finding
from builderos.workspace.index import Symbols, Workspace


@dataclass(slots=True)
class StepCache:
    """Findings of the step-local checks by the step's text; pruned to the texts still in use."""

    entries: dict[str, list[Finding]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0


@dataclass(slots=True)
class Context:
    ws: Workspace
    symbols: Symbols
    policy: PolicyView
    step_cache: StepCache
    memo: dict[Any, Any] = field(default_factory=dict)  # per validation run: policy answers per agent

    @classmethod
    def of(cls, ws: Workspace, step_cache: StepCache | None = None) -> Context:
        symbols = ws.symbols
        policy = PolicyView(symbols.policy.data if symbols.policy else None, symbols.policy is not None)
        return cls(ws, symbols, policy, step_cache or StepCache())
