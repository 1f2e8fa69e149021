"""Agent steps: the interface the agent runtime plugs into, and the scripted (offline) agent.

The scripted agent answers from a scenario's `stubs.llm` entries for the step, turn by turn: an
entry with `tool_calls` is a turn that calls tools (through the policy gate), an entry with
`respond` is the final answer. A missing stub fails the step loudly, never silently.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from builderos.engine import events as ev
from builderos.engine.interfaces import Outputs, StepFailed
from builderos.engine.toolbox import ToolBox


@dataclass(slots=True)
class AgentCall:
    """One agent step attempt: who, with which prompt version, which inputs and which tools."""

    run_id: str
    step_id: str
    attempt: int
    agent: dict[str, Any]
    prompt: dict[str, Any] | None
    inputs: dict[str, Any]
    workspace: Path
    tools: ToolBox
    emit: Callable[[str, dict[str, Any]], Awaitable[None]]
    model_profile: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    #: The model responses this attempt already had (`llm.response` data, in turn order) when a run
    #: is resumed inside the step: the runtime answers those turns from the record instead of
    #: asking the model again (same conversation, no second bill).
    recorded: list[dict[str, Any]] = field(default_factory=list)


class AgentRuntime(Protocol):
    async def run(self, call: AgentCall) -> Outputs: ...


class ScriptedAgent:
    """Deterministic and offline: replies come from stubs keyed by step and turn."""

    def __init__(self, llm_stubs: list[dict[str, Any]]) -> None:
        self.stubs = llm_stubs

    def turns_for(self, step_id: str) -> list[dict[str, Any]]:
        entries = [s for s in self.stubs if isinstance(s, dict) and s.get("step") == step_id]
        return sorted(entries, key=lambda s: int(s.get("turn") or 0))

    async def run(self, call: AgentCall) -> Outputs:
        turns = self.turns_for(call.step_id)
        if not turns:
            raise StepFailed(
                f"the scripted model has no reply for step '{call.step_id}': add an entry under stubs.llm "
                "in the scenario (or set a real model profile for the agent)",
                retryable=False,
            )
        max_turns = int(call.agent.get("max_turns") or 12)
        text: str | None = None
        data: Any = None
        for i, turn in enumerate(turns[:max_turns], start=1):
            await call.emit(ev.LLM_REQUEST, {"turn": i, "model": "scripted", "profile": call.model_profile})
            calls = [c for c in turn.get("tool_calls") or [] if isinstance(c, dict)]
            reply: dict[str, Any] = {"turn": i, "model": "scripted", "tool_calls": calls}
            if "respond" in turn:
                reply["text"] = str(turn["respond"])
            if "json" in turn:
                reply["json"] = turn["json"]
            await call.emit(ev.LLM_RESPONSE, reply)
            for c in calls:
                await call.tools.call(str(c.get("tool")), dict(c.get("args") or {}))
            if "respond" in turn or "json" in turn:
                text = str(turn.get("respond", "")) if "respond" in turn else json.dumps(turn["json"])
                data = turn.get("json")
                break
        if text is None:
            raise StepFailed(
                f"the scripted model never answered step '{call.step_id}' (no 'respond' entry)",
                retryable=False,
            )
        outputs: Outputs = {"text": text}
        wants_json = (call.prompt or {}).get("output", {}).get("format") == "json" if call.prompt else False
        if data is None and wants_json:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise StepFailed(
                    f"the reply of step '{call.step_id}' is not JSON: {exc}", retryable=False
                ) from None
        if data is not None:
            outputs["json"] = data
        return outputs
