"""The event envelope of SPEC §5 and the event types the engine writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RUN_CREATED = "run.created"
RUN_STARTED = "run.started"
RUN_RESUMED = "run.resumed"
RUN_FINISHED = "run.finished"
RUN_CANCEL_REQUESTED = "run.cancel_requested"
STEP_STARTED = "step.started"
STEP_RETRYING = "step.retrying"
STEP_FINISHED = "step.finished"
STEP_SKIPPED = "step.skipped"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_RESOLVED = "approval.resolved"
LLM_REQUEST = "llm.request"
LLM_RESPONSE = "llm.response"
TOOL_CALL = "tool.call"
TOOL_RESULT = "tool.result"
POLICY_DENIED = "policy.denied"
ARTIFACT_CREATED = "artifact.created"
LOG = "log"

RUN_STATES = ("queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled")
STEP_STATES = (
    "pending",
    "running",
    "awaiting_approval",
    "retrying",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
)
FINAL_RUN_STATES = ("succeeded", "failed", "cancelled")
FINAL_STEP_STATES = ("succeeded", "failed", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class Event:
    """`{seq, run_id, step_id, type, ts, data}`: acknowledged only once committed."""

    seq: int
    run_id: str
    step_id: str | None
    type: str
    ts: str
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "type": self.type,
            "ts": self.ts,
            "data": self.data,
        }
