"""Run state as a fold over the event log: the log is the truth, this is a view of it.

`RunState.apply` is the only place that knows how an event changes a run, so `resume`, the run
record, the CLI and the editor all see the same state for the same events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from builderos.engine import events as ev
from builderos.engine.events import Event


@dataclass(slots=True)
class StepState:
    id: str
    status: str = "pending"
    attempts: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    outputs_sha256: str | None = None
    inputs: dict[str, Any] | None = None
    inputs_sha256: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    retry_at: float | None = None
    retry_delays: list[float] = field(default_factory=list)
    approval_id: str | None = None
    waited_for_approval: bool = False
    tool_trace: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    agent: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    handler_for: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ev.FINAL_STEP_STATES


@dataclass(slots=True)
class RunState:
    id: str
    pipeline: str = ""
    pipeline_path: str = ""
    pipeline_sha256: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    scenario: str | None = None
    scratch: bool = False  # the run was made in a scratch copy of the workspace
    status: str = "queued"
    created_at: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    git_before: str | None = None
    git_after: str | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_seq: int = 0
    cancel_requested: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def step(self, step_id: str) -> StepState:
        state = self.steps.get(step_id)
        if state is None:
            state = self.steps[step_id] = StepState(step_id)
        return state

    @property
    def finished(self) -> bool:
        return self.status in ev.FINAL_RUN_STATES

    def has_pending_approval(self) -> bool:
        """Whether an approval request of this run is still open (asked, neither approved nor denied)."""
        return any(a.get("status") in (None, "pending") for a in self.approvals.values())

    def apply(self, event: Event) -> None:
        """Advance the state by one committed event."""
        self.last_seq = max(self.last_seq, event.seq)
        d = event.data
        t = event.type
        if t == ev.RUN_CREATED:
            self.pipeline = d.get("pipeline", "")
            self.pipeline_path = d.get("pipeline_path", "")
            self.pipeline_sha256 = d.get("pipeline_sha256", "")
            self.inputs = dict(d.get("inputs") or {})
            self.scenario = d.get("scenario")
            self.scratch = bool(d.get("scratch"))
            self.git_before = d.get("git_before")
            self.options = dict(d.get("options") or {})
            self.created_at = event.ts
            for step_id in d.get("steps") or []:
                self.step(step_id)
            for step_id, target in (d.get("handlers") or {}).items():
                self.step(step_id).handler_for = target
        elif t in (ev.RUN_STARTED, ev.RUN_RESUMED):
            # a run resumed with a request still open waits for it (it was asked before the crash)
            self.status = "awaiting_approval" if self.has_pending_approval() else "running"
            self.started_at = self.started_at or event.ts
        elif t == ev.RUN_CANCEL_REQUESTED:
            self.cancel_requested = True
        elif t == ev.RUN_FINISHED:
            self.status = d.get("status", "failed")
            self.error = d.get("error")
            self.git_after = d.get("git_after")
            self.ended_at = event.ts
        elif event.step_id is not None:
            self._apply_step(self.step(event.step_id), event)

    def _apply_step(self, s: StepState, event: Event) -> None:
        d, t = event.data, event.type
        if t == ev.STEP_STARTED:
            s.status = "running"
            s.attempts = max(s.attempts, int(d.get("attempt", s.attempts + 1)))
            s.started_at = s.started_at or event.ts
            s.inputs = d.get("inputs")
            s.inputs_sha256 = d.get("inputs_sha256")
            s.retry_at = None
            s.error = None
            if d.get("agent"):
                s.agent = dict(d["agent"])
        elif t == ev.STEP_RETRYING:
            s.status = "retrying"
            s.error = d.get("error")
            s.retry_at = d.get("retry_at")
            s.retry_delays.append(float(d.get("delay", 0.0)))
        elif t in (ev.STEP_FINISHED, ev.STEP_SKIPPED):
            s.status = d.get("status", "skipped" if t == ev.STEP_SKIPPED else "failed")
            s.outputs = dict(d.get("outputs") or {})
            s.outputs_sha256 = d.get("outputs_sha256")
            s.error = d.get("error")
            s.ended_at = event.ts
            if d.get("tokens"):
                s.tokens = dict(d["tokens"])
        elif t == ev.APPROVAL_REQUESTED:
            s.status = "awaiting_approval"
            s.waited_for_approval = True
            s.approval_id = d.get("id")
            self.approvals[str(d.get("id"))] = dict(d)
            self.status = "awaiting_approval"
        elif t == ev.APPROVAL_RESOLVED:
            approval = self.approvals.setdefault(str(d.get("id")), {})
            approval.update(status=d.get("decision"), resolved_by=d.get("by"), comment=d.get("comment"))
            if s.status == "awaiting_approval":
                s.status = "running"
            if self.status == "awaiting_approval" and not self.has_pending_approval():
                self.status = "running"
        elif t in (ev.TOOL_CALL, ev.TOOL_RESULT, ev.POLICY_DENIED):
            s.tool_trace.append({"type": t, **d})
        elif t == ev.ARTIFACT_CREATED:
            s.artifacts.append(dict(d))
        elif t == ev.LLM_RESPONSE and d.get("tokens"):
            for key, value in d["tokens"].items():
                s.tokens[key] = s.tokens.get(key, 0) + int(value)


def fold(run_id: str, events: Iterable[Event]) -> RunState:
    state = RunState(run_id)
    for event in events:
        state.apply(event)
    return state
