"""The readable run record (SPEC §4, §8): a view of the event log, mirrored to runs/{id}.json."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson

from builderos.engine import events as ev
from builderos.engine.events import Event
from builderos.engine.state import RunState

CHECKPOINT_EVENTS = {
    ev.STEP_FINISHED,
    ev.STEP_SKIPPED,
    ev.APPROVAL_REQUESTED,
    ev.APPROVAL_RESOLVED,
}  # run.finished: the engine writes the final record once the run has let go of it


def build_record(state: RunState) -> dict[str, Any]:
    steps = []
    provenance_steps = {}
    for sid, s in state.steps.items():
        steps.append(
            {
                "id": sid,
                "status": s.status,
                "attempts": s.attempts,
                "outputs": s.outputs,
                "started_at": s.started_at,
                "ended_at": s.ended_at,
                "error": s.error,
                **({"handler_for": s.handler_for} if s.handler_for else {}),
            }
        )
        trace = [
            {
                k: v
                for k, v in t.items()
                if k in ("type", "n", "tool", "args_sha256", "result_sha256", "rule", "reason")
            }
            for t in s.tool_trace
        ]
        provenance_steps[sid] = {
            **(
                {
                    k: s.agent.get(k)
                    for k in ("agent", "role", "prompt", "prompt_sha256", "model_profile", "model")
                }
                if s.agent
                else {}
            ),
            "inputs_sha256": s.inputs_sha256,
            "outputs_sha256": s.outputs_sha256,
            "inputs": s.inputs,
            "tool_trace": trace,
            "artifacts": s.artifacts,
            "approvals": [a for a in state.approvals.values() if a.get("step_id") == sid],
            "tokens": s.tokens,
        }
    return {
        "id": state.id,
        "pipeline": state.pipeline,
        "status": state.status,
        "inputs": state.inputs,
        "scenario": state.scenario,
        "created_at": state.created_at,
        "started_at": state.started_at,
        "ended_at": state.ended_at,
        "error": state.error,
        "steps": steps,
        "provenance": {
            "pipeline_path": state.pipeline_path,
            "pipeline_sha256": state.pipeline_sha256,
            "git_before": state.git_before,
            "git_after": state.git_after,
            "steps": provenance_steps,
        },
    }


def write_record(store_root: Path, state: RunState, _pf: Any = None, *, compact: bool = False) -> Path:
    """Atomically (re)write runs/{id}.json; `compact` for mid-run checkpoints, indented at the end.

    orjson, because the stdlib's indented encoder is pure Python: tens of milliseconds for the
    record of a long run, which every checkpoint would add to the run.
    """
    folder = store_root / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{state.id}.json"
    tmp = folder / f".{state.id}.{os.getpid()}.tmp"
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    if not compact:
        options |= orjson.OPT_INDENT_2
    tmp.write_bytes(orjson.dumps(build_record(state), default=str, option=options))
    os.replace(tmp, path)
    return path


class Checkpointer:
    """A listener that mirrors the record at checkpoints, at most every `every` seconds (and at the end)."""

    def __init__(self, store_root: Path, _pf: Any, every: float) -> None:
        self.root = store_root
        self.every = every
        self.last = 0.0

    def __call__(self, event: Event, state: RunState) -> None:
        if event.type not in CHECKPOINT_EVENTS:
            return
        now = time.monotonic()
        final = event.type == ev.APPROVAL_REQUESTED
        if final or now - self.last >= self.every:
            self.last = now
            write_record(self.root, state, compact=not final)


def snapshot_prompt(store_root: Path, prompt: dict[str, Any]) -> Path | None:
    """Keep the exact text of a prompt version a run used: .builderos/prompts/{name}@{version}.yaml."""
    name, version, text = prompt.get("name"), prompt.get("version"), prompt.get("_text")
    if not name or not version or not isinstance(text, str):
        return None
    path = store_root / "prompts" / f"{name}@{version}.yaml"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
