"""A recorded run as the answers of a new one: model turns, tool results, step outcomes, approvals.

Replay plugs these into the engine's hooks (the agent runtime, `ToolBox.answer`,
`RunOptions.step_answerer`, the approver), so the same scheduler runs the *current* pipeline, prompts
and policy while nothing reaches a model, a command, the network or a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builderos.engine import events as ev
from builderos.engine.agents import AgentCall
from builderos.engine.events import Event
from builderos.engine.interfaces import Outputs, StepFailed
from builderos.engine.plan import StepPlan

MODEL_EVENTS = (ev.LLM_REQUEST, ev.LLM_RESPONSE)


@dataclass(slots=True)
class Attempt:
    """One attempt of one step as recorded: what happened inside it and how it ended."""

    step_id: str
    number: int
    events: list[Event] = field(default_factory=list)
    status: str | None = None  # succeeded | failed (None: the run stopped inside it)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retried: bool = False

    def tool_results(self) -> dict[int, dict[str, Any]]:
        return {
            int(e.data.get("n", 0)): dict(e.data.get("result") or {})
            for e in self.events
            if e.type == ev.TOOL_RESULT
        }

    def outcome(self) -> Outputs:
        """The attempt's outputs, or its failure raised again (retryable when a retry followed)."""
        if self.status == "succeeded":
            return dict(self.outputs)
        if self.status == "failed" or self.retried:
            raise StepFailed(self.error or "failed (as recorded)", dict(self.outputs), retryable=self.retried)
        raise StepFailed(
            f"the recorded run stopped inside attempt {self.number} of step '{self.step_id}'",
            retryable=False,
        )


class Recording:
    """The events of a recorded run, indexed for answering a replay."""

    def __init__(self, events: list[Event]) -> None:
        self.events = events
        self.attempts: dict[tuple[str, int], Attempt] = {}
        self.decisions: list[dict[str, Any]] = []
        current: dict[str, Attempt] = {}
        requested: dict[str, dict[str, Any]] = {}
        for e in events:
            sid = e.step_id
            if sid is None:
                continue
            if e.type == ev.STEP_STARTED:
                number = int(e.data.get("attempt", 1))
                current[sid] = self.attempts[(sid, number)] = Attempt(sid, number)  # a resume starts anew
                continue
            if e.type == ev.APPROVAL_REQUESTED:
                requested[str(e.data.get("id"))] = dict(e.data)
            elif e.type == ev.APPROVAL_RESOLVED:
                asked = requested.get(str(e.data.get("id")), {})
                self.decisions.append({**e.data, "step_id": sid, "action": asked.get("action")})
            attempt = current.get(sid)
            if attempt is None:
                continue
            if e.type == ev.STEP_RETRYING:
                attempt.retried, attempt.error = True, e.data.get("error")
                current.pop(sid)
            elif e.type == ev.STEP_FINISHED:
                attempt.status = str(e.data.get("status"))
                attempt.outputs = dict(e.data.get("outputs") or {})
                attempt.error = e.data.get("error")
                current.pop(sid)
            else:
                attempt.events.append(e)

    def attempt(self, step_id: str, number: int) -> Attempt:
        found = self.attempts.get((step_id, number))
        if found is None:
            raise StepFailed(
                f"replay: the recorded run has no attempt {number} of step '{step_id}'", retryable=False
            )
        return found

    async def answer_step(self, sp: StepPlan, attempt: int, with_: dict[str, Any]) -> Outputs:
        """`run:` and `uses:` steps: the recorded outcome (no command, deployment or HTTP call)."""
        return self.attempt(sp.id, attempt).outcome()

    async def approver(self, approval: dict[str, Any]) -> tuple[str, str | None, str]:
        """Each request gets the decision recorded for the same step and action, in order."""
        for i, d in enumerate(self.decisions):
            same_action = d.get("action") in (None, approval.get("action"))
            if d.get("step_id") == approval.get("step_id") and same_action:
                del self.decisions[i]
                return str(d.get("decision") or "deny"), d.get("comment"), f"replay of {d.get('by')}"
        return "deny", "replay: the recorded run has no decision for this request", "replay"


class RecordedAgent:
    """An agent runtime that replays the recorded turns of each attempt.

    Model turns are emitted as recorded; tool calls go through the current policy gate and are
    answered with the recorded results (nothing runs); the step ends as it ended in the record.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording

    async def run(self, call: AgentCall) -> Outputs:
        attempt = self.recording.attempt(call.step_id, call.attempt)
        results = attempt.tool_results()

        async def answer(tool: str, args: dict[str, Any], n: int) -> dict[str, Any]:
            found = results.get(n)
            return found if found is not None else {"error": f"replay: no recorded result for call {n}"}

        call.tools.answer = answer
        for e in attempt.events:
            if e.type in MODEL_EVENTS:
                await call.emit(e.type, dict(e.data))
            elif e.type == ev.TOOL_CALL:
                await call.tools.call(str(e.data.get("tool")), dict(e.data.get("args") or {}))
        return attempt.outcome()
