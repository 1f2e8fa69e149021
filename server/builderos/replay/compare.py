"""Where a replay departs from its record: per step, the first field that differs.

Compared, in this order: the step's definition (its YAML), its resolved inputs, its prompt
(name@version and hash), its tool calls and their results, its outputs, its final status and its
number of attempts. Steps are reported in pipeline order, so the first divergence is the first step
whose behaviour the new code changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builderos.engine import events as ev
from builderos.engine.events import Event


@dataclass(slots=True)
class StepSummary:
    """What a step did in one run, reduced to what replay compares."""

    definition: str | None = None
    inputs: Any = None
    inputs_sha256: str | None = None
    prompt: str | None = None
    tool_calls: list[str] = field(default_factory=list)
    tool_call_hashes: list[str] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)
    outputs: Any = None
    outputs_sha256: str | None = None
    status: str = "pending"
    attempts: int = 0


MESSAGES = {
    "definition": "its definition in the pipeline file changed since the run",
    "inputs": "its resolved inputs differ",
    "prompt": "its prompt (name@version or text) changed",
    "tool_calls": "it calls different tools or arguments",
    "tool_results": "its tool calls get different results (e.g. the policy changed)",
    "outputs": "its outputs differ",
    "status": "it ends differently",
    "attempts": "it takes a different number of attempts",
}


def summarise(events: list[Event]) -> tuple[list[str], dict[str, StepSummary]]:
    """The run's step order (as planned) and a summary per step."""
    order: list[str] = []
    steps: dict[str, StepSummary] = {}
    for e in events:
        if e.type == ev.RUN_CREATED:
            order = [str(s) for s in e.data.get("steps") or []]
            order += [str(s) for s in (e.data.get("handlers") or {}) if s not in order]
        if e.step_id is None:
            continue
        s = steps.setdefault(e.step_id, StepSummary())
        d = e.data
        if e.type == ev.STEP_STARTED:
            s.attempts = max(s.attempts, int(d.get("attempt", 1)))
            s.definition = d.get("step_sha256")
            s.inputs, s.inputs_sha256 = d.get("inputs"), d.get("inputs_sha256")
            agent = d.get("agent") or {}
            if agent.get("prompt"):
                s.prompt = f"{agent.get('prompt')} (sha256 {str(agent.get('prompt_sha256'))[:12]})"
        elif e.type == ev.TOOL_CALL:
            s.tool_calls.append(f"{d.get('tool')} {_short(d.get('args'))}")
            s.tool_call_hashes.append(f"{d.get('tool')}:{d.get('args_sha256')}")
        elif e.type == ev.TOOL_RESULT:
            s.tool_results.append(str(d.get("result_sha256")))
        elif e.type in (ev.STEP_FINISHED, ev.STEP_SKIPPED):
            s.status = str(d.get("status"))
            s.outputs, s.outputs_sha256 = d.get("outputs"), d.get("outputs_sha256")
    for sid in steps:
        if sid not in order:
            order.append(sid)
    return order, steps


def _short(value: Any, limit: int = 80) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def divergences(recorded: list[Event], replayed: list[Event]) -> list[dict[str, Any]]:
    """`[{stepId, field, expected, actual}]`: per step the first differing field, in step order."""
    order_a, a = summarise(recorded)
    order_b, b = summarise(replayed)
    out: list[dict[str, Any]] = []
    for sid in [*order_a, *(s for s in order_b if s not in order_a)]:
        sa, sb = a.get(sid), b.get(sid)
        if sa is None or sb is None:
            out.append(
                {
                    "stepId": sid,
                    "field": "step",
                    "expected": "present" if sa else "absent",
                    "actual": "present" if sb else "absent",
                    "message": f"step {sid} {'is new' if sb else 'is gone'} since the run",
                }
            )
            continue
        found = _first_difference(sa, sb)
        if found is not None:
            out.append({"stepId": sid, **found, "message": f"step {sid}: {MESSAGES[found['field']]}"})
    return out


def _first_difference(a: StepSummary, b: StepSummary) -> dict[str, Any] | None:
    checks: list[tuple[str, Any, Any, Any, Any]] = [
        # (field, compared in the record, compared in the replay, shown expected, shown actual)
        ("definition", a.definition, b.definition, a.definition, b.definition),
        ("inputs", a.inputs_sha256, b.inputs_sha256, a.inputs, b.inputs),
        ("prompt", a.prompt, b.prompt, a.prompt, b.prompt),
        ("tool_calls", a.tool_call_hashes, b.tool_call_hashes, a.tool_calls, b.tool_calls),
        ("tool_results", a.tool_results, b.tool_results, a.tool_results, b.tool_results),
        ("outputs", a.outputs_sha256, b.outputs_sha256, a.outputs, b.outputs),
        ("status", a.status, b.status, a.status, b.status),
        ("attempts", a.attempts, b.attempts, a.attempts, b.attempts),
    ]
    if (a.attempts == 0) != (b.attempts == 0):  # ran in one, skipped (or never reached) in the other
        return {"field": "status", "expected": a.status, "actual": b.status}
    for name, left, right, shown_left, shown_right in checks:
        if name == "definition" and (left is None or right is None):
            continue  # a run recorded before steps carried their definition's hash
        if left != right:
            return {"field": name, "expected": shown_left, "actual": shown_right}
    return None
